package rulesrt

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/minicloud/minicloud/internal/rules"
)

// sink delivers an action's payloads; deliver runs on the rule's goroutine and must be quick.
type sink interface {
	deliver(payloads []rules.Payload)
}

// actionState holds one action's counters; they outlive runs of the rule.
type actionState struct {
	kind    string
	target  string
	sent    atomic.Int64
	failed  atomic.Int64
	dropped atomic.Int64
	pending atomic.Int64

	mu        sync.Mutex
	lastErr   string
	lastErrAt time.Time
}

func newActionState(i int, a *rules.Action) *actionState {
	s := &actionState{kind: a.Kind}
	switch {
	case a.MQTT != nil:
		s.target = a.MQTT.Topic
	case a.REST != nil:
		s.target = a.REST.URL
	case a.Object != nil:
		s.target = a.Object.Bucket + "/" + a.Object.Key
	case a.Stream != nil:
		s.target = a.Stream.Name
	}
	return s
}

func (s *actionState) fail(err error) {
	s.failed.Add(1)
	s.mu.Lock()
	s.lastErr, s.lastErrAt = err.Error(), time.Now()
	s.mu.Unlock()
}

func (s *actionState) info() ActionInfo {
	info := ActionInfo{Kind: s.kind, Target: s.target, Sent: s.sent.Load(), Failed: s.failed.Load(),
		Dropped: s.dropped.Load(), Pending: s.pending.Load()}
	s.mu.Lock()
	if s.lastErr != "" {
		at := s.lastErrAt
		info.LastError, info.LastErrorAt = s.lastErr, &at
	}
	s.mu.Unlock()
	return info
}

// openSinks builds the sinks of a run, and a sender for each webhook.
func (w *worker) openSinks() error {
	for i, a := range w.rs.spec.Actions {
		st := w.rs.actions[i]
		switch {
		case a.MQTT != nil:
			w.sinks = append(w.sinks, &mqttSink{b: w.rt.o.Broker, a: a.MQTT, st: st})
		case a.REST != nil:
			ob, err := openOutbox(w.rt.o.DB, w.rs.name, i)
			if err != nil {
				return fmt.Errorf("actions[%d].rest: %w", i, err)
			}
			st.pending.Store(ob.count)
			w.sinks = append(w.sinks, &restSink{ob: ob, st: st})
			w.senders = append(w.senders, w.rt.newSender(w.rs.name, a.REST, ob, st))
		case a.Object != nil:
			ob, err := openOutbox(w.rt.o.DB, w.rs.name, i)
			if err != nil {
				return fmt.Errorf("actions[%d].object: %w", i, err)
			}
			st.pending.Store(ob.count)
			w.sinks = append(w.sinks, &objectSink{ob: ob, st: st, now: w.rt.o.Clock.Now})
			w.senders = append(w.senders, w.rt.newObjectSender(w.rs.name, a.Object, ob, st))
		case a.Stream != nil:
			topic := a.Stream.Topic
			if topic == "" {
				topic = "rules/" + w.rs.name
			}
			w.sinks = append(w.sinks, &streamSink{log: w.rt.o.Streams, name: a.Stream.Name, topic: topic, st: st})
		case a.Kind == "log":
			w.sinks = append(w.sinks, &logSink{w: w, st: st})
		case a.Kind == "nop":
			w.sinks = append(w.sinks, nopSink{st})
		default:
			return fmt.Errorf("actions[%d]: the %s action is not supported yet", i, a.Kind)
		}
	}
	return nil
}

// mqttSink publishes on the node's broker (and so, through the mesh, on the site's).
type mqttSink struct {
	b  Broker
	a  *rules.MQTTAction
	st *actionState
}

func (s *mqttSink) deliver(ps []rules.Payload) {
	for _, p := range ps {
		topic := p.Topic
		if topic == "" {
			topic = s.a.Topic
		}
		if err := s.b.Publish(topic, p.Body, byte(s.a.Qos), s.a.Retained); err != nil {
			s.st.fail(err)
			continue
		}
		s.st.sent.Add(1)
	}
}

// logSink writes results to the node's log.
type logSink struct {
	w  *worker
	st *actionState
}

func (s *logSink) deliver(ps []rules.Payload) {
	for _, p := range ps {
		s.w.rt.log.Info("rule result", "rule", s.w.rs.name, "payload", string(p.Body))
		s.st.sent.Add(1)
	}
}

type nopSink struct{ st *actionState }

func (s nopSink) deliver(ps []rules.Payload) { s.st.sent.Add(int64(len(ps))) }

// restSink puts webhook payloads in the durable outbox; the action's sender delivers them.
type restSink struct {
	ob *outbox
	st *actionState
}

func (s *restSink) deliver(ps []rules.Payload) {
	bodies := make([][]byte, len(ps))
	for i, p := range ps {
		bodies[i] = p.Body
	}
	if err := s.ob.put(bodies); err != nil {
		s.st.fail(fmt.Errorf("outbox: %w", err))
		s.st.dropped.Add(int64(len(ps)))
		return
	}
	s.st.pending.Add(int64(len(ps)))
}
