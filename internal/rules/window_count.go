package rules

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/minicloud/minicloud/internal/rules/sql"
)

// countWindow is COUNTWINDOW(size[, hop]). Without a hop (or hop = size) it is tumbling and keeps
// only aggregate states; with a smaller hop it keeps the last size events and emits them at every
// hop-th event once it has size of them. Events that fail WHERE count but are not aggregated, so
// each window spans exactly size events, as eKuiper.
type countWindow struct {
	g         grouper
	size, hop int
	// tumbling
	n      int
	groups *groupSet
	first  time.Time
	// hopping
	buf   []countEntry
	since int
}

type countEntry struct {
	r  rowRef
	ok bool
}

func newCountWindow(g grouper, w *sql.Window) (*countWindow, error) {
	cw := &countWindow{g: g, size: int(w.Args[0]), hop: int(w.Args[0])}
	if len(w.Args) > 1 {
		cw.hop = int(w.Args[1])
	}
	if cw.hop > cw.size {
		return nil, &sql.Error{Pos: w.Pos, Msg: "COUNTWINDOW: the interval must not exceed the count"}
	}
	if cw.size > 1<<20 {
		return nil, &sql.Error{Pos: w.Pos, Msg: "COUNTWINDOW: the count must be at most 1048576"}
	}
	return cw, nil
}

func (w *countWindow) tumbling() bool { return w.hop == w.size }

func (w *countWindow) add(r rowRef, whereOK bool) ([]emission, error) {
	if !w.tumbling() {
		return w.addHopping(r, whereOK)
	}
	if w.n == 0 {
		w.groups, w.first = newGroupSet(), r.ts
	}
	w.n++
	if whereOK {
		if err := w.g.addRow(w.groups, r); err != nil {
			return nil, err
		}
	}
	if w.n < w.size {
		return nil, nil
	}
	e := emission{start: w.first, end: r.ts, groups: w.groups}
	w.n, w.groups = 0, nil
	return []emission{e}, nil
}

func (w *countWindow) addHopping(r rowRef, whereOK bool) ([]emission, error) {
	w.buf = append(w.buf, countEntry{r, whereOK})
	if len(w.buf) > w.size {
		w.buf = append(w.buf[:0], w.buf[len(w.buf)-w.size:]...)
	}
	w.since = (w.since + 1) % w.hop
	if w.since != 0 || len(w.buf) < w.size {
		return nil, nil
	}
	gs := newGroupSet()
	for _, e := range w.buf {
		if e.ok {
			if err := w.g.addRow(gs, e.r); err != nil {
				return nil, err
			}
		}
	}
	return []emission{{start: w.buf[0].r.ts, end: r.ts, groups: gs}}, nil
}

func (w *countWindow) advance(time.Time) ([]emission, error) { return nil, nil }
func (w *countWindow) next() (time.Time, bool)               { return time.Time{}, false }

type countJSON struct {
	N      int
	First  int64
	Groups []groupJSON
	Buf    []rowJSON
	OK     []bool
	Since  int
}

func (w *countWindow) save() (json.RawMessage, error) {
	st := countJSON{N: w.n, First: w.first.UnixNano(), Since: w.since}
	if w.groups != nil {
		var err error
		if st.Groups, err = saveGroups(w.groups); err != nil {
			return nil, err
		}
	}
	for _, e := range w.buf {
		rj, err := saveRow(e.r)
		if err != nil {
			return nil, err
		}
		st.Buf = append(st.Buf, rj)
		st.OK = append(st.OK, e.ok)
	}
	return json.Marshal(st)
}

func (w *countWindow) load(data json.RawMessage) error {
	var st countJSON
	if err := json.Unmarshal(data, &st); err != nil || len(st.Buf) != len(st.OK) {
		return fmt.Errorf("count window: bad snapshot: %v", err)
	}
	w.n, w.first, w.since, w.buf, w.groups = st.N, time.Unix(0, st.First).UTC(), st.Since, nil, nil
	if w.n > 0 {
		gs, err := loadGroups(w.g, st.Groups)
		if err != nil {
			return err
		}
		w.groups = gs
	}
	for i, rj := range st.Buf {
		r, err := loadRow(rj)
		if err != nil {
			return err
		}
		w.buf = append(w.buf, countEntry{r, st.OK[i]})
	}
	return nil
}
