package rules

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/minicloud/minicloud/internal/rules/agg"
	"github.com/minicloud/minicloud/internal/rules/value"
)

// group is one GROUP BY group of one window: its first event (for the non-aggregate columns, as
// eKuiper) and one aggregate state per aggregate call site.
type group struct {
	first rowRef
	aggs  []agg.Agg
}

// groupSet is the groups of one window, in order of first appearance so output is deterministic.
type groupSet struct {
	byKey map[any]*group
	list  []*group
}

func newGroupSet() *groupSet { return &groupSet{byKey: map[any]*group{}} }

// grouper is what windows need from the rule: folding an event into a set of groups.
type grouper interface {
	addRow(gs *groupSet, r rowRef) error
	groupKey(r rowRef) (any, error)
	newAggs() []agg.Agg
	rowMode() bool
}

// emission is a window closing: its bounds and groups.
type emission struct {
	start, end time.Time
	groups     *groupSet
}

// rowJSON is a rowRef in a snapshot.
type rowJSON struct {
	Data  json.RawMessage
	Topic string `json:",omitempty"`
	TS    int64
	An    json.RawMessage `json:",omitempty"`
}

func saveRow(r rowRef) (rowJSON, error) {
	data, err := value.Marshal(r.data)
	if err != nil {
		return rowJSON{}, err
	}
	out := rowJSON{Data: data, Topic: r.topic, TS: r.ts.UnixNano()}
	if r.an != nil {
		if out.An, err = value.Marshal(r.an); err != nil {
			return rowJSON{}, err
		}
	}
	return out, nil
}

func loadRow(j rowJSON) (rowRef, error) {
	data, err := value.Unmarshal(j.Data)
	if err != nil {
		return rowRef{}, err
	}
	r := rowRef{topic: j.Topic, ts: time.Unix(0, j.TS).UTC()}
	r.data, _ = data.(map[string]any)
	if j.An != nil {
		an, err := value.Unmarshal(j.An)
		if err != nil {
			return rowRef{}, err
		}
		r.an, _ = an.([]any)
	}
	return r, nil
}

type groupJSON struct {
	First rowJSON
	Aggs  []json.RawMessage
}

func saveGroups(gs *groupSet) ([]groupJSON, error) {
	out := make([]groupJSON, 0, len(gs.list))
	for _, g := range gs.list {
		first, err := saveRow(g.first)
		if err != nil {
			return nil, err
		}
		gj := groupJSON{First: first}
		for _, a := range g.aggs {
			raw, err := a.Save()
			if err != nil {
				return nil, err
			}
			gj.Aggs = append(gj.Aggs, raw)
		}
		out = append(out, gj)
	}
	return out, nil
}

// loadGroups rebuilds a group set; keys are recomputed from each group's first event.
func loadGroups(g grouper, in []groupJSON) (*groupSet, error) {
	gs := newGroupSet()
	for _, gj := range in {
		first, err := loadRow(gj.First)
		if err != nil {
			return nil, err
		}
		grp := &group{first: first}
		if !g.rowMode() {
			grp.aggs = g.newAggs()
			if len(grp.aggs) != len(gj.Aggs) {
				return nil, fmt.Errorf("snapshot has %d aggregates per group, the rule %d", len(gj.Aggs), len(grp.aggs))
			}
			for i, a := range grp.aggs {
				if err := a.Load(gj.Aggs[i]); err != nil {
					return nil, err
				}
			}
			key, err := g.groupKey(first)
			if err != nil {
				return nil, err
			}
			gs.byKey[key] = grp
		}
		gs.list = append(gs.list, grp)
	}
	return gs, nil
}
