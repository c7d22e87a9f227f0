package rules

import (
	"errors"
	"fmt"
	"time"

	"github.com/minicloud/minicloud/internal/rules/sql"
	"github.com/minicloud/minicloud/internal/rules/value"
)

// Options configure a compiled rule.
type Options struct {
	ID    string
	Clock Clock // required: the rule never reads the wall clock itself
	// IsEventTime selects event time; nil means "event time if the stream has a TIMESTAMP".
	IsEventTime *bool
	// LateTolerance is how far behind the newest event time an event may be and still count; the
	// watermark is the newest event time minus this. Later events are dropped and counted.
	LateTolerance time.Duration
}

// Stats are a rule's counters.
type Stats struct {
	In        int64  // events given to Process
	Out       int64  // rows returned
	Late      int64  // events dropped for arriving behind the watermark
	Errors    int64  // events or groups that failed to evaluate
	LastError string `json:",omitempty"`
}

// Rule is a compiled, running query. See the package comment for how to drive it.
type Rule struct {
	id        string
	sqlText   string
	clock     Clock
	p         *plan
	win       window
	eventTime bool
	tolerance time.Duration
	maxTS     time.Time
	hasTS     bool
	stats     Stats
	ctx       evalCtx
}

// ErrNoClock is returned by Compile without Options.Clock.
var ErrNoClock = errors.New("rule needs a clock")

// Compile parses and compiles a rule's SELECT against the stream definitions.
func Compile(sqlText string, streams Streams, opts Options) (*Rule, error) {
	if opts.Clock == nil {
		return nil, ErrNoClock
	}
	sel, err := sql.ParseSelect(sqlText)
	if err != nil {
		return nil, err
	}
	st, ok := streams.Stream(sel.From)
	if !ok {
		return nil, &sql.Error{Pos: sel.FromPos, Msg: fmt.Sprintf("stream %s is not defined: create it first with CREATE STREAM %s (...) WITH (DATASOURCE=\"topic\")", sel.From, sel.From)}
	}
	p, err := compilePlan(sel, st)
	if err != nil {
		return nil, err
	}
	r := &Rule{id: opts.ID, sqlText: sqlText, clock: opts.Clock, p: p, tolerance: opts.LateTolerance}
	r.ctx.rule = r
	r.eventTime = st.Timestamp != ""
	if opts.IsEventTime != nil {
		if *opts.IsEventTime && st.Timestamp == "" {
			return nil, fmt.Errorf("compile rule: event time needs a TIMESTAMP option on stream %s", st.Name)
		}
		r.eventTime = *opts.IsEventTime
	}
	if sel.Window != nil {
		if r.win, err = newWindow(sel.Window, r); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// ID returns the rule's id.
func (r *Rule) ID() string { return r.id }

// SQL returns the rule's query text.
func (r *Rule) SQL() string { return r.sqlText }

// Stream returns the definition of the stream the rule reads.
func (r *Rule) Stream() *Stream { return r.p.stream }

// EventTime reports whether windows run on event time.
func (r *Rule) EventTime() bool { return r.eventTime }

// Stats returns the counters.
func (r *Rule) Stats() Stats { return r.stats }

// NextDeadline is the time at which Advance will next have something to emit, if any; the wiring
// layer sets a timer for it. Event-time windows are driven by events and never have a deadline.
func (r *Rule) NextDeadline() (time.Time, bool) {
	if r.win == nil || r.eventTime {
		return time.Time{}, false
	}
	return r.win.next()
}

// Advance closes the processing-time windows that end at or before now and returns their rows.
// Errors of single groups are counted and returned joined; the other rows are still returned.
func (r *Rule) Advance(now time.Time) (rows []Row, err error) {
	defer r.recoverInto(&err)
	if r.win == nil || r.eventTime {
		return nil, nil
	}
	ems, err := r.win.advance(now)
	rows, emitErr := r.emitAll(ems, now)
	err = joinErr(err, emitErr)
	r.stats.Out += int64(len(rows))
	return rows, err
}

func (r *Rule) recoverInto(err *error) {
	if p := recover(); p != nil {
		*err = fmt.Errorf("rule %s: internal error: %v", r.id, p)
		r.fail(*err)
	}
}

// Process feeds one event. It first closes the processing-time windows that ended before the
// event arrived, so rows come out in time order. An event that fails to evaluate is counted and
// its error returned; rows from windows it closed are still returned.
func (r *Rule) Process(ev Event) (rows []Row, err error) {
	// A bug in one rule must not take down the node and every other rule with it: turn a panic
	// into this event's error.
	defer r.recoverInto(&err)
	r.stats.In++
	now := r.clock.Now()
	var out []Row
	var closeErr error
	if r.win != nil && !r.eventTime {
		ems, err := r.win.advance(now)
		rows, emitErr := r.emitAll(ems, now)
		out, closeErr = rows, joinErr(err, emitErr)
	}
	rows, err = r.process(ev, now)
	if err != nil {
		r.fail(err)
	}
	if out == nil {
		out = rows
	} else {
		out = append(out, rows...)
	}
	r.stats.Out += int64(len(out))
	return out, joinErr(closeErr, err)
}

// joinErr is errors.Join without its allocation when there is nothing to join, the hot path.
func joinErr(a, b error) error {
	if a == nil {
		return b
	}
	if b == nil {
		return a
	}
	return errors.Join(a, b)
}

func (r *Rule) fail(err error) {
	r.stats.Errors++
	r.stats.LastError = err.Error()
}

func (r *Rule) process(ev Event, now time.Time) ([]Row, error) {
	data, err := r.p.stream.decode(ev.Data)
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", r.p.stream.Name, err)
	}
	ts := now
	if r.eventTime {
		if ts, err = r.p.stream.eventTime(data); err != nil {
			return nil, err
		}
		if r.hasTS && ts.Before(r.maxTS.Add(-r.tolerance)) {
			r.stats.Late++
			return nil, nil
		}
	}
	c := &r.ctx
	c.now = now
	c.setRow(rowRef{data: data, topic: ev.Topic, ts: ts})
	c.winStart, c.winEnd = time.Time{}, time.Time{}
	if err := r.runAnalytics(c); err != nil {
		return nil, err
	}
	if r.win == nil {
		return r.plain(c)
	}
	return r.windowed(c, now)
}

// runAnalytics evaluates every analytic call for the event, inner calls first, before any filter.
func (r *Rule) runAnalytics(c *evalCtx) error {
	if len(r.p.analytics) == 0 {
		return nil
	}
	c.an = make([]any, len(r.p.analytics))
	for i, s := range r.p.analytics {
		v, err := s.eval(c)
		if err != nil {
			return err
		}
		c.an[i] = v
	}
	return nil
}

func (r *Rule) test(f evalFn, c *evalCtx, what string) (bool, error) {
	if f == nil {
		return true, nil
	}
	v, err := f(c)
	if err != nil {
		return false, fmt.Errorf("%s: %w", what, err)
	}
	return value.Truthy(v), nil
}

// plain runs a rule without a window: WHERE, the select list, HAVING, one row per event.
func (r *Rule) plain(c *evalCtx) ([]Row, error) {
	ok, err := r.test(r.p.where, c, "WHERE")
	if err != nil || !ok {
		return nil, err
	}
	row, err := r.p.project(c)
	if err != nil {
		return nil, err
	}
	if ok, err := r.p.keep(c); err != nil || !ok {
		return nil, err
	}
	return []Row{row}, nil
}

func (r *Rule) windowed(c *evalCtx, now time.Time) ([]Row, error) {
	ok, err := r.test(r.p.filter, c, "FILTER")
	if err != nil || !ok {
		return nil, err
	}
	whereOK, err := r.test(r.p.where, c, "WHERE")
	if err != nil {
		return nil, err
	}
	ev := c.rowRef
	ems, err := r.win.add(ev, whereOK)
	rows, emitErr := r.emitAll(ems, now)
	if err != nil {
		return rows, err
	}
	if r.eventTime {
		if !r.hasTS || ev.ts.After(r.maxTS) {
			r.maxTS, r.hasTS = ev.ts, true
		}
		ems, err := r.win.advance(r.maxTS.Add(-r.tolerance))
		more, moreErr := r.emitAll(ems, now)
		rows = append(rows, more...)
		emitErr = errors.Join(emitErr, err, moreErr)
	}
	return rows, emitErr
}
