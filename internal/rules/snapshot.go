package rules

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// ErrSnapshotMismatch is returned when restoring a snapshot taken from a rule with other SQL.
var ErrSnapshotMismatch = errors.New("snapshot is of a different rule")

const snapshotVersion = 1

type snapshotJSON struct {
	Version   int
	SQL       string
	EventTime bool
	MaxTS     int64 `json:",omitempty"`
	HasTS     bool  `json:",omitempty"`
	Stats     Stats
	Analytics [][]partitionState `json:",omitempty"`
	Window    json.RawMessage    `json:",omitempty"`
}

// Snapshot captures the rule's state (open windows, analytic and anomaly states, watermark and
// counters) as JSON, for a checkpoint. A rule compiled from the same SQL and restored from it
// continues exactly as this one would.
func (r *Rule) Snapshot() ([]byte, error) {
	st := snapshotJSON{Version: snapshotVersion, SQL: r.sqlText, EventTime: r.eventTime, HasTS: r.hasTS, Stats: r.stats}
	if r.hasTS {
		st.MaxTS = r.maxTS.UnixNano()
	}
	for _, s := range r.p.analytics {
		parts, err := s.save()
		if err != nil {
			return nil, fmt.Errorf("snapshot rule %s: %w", r.id, err)
		}
		st.Analytics = append(st.Analytics, parts)
	}
	if r.win != nil {
		w, err := r.win.save()
		if err != nil {
			return nil, fmt.Errorf("snapshot rule %s: %w", r.id, err)
		}
		st.Window = w
	}
	return json.Marshal(st)
}

// Restore replaces the rule's state with a snapshot's. On error the rule's state is undefined:
// compile it afresh.
func (r *Rule) Restore(data []byte) error {
	var st snapshotJSON
	if err := json.Unmarshal(data, &st); err != nil {
		return fmt.Errorf("restore rule %s: %w", r.id, err)
	}
	if st.Version != snapshotVersion {
		return fmt.Errorf("restore rule %s: snapshot version %d, want %d", r.id, st.Version, snapshotVersion)
	}
	if st.SQL != r.sqlText || st.EventTime != r.eventTime || len(st.Analytics) != len(r.p.analytics) {
		return fmt.Errorf("restore rule %s: %w", r.id, ErrSnapshotMismatch)
	}
	r.stats, r.hasTS = st.Stats, st.HasTS
	r.maxTS = time.Time{}
	if st.HasTS {
		r.maxTS = time.Unix(0, st.MaxTS).UTC()
	}
	for i, s := range r.p.analytics {
		if err := s.load(st.Analytics[i]); err != nil {
			return fmt.Errorf("restore rule %s: %w", r.id, err)
		}
	}
	if r.win != nil {
		if err := r.win.load(st.Window); err != nil {
			return fmt.Errorf("restore rule %s: %w", r.id, err)
		}
	}
	return nil
}
