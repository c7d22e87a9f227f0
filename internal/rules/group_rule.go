package rules

import (
	"fmt"

	"github.com/minicloud/minicloud/internal/rules/agg"
	"github.com/minicloud/minicloud/internal/rules/value"
)

// The grouper methods, used by the windows.

func (r *Rule) rowMode() bool { return r.p.rows }

func (r *Rule) newAggs() []agg.Agg { return r.p.newAggs() }

func (r *Rule) groupKey(row rowRef) (any, error) {
	c := &r.ctx
	c.setRow(row)
	return r.keyOf(c)
}

func (r *Rule) keyOf(c *evalCtx) (any, error) {
	switch len(r.p.groupKeys) {
	case 0:
		return nil, nil
	case 1:
		v, err := r.p.groupKeys[0](c)
		if err != nil {
			return nil, fmt.Errorf("GROUP BY: %w", err)
		}
		return value.Key(v), nil
	}
	vals := make([]any, len(r.p.groupKeys))
	for i, f := range r.p.groupKeys {
		v, err := f(c)
		if err != nil {
			return nil, fmt.Errorf("GROUP BY: %w", err)
		}
		vals[i] = v
	}
	return value.Keys(vals), nil
}

func (r *Rule) addRow(gs *groupSet, row rowRef) error {
	if r.p.rows {
		gs.list = append(gs.list, &group{first: row})
		return nil
	}
	c := &r.ctx
	c.setRow(row)
	key, err := r.keyOf(c)
	if err != nil {
		return err
	}
	g, ok := gs.byKey[key]
	if !ok {
		g = &group{first: row, aggs: r.p.newAggs()}
		gs.byKey[key] = g
		gs.list = append(gs.list, g)
	}
	for i, s := range r.p.aggs {
		if err := s.add(g.aggs[i], c); err != nil {
			return err
		}
	}
	return nil
}
