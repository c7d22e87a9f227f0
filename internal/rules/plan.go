package rules

import (
	"fmt"

	"github.com/minicloud/minicloud/internal/rules/agg"
	"github.com/minicloud/minicloud/internal/rules/sql"
	"github.com/minicloud/minicloud/internal/rules/value"
)

// plan is a compiled SELECT.
type plan struct {
	sel       *sql.Select
	stream    *Stream
	analytics []*analyticSlot
	aggs      []*aggSlot
	where     evalFn
	filter    evalFn
	groupKeys []evalFn
	fields    []projField
	having    evalFn
	orderBy   []orderKey
	rows      bool // a window with neither aggregates nor keys emits every event
}

type projField struct {
	name     string
	fn       evalFn
	wildcard bool
}

type orderKey struct {
	fn   evalFn
	desc bool
}

func compilePlan(sel *sql.Select, st *Stream) (*plan, error) {
	cp := &compiler{stream: st, names: []string{sel.From, sel.FromAlias}, windowed: sel.Window != nil}
	p := &plan{sel: sel, stream: st}
	if sel.Window == nil && len(sel.GroupBy) > 0 {
		return nil, compileErr(sel.GroupBy[0], "GROUP BY needs a window, e.g. GROUP BY id, TUMBLINGWINDOW(ss, 10)")
	}
	var err error
	if p.where, err = cp.optional(sel.Where, scopeRow); err != nil {
		return nil, err
	}
	if sel.Window != nil {
		if p.filter, err = cp.optional(sel.Window.Filter, scopeRow); err != nil {
			return nil, err
		}
	}
	if p.groupKeys, err = cp.exprs(sel.GroupBy, scopeRow); err != nil {
		return nil, err
	}
	if err := p.compileOutput(cp, sel); err != nil {
		return nil, err
	}
	p.analytics, p.aggs = cp.analytics, cp.aggs
	p.rows = sel.Window != nil && len(p.aggs) == 0 && len(p.groupKeys) == 0
	return p, nil
}

func (cp *compiler) optional(e sql.Expr, sc scope) (evalFn, error) {
	if e == nil {
		return nil, nil
	}
	return cp.expr(e, sc)
}

// compileOutput compiles the select list, HAVING and ORDER BY. A select item may use the aliases
// of the items before it; HAVING and ORDER BY may use all of them.
func (p *plan) compileOutput(cp *compiler, sel *sql.Select) error {
	cp.aliases = map[string]bool{}
	for i, f := range sel.Fields {
		if _, ok := f.Expr.(*sql.Wildcard); ok {
			p.fields = append(p.fields, projField{wildcard: true})
			continue
		}
		fn, err := cp.expr(f.Expr, scopeOutput)
		if err != nil {
			return err
		}
		name := f.Alias
		if name == "" {
			name = defaultName(f.Expr, i)
		} else {
			cp.aliases[name] = true
		}
		p.fields = append(p.fields, projField{name: name, fn: fn})
	}
	var err error
	if p.having, err = cp.optional(sel.Having, scopeOutput); err != nil {
		return err
	}
	for _, o := range sel.OrderBy {
		fn, err := cp.expr(o.Expr, scopeOutput)
		if err != nil {
			return err
		}
		p.orderBy = append(p.orderBy, orderKey{fn: fn, desc: o.Desc})
	}
	return nil
}

// defaultName names an unaliased column as eKuiper does: a column or key by its name, a call by
// its function, anything else kuiper_field_<position>.
func defaultName(e sql.Expr, i int) string {
	switch e := e.(type) {
	case *sql.Ident:
		return e.Name
	case *sql.Field:
		return e.Name
	case *sql.Call:
		return e.Name
	}
	return fmt.Sprintf("kuiper_field_%d", i)
}

func (p *plan) newAggs() []agg.Agg {
	out := make([]agg.Agg, len(p.aggs))
	for i, s := range p.aggs {
		out[i] = s.newAgg()
	}
	return out
}

// project builds the output row for the context's row (and group).
func (p *plan) project(c *evalCtx) (Row, error) {
	out := make(Row, len(p.fields))
	c.out = out
	for _, f := range p.fields {
		if f.wildcard {
			for k, v := range c.data {
				out[k] = v
			}
			continue
		}
		v, err := f.fn(c)
		if err != nil {
			return nil, fmt.Errorf("column %s: %w", f.name, err)
		}
		out[f.name] = v
	}
	return out, nil
}

func (p *plan) keep(c *evalCtx) (bool, error) {
	if p.having == nil {
		return true, nil
	}
	v, err := p.having(c)
	if err != nil {
		return false, fmt.Errorf("HAVING: %w", err)
	}
	return value.Truthy(v), nil
}
