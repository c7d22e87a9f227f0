package rules

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/minicloud/minicloud/internal/rules/sql"
)

// window assigns events to windows and says when windows close. Times are processing times, or
// event times with advance driven by the watermark.
type window interface {
	// add takes an event that passed FILTER; whereOK says whether it also passed WHERE (count
	// and session windows count events that fail WHERE; only those passing it are aggregated).
	add(r rowRef, whereOK bool) ([]emission, error)
	// advance closes every window that ends at or before t.
	advance(t time.Time) ([]emission, error)
	// next is the earliest time at which advance would close a window.
	next() (time.Time, bool)
	save() (json.RawMessage, error)
	load(json.RawMessage) error
}

const maxHopsPerWindow = 1000

var unitDurations = map[string]time.Duration{
	"MS": time.Millisecond, "SS": time.Second, "MI": time.Minute, "HH": time.Hour, "DD": 24 * time.Hour,
}

func newWindow(w *sql.Window, g grouper) (window, error) {
	unit := unitDurations[w.Unit]
	d := func(i int) time.Duration { return time.Duration(w.Args[i]) * unit }
	if w.Kind != sql.Count {
		for _, a := range w.Args {
			if a > int64(365*24*time.Hour/unit) {
				return nil, &sql.Error{Pos: w.Pos, Msg: fmt.Sprintf("%s: lengths must be at most a year", w.Kind)}
			}
		}
	}
	switch w.Kind {
	case sql.Tumbling:
		return newTimeWindow(g, d(0), d(0)), nil
	case sql.Hopping:
		if w.Args[1] > w.Args[0] {
			return nil, &sql.Error{Pos: w.Pos, Msg: "HOPPINGWINDOW: the hop must not exceed the window length"}
		}
		// Each event joins length/hop windows; bound it so one event cannot stall the rule.
		if w.Args[0]/w.Args[1] > maxHopsPerWindow {
			return nil, &sql.Error{Pos: w.Pos, Msg: fmt.Sprintf("HOPPINGWINDOW: the length may be at most %d hops", maxHopsPerWindow)}
		}
		return newTimeWindow(g, d(0), d(1)), nil
	case sql.Sliding:
		delay := time.Duration(0)
		if len(w.Args) > 1 {
			delay = d(1)
		}
		return &slidingWindow{g: g, size: d(0), delay: delay}, nil
	case sql.Session:
		return &sessionWindow{g: g, timeout: d(0), maxDur: d(1)}, nil
	case sql.Count:
		return newCountWindow(g, w)
	}
	return nil, fmt.Errorf("unknown window %s", w.Kind)
}

// floorTime aligns t down to a multiple of d since the Unix epoch (UTC), so a 10 s window always
// ends at :00, :10, ... whenever the rule started, as eKuiper's.
func floorTime(t time.Time, d time.Duration) time.Time {
	ns := t.UnixNano()
	r := ns % int64(d)
	if r < 0 {
		r += int64(d)
	}
	return time.Unix(0, ns-r).UTC()
}
