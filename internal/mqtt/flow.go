package mqtt

import (
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// flowHook gives publishers backpressure instead of dropping messages for slow subscribers.
// mochi queues each delivery on the subscriber's outbound queue and in-flight window and drops
// it when either is full, counted but lost, QoS 1 included; a Go broker on a few cores accepts
// publishes from many connections faster than one subscriber can take them, so under load it
// loses most of them. Here a sampler marks subscribers whose queue or window is over 30% full
// (and a drop marks its subscriber at once); while marked (and WatchHold after), a publish to
// a topic one of them subscribes to waits (on the publisher's goroutine, which stops reading
// from its socket: TCP carries the pressure back to the publisher) until that subscriber is
// under 20% again.
//
// A subscriber that drains nothing for Options.StallTimeout is given up on until it writes
// again: a stuck client costs publishers one wait and loses messages itself (counted) until it
// reads again or its keepalive runs out; a merely starved one is waited for again as soon as
// it takes a packet. Offline persistent sessions are never waited for; beyond MaxInflight they
// lose messages.
type flowHook struct {
	mochi.HookBase
	b        *Broker
	stall    time.Duration // Options.StallTimeout
	maxQueue float64
	maxIn    float64
	watch    atomic.Pointer[map[string]*mochi.Client] // congested subscribers by client id
	tick     atomic.Pointer[chan struct{}]            // closed at every sample: waiters look again
	subsOf   atomic.Pointer[sync.Map]                 // topic -> []string subscriber ids, renewed every sample
	stop     chan struct{}
	done     chan struct{}

	mu        sync.Mutex
	givenUp   map[*mochi.Client]bool      // stuck subscribers nobody waits for until they write again
	anyGiveUp atomic.Bool                 // len(givenUp) > 0, read on every packet sent
	lastHot   map[*mochi.Client]time.Time // when each watched subscriber was last congested
}

// Thresholds of subscriber pressure (the fuller of its queue and its in-flight window).
const (
	pressureHigh = 0.3 // the sampler marks a subscriber congested from here
	pressureLow  = 0.2 // a waiting publisher goes on from here
	// SampleInterval is how often the sampler looks at every client, and how often a waiting
	// publisher looks again.
	SampleInterval = 5 * time.Millisecond
	// WatchHold keeps a subscriber watched this long after it was last congested, so that
	// every publish checks it (cheaply) rather than bursting into it between two samples.
	WatchHold = time.Second
)

func newFlowHook(b *Broker, o Options) *flowHook {
	h := &flowHook{b: b, stall: o.StallTimeout, maxQueue: float64(o.MaxQueuedWrites), maxIn: float64(o.MaxInflight),
		stop: make(chan struct{}), done: make(chan struct{}), givenUp: map[*mochi.Client]bool{}, lastHot: map[*mochi.Client]time.Time{}}
	ch := make(chan struct{})
	h.tick.Store(&ch)
	h.subsOf.Store(&sync.Map{})
	return h
}

func (h *flowHook) ID() string { return "minicloud-flow" }

func (h *flowHook) Provides(b byte) bool {
	return b == mochi.OnPublish || b == mochi.OnPublishDropped || b == mochi.OnPacketSent
}

// OnPacketSent notices that a subscriber given up on writes again: from now on it is waited
// for again. Every packet passes here; the flag keeps that to one atomic load.
func (h *flowHook) OnPacketSent(cl *mochi.Client, _ packets.Packet, _ []byte) {
	if !h.anyGiveUp.Load() {
		return
	}
	h.mu.Lock()
	if h.givenUp[cl] {
		delete(h.givenUp, cl)
		h.anyGiveUp.Store(len(h.givenUp) > 0)
	}
	h.mu.Unlock()
}

// OnPublishDropped marks the subscriber congested at once, without waiting for the sampler
// (which a busy machine may run late), so that one drop stops the next ones.
func (h *flowHook) OnPublishDropped(cl *mochi.Client, _ packets.Packet) {
	if cl.Net.Inline {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.givenUp[cl] {
		return
	}
	h.lastHot[cl] = time.Now()
	hot := map[string]*mochi.Client{cl.ID: cl}
	if w := h.watch.Load(); w != nil {
		if (*w)[cl.ID] == cl {
			return
		}
		for id, c := range *w {
			hot[id] = c
		}
	}
	h.watch.Store(&hot)
}

// outboundField is the index of mochi's unexported per-client outbound queue in ClientState,
// read (length only) by reflection; -1 if a mochi upgrade removed it (then TestBackpressureInsteadOfLoss fails).
var outboundField = func() int {
	f, ok := reflect.TypeOf((*mochi.ClientState)(nil)).Elem().FieldByName("outbound")
	if !ok || f.Type.Kind() != reflect.Chan || len(f.Index) != 1 {
		return -1
	}
	return f.Index[0]
}()

func queueLen(cl *mochi.Client) int {
	if outboundField < 0 {
		return 0
	}
	return reflect.ValueOf(&cl.State).Elem().Field(outboundField).Len()
}

func (h *flowHook) pressure(cl *mochi.Client) float64 {
	return max(float64(queueLen(cl))/h.maxQueue, float64(cl.State.Inflight.Len())/h.maxIn)
}

// run samples every client each SampleInterval until close.
func (h *flowHook) run() {
	defer close(h.done)
	t := time.NewTicker(SampleInterval)
	defer t.Stop()
	for {
		select {
		case <-h.stop:
			close(*h.tick.Load())
			return
		case <-t.C:
		}
		h.sample()
		h.subsOf.Store(&sync.Map{}) // subscriptions may have changed; a sample's age is fine
		next := make(chan struct{})
		close(*h.tick.Swap(&next))
	}
}

func (h *flowHook) sample() {
	now := time.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	for cl := range h.givenUp {
		if cl.Closed() {
			delete(h.givenUp, cl)
		}
	}
	h.anyGiveUp.Store(len(h.givenUp) > 0)
	for _, cl := range h.b.srv.Clients.GetAll() {
		if !cl.Net.Inline && !cl.Closed() && h.pressure(cl) >= pressureHigh {
			h.lastHot[cl] = now
		}
	}
	var hot map[string]*mochi.Client
	for cl, last := range h.lastHot {
		if h.givenUp[cl] || cl.Closed() || now.Sub(last) > WatchHold {
			delete(h.lastHot, cl)
			continue
		}
		if hot == nil {
			hot = map[string]*mochi.Client{}
		}
		hot[cl.ID] = cl
	}
	if hot == nil {
		h.watch.Store(nil)
	} else {
		h.watch.Store(&hot)
	}
}

func (h *flowHook) close() {
	close(h.stop)
	<-h.done
}

// OnPublish waits, before mochi fans a message out, for the congested subscribers of its topic:
// those the sampler marked, and any found over pressureHigh now. The sampler may run late on a
// busy machine while many publishers fill a subscriber's queue (100 publishers overflowed one
// between two samples, and mochi dropped what did not fit), so each publish also looks at its
// subscribers' queues itself: a channel length and a read-locked count per subscriber.
func (h *flowHook) OnPublish(cl *mochi.Client, pk packets.Packet) (packets.Packet, error) {
	if cl == h.b.acked {
		return pk, nil // the acker's publishes waited when their client sent them
	}
	w := h.watch.Load()
	for _, sub := range h.subscribers(pk.TopicName) {
		if sub.cl == cl {
			continue
		}
		if w != nil && (*w)[sub.cl.ID] == sub.cl || sub.pressure(h) >= pressureHigh {
			h.waitFor(cl, sub.cl)
		}
	}
	return pk, nil
}

// subRef is a subscriber and its outbound queue, looked up once per sample.
type subRef struct {
	cl *mochi.Client
	q  reflect.Value // mochi's outbound channel; invalid if a mochi upgrade removed it
}

func (r subRef) pressure(h *flowHook) float64 {
	q := 0
	if r.q.IsValid() {
		q = r.q.Len()
	}
	return max(float64(q)/h.maxQueue, float64(r.cl.State.Inflight.Len())/h.maxIn)
}

// subscribers lists the connected clients subscribed to topic, remembered until the next
// sample: a walk of mochi's topic tree costs as much as the rest of a publish. (A client that
// reconnects meanwhile is a new *Client: the old one is closed, which waitFor skips.)
func (h *flowHook) subscribers(topic string) []subRef {
	m := h.subsOf.Load()
	if cls, ok := m.Load(topic); ok {
		return cls.([]subRef)
	}
	subs := h.b.srv.Topics.Subscribers(topic)
	cls := make([]subRef, 0, len(subs.Subscriptions))
	add := func(id string) {
		if c, ok := h.b.srv.Clients.Get(id); ok && !c.Net.Inline {
			r := subRef{cl: c}
			if outboundField >= 0 {
				r.q = reflect.ValueOf(&c.State).Elem().Field(outboundField)
			}
			cls = append(cls, r)
		}
	}
	for id := range subs.Subscriptions {
		add(id)
	}
	for _, group := range subs.Shared {
		for id := range group {
			add(id)
		}
	}
	m.Store(topic, cls)
	return cls
}

func (h *flowHook) waitFor(publisher, sub *mochi.Client) {
	if sub == nil || sub == publisher {
		return
	}
	best, progress := h.pressure(sub), time.Now()
	for p := best; p > pressureLow && !sub.Closed(); p = h.pressure(sub) {
		h.mu.Lock()
		gaveUp := h.givenUp[sub]
		if !gaveUp && p >= best && time.Since(progress) > h.stall {
			h.givenUp[sub], gaveUp = true, true
			h.anyGiveUp.Store(true)
			h.b.metrics.stalled.Inc()
		}
		h.mu.Unlock()
		if gaveUp {
			return
		}
		if p < best { // any draining is progress; a stuck client's queue stays put
			best, progress = p, time.Now()
		}
		h.b.metrics.throttled.Inc()
		select {
		case <-*h.tick.Load():
		case <-h.stop:
			return
		}
	}
}
