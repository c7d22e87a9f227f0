package rules

import (
	"fmt"
	"sort"
	"strings"

	"github.com/minicloud/minicloud/internal/rules/sql"
	"github.com/minicloud/minicloud/internal/rules/value"
)

// scope says where an expression sits, which decides what it may use.
type scope int

const (
	scopeRow    scope = iota // WHERE, FILTER, GROUP BY keys, arguments: one event, no aggregates
	scopeOutput              // SELECT, HAVING, ORDER BY: aggregates (in windows) and aliases
)

// compiler turns expressions into closures and collects the aggregate and analytic call sites.
type compiler struct {
	stream    *Stream
	names     []string // the stream's name and FROM alias, for qualified columns
	windowed  bool
	aggs      []*aggSlot
	analytics []*analyticSlot
	aliases   map[string]bool // output columns visible to the expression being compiled
}

func compileErr(e sql.Expr, format string, args ...any) error {
	return &sql.Error{Pos: e.Position(), Msg: fmt.Sprintf(format, args...)}
}

func (cp *compiler) expr(e sql.Expr, sc scope) (evalFn, error) {
	switch e := e.(type) {
	case *sql.Literal:
		v := e.Value
		return func(*evalCtx) (any, error) { return v, nil }, nil
	case *sql.Ident:
		return cp.ident(e, sc)
	case *sql.Field:
		return cp.field(e, sc)
	case *sql.Index:
		return cp.index(e, sc)
	case *sql.Slice:
		return cp.slice(e, sc)
	case *sql.Unary:
		return cp.unary(e, sc)
	case *sql.Binary:
		return cp.binary(e, sc)
	case *sql.In:
		return cp.in(e, sc)
	case *sql.Between:
		return cp.between(e, sc)
	case *sql.Case:
		return cp.caseExpr(e, sc)
	case *sql.Call:
		return cp.call(e, sc)
	case *sql.Wildcard:
		return nil, compileErr(e, "* is allowed only as a select item or as the argument of count, collect or had_changed")
	}
	return nil, fmt.Errorf("unsupported expression %T", e)
}

func (cp *compiler) exprs(es []sql.Expr, sc scope) ([]evalFn, error) {
	out := make([]evalFn, len(es))
	for i, e := range es {
		f, err := cp.expr(e, sc)
		if err != nil {
			return nil, err
		}
		out[i] = f
	}
	return out, nil
}

func (cp *compiler) ident(e *sql.Ident, sc scope) (evalFn, error) {
	name := e.Name
	if sc == scopeOutput && cp.aliases[name] {
		return func(c *evalCtx) (any, error) { return c.out[name], nil }, nil
	}
	if err := cp.checkField(e, name); err != nil {
		return nil, err
	}
	return func(c *evalCtx) (any, error) { return c.data[name], nil }, nil
}

// checkField rejects a column that a stream with a schema does not have, listing those it has.
func (cp *compiler) checkField(e sql.Expr, name string) error {
	if cp.stream.schemaless() || cp.stream.field(name) != nil {
		return nil
	}
	names := make([]string, len(cp.stream.Fields))
	for i, f := range cp.stream.Fields {
		names[i] = f.Name
	}
	sort.Strings(names)
	return compileErr(e, "stream %s has no field %q (fields: %s)", cp.stream.Name, name, strings.Join(names, ", "))
}

// isStreamName reports whether id names the stream (demo.a is column a of stream demo), unless
// the schema has a column of that name.
func (cp *compiler) isStreamName(id *sql.Ident) bool {
	for _, n := range cp.names {
		if n != "" && strings.EqualFold(n, id.Name) && cp.stream.field(id.Name) == nil {
			return true
		}
	}
	return false
}

func (cp *compiler) field(e *sql.Field, sc scope) (evalFn, error) {
	name := e.Name
	if id, ok := e.X.(*sql.Ident); ok && cp.isStreamName(id) {
		if err := cp.checkField(e, name); err != nil {
			return nil, err
		}
		return func(c *evalCtx) (any, error) { return c.data[name], nil }, nil
	}
	x, err := cp.expr(e.X, sc)
	if err != nil {
		return nil, err
	}
	return func(c *evalCtx) (any, error) {
		v, err := x(c)
		if err != nil {
			return nil, err
		}
		return value.Field(v, name), nil
	}, nil
}

func (cp *compiler) index(e *sql.Index, sc scope) (evalFn, error) {
	x, err := cp.expr(e.X, sc)
	if err != nil {
		return nil, err
	}
	i, err := cp.expr(e.Index, sc)
	if err != nil {
		return nil, err
	}
	return func(c *evalCtx) (any, error) {
		v, err := x(c)
		if err != nil {
			return nil, err
		}
		iv, err := i(c)
		if err != nil {
			return nil, err
		}
		return value.Index(v, iv)
	}, nil
}

func (cp *compiler) slice(e *sql.Slice, sc scope) (evalFn, error) {
	x, err := cp.expr(e.X, sc)
	if err != nil {
		return nil, err
	}
	lo, hi := constNil, constNil
	if e.Lo != nil {
		if lo, err = cp.expr(e.Lo, sc); err != nil {
			return nil, err
		}
	}
	if e.Hi != nil {
		if hi, err = cp.expr(e.Hi, sc); err != nil {
			return nil, err
		}
	}
	return func(c *evalCtx) (any, error) {
		v, err := x(c)
		if err != nil {
			return nil, err
		}
		l, err := lo(c)
		if err != nil {
			return nil, err
		}
		h, err := hi(c)
		if err != nil {
			return nil, err
		}
		return value.Slice(v, l, h)
	}, nil
}

func constNil(*evalCtx) (any, error) { return nil, nil }
