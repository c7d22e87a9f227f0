package rules

import (
	"fmt"
	"strings"

	"github.com/minicloud/minicloud/internal/rules/agg"
	"github.com/minicloud/minicloud/internal/rules/funcs"
	"github.com/minicloud/minicloud/internal/rules/sql"
)

// aggSlot is one aggregate call site; every group of a window gets its own agg.Agg for it.
type aggSlot struct {
	spec   *agg.Spec
	params []any    // constant trailing arguments
	args   []evalFn // per-event arguments; nil entry for '*'
	buf    []any
}

func (s *aggSlot) newAgg() agg.Agg {
	a, _ := s.spec.New(s.params) // parameters were checked when compiling
	return a
}

var windowNames = map[string]bool{
	"tumblingwindow": true, "hoppingwindow": true, "slidingwindow": true, "sessionwindow": true, "countwindow": true,
}

func (cp *compiler) call(e *sql.Call, sc scope) (evalFn, error) {
	if windowNames[e.Name] {
		return nil, compileErr(e, "%s belongs in GROUP BY", strings.ToUpper(e.Name))
	}
	if mk, ok := analyticFuncs[e.Name]; ok {
		return cp.analytic(e, mk)
	}
	if e.Over != nil {
		return nil, &sql.Error{Pos: e.Over.Pos, Msg: fmt.Sprintf("OVER applies only to analytic functions (lag, latest, changed_col, had_changed, anomaly_*), not %s", e.Name)}
	}
	if e.Name == "meta" || e.Name == "mqtt" {
		return cp.meta(e)
	}
	if spec, ok := agg.Lookup(e.Name); ok {
		return cp.aggregate(e, spec, sc)
	}
	if f, ok := funcs.Lookup(e.Name); ok {
		return cp.scalar(e, f, sc)
	}
	return nil, compileErr(e, "unknown function %s%s", e.Name, suggest(e.Name))
}

// suggest names a known function close to a misspelt one.
func suggest(name string) string {
	all := append(append(funcs.Names(), agg.Names()...), analyticNames()...)
	best, bestD := "", 3
	for _, n := range all {
		if d := editDistance(name, n); d < bestD {
			best, bestD = n, d
		}
	}
	if best == "" {
		return ""
	}
	return " (did you mean " + best + "?)"
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// meta(topic) reads message metadata; the argument is a key name, not a column.
func (cp *compiler) meta(e *sql.Call) (evalFn, error) {
	if len(e.Args) != 1 {
		return nil, compileErr(e, "%s takes one key, e.g. %s(topic)", e.Name, e.Name)
	}
	id, ok := e.Args[0].(*sql.Ident)
	if !ok {
		return nil, compileErr(e.Args[0], "%s takes a key name such as topic", e.Name)
	}
	switch strings.ToLower(id.Name) {
	case "topic":
		return func(c *evalCtx) (any, error) { return c.topic, nil }, nil
	case "timestamp":
		return func(c *evalCtx) (any, error) { return c.ts.UnixMilli(), nil }, nil
	}
	return nil, compileErr(id, "unknown metadata key %s (known: topic, timestamp)", id.Name)
}

func (cp *compiler) scalar(e *sql.Call, f *funcs.Func, sc scope) (evalFn, error) {
	if err := f.CheckArity(len(e.Args)); err != nil {
		return nil, compileErr(e, "%v", err)
	}
	args, err := cp.exprs(e.Args, sc)
	if err != nil {
		return nil, err
	}
	call := f.Call
	name := f.Name
	return func(c *evalCtx) (any, error) {
		// A fresh slice per call keeps the function free to retain its arguments; the common
		// small cases stay on the stack.
		var small [4]any
		vals := small[:0]
		for _, a := range args {
			v, err := a(c)
			if err != nil {
				return nil, err
			}
			vals = append(vals, v)
		}
		v, err := call(c, vals)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, trimPrefix(err, name))
		}
		return v, nil
	}, nil
}

// trimPrefix avoids "round: round: ..." when a function already named itself.
func trimPrefix(err error, name string) error {
	if msg := err.Error(); strings.HasPrefix(msg, name+": ") {
		return fmt.Errorf("%s", strings.TrimPrefix(msg, name+": "))
	}
	return err
}

func (cp *compiler) aggregate(e *sql.Call, spec *agg.Spec, sc scope) (evalFn, error) {
	if sc != scopeOutput {
		return nil, compileErr(e, "aggregate function %s is not allowed here: use it in SELECT, HAVING or ORDER BY, and not inside another aggregate", e.Name)
	}
	if !cp.windowed {
		return nil, compileErr(e, "aggregate function %s needs a window: add one to GROUP BY, e.g. GROUP BY TUMBLINGWINDOW(ss, 10)", e.Name)
	}
	if n := len(e.Args); n < spec.Args[0] || n > spec.Args[1] {
		return nil, compileErr(e, "%s takes %d argument(s), got %d", e.Name, spec.Args[0], n)
	}
	slot := &aggSlot{spec: spec}
	nArgs := len(e.Args) - spec.Params
	for i, a := range e.Args[nArgs:] {
		lit, ok := a.(*sql.Literal)
		if !ok {
			return nil, compileErr(a, "argument %d of %s must be a constant", nArgs+i+1, e.Name)
		}
		slot.params = append(slot.params, lit.Value)
	}
	if _, err := spec.New(slot.params); err != nil {
		return nil, compileErr(e, "%v", err)
	}
	if err := cp.aggArgs(slot, e, nArgs); err != nil {
		return nil, err
	}
	i := len(cp.aggs)
	cp.aggs = append(cp.aggs, slot)
	return func(c *evalCtx) (any, error) {
		if c.aggs == nil {
			return nil, nil
		}
		return c.aggs[i].Result(), nil
	}, nil
}

// aggArgs compiles the per-event arguments; deduplicate also receives the whole row.
func (cp *compiler) aggArgs(slot *aggSlot, e *sql.Call, n int) error {
	for _, a := range e.Args[:n] {
		if _, ok := a.(*sql.Wildcard); ok {
			if !slot.spec.Wildcard {
				return compileErr(a, "%s does not take *", e.Name)
			}
			slot.args = append(slot.args, nil)
			continue
		}
		f, err := cp.expr(a, scopeRow)
		if err != nil {
			return err
		}
		slot.args = append(slot.args, f)
	}
	if e.Name == "deduplicate" {
		slot.args = append(slot.args, nil)
	}
	slot.buf = make([]any, len(slot.args))
	return nil
}

// add evaluates the slot's arguments for the current row and folds them into a.
func (s *aggSlot) add(a agg.Agg, c *evalCtx) error {
	for i, f := range s.args {
		if f == nil {
			s.buf[i] = c.data
			continue
		}
		v, err := f(c)
		if err != nil {
			return err
		}
		s.buf[i] = v
	}
	if err := a.Add(s.buf); err != nil {
		return fmt.Errorf("%s: %w", s.spec.Name, err)
	}
	return nil
}
