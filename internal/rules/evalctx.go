package rules

import (
	"time"

	"github.com/minicloud/minicloud/internal/rules/agg"
	"github.com/minicloud/minicloud/internal/rules/funcs"
)

// evalFn is a compiled expression.
type evalFn func(c *evalCtx) (any, error)

// rowRef is one event as the windows keep it: the decoded payload, its topic and timestamp, and
// the results of the rule's analytic functions for it (computed on arrival, before WHERE).
type rowRef struct {
	data  map[string]any
	topic string
	ts    time.Time
	an    []any
}

// evalCtx is what a compiled expression reads: the current row, the group's aggregates when a
// window emits, and the output row built so far (for aliases).
type evalCtx struct {
	rowRef
	rule     *Rule
	now      time.Time
	aggs     []agg.Agg
	out      Row
	winStart time.Time
	winEnd   time.Time
}

var _ funcs.Env = (*evalCtx)(nil)

func (c *evalCtx) Now() time.Time         { return c.now }
func (c *evalCtx) EventTime() time.Time   { return c.ts }
func (c *evalCtx) WindowStart() time.Time { return c.winStart }
func (c *evalCtx) WindowEnd() time.Time   { return c.winEnd }
func (c *evalCtx) RuleID() string         { return c.rule.id }

func (c *evalCtx) setRow(r rowRef) {
	c.rowRef = r
	c.aggs = nil
	c.out = nil
}
