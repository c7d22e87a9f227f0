package rules

import (
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/minicloud/minicloud/internal/rules/value"
)

// emitAll turns closed windows into rows: per group, the select list and HAVING; per window,
// ORDER BY and LIMIT. A group that fails is counted and skipped.
func (r *Rule) emitAll(ems []emission, now time.Time) ([]Row, error) {
	if len(ems) == 0 {
		return nil, nil
	}
	var out []Row
	var errs []error
	for _, em := range ems {
		rows, err := r.emit(em, now)
		out = append(out, rows...)
		errs = append(errs, err)
	}
	return out, errors.Join(errs...)
}

type sortedRow struct {
	row  Row
	keys []any
}

func (r *Rule) emit(em emission, now time.Time) ([]Row, error) {
	c := &r.ctx
	var rows []sortedRow
	var errs []error
	for _, g := range em.groups.list {
		c.setRow(g.first)
		c.aggs, c.now, c.winStart, c.winEnd = g.aggs, now, em.start, em.end
		sr, ok, err := r.outputRow(c)
		if err != nil {
			r.fail(err)
			errs = append(errs, err)
			continue
		}
		if ok {
			rows = append(rows, sr)
		}
	}
	r.sortRows(rows)
	out := make([]Row, 0, len(rows))
	for _, sr := range rows {
		if r.p.sel.Limit >= 0 && len(out) >= r.p.sel.Limit {
			break
		}
		out = append(out, sr.row)
	}
	return out, errors.Join(errs...)
}

func (r *Rule) outputRow(c *evalCtx) (sortedRow, bool, error) {
	row, err := r.p.project(c)
	if err != nil {
		return sortedRow{}, false, err
	}
	if ok, err := r.p.keep(c); err != nil || !ok {
		return sortedRow{}, false, err
	}
	sr := sortedRow{row: row}
	for _, o := range r.p.orderBy {
		v, err := o.fn(c)
		if err != nil {
			return sortedRow{}, false, fmt.Errorf("ORDER BY: %w", err)
		}
		sr.keys = append(sr.keys, v)
	}
	return sr, true, nil
}

// sortRows orders by the ORDER BY keys; nulls and values that cannot be compared sort first.
func (r *Rule) sortRows(rows []sortedRow) {
	if len(r.p.orderBy) == 0 {
		return
	}
	sort.SliceStable(rows, func(i, j int) bool {
		for k, o := range r.p.orderBy {
			a, b := rows[i].keys[k], rows[j].keys[k]
			n, ok := value.Compare(a, b)
			if !ok {
				n = boolInt(a != nil) - boolInt(b != nil)
			}
			if n != 0 {
				return (n < 0) != o.desc
			}
		}
		return false
	})
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
