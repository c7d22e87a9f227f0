package mqtt

import (
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/mochi-mqtt/server/v2/listeners"
)

// guardedListener is the broker's TCP listener. mochi's own TCP listener is not used because it
// gives up for good on the first Accept error (a flood that exhausts file descriptors would stop
// the broker), admits any number of connections, and waits forever for a CONNECT: a connection
// flood or a slow client could then hold every goroutine and descriptor. This one keeps
// accepting, caps open connections, and gives each connection ConnectTimeout to send CONNECT
// (mochi replaces that deadline with the keepalive one once the client is connected).
type guardedListener struct {
	id             string
	ln             net.Listener
	maxConns       int
	connectTimeout time.Duration
	log            *slog.Logger
	refused        func() // counts a connection refused for being over the cap
	readBuffer     int    // SO_RCVBUF of accepted connections; 0 leaves the system's
	// disconnect replaces mochi's CloseFn in Close when set (Broker.disconnectListener).
	disconnect func(id string)

	slots  chan struct{} // one token per open connection
	mu     sync.Mutex
	conns  map[net.Conn]struct{} // open connections, closed by Close
	closed bool
	done   chan struct{}  // closed by Close
	wg     sync.WaitGroup // Serve and the connection goroutines; Close waits for them
}

var _ listeners.Listener = (*guardedListener)(nil)

func newGuardedListener(id string, ln net.Listener, maxConns int, connectTimeout time.Duration, refused func(), log *slog.Logger) *guardedListener {
	return &guardedListener{
		id: id, ln: ln, maxConns: maxConns, connectTimeout: connectTimeout, refused: refused, log: log,
		slots: make(chan struct{}, maxConns), conns: map[net.Conn]struct{}{}, done: make(chan struct{}),
	}
}

func (l *guardedListener) ID() string       { return l.id }
func (l *guardedListener) Address() string  { return l.ln.Addr().String() }
func (l *guardedListener) Protocol() string { return "tcp" }

// Init is a no-op: the socket is already open (the node opens it so that a port in use fails
// start-up rather than later), and the listener logs to the broker's logger, not mochi's.
func (l *guardedListener) Init(*slog.Logger) error { return nil }

// Serve accepts until Close. mochi runs it on a goroutine of its own without waiting for it, so
// Close does the waiting.
func (l *guardedListener) Serve(establish listeners.EstablishFn) {
	// Add under the lock that Close takes before waiting, so Close never misses this goroutine.
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.wg.Add(1)
	l.mu.Unlock()
	defer l.wg.Done()
	backoff := 5 * time.Millisecond
	for {
		conn, err := l.ln.Accept()
		if err != nil {
			select {
			case <-l.done:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of descriptors or a transient network error: wait a little and go on, as
			// net/http does, rather than stop serving everybody.
			l.log.Warn("accept failed; retrying", "err", err, "in", backoff)
			time.Sleep(backoff)
			backoff = min(2*backoff, time.Second)
			continue
		}
		backoff = 5 * time.Millisecond
		select {
		case l.slots <- struct{}{}:
		default:
			l.refused()
			conn.Close()
			continue
		}
		if tc, ok := conn.(*net.TCPConn); ok && l.readBuffer > 0 {
			// A bounded receive buffer (Linux otherwise grows it to megabytes) makes the
			// broker's backpressure reach a fast publisher after a few hundred messages
			// instead of after seconds' worth buffered in the kernel.
			_ = tc.SetReadBuffer(l.readBuffer)
		}
		if !l.track(conn) {
			conn.Close()
			return
		}
		_ = conn.SetDeadline(time.Now().Add(l.connectTimeout))
		go func() {
			defer l.wg.Done()
			defer func() { l.untrack(conn); <-l.slots }()
			if err := establish(l.id, newCorkConn(conn)); err != nil {
				// Garbage, bad credentials and dropped connections land here; they are the
				// client's problem, so they are not worth more than a debug line.
				l.log.Debug("connection ended", "remote", conn.RemoteAddr().String(), "err", err)
			}
		}()
	}
}

// track registers an accepted connection and its goroutine; false once closed.
func (l *guardedListener) track(c net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	l.conns[c] = struct{}{}
	l.wg.Add(1)
	return true
}

func (l *guardedListener) untrack(c net.Conn) {
	l.mu.Lock()
	delete(l.conns, c)
	l.mu.Unlock()
}

// Close stops accepting, has mochi disconnect this listener's clients (with a DISCONNECT for v5
// clients), closes connections that never finished CONNECT, and waits for every goroutine.
func (l *guardedListener) Close(closeClients listeners.CloseFn) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.closed = true
	close(l.done)
	l.mu.Unlock()
	_ = l.ln.Close()
	if l.disconnect != nil {
		l.disconnect(l.id)
	} else {
		closeClients(l.id)
	}
	l.mu.Lock()
	for c := range l.conns {
		c.Close()
	}
	l.mu.Unlock()
	l.wg.Wait()
}
