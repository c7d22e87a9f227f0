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
// Requests run on workers that outlive one request: a fresh goroutine per request paid for
// growing its stack on every request (pebble and the record codecs are deep). A worker is added
// only when every existing one is busy, up to frameParallel.
func (s *Server) serveFrames(ctx context.Context, conn net.Conn) {
	ctx, cancel := context.WithCancel(ctx)
	fw := newFrameWriter()
	jobs := make(chan frame)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		fw.close(errConnLost)
		conn.Close()
		wg.Wait()
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		if fw.run(conn) != nil {
			conn.Close() // the reader below then ends too
		}
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
	pending  map[uint64]chan frame
	nextID   uint64
	err      error         // why the connection broke
	done     chan struct{} // closed when it broke
}

func newFrameConn(conn net.Conn) *frameConn {
	c := &frameConn{conn: conn, fw: newFrameWriter(), pending: map[uint64]chan frame{}, done: make(chan struct{})}
	c.lastRead.Store(time.Now().UnixNano())
	go c.readLoop()
	go func() {
		if err := c.fw.run(conn); err != nil {
			c.fail(err)
		}
	}()
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

// fail breaks the connection: every pending call fails with errConnLost.
func (c *frameConn) fail(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return
	}
	c.err = fmt.Errorf("%w: %v", errConnLost, err)
	close(c.done)
	c.fw.close(c.err) // ends the writer goroutine
	c.conn.Close()
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
		ch := c.pending[f.id]
		delete(c.pending, f.id)
		c.mu.Unlock()
		if ch != nil {
			ch <- f // buffered
		}
	}
}

// silentFor: a call that timed out after waiting this long, while nothing at all was read on its
// connection, presumes the connection dead (a peer cut off without a reset) and replaces it.
const silentFor = 5 * time.Second

func (c *frameConn) call(ctx context.Context, op string, body []byte) ([]byte, error) {
	ch := make(chan frame, 1)
	start := time.Now()
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return nil, err
	}
	c.nextID++
	id := c.nextID
	c.pending[id] = ch
	c.mu.Unlock()
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
	switch f.kind {
	case kindOK:
		return f.body, nil
	case kindBadRequest:
		return nil, &errStatus{code: http.StatusBadRequest, body: string(f.body)}
	default:
		return nil, &errStatus{code: http.StatusInternalServerError, body: string(f.body)}
	}
}
