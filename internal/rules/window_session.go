package rules

import (
	"encoding/json"
	"fmt"
	"time"
)

// sessionWindow groups events that arrive within timeout of each other. A session also closes at
// the next multiple of maxDur (counted from the epoch) after it opened, as eKuiper checks the
// maximum duration at t = 0, max, 2·max, ...
type sessionWindow struct {
	g       grouper
	timeout time.Duration
	maxDur  time.Duration
	open    bool
	start   time.Time
	last    time.Time
	groups  *groupSet
}

func (w *sessionWindow) closeAt() time.Time {
	c := w.last.Add(w.timeout)
	if b := floorTime(w.start, w.maxDur).Add(w.maxDur); b.Before(c) {
		c = b
	}
	return c
}

func (w *sessionWindow) add(r rowRef, whereOK bool) ([]emission, error) {
	var out []emission
	if w.open && !r.ts.Before(w.closeAt()) {
		out = append(out, w.close())
	}
	if !w.open {
		w.open, w.start, w.last, w.groups = true, r.ts, r.ts, newGroupSet()
	}
	if r.ts.After(w.last) {
		w.last = r.ts
	}
	if whereOK {
		if err := w.g.addRow(w.groups, r); err != nil {
			return out, err
		}
	}
	return out, nil
}

func (w *sessionWindow) close() emission {
	e := emission{start: w.start, end: w.closeAt(), groups: w.groups}
	w.open, w.groups = false, nil
	return e
}

func (w *sessionWindow) advance(t time.Time) ([]emission, error) {
	if w.open && !w.closeAt().After(t) {
		return []emission{w.close()}, nil
	}
	return nil, nil
}

func (w *sessionWindow) next() (time.Time, bool) {
	if !w.open {
		return time.Time{}, false
	}
	return w.closeAt(), true
}

type sessionJSON struct {
	Open        bool
	Start, Last int64
	Groups      []groupJSON
}

func (w *sessionWindow) save() (json.RawMessage, error) {
	st := sessionJSON{Open: w.open}
	if w.open {
		st.Start, st.Last = w.start.UnixNano(), w.last.UnixNano()
		var err error
		if st.Groups, err = saveGroups(w.groups); err != nil {
			return nil, err
		}
	}
	return json.Marshal(st)
}

func (w *sessionWindow) load(data json.RawMessage) error {
	var st sessionJSON
	if err := json.Unmarshal(data, &st); err != nil {
		return fmt.Errorf("session window: %w", err)
	}
	w.open, w.groups = st.Open, nil
	if !st.Open {
		return nil
	}
	w.start, w.last = time.Unix(0, st.Start).UTC(), time.Unix(0, st.Last).UTC()
	gs, err := loadGroups(w.g, st.Groups)
	w.groups = gs
	return err
}
