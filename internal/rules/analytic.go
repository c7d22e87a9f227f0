package rules

import (
	"encoding/json"
	"fmt"
	"sort"

	"github.com/minicloud/minicloud/internal/rules/sql"
	"github.com/minicloud/minicloud/internal/rules/value"
)

// analyticState is the per-partition state of one analytic call site. update receives the
// evaluated arguments and whether the OVER (WHEN ...) condition held; when it did not, the
// function answers from its state without changing it.
type analyticState interface {
	update(args []any, valid bool) (any, error)
	save() (json.RawMessage, error)
	load(json.RawMessage) error
}

// analyticSpec describes an analytic function: its arity, which arguments must be constants, and
// how to make a fresh state from those constants (lits[i] is argument i's literal value, or nil).
type analyticSpec struct {
	args     [2]int
	consts   []int
	newState func(lits []any) (analyticState, error)
}

var analyticFuncs = map[string]*analyticSpec{}

func analyticNames() []string {
	out := make([]string, 0, len(analyticFuncs))
	for n := range analyticFuncs {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// analyticSlot is one analytic call site with its states by partition key.
type analyticSlot struct {
	name      string
	spec      *analyticSpec
	lits      []any
	args      []evalFn
	partition []evalFn
	when      evalFn
	states    map[any]analyticState
	keys      []any // partition keys in creation order, for stable snapshots
	argBuf    []any
	keyBuf    []any
}

// analytic compiles an analytic call: its arguments, PARTITION BY keys and WHEN condition are
// evaluated per event before WHERE (as in eKuiper), and the call itself reads the stored result.
func (cp *compiler) analytic(e *sql.Call, spec *analyticSpec) (evalFn, error) {
	if n := len(e.Args); n < spec.args[0] || (spec.args[1] >= 0 && n > spec.args[1]) {
		return nil, compileErr(e, "%s takes %s argument(s), got %d", e.Name, arityRange(spec.args), n)
	}
	slot := &analyticSlot{name: e.Name, spec: spec, lits: make([]any, len(e.Args)), states: map[any]analyticState{}}
	for i, a := range e.Args {
		if lit, ok := a.(*sql.Literal); ok {
			slot.lits[i] = lit.Value
		} else if contains(spec.consts, i) {
			return nil, compileErr(a, "argument %d of %s must be a constant", i+1, e.Name)
		}
	}
	if _, err := spec.newState(slot.lits); err != nil {
		return nil, compileErr(e, "%s: %v", e.Name, err)
	}
	for _, a := range e.Args {
		f, err := cp.analyticArg(a)
		if err != nil {
			return nil, err
		}
		slot.args = append(slot.args, f)
	}
	if err := cp.over(slot, e.Over); err != nil {
		return nil, err
	}
	slot.argBuf = make([]any, len(slot.args))
	slot.keyBuf = make([]any, len(slot.partition))
	i := len(cp.analytics)
	cp.analytics = append(cp.analytics, slot)
	return func(c *evalCtx) (any, error) { return c.an[i], nil }, nil
}

func (cp *compiler) analyticArg(a sql.Expr) (evalFn, error) {
	if _, ok := a.(*sql.Wildcard); ok {
		return func(c *evalCtx) (any, error) { return c.data, nil }, nil
	}
	return cp.expr(a, scopeRow)
}

func (cp *compiler) over(slot *analyticSlot, o *sql.Over) error {
	if o == nil {
		return nil
	}
	var err error
	if slot.partition, err = cp.exprs(o.Partition, scopeRow); err != nil {
		return err
	}
	if o.When != nil {
		slot.when, err = cp.expr(o.When, scopeRow)
	}
	return err
}

func arityRange(a [2]int) string {
	switch {
	case a[1] < 0:
		return fmt.Sprintf("at least %d", a[0])
	case a[0] == a[1]:
		return fmt.Sprint(a[0])
	}
	return fmt.Sprintf("%d to %d", a[0], a[1])
}

func contains(xs []int, x int) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// eval runs the call site for the current event and returns its result.
func (s *analyticSlot) eval(c *evalCtx) (any, error) {
	for i, f := range s.partition {
		v, err := f(c)
		if err != nil {
			return nil, fmt.Errorf("%s partition: %w", s.name, err)
		}
		s.keyBuf[i] = v
	}
	var key any
	if len(s.keyBuf) > 0 {
		key = value.Keys(s.keyBuf)
	}
	valid := true
	if s.when != nil {
		v, err := s.when(c)
		if err != nil {
			return nil, fmt.Errorf("%s WHEN: %w", s.name, err)
		}
		valid = value.Truthy(v)
	}
	for i, f := range s.args {
		v, err := f(c)
		if err != nil {
			return nil, err
		}
		s.argBuf[i] = v
	}
	st, ok := s.states[key]
	if !ok {
		var err error
		if st, err = s.spec.newState(s.lits); err != nil {
			return nil, fmt.Errorf("%s: %w", s.name, err)
		}
		s.states[key] = st
		s.keys = append(s.keys, key)
	}
	v, err := st.update(s.argBuf, valid)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.name, err)
	}
	return v, nil
}

type partitionState struct {
	Key   json.RawMessage
	State json.RawMessage
}

func (s *analyticSlot) save() ([]partitionState, error) {
	out := make([]partitionState, 0, len(s.keys))
	for _, k := range s.keys {
		kb, err := value.Marshal(k)
		if err != nil {
			return nil, err
		}
		sb, err := s.states[k].save()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.name, err)
		}
		out = append(out, partitionState{Key: kb, State: sb})
	}
	return out, nil
}

func (s *analyticSlot) load(parts []partitionState) error {
	s.states, s.keys = map[any]analyticState{}, nil
	for _, p := range parts {
		k, err := value.Unmarshal(p.Key)
		if err != nil {
			return err
		}
		st, err := s.spec.newState(s.lits)
		if err != nil {
			return err
		}
		if err := st.load(p.State); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		s.states[k] = st
		s.keys = append(s.keys, k)
	}
	return nil
}
