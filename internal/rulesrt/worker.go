package rulesrt

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/minicloud/minicloud/internal/rules"
	"github.com/minicloud/minicloud/internal/rules/sql"
	"github.com/minicloud/minicloud/internal/stream"
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
	rs.stopDrain() // the run's own senders take the outboxes over
	rule, err := rs.spec.Compile(rt.cat, rt.o.Clock)
	if err != nil {
		rs.setFailure(stripRulePrefix(err, rs.name).Error())
		return
	}
	ck := checkpoint{Format: 2}
	data, err := rt.o.Checkpoints.Load(rt.ctx, rs.name)
	if err != nil {
		// Starting without it would replay or skip input: better not to run until it is readable.
		rs.setFailure(fmt.Sprintf("read checkpoint: %v", err))
		return
	}
	if data != nil {
		if ck, err = decodeCheckpoint(data); err == nil {
			err = rule.Restore(ck.State)
		}
		if err != nil {
			// The SQL changed or the format did: start afresh rather than not at all.
			rt.log.Warn("rule checkpoint not restored; starting with empty state", "rule", rs.name, "err", err)
			ck = checkpoint{Format: 2}
			if rule, err = rs.spec.Compile(rt.cat, rt.o.Clock); err != nil {
				rs.setFailure(err.Error())
				return
			}
		}
	}
	ctx, cancel := context.WithCancel(rt.ctx)
	w := &worker{rt: rt, rs: rs, rule: rule, in: make(chan item, rt.o.QueueLength), ctx: ctx,
		offsets: map[string]uint64{}, partial: map[string]int{}}
	w.interval = rt.o.CheckpointInterval
	if ms := rs.spec.Options.CheckpointInterval; ms > 0 {
		w.interval = time.Duration(ms) * time.Millisecond
	}
	if sel, err := sql.ParseSelect(rs.spec.SQL); err == nil {
		w.windowed = sel.Window != nil
	}
	if err := w.openSinks(); err != nil {
		cancel()
		rs.setFailure(err.Error())
		return
	}
	st := rule.Stream()
	h := &runHandle{unsubscribe: func() {}, cancel: cancel, done: make(chan struct{})}
	input := "broker"
	if rt.o.Logs != nil {
		w.logStream = rt.o.Logs.Covering(st.DataSource)
	}
	if w.logStream != "" {
		input = "stream log " + w.logStream
		rt.log.Info("rule reads its stream log", "rule", rs.name, "stream", w.logStream, "from", ck.Offsets, "checkpoint_by", ck.Node, "checkpoint_out", ck.Out)
		for o, off := range ck.Offsets {
			w.offsets[o] = off
		}
		for o, n := range ck.Partial {
			w.partial[o] = n
		}
		// Without a checkpoint, from when the rule was defined (a successor that finds none
		// must not skip what came meanwhile); with one taken while the rule read the broker
		// (a persisted stream now covers its topics), from now: what came before, it has seen.
		w.since = time.Unix(0, ck.Since)
		if ck.Since == 0 {
			w.since = rt.o.Clock.Now()
			if ts := rt.ruleRecs[rs.name].TS; data == nil && ts > 0 && ts < w.since.UnixNano() {
				w.since = time.Unix(0, ts)
			}
		}
	} else {
		unsub, err := rt.o.Broker.Subscribe(st.DataSource, w.enqueue)
		if err != nil {
			cancel()
			rs.setFailure(fmt.Sprintf("stream %s: DATASOURCE %q: %v", st.Name, st.DataSource, err))
			return
		}
		h.unsubscribe = unsub
	}
	rs.mu.Lock()
	rs.run, rs.failure, rs.stats = h, "", rule.Stats()
	rs.stream, rs.topic, rs.input = st.Name, st.DataSource, input
	rs.mu.Unlock()

	var wg sync.WaitGroup
	for _, s := range w.senders {
		wg.Add(1)
		go func() { defer wg.Done(); s.run(ctx) }()
	}
	if w.logStream != "" {
		for _, origin := range rt.o.Logs.Origins(w.logStream) {
			start, known := w.offsets[origin]
			skip := w.partial[origin]
			wg.Add(1)
			go func() { defer wg.Done(); w.readLog(origin, start, skip, known) }()
		}
	}
	wg.Add(1)
	go func() { defer wg.Done(); w.loop() }()
	rt.wg.Add(1)
	go func() { defer rt.wg.Done(); wg.Wait(); close(h.done) }()
}

// item is an event on its way to the rule, with where it came from in a stream log: next, the
// offset after its entry in origin's log, is set on the entry's last event (and on a bare
// position item for entries that gave no event), so that a checkpoint never counts an entry
// half processed.
type item struct {
	ev     rules.Event
	origin string
	next   uint64 // pos: the offset after the entry; else the entry's offset
	idx    int32  // !pos: the event's index in its entry
	pos    bool   // the entry's last event, or no event
}

// worker is the one goroutine that owns a running rule's *rules.Rule.
type worker struct {
	rt       *Runtime
	rs       *ruleState
	rule     *rules.Rule
	in       chan item
	ctx      context.Context
	interval time.Duration
	windowed bool
	sinks    []sink
	senders  []runner

	logStream string            // the persisted stream read, or "" (live broker messages)
	since     time.Time         // the rule's first start: origins without an offset start here
	offsets   map[string]uint64 // loop goroutine only: next offset per origin
	partial   map[string]int    // loop goroutine only: events of the entry at offsets[origin] processed
}

// runner is a goroutine of a run that delivers an action's outbox (webhook, object).
type runner interface {
	run(ctx context.Context)
}

// decode turns a JSON payload into events: an object is one, an array of objects several (as in
// eKuiper); anything else counts as a decode error.
func (w *worker) decode(topic string, payload []byte, fn func(rules.Event)) {
	var v any
	if err := json.Unmarshal(payload, &v); err != nil {
		w.rs.decodeErr.Add(1)
		return
	}
	switch v := v.(type) {
	case map[string]any:
		fn(rules.Event{Topic: topic, Data: v})
	case []any:
		for _, e := range v {
			if m, ok := e.(map[string]any); ok {
				fn(rules.Event{Topic: topic, Data: m})
			} else {
				w.rs.decodeErr.Add(1)
			}
		}
	default:
		w.rs.decodeErr.Add(1)
	}
}

// enqueue runs on the publisher's goroutine: it decodes there (spreading JSON work over the
// publishers) and waits a bounded time for room in the rule's queue.
func (w *worker) enqueue(topic string, payload []byte) {
	w.decode(topic, payload, w.push)
}

func (w *worker) push(ev rules.Event) {
	ev.Time = w.rt.o.Clock.Now()
	it := item{ev: ev}
	select {
	case w.in <- it:
		return
	default:
	}
	t := time.NewTimer(w.rt.o.EnqueueWait)
	defer t.Stop()
	select {
	case w.in <- it:
	case <-t.C:
		w.rs.dropped.Add(1)
	case <-w.ctx.Done():
	}
}

// readLog feeds the rule from one origin's log of its stream, from offset start (or, unknown,
// from the rule's first start), skipping the first skip events of the entry there (a checkpoint
// taken amid an entry that holds several). The queue's backpressure paces it: nothing is dropped.
func (w *worker) readLog(origin string, start uint64, skip int, known bool) {
	logs := w.rt.o.Logs
	backoff := w.rt.o.RetryMin
	retry := func(what string, err error) bool {
		w.rt.log.Warn("rule cannot read its stream log; retrying", "rule", w.rs.name, "stream", w.logStream, "origin", origin, "op", what, "err", err)
		select {
		case <-w.ctx.Done():
			return false
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, w.rt.o.RetryMax)
		return true
	}
	for !known {
		off, err := logs.Seek(w.ctx, w.logStream, origin, w.since)
		if err == nil {
			start, known = off, true
			w.send(item{origin: origin, next: off, pos: true}) // record it, so a checkpoint holds it
			break
		}
		if !retry("seek", err) {
			return
		}
	}
	filter := w.rule.Stream().DataSource
	off := start
	for w.ctx.Err() == nil {
		es, next, err := logs.Read(w.ctx, w.logStream, origin, off, 512, time.Second)
		if err != nil {
			if w.ctx.Err() != nil || !retry("read", err) {
				return
			}
			continue
		}
		backoff = w.rt.o.RetryMin
		for _, e := range es {
			var evs []rules.Event
			if stream.MatchFilter(filter, e.Topic) {
				w.decode(e.Topic, e.Payload, func(ev rules.Event) {
					ev.Time = w.rt.o.Clock.Now()
					evs = append(evs, ev)
				})
			}
			first := 0
			if e.Offset == start && skip > 0 { // the checkpoint holds the first events of this entry
				first = min(skip, len(evs))
			}
			for i := first; i+1 < len(evs); i++ {
				if !w.send(item{ev: evs[i], origin: origin, next: e.Offset, idx: int32(i)}) {
					return
				}
			}
			it := item{origin: origin, next: e.Offset + 1, pos: true}
			if first < len(evs) {
				it.ev = evs[len(evs)-1]
			}
			if !w.send(it) {
				return
			}
		}
		if next > off && (len(es) == 0 || es[len(es)-1].Offset+1 < next) {
			w.send(item{origin: origin, next: next, pos: true}) // skipped entries at the end
		}
		off = next
	}
}

// send queues an item, waiting for room (backpressure); false once the run ends.
func (w *worker) send(it item) bool {
	select {
	case w.in <- it:
		return true
	case <-w.ctx.Done():
		return false
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
	timer := &windowTimer{t: time.NewTimer(time.Hour)}
	timer.t.Stop()
	ckpt := time.NewTicker(w.interval)
	defer ckpt.Stop()
	for {
		w.armTimer(timer)
		select {
		case <-w.ctx.Done():
			return
		case it := <-w.in:
			// The position first: a checkpoint taken while the event is processed (a window
			// fired) must count it as processed.
			if it.pos {
				w.offsets[it.origin] = it.next
				delete(w.partial, it.origin)
			} else if it.origin != "" {
				w.offsets[it.origin] = it.next
				w.partial[it.origin] = int(it.idx) + 1
			}
			if it.ev.Data != nil {
				rows, err := w.rule.Process(it.ev)
				w.emit(rows, err)
			}
		case <-timer.t.C:
			timer.armed = false
			rows, err := w.rule.Advance(w.rt.o.Clock.Now())
			w.emit(rows, err)
		case <-ckpt.C:
			w.checkpoint(false)
		}
	}
}

// windowTimer fires at the rule's next processing-time window deadline.
type windowTimer struct {
	t     *time.Timer
	at    time.Time
	armed bool
}

// armTimer sets the timer to the rule's next deadline; it is left alone when that did not
// change (most events), which keeps timer operations off the per-event path.
func (w *worker) armTimer(wt *windowTimer) {
	deadline, ok := w.rule.NextDeadline()
	if ok == wt.armed && (!ok || deadline.Equal(wt.at)) {
		return
	}
	wt.t.Stop()
	select { // drain a fire that raced the Stop
	case <-wt.t.C:
	default:
	}
	wt.armed, wt.at = ok, deadline
	if ok {
		wt.t.Reset(max(deadline.Sub(w.rt.o.Clock.Now()), 0))
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
	if len(rows) > 0 && w.windowed && w.logStream != "" {
		// A window fired: checkpoint now, so that a successor resuming from the log does not
		// fire it again (rules that read the broker cannot replay, so they need not).
		w.checkpoint(true)
	}
}

// checkpoint saves the rule's state with its stream log offsets; on the way out and after a
// window fired it is synced, the periodic ones need not be (the next one follows soon).
func (w *worker) checkpoint(final bool) {
	state, err := w.rule.Snapshot()
	if err == nil {
		ck := checkpoint{Format: 2, State: state, Node: w.rt.o.NodeID, Out: w.rule.Stats().Out}
		if w.logStream != "" {
			ck.Offsets, ck.Partial, ck.Since = w.offsets, w.partial, w.since.UnixNano()
		}
		data, _ := json.Marshal(ck)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err = w.rt.o.Checkpoints.Save(ctx, w.rs.name, data, final)
		cancel()
		if err == nil {
			w.rs.checkpointedOut.Store(ck.Out)
		}
	}
	if err != nil {
		w.rt.log.Error("rule checkpoint failed", "rule", w.rs.name, "err", err)
	}
}
