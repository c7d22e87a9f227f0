package replicate

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// The two ends of the framed RPC (frame.go): the server side of one connection, and the
// client's connection per peer.

// frameParallel bounds the requests of one connection being answered at once; beyond it the
// server stops reading the connection until some are answered (backpressure).
const frameParallel = 256

// serveFrames answers the requests of one framed connection until it breaks or ctx ends.
//
// Quick reads (inlineOps) are answered by the reading goroutine itself: handing each to another
// goroutine cost a wake-up per request, more than the read. The others (merges wait for an
// fsync) run on workers that outlive one request, so that their stacks stay grown (a fresh
// goroutine per request paid for growing its stack every time); a worker is added only when
// every existing one is busy, up to frameParallel.
func (s *Server) serveFrames(ctx context.Context, conn net.Conn) {
	ctx, cancel := context.WithCancel(ctx)
	fw := newFrameWriter(conn)
	jobs := make(chan frame)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		fw.close(errConnLost)
		conn.Close()
		wg.Wait()
	}()
	worker := func(f frame) {
		defer wg.Done()
		for {
			fw.write(s.answerFrame(ctx, f))
			select {
			case f = <-jobs:
			case <-ctx.Done():
				return
			}
		}
	}
	workers := 0
	r := bufio.NewReaderSize(conn, 64<<10)
	for {
		f, err := readFrame(r)
		if err != nil || f.kind != kindRequest {
			return // framing lost or the peer is gone: drop the connection
		}
		if inlineOps[f.op] {
			if fw.write(s.answerFrame(ctx, f)) != nil {
				return
			}
			continue
		}
		select {
		case jobs <- f: // an idle worker took it
			continue
		default:
		}
		if workers < frameParallel {
			workers++
			wg.Add(1)
			go worker(f)
			continue
		}
		select { // all busy: stop reading until one is free (backpressure)
		case jobs <- f:
		case <-ctx.Done():
			return
		}
	}
}

// inlineOps are the operations a framed connection's reader answers itself: single-key reads
// from the local store, which never wait on other nodes or on a sync.
var inlineOps = map[string]bool{opHeads: true, opRecord: true}

// answerFrame runs one request frame's operation.
func (s *Server) answerFrame(ctx context.Context, f frame) frame {
	out := frame{id: f.id, kind: kindOK}
	fn, ok := s.ops[f.op]
	if !ok {
		out.kind, out.body = kindBadRequest, []byte("unknown operation "+f.op)
		return out
	}
	body, err := fn(ctx, f.body)
	switch {
	case errors.Is(err, errBadRequest):
		out.kind, out.body = kindBadRequest, []byte(err.Error())
	case err != nil:
		out.kind, out.body = kindErr, []byte(err.Error())
	default:
		out.body = body
	}
	return out
}

// frameConns are a client's framed connections, one per peer address, dialled on first use.
type frameConns struct {
	tls *tls.Config // the mesh client identity, offering framedProto by ALPN
	mu  sync.Mutex
	m   map[string]*peerFrames
}

type peerFrames struct {
	mu      sync.Mutex // held while dialling
	conn    *frameConn
	noFrame time.Time // the peer did not offer the framed protocol: HTTP until then
}

// errNoFrames: the peer speaks only HTTP (an older node); the caller falls back to it.
var errNoFrames = errors.New("peer does not offer the framed rpc protocol")

// errConnLost: the connection broke before the answer came (the request may have run).
var errConnLost = errors.New("rpc connection lost")

func newFrameConns(cfg *tls.Config) *frameConns {
	c := cfg.Clone()
	c.NextProtos = []string{framedProto}
	return &frameConns{tls: c, m: map[string]*peerFrames{}}
}

// call runs op on addr. Operations are idempotent, so a request that failed with its connection
// is tried once more on a new one (a peer that restarted leaves a dead connection behind).
func (fc *frameConns) call(ctx context.Context, addr, op string, body []byte) ([]byte, error) {
	for attempt := 0; ; attempt++ {
		conn, err := fc.get(ctx, addr)
		if err != nil {
			return nil, err
		}
		resp, err := conn.call(ctx, op, body)
		if errors.Is(err, errConnLost) && attempt == 0 && ctx.Err() == nil {
			continue
		}
		return resp, err
	}
}

func (fc *frameConns) get(ctx context.Context, addr string) (*frameConn, error) {
	fc.mu.Lock()
	p := fc.m[addr]
	if p == nil {
		p = &peerFrames{}
		fc.m[addr] = p
	}
	fc.mu.Unlock()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conn != nil && !p.conn.broken() {
		return p.conn, nil
	}
	if time.Now().Before(p.noFrame) {
		return nil, errNoFrames
	}
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	raw, err := (&net.Dialer{Timeout: 2 * time.Second, KeepAlive: 10 * time.Second}).DialContext(dctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	tc := tls.Client(raw, fc.tls)
	if err := tc.HandshakeContext(dctx); err != nil {
		raw.Close()
		return nil, fmt.Errorf("rpc handshake with %s: %w", addr, err)
	}
	if tc.ConnectionState().NegotiatedProtocol != framedProto {
		tc.Close()
		p.noFrame = time.Now().Add(time.Minute)
		return nil, errNoFrames
	}
	p.conn = newFrameConn(tc)
	return p.conn, nil
}

// open returns the connection to addr if one is open, without dialling.
func (fc *frameConns) open(addr string) *frameConn {
	fc.mu.Lock()
	p := fc.m[addr]
	fc.mu.Unlock()
	if p == nil || !p.mu.TryLock() {
		return nil // none yet, or being dialled
	}
	defer p.mu.Unlock()
	if p.conn == nil || p.conn.broken() {
		return nil
	}
	return p.conn
}

// close closes every connection.
func (fc *frameConns) close() {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	for _, p := range fc.m {
		p.mu.Lock()
		if p.conn != nil {
			p.conn.fail(errConnLost)
		}
		p.mu.Unlock()
	}
}

// frameConn is one framed connection from the client side: requests are written by the callers,
// answers read by one goroutine (which ends with the connection) and handed to their callers.
type frameConn struct {
	conn     net.Conn
	fw       *frameWriter
	lastRead atomic.Int64 // unix nanos of the last frame read
	mu       sync.Mutex
	pending  map[uint64]waiter
	// pendingSince is when pending last became non-empty (callAsync's dead-peer check).
	pendingSince time.Time
	nextID       uint64
	err          error         // why the connection broke
	done         chan struct{} // closed when it broke
}

func newFrameConn(conn net.Conn) *frameConn {
	c := &frameConn{conn: conn, fw: newFrameWriter(conn), pending: map[uint64]waiter{}, done: make(chan struct{})}
	c.lastRead.Store(time.Now().UnixNano())
	go c.readLoop()
	return c
}

func (c *frameConn) broken() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// waiter is who waits for an answer: a call's channel, or a callback (callAsync).
type waiter struct {
	ch chan frame
	cb func([]byte, error)
}

// fail breaks the connection: every pending call fails with errConnLost.
func (c *frameConn) fail(err error) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	c.err = fmt.Errorf("%w: %v", errConnLost, err)
	close(c.done)
	c.fw.close(c.err)
	c.conn.Close()
	var cbs []func([]byte, error)
	for id, w := range c.pending {
		if w.cb != nil {
			cbs = append(cbs, w.cb)
			delete(c.pending, id)
		}
	}
	cerr := c.err
	c.mu.Unlock()
	for _, cb := range cbs {
		cb(nil, cerr)
	}
}

func (c *frameConn) readLoop() {
	r := bufio.NewReaderSize(c.conn, 64<<10)
	for {
		f, err := readFrame(r)
		if err == nil && f.kind == kindRequest {
			err = fmt.Errorf("%w: a request from the server", errFrame)
		}
		if err != nil {
			c.fail(err)
			return
		}
		c.lastRead.Store(time.Now().UnixNano())
		c.mu.Lock()
		w := c.pending[f.id]
		delete(c.pending, f.id)
		c.mu.Unlock()
		switch {
		case w.ch != nil:
			w.ch <- f // buffered
		case w.cb != nil:
			w.cb(answerOf(f))
		}
	}
}

// silentFor: a call that timed out after waiting this long, while nothing at all was read on its
// connection, presumes the connection dead (a peer cut off without a reset) and replaces it.
const silentFor = 5 * time.Second

// register gives w a request id. With checkSilent (callbacks have no deadline of their own), a
// peer that answered nothing for silentFor while requests were waiting all that time is presumed
// cut off, as call presumes when its deadline passes.
func (c *frameConn) register(w waiter, checkSilent bool) (uint64, error) {
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return 0, err
	}
	if checkSilent && len(c.pending) > 0 && time.Since(c.pendingSince) > silentFor && time.Since(time.Unix(0, c.lastRead.Load())) > silentFor {
		c.mu.Unlock()
		c.fail(errors.New("peer stopped answering"))
		return 0, fmt.Errorf("%w: peer stopped answering", errConnLost)
	}
	if len(c.pending) == 0 {
		c.pendingSince = time.Now()
	}
	c.nextID++
	c.pending[c.nextID] = w
	id := c.nextID
	c.mu.Unlock()
	return id, nil
}

func (c *frameConn) call(ctx context.Context, op string, body []byte) ([]byte, error) {
	ch := make(chan frame, 1)
	start := time.Now()
	id, err := c.register(waiter{ch: ch}, false)
	if err != nil {
		return nil, err
	}
	if err := c.fw.write(frame{id: id, kind: kindRequest, op: op, body: body}); err != nil {
		c.fail(err)
		return nil, fmt.Errorf("%w: %v", errConnLost, err)
	}
	var f frame
	select {
	case f = <-ch:
	case <-c.done:
		select {
		case f = <-ch: // answered just before it broke
		default:
			c.mu.Lock()
			err := c.err
			c.mu.Unlock()
			return nil, err
		}
	case <-ctx.Done():
		c.mu.Lock()
		delete(c.pending, id)
		c.mu.Unlock()
		if time.Since(start) > silentFor && c.lastRead.Load() < start.UnixNano() {
			c.fail(errors.New("peer stopped answering"))
		}
		return nil, ctx.Err()
	}
	return answerOf(f)
}

// answerOf turns an answer frame into the operation's result.
func answerOf(f frame) ([]byte, error) {
	switch f.kind {
	case kindOK:
		return f.body, nil
	case kindBadRequest:
		return nil, &errStatus{code: http.StatusBadRequest, body: string(f.body)}
	default:
		return nil, &errStatus{code: http.StatusInternalServerError, body: string(f.body)}
	}
}

// callAsync sends a request and returns at once; cb gets the answer, or the error that broke
// the connection, from the connection's reader (so it must not block). Unlike call, a callback
// waits without a deadline: it is called at the latest when the connection breaks, and the
// caller stops waiting for it whenever it wants (readKey's hedging and context). This saves
// the read path a goroutine, and a wake-up of it, per replica asked.
func (c *frameConn) callAsync(op string, body []byte, cb func([]byte, error)) {
	id, err := c.register(waiter{cb: cb}, true)
	if err != nil {
		cb(nil, err)
		return
	}
	if err := c.fw.write(frame{id: id, kind: kindRequest, op: op, body: body}); err != nil {
		c.fail(err) // calls cb unless the answer already came
	}
}
