package rulesrt

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/minicloud/minicloud/internal/rules"
)

// runHandle stops a running rule: its subscription, its goroutine and its webhook senders.
type runHandle struct {
	unsubscribe func()
	cancel      context.CancelFunc
	done        chan struct{} // closed when every goroutine of the run has returned
}

// stop ends the run, if any, and waits for it (the rule goroutine checkpoints on its way out).
func (rs *ruleState) stop() {
	rs.mu.Lock()
	h := rs.run
	rs.run = nil
	rs.mu.Unlock()
	if h == nil {
		return
	}
	h.unsubscribe()
	h.cancel()
	<-h.done
}

// startLocked compiles and starts a rule; a failure is recorded on the rule, not returned,
// because one rule that cannot run must not stop the others (or the node). rt.mu is held.
func (rt *Runtime) startLocked(rs *ruleState) {
	rule, err := rs.spec.Compile(rt.cat, rt.o.Clock)
	if err != nil {
		rs.setFailure(stripRulePrefix(err, rs.name).Error())
		return
	}
	if data, err := get(rt.o.DB, ruleKey(subCkpt, rs.name)); err == nil && data != nil {
		if err := rule.Restore(data); err != nil {
			// The SQL changed or the format did: start afresh rather than not at all.
			rt.log.Warn("rule checkpoint not restored; starting with empty state", "rule", rs.name, "err", err)
			if rule, err = rs.spec.Compile(rt.cat, rt.o.Clock); err != nil {
				rs.setFailure(err.Error())
				return
			}
		}
	}
	ctx, cancel := context.WithCancel(rt.ctx)
	w := &worker{rt: rt, rs: rs, rule: rule, in: make(chan rules.Event, rt.o.QueueLength), ctx: ctx}
	w.interval = rt.o.CheckpointInterval
	if ms := rs.spec.Options.CheckpointInterval; ms > 0 {
		w.interval = time.Duration(ms) * time.Millisecond
	}
	if err := w.openSinks(); err != nil {
		cancel()
		rs.setFailure(err.Error())
		return
	}
	st := rule.Stream()
	unsub, err := rt.o.Broker.Subscribe(st.DataSource, w.enqueue)
	if err != nil {
		cancel()
		rs.setFailure(fmt.Sprintf("stream %s: DATASOURCE %q: %v", st.Name, st.DataSource, err))
		return
	}
	h := &runHandle{unsubscribe: unsub, cancel: cancel, done: make(chan struct{})}
	rs.mu.Lock()
	rs.run, rs.failure, rs.stats = h, "", rule.Stats()
	rs.stream, rs.topic = st.Name, st.DataSource
	rs.mu.Unlock()

	var wg sync.WaitGroup
	for _, s := range w.senders {
		wg.Add(1)
		go func() { defer wg.Done(); s.run(ctx) }()
	}
	wg.Add(1)
	go func() { defer wg.Done(); w.loop() }()
	rt.wg.Add(1)
	go func() { defer rt.wg.Done(); wg.Wait(); close(h.done) }()
}

// worker is the one goroutine that owns a running rule's *rules.Rule.
type worker struct {
	rt       *Runtime
	rs       *ruleState
	rule     *rules.Rule
	in       chan rules.Event
	ctx      context.Context
	interval time.Duration
	sinks    []sink
	senders  []runner
}

// runner is a goroutine of a run that delivers an action's outbox (webhook, object).
type runner interface {
	run(ctx context.Context)
}

// enqueue runs on the publisher's goroutine: it decodes there (spreading JSON work over the
// publishers) and waits a bounded time for room in the rule's queue.
func (w *worker) enqueue(topic string, payload []byte) {
	var v any
	if err := json.Unmarshal(payload, &v); err != nil {
		w.rs.decodeErr.Add(1)
		return
	}
	switch v := v.(type) {
	case map[string]any:
		w.push(rules.Event{Topic: topic, Data: v})
	case []any: // an array of objects is several events, as in eKuiper
		for _, e := range v {
			if m, ok := e.(map[string]any); ok {
				w.push(rules.Event{Topic: topic, Data: m})
			} else {
				w.rs.decodeErr.Add(1)
			}
		}
	default:
		w.rs.decodeErr.Add(1)
	}
}

func (w *worker) push(ev rules.Event) {
	ev.Time = w.rt.o.Clock.Now()
	select {
	case w.in <- ev:
		return
	default:
	}
	t := time.NewTimer(w.rt.o.EnqueueWait)
	defer t.Stop()
	select {
	case w.in <- ev:
	case <-t.C:
		w.rs.dropped.Add(1)
	case <-w.ctx.Done():
	}
}

// loop processes events and timers until the run is cancelled, then checkpoints.
func (w *worker) loop() {
	defer func() {
		p := recover()
		if p == nil {
			w.checkpoint(true)
			return
		}
		// The engine turns its own panics into errors; this catches the wiring's, so that one
		// broken rule is marked failed instead of taking the node down. Its state is suspect,
		// so it is not checkpointed.
		w.rt.log.Error("rule crashed", "rule", w.rs.name, "panic", p)
		w.rs.mu.Lock()
		h := w.rs.run
		w.rs.run, w.rs.failure = nil, fmt.Sprintf("internal error: %v", p)
		w.rs.mu.Unlock()
		if h != nil {
			h.unsubscribe()
			h.cancel()
		}
	}()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	ckpt := time.NewTicker(w.interval)
	defer ckpt.Stop()
	for {
		w.armTimer(timer)
		select {
		case <-w.ctx.Done():
			return
		case ev := <-w.in:
			rows, err := w.rule.Process(ev)
			w.emit(rows, err)
		case <-timer.C:
			rows, err := w.rule.Advance(w.rt.o.Clock.Now())
			w.emit(rows, err)
		case <-ckpt.C:
			w.checkpoint(false)
		}
	}
}

func (w *worker) armTimer(t *time.Timer) {
	t.Stop()
	select { // drain a fire that raced the Stop
	case <-t.C:
	default:
	}
	if deadline, ok := w.rule.NextDeadline(); ok {
		t.Reset(max(deadline.Sub(w.rt.o.Clock.Now()), 0))
	}
}

// emit hands result rows to every action and publishes the counters.
func (w *worker) emit(rows []rules.Row, err error) {
	if err != nil {
		w.rt.log.Debug("rule evaluation error", "rule", w.rs.name, "err", err)
	}
	if len(rows) > 0 {
		for i, a := range w.rs.spec.Actions {
			payloads, err := a.Render(rows)
			if err != nil {
				w.rs.actions[i].fail(err)
				continue
			}
			if len(payloads) > 0 {
				w.sinks[i].deliver(payloads)
			}
		}
	}
	st := w.rule.Stats()
	w.rs.mu.Lock()
	w.rs.stats = st
	w.rs.mu.Unlock()
}

// checkpoint saves the rule's state; on the way out it is synced, the periodic ones need not
// be (the next one follows soon).
func (w *worker) checkpoint(final bool) {
	data, err := w.rule.Snapshot()
	if err == nil {
		err = put(w.rt.o.DB, ruleKey(subCkpt, w.rs.name), data, final)
	}
	if err != nil {
		w.rt.log.Error("rule checkpoint failed", "rule", w.rs.name, "err", err)
	}
}
