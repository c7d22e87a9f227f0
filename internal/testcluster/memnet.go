package testcluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"
)

// Memnet is an in-memory network of HTTP handlers keyed by address. Each message (a request, then
// its response) is delayed by a random latency, so messages overtake one another; it can be lost
// (before the handler runs, or after it ran and only the answer is lost); and links can be cut.
// All randomness comes from one seeded source, so a schedule's faults are reproducible. Delays
// are time.Sleep: inside a testing/synctest bubble they cost no wall-clock time.
type Memnet struct {
	mu    sync.Mutex
	rng   *rand.Rand // guarded by mu
	eps   map[string]*endpoint
	cut   map[[2]string]bool
	cfg   NetConfig
	stats NetStats
	done  chan struct{} // closed by Close: every wait ends
	once  sync.Once
}

// NetConfig sets the network's behaviour; the zero value is a perfect, instant network.
type NetConfig struct {
	MinDelay, MaxDelay time.Duration // one-way latency, uniform in [MinDelay, MaxDelay]
	// SlowProb is the chance that a message takes 5-50x MaxDelay instead: later messages overtake it.
	SlowProb float64
	// DropProb is the chance that a message is lost (half of them requests, half responses).
	DropProb float64
	// CutTimeout is how long a sender waits on a cut link or a lost message before giving up (as
	// TCP would), bounded by the request's context.
	CutTimeout time.Duration
	// Drop, when set, loses every request for which it returns true (a targeted loss, for
	// scenario tests): from and to are addresses, path the request's URL path.
	Drop func(from, to, path string) bool
}

// NetStats counts what the network did.
type NetStats struct {
	Sent, Delivered, Dropped, Refused, Cut int
	// Bytes counts the URLs and bodies of delivered requests and their responses.
	Bytes int64
}

type endpoint struct {
	h        http.Handler
	up       bool
	inflight sync.WaitGroup // handler calls running
}

// ErrUnreachable is what a sender sees when its message cannot be delivered.
var ErrUnreachable = errors.New("memnet: unreachable")

// NewMemnet returns an empty network drawing its randomness from rng.
func NewMemnet(rng *rand.Rand, cfg NetConfig) *Memnet {
	return &Memnet{rng: rng, eps: map[string]*endpoint{}, cut: map[[2]string]bool{}, cfg: cfg, done: make(chan struct{})}
}

// Close shuts the network down: messages in flight fail at once and no new one is delivered, so
// that the nodes' work in flight ends without waiting out its delays.
func (n *Memnet) Close() {
	n.once.Do(func() { close(n.done) })
}

// Listen serves h at addr (replacing any previous handler) and marks it up.
func (n *Memnet) Listen(addr string, h http.Handler) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.eps[addr] = &endpoint{h: h, up: true}
}

// Down makes addr refuse connections (its process died) and waits for the handler calls already
// running there to return, so that its store can then be closed.
func (n *Memnet) Down(addr string) {
	n.mu.Lock()
	ep := n.eps[addr]
	if ep != nil {
		ep.up = false
	}
	n.mu.Unlock()
	if ep != nil {
		ep.inflight.Wait()
	}
}

// Configure replaces the network's behaviour (e.g. to start or stop dropping messages).
func (n *Memnet) Configure(cfg NetConfig) {
	n.mu.Lock()
	n.cfg = cfg
	n.mu.Unlock()
}

// Config returns the current behaviour.
func (n *Memnet) Config() NetConfig {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.cfg
}

// Stats returns the counters so far.
func (n *Memnet) Stats() NetStats {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.stats
}

func pair(a, b string) [2]string {
	if a > b {
		a, b = b, a
	}
	return [2]string{a, b}
}

// Cut breaks the link between a and b in both directions.
func (n *Memnet) Cut(a, b string) {
	n.mu.Lock()
	n.cut[pair(a, b)] = true
	n.mu.Unlock()
}

// Isolate cuts a from every other endpoint.
func (n *Memnet) Isolate(a string) {
	n.mu.Lock()
	for b := range n.eps {
		if b != a {
			n.cut[pair(a, b)] = true
		}
	}
	n.mu.Unlock()
}

// Heal restores every cut link.
func (n *Memnet) Heal() {
	n.mu.Lock()
	clear(n.cut)
	n.mu.Unlock()
}

// Linked reports whether a and b can talk (no cut between them; either may still be down).
func (n *Memnet) Linked(a, b string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return a == b || !n.cut[pair(a, b)]
}

// Transport returns the RoundTripper for requests sent by the endpoint at from.
func (n *Memnet) Transport(from string) http.RoundTripper { return sender{n, from} }

type sender struct {
	n    *Memnet
	from string
}

// fate is what happens to one request and its answer, drawn when it is sent.
type fate struct {
	out, back         time.Duration
	dropReq, dropResp bool
	wait              time.Duration // CutTimeout
	drop              func(from, to, path string) bool
}

func (n *Memnet) draw() fate {
	n.mu.Lock()
	defer n.mu.Unlock()
	lat := func() time.Duration {
		d := n.cfg.MinDelay
		if span := n.cfg.MaxDelay - n.cfg.MinDelay; span > 0 {
			d += time.Duration(n.rng.Int64N(int64(span) + 1))
		}
		if n.cfg.SlowProb > 0 && n.rng.Float64() < n.cfg.SlowProb {
			d = n.cfg.MaxDelay * time.Duration(5+n.rng.IntN(46))
		}
		return d
	}
	f := fate{out: lat(), back: lat(), wait: n.cfg.CutTimeout, drop: n.cfg.Drop}
	if n.cfg.DropProb > 0 && n.rng.Float64() < n.cfg.DropProb {
		if n.rng.IntN(2) == 0 {
			f.dropReq = true
		} else {
			f.dropResp = true
		}
	}
	n.stats.Sent++
	return f
}

// route returns the endpoint a message from -> to reaches now, or why it does not.
func (n *Memnet) route(from, to string, hold bool) (*endpoint, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if src := n.eps[from]; src != nil && !src.up {
		n.stats.Refused++
		return nil, fmt.Errorf("%w: sender %s is down", ErrUnreachable, from)
	}
	if n.cut[pair(from, to)] {
		n.stats.Cut++
		return nil, errCut
	}
	ep := n.eps[to]
	if ep == nil || !ep.up {
		n.stats.Refused++
		return nil, fmt.Errorf("%w: connection to %s refused", ErrUnreachable, to)
	}
	if hold {
		ep.inflight.Add(1) // under mu, so Down's Wait never races a new call
	}
	return ep, nil
}

var errCut = fmt.Errorf("%w: link cut", ErrUnreachable)

var errClosed = fmt.Errorf("%w: network closed", ErrUnreachable)

// sleep waits d, or less if ctx ends or the network closes first.
func (n *Memnet) sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-n.done:
		return errClosed
	default:
	}
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-n.done:
		return errClosed
	}
}

// lost makes the sender wait as it would for a message that never arrives, then fail.
func (n *Memnet) lost(ctx context.Context, wait time.Duration, what string) error {
	if err := n.sleep(ctx, wait); err != nil {
		return err
	}
	return fmt.Errorf("%w: %s lost", ErrUnreachable, what)
}

func (s sender) RoundTrip(req *http.Request) (*http.Response, error) {
	n, ctx, to := s.n, req.Context(), req.URL.Host
	var body []byte
	if req.Body != nil {
		var err error
		body, err = io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
	}
	f := n.draw()
	if _, err := n.route(s.from, to, false); err != nil {
		if errors.Is(err, errCut) {
			return nil, n.lost(ctx, f.wait, "request on a cut link")
		}
		return nil, err // refused: fails at once, like a closed port
	}
	if err := n.sleep(ctx, f.out); err != nil {
		return nil, err
	}
	if f.dropReq || f.drop != nil && f.drop(s.from, to, req.URL.Path) {
		n.count(func(st *NetStats) { st.Dropped++ })
		return nil, n.lost(ctx, f.wait, "request")
	}
	ep, err := n.route(s.from, to, true) // the world may have changed while the message flew
	if err != nil {
		if errors.Is(err, errCut) {
			return nil, n.lost(ctx, f.wait, "request on a cut link")
		}
		return nil, err
	}
	rec := httptest.NewRecorder()
	func() {
		defer ep.inflight.Done()
		// The handler gets its own context: a server does not see a client give up mid-call.
		in, err := http.NewRequestWithContext(context.Background(), req.Method, req.URL.String(), bytes.NewReader(body))
		if err != nil {
			rec.WriteHeader(http.StatusBadRequest)
			return
		}
		in.Header = req.Header.Clone()
		in.RemoteAddr = s.from
		in.RequestURI = req.URL.RequestURI()
		ep.h.ServeHTTP(rec, in)
	}()
	if err := n.sleep(ctx, f.back); err != nil {
		return nil, err
	}
	if f.dropResp {
		n.count(func(st *NetStats) { st.Dropped++ })
		return nil, n.lost(ctx, f.wait, "response")
	}
	if !n.Linked(s.from, to) {
		return nil, n.lost(ctx, f.wait, "response on a cut link")
	}
	size := int64(len(req.URL.String()) + len(body) + rec.Body.Len())
	n.count(func(st *NetStats) { st.Delivered++; st.Bytes += size })
	resp := rec.Result()
	resp.Request = req
	return resp, nil
}

func (n *Memnet) count(fn func(*NetStats)) {
	n.mu.Lock()
	fn(&n.stats)
	n.mu.Unlock()
}
