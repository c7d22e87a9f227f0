package rules

import (
	"fmt"

	"github.com/minicloud/minicloud/internal/rules/sql"
	"github.com/minicloud/minicloud/internal/rules/value"
)

func (cp *compiler) unary(e *sql.Unary, sc scope) (evalFn, error) {
	x, err := cp.expr(e.X, sc)
	if err != nil {
		return nil, err
	}
	if e.Op == "NOT" {
		return func(c *evalCtx) (any, error) {
			v, err := x(c)
			if err != nil || v == nil {
				return nil, err
			}
			b, ok := v.(bool)
			if !ok {
				return nil, fmt.Errorf("NOT needs a boolean, got %s", value.TypeName(v))
			}
			return !b, nil
		}, nil
	}
	return func(c *evalCtx) (any, error) {
		v, err := x(c)
		if err != nil {
			return nil, err
		}
		return value.Negate(v)
	}, nil
}

func (cp *compiler) binary(e *sql.Binary, sc scope) (evalFn, error) {
	l, err := cp.expr(e.L, sc)
	if err != nil {
		return nil, err
	}
	r, err := cp.expr(e.R, sc)
	if err != nil {
		return nil, err
	}
	switch e.Op {
	case "AND":
		return andFn(l, r), nil
	case "OR":
		return orFn(l, r), nil
	case "=", "!=", "<", "<=", ">", ">=":
		return compareFn(e.Op, l, r), nil
	case "LIKE":
		return likeFn(l, r), nil
	}
	op := e.Op
	return func(c *evalCtx) (any, error) {
		a, err := l(c)
		if err != nil {
			return nil, err
		}
		b, err := r(c)
		if err != nil {
			return nil, err
		}
		return value.Arith(op, a, b)
	}, nil
}

// andFn and orFn short-circuit and treat null as false, so a missing field fails a filter quietly.
func andFn(l, r evalFn) evalFn {
	return func(c *evalCtx) (any, error) {
		a, err := l(c)
		if err != nil || !value.Truthy(a) {
			return false, err
		}
		b, err := r(c)
		return value.Truthy(b), err
	}
}

func orFn(l, r evalFn) evalFn {
	return func(c *evalCtx) (any, error) {
		a, err := l(c)
		if err != nil || value.Truthy(a) {
			return err == nil, err
		}
		b, err := r(c)
		return value.Truthy(b), err
	}
}

// compareFn gives false when either side is null or the two cannot be compared (a string field
// against a number), except that != is then true; equality of arrays and objects is deep.
func compareFn(op string, l, r evalFn) evalFn {
	return func(c *evalCtx) (any, error) {
		a, err := l(c)
		if err != nil {
			return nil, err
		}
		b, err := r(c)
		if err != nil {
			return nil, err
		}
		if a == nil || b == nil {
			return false, nil
		}
		if op == "=" || op == "!=" {
			return value.Equal(a, b) == (op == "="), nil
		}
		n, ok := value.Compare(a, b)
		if !ok {
			return false, nil
		}
		switch op {
		case "<":
			return n < 0, nil
		case "<=":
			return n <= 0, nil
		case ">":
			return n > 0, nil
		}
		return n >= 0, nil
	}
}

func likeFn(l, r evalFn) evalFn {
	return func(c *evalCtx) (any, error) {
		a, err := l(c)
		if err != nil {
			return nil, err
		}
		b, err := r(c)
		if err != nil || a == nil || b == nil {
			return false, err
		}
		s, ok1 := a.(string)
		p, ok2 := b.(string)
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("LIKE needs strings, got %s LIKE %s", value.TypeName(a), value.TypeName(b))
		}
		return value.Like(s, p), nil
	}
}

func (cp *compiler) in(e *sql.In, sc scope) (evalFn, error) {
	x, err := cp.expr(e.X, sc)
	if err != nil {
		return nil, err
	}
	list, err := cp.exprs(e.List, sc)
	if err != nil {
		return nil, err
	}
	// "x IN arr" (one operand whose value is an array) tests membership of the array.
	single := len(list) == 1
	not := e.Not
	return func(c *evalCtx) (any, error) {
		v, err := x(c)
		if err != nil || v == nil {
			return false, err
		}
		found := false
		for _, f := range list {
			w, err := f(c)
			if err != nil {
				return nil, err
			}
			if arr, ok := w.([]any); ok && single {
				for _, a := range arr {
					found = found || value.Equal(v, a)
				}
			} else if value.Equal(v, w) {
				found = true
			}
		}
		return found != not, nil
	}, nil
}

func (cp *compiler) between(e *sql.Between, sc scope) (evalFn, error) {
	fns, err := cp.exprs([]sql.Expr{e.X, e.Lo, e.Hi}, sc)
	if err != nil {
		return nil, err
	}
	not := e.Not
	return func(c *evalCtx) (any, error) {
		var v [3]any
		for i, f := range fns {
			var err error
			if v[i], err = f(c); err != nil {
				return nil, err
			}
			if v[i] == nil {
				return false, nil
			}
		}
		lo, ok1 := value.Compare(v[0], v[1])
		hi, ok2 := value.Compare(v[0], v[2])
		if !ok1 || !ok2 {
			return false, nil
		}
		return (lo >= 0 && hi <= 0) != not, nil
	}, nil
}

func (cp *compiler) caseExpr(e *sql.Case, sc scope) (evalFn, error) {
	var operand evalFn
	var err error
	if e.Operand != nil {
		if operand, err = cp.expr(e.Operand, sc); err != nil {
			return nil, err
		}
	}
	conds := make([]evalFn, len(e.Whens))
	results := make([]evalFn, len(e.Whens))
	for i, w := range e.Whens {
		if conds[i], err = cp.expr(w.Cond, sc); err != nil {
			return nil, err
		}
		if results[i], err = cp.expr(w.Result, sc); err != nil {
			return nil, err
		}
	}
	elseFn := constNil
	if e.Else != nil {
		if elseFn, err = cp.expr(e.Else, sc); err != nil {
			return nil, err
		}
	}
	return func(c *evalCtx) (any, error) {
		var subject any
		var err error
		if operand != nil {
			if subject, err = operand(c); err != nil {
				return nil, err
			}
		}
		for i, cond := range conds {
			v, err := cond(c)
			if err != nil {
				return nil, err
			}
			if (operand == nil && value.Truthy(v)) || (operand != nil && subject != nil && value.Equal(subject, v)) {
				return results[i](c)
			}
		}
		return elseFn(c)
	}, nil
}
