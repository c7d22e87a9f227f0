package rules

import (
	"encoding/json"
	"fmt"
	"sort"
	"time"
)

// timeWindow is a tumbling (hop = size) or hopping window. Each open window keeps only its groups'
// aggregate states, so memory is windows × groups, never events (except in row mode).
type timeWindow struct {
	g         grouper
	size, hop time.Duration
	panes     map[int64]*groupSet // by window start, Unix nanoseconds
}

func newTimeWindow(g grouper, size, hop time.Duration) *timeWindow {
	return &timeWindow{g: g, size: size, hop: hop, panes: map[int64]*groupSet{}}
}

// add puts the event in every window [start, start+size) that contains it.
func (w *timeWindow) add(r rowRef, whereOK bool) ([]emission, error) {
	if !whereOK {
		return nil, nil
	}
	for start := floorTime(r.ts, w.hop); start.Add(w.size).After(r.ts); start = start.Add(-w.hop) {
		gs, ok := w.panes[start.UnixNano()]
		if !ok {
			gs = newGroupSet()
			w.panes[start.UnixNano()] = gs
		}
		if err := w.g.addRow(gs, r); err != nil {
			return nil, err
		}
	}
	return nil, nil
}

func (w *timeWindow) sortedStarts() []int64 {
	starts := make([]int64, 0, len(w.panes))
	for s := range w.panes {
		starts = append(starts, s)
	}
	sort.Slice(starts, func(i, j int) bool { return starts[i] < starts[j] })
	return starts
}

func (w *timeWindow) advance(t time.Time) ([]emission, error) {
	// The common case, nothing to close, must not allocate: it runs for every event.
	if end, ok := w.next(); !ok || end.After(t) {
		return nil, nil
	}
	var out []emission
	for _, s := range w.sortedStarts() {
		start := time.Unix(0, s).UTC()
		end := start.Add(w.size)
		if end.After(t) {
			break
		}
		out = append(out, emission{start: start, end: end, groups: w.panes[s]})
		delete(w.panes, s)
	}
	return out, nil
}

func (w *timeWindow) next() (time.Time, bool) {
	first := int64(0)
	found := false
	for s := range w.panes {
		if !found || s < first {
			first, found = s, true
		}
	}
	return time.Unix(0, first).UTC().Add(w.size), found
}

type paneJSON struct {
	Start  int64
	Groups []groupJSON
}

func (w *timeWindow) save() (json.RawMessage, error) {
	var panes []paneJSON
	for _, s := range w.sortedStarts() {
		gs, err := saveGroups(w.panes[s])
		if err != nil {
			return nil, err
		}
		panes = append(panes, paneJSON{Start: s, Groups: gs})
	}
	return json.Marshal(panes)
}

func (w *timeWindow) load(data json.RawMessage) error {
	var panes []paneJSON
	if err := json.Unmarshal(data, &panes); err != nil {
		return fmt.Errorf("time window: %w", err)
	}
	w.panes = map[int64]*groupSet{}
	for _, p := range panes {
		gs, err := loadGroups(w.g, p.Groups)
		if err != nil {
			return err
		}
		w.panes[p.Start] = gs
	}
	return nil
}
