// Package agg holds the aggregate functions of windows. count, sum, avg, min, max and the
// moment-based stddev/var family keep O(1) state, so that a window's memory grows with its groups
// and not with its events; only median, percentiles, collect and deduplicate keep the values.
//
// An aggregate sees already-evaluated arguments; it knows nothing of rows, windows or SQL.
package agg

import (
	"encoding/json"
	"fmt"
	"sort"
)

// Agg accumulates one aggregate over one group of one window.
type Agg interface {
	// Add folds in one event's arguments: the value (the whole row for '*'), and for deduplicate
	// the row as a second element.
	Add(args []any) error
	Result() any
	// Save and Load carry the state through a checkpoint.
	Save() (json.RawMessage, error)
	Load(json.RawMessage) error
}

// Spec describes an aggregate function: its argument count (including constant parameters) and a
// constructor that receives the constant parameters after the first argument.
type Spec struct {
	Name        string
	Args        [2]int // min, max
	Params      int    // trailing arguments that must be constants (e.g. the percentile)
	Wildcard    bool   // the first argument may be '*'
	Incremental bool   // O(1) state
	New         func(params []any) (Agg, error)
}

var specs = map[string]*Spec{}

func define(s *Spec) { specs[s.Name] = s }

// Lookup finds an aggregate by lower-case name.
func Lookup(name string) (*Spec, bool) {
	s, ok := specs[name]
	return s, ok
}

// Names lists the aggregates, sorted.
func Names() []string {
	out := make([]string, 0, len(specs))
	for n := range specs {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func save(v any) (json.RawMessage, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("save aggregate: %w", err)
	}
	return b, nil
}

func load(data json.RawMessage, v any) error {
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("load aggregate: %w", err)
	}
	return nil
}
