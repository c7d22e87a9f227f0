package replicate

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"sync"
	"time"
)

// The RPC listener serves two protocols on one address, chosen by ALPN in the mesh TLS
// handshake: the framed protocol (frame.go) and HTTP/1.1 for everything else (chunk transfers,
// listings, other subsystems' routes). Both come after the same mutual TLS handshake.

// httpListener hands the connections that chose HTTP to the http.Server.
type httpListener struct {
	addr   net.Addr
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func newHTTPListener(addr net.Addr) *httpListener {
	return &httpListener{addr: addr, conns: make(chan net.Conn), closed: make(chan struct{})}
}

func (l *httpListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *httpListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *httpListener) Addr() net.Addr { return l.addr }

// frameServer is the framed side of a listening Server.
type frameServer struct {
	httpLn *httpListener
	ctx    context.Context
	cancel context.CancelFunc
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	wg     sync.WaitGroup
}

// serverTLS returns the server's TLS configuration offering both protocols.
func serverTLS(cfg *tls.Config) *tls.Config {
	c := cfg.Clone()
	c.NextProtos = []string{framedProto, "http/1.1"}
	return c
}

// acceptLoop accepts connections until the listener closes.
func (s *Server) acceptLoop() error {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			return err
		}
		s.fs.wg.Add(1)
		go func() {
			defer s.fs.wg.Done()
			s.route(c)
		}()
	}
}

// route completes the handshake and gives the connection to the protocol it chose.
func (s *Server) route(c net.Conn) {
	tc, ok := c.(*tls.Conn)
	if !ok {
		c.Close()
		return
	}
	tc.SetDeadline(time.Now().Add(10 * time.Second))
	if err := tc.HandshakeContext(s.fs.ctx); err != nil {
		c.Close()
		return
	}
	tc.SetDeadline(time.Time{})
	if tc.ConnectionState().NegotiatedProtocol != framedProto {
		select {
		case s.fs.httpLn.conns <- c:
		case <-s.fs.httpLn.closed:
			c.Close()
		}
		return
	}
	s.fs.mu.Lock()
	if s.fs.ctx.Err() != nil {
		s.fs.mu.Unlock()
		c.Close()
		return
	}
	s.fs.conns[c] = struct{}{}
	s.fs.mu.Unlock()
	s.serveFrames(s.fs.ctx, c)
	s.fs.mu.Lock()
	delete(s.fs.conns, c)
	s.fs.mu.Unlock()
}

// closeFrames stops the framed side: open connections are closed and their requests end.
func (s *Server) closeFrames() {
	if s.fs == nil {
		return
	}
	s.fs.mu.Lock()
	s.fs.cancel()
	for c := range s.fs.conns {
		c.Close()
	}
	s.fs.mu.Unlock()
	s.fs.httpLn.Close()
	s.fs.wg.Wait()
}
