package rules

import (
	"encoding/json"
	"fmt"
	"sort"
	"time"
)

// slidingWindow emits, for each event at t (that passed FILTER and WHERE), the window
// (t − size, t + delay]. It must keep the events of the last size + delay, since any of them can
// fall in a later window; its aggregates are recomputed per trigger.
type slidingWindow struct {
	g       grouper
	size    time.Duration
	delay   time.Duration
	buf     []rowRef    // sorted by timestamp
	pending []time.Time // trigger times awaiting their delay, sorted
}

func (w *slidingWindow) add(r rowRef, whereOK bool) ([]emission, error) {
	if !whereOK {
		return nil, nil
	}
	i := sort.Search(len(w.buf), func(i int) bool { return w.buf[i].ts.After(r.ts) })
	w.buf = append(w.buf, rowRef{})
	copy(w.buf[i+1:], w.buf[i:])
	w.buf[i] = r
	if w.delay > 0 {
		j := sort.Search(len(w.pending), func(j int) bool { return w.pending[j].After(r.ts) })
		w.pending = append(w.pending, time.Time{})
		copy(w.pending[j+1:], w.pending[j:])
		w.pending[j] = r.ts
		return nil, nil
	}
	e, err := w.emit(r.ts)
	w.evict(r.ts)
	if err != nil {
		return nil, err
	}
	return []emission{e}, nil
}

func (w *slidingWindow) emit(t time.Time) (emission, error) {
	start, end := t.Add(-w.size), t.Add(w.delay)
	gs := newGroupSet()
	for _, r := range w.buf {
		if r.ts.After(start) && !r.ts.After(end) {
			if err := w.g.addRow(gs, r); err != nil {
				return emission{}, err
			}
		}
	}
	return emission{start: start, end: end, groups: gs}, nil
}

func (w *slidingWindow) advance(t time.Time) ([]emission, error) {
	var out []emission
	for len(w.pending) > 0 && !w.pending[0].Add(w.delay).After(t) {
		e, err := w.emit(w.pending[0])
		w.pending = w.pending[1:]
		if err != nil {
			return out, err
		}
		out = append(out, e)
	}
	w.evict(t.Add(-w.delay))
	return out, nil
}

// evict drops events that no pending or future trigger (at or after horizon) can include.
func (w *slidingWindow) evict(horizon time.Time) {
	if len(w.pending) > 0 && w.pending[0].Before(horizon) {
		horizon = w.pending[0]
	}
	cut := horizon.Add(-w.size)
	i := sort.Search(len(w.buf), func(i int) bool { return w.buf[i].ts.After(cut) })
	if i > 0 {
		w.buf = append(w.buf[:0], w.buf[i:]...)
	}
}

func (w *slidingWindow) next() (time.Time, bool) {
	if len(w.pending) == 0 {
		return time.Time{}, false
	}
	return w.pending[0].Add(w.delay), true
}

type slidingJSON struct {
	Buf     []rowJSON
	Pending []int64
}

func (w *slidingWindow) save() (json.RawMessage, error) {
	var st slidingJSON
	for _, r := range w.buf {
		rj, err := saveRow(r)
		if err != nil {
			return nil, err
		}
		st.Buf = append(st.Buf, rj)
	}
	for _, p := range w.pending {
		st.Pending = append(st.Pending, p.UnixNano())
	}
	return json.Marshal(st)
}

func (w *slidingWindow) load(data json.RawMessage) error {
	var st slidingJSON
	if err := json.Unmarshal(data, &st); err != nil {
		return fmt.Errorf("sliding window: %w", err)
	}
	w.buf, w.pending = nil, nil
	for _, rj := range st.Buf {
		r, err := loadRow(rj)
		if err != nil {
			return err
		}
		w.buf = append(w.buf, r)
	}
	for _, p := range st.Pending {
		w.pending = append(w.pending, time.Unix(0, p).UTC())
	}
	return nil
}
