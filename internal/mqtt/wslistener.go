package mqtt

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/mochi-mqtt/server/v2/listeners"
)

// wsListener serves MQTT over WebSocket (subprotocol "mqtt", binary frames) for browsers and
// clients behind HTTP proxies. mochi has a WebSocket listener, but it opens its own socket (a
// port in use would fail after start-up, not at it), has no cap on connections and does not
// wait for its connections when closed; this one shares the TCP listener's limits.
type wsListener struct {
	id             string
	ln             net.Listener
	maxConns       int
	connectTimeout time.Duration
	refused        func()
	log            *slog.Logger
	disconnect     func(id string) // as guardedListener's

	slots    chan struct{}
	srv      *http.Server
	upgrader websocket.Upgrader
	mu       sync.Mutex
	closed   bool
	conns    map[net.Conn]struct{}
	wg       sync.WaitGroup
}

var _ listeners.Listener = (*wsListener)(nil)

func newWSListener(id string, ln net.Listener, maxConns int, connectTimeout time.Duration, refused func(), log *slog.Logger) *wsListener {
	l := &wsListener{id: id, ln: ln, maxConns: maxConns, connectTimeout: connectTimeout, refused: refused, log: log,
		slots: make(chan struct{}, maxConns), conns: map[net.Conn]struct{}{}}
	l.upgrader = websocket.Upgrader{
		Subprotocols: []string{"mqtt"},
		// Any origin: clients authenticate with MQTT credentials in CONNECT, not with cookies,
		// so a page from another origin gains nothing it could not do over plain MQTT.
		CheckOrigin: func(*http.Request) bool { return true },
	}
	return l
}

func (l *wsListener) ID() string              { return l.id }
func (l *wsListener) Address() string         { return l.ln.Addr().String() }
func (l *wsListener) Protocol() string        { return "ws" }
func (l *wsListener) Init(*slog.Logger) error { return nil }

// Serve runs the HTTP server until Close.
func (l *wsListener) Serve(establish listeners.EstablishFn) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.srv = &http.Server{
		ReadHeaderTimeout: l.connectTimeout,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(l.log.Handler(), slog.LevelDebug),
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			l.handle(w, r, establish)
		}),
	}
	srv := l.srv
	l.wg.Add(1)
	l.mu.Unlock()
	defer l.wg.Done()
	if err := srv.Serve(l.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		l.log.Error("mqtt websocket listener stopped", "err", err)
	}
}

func (l *wsListener) handle(w http.ResponseWriter, r *http.Request, establish listeners.EstablishFn) {
	select {
	case l.slots <- struct{}{}:
	default:
		l.refused()
		http.Error(w, "too many connections", http.StatusServiceUnavailable)
		return
	}
	defer func() { <-l.slots }()
	c, err := l.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader answered with the reason
	}
	conn := &wsConn{Conn: c.NetConn(), c: c}
	if !l.track(conn) {
		conn.Close()
		return
	}
	defer l.untrack(conn)
	_ = conn.SetDeadline(time.Now().Add(l.connectTimeout)) // mochi sets the keepalive one after CONNECT
	if err := establish(l.id, newCorkConn(conn)); err != nil {
		l.log.Debug("websocket connection ended", "remote", r.RemoteAddr, "err", err)
	}
}

func (l *wsListener) track(c net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	l.conns[c] = struct{}{}
	l.wg.Add(1)
	return true
}

func (l *wsListener) untrack(c net.Conn) {
	l.mu.Lock()
	delete(l.conns, c)
	l.mu.Unlock()
	l.wg.Done()
}

// Close stops the server, has mochi disconnect this listener's clients, closes what is left
// and waits for every connection's goroutine.
func (l *wsListener) Close(closeClients listeners.CloseFn) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.closed = true
	srv := l.srv
	l.mu.Unlock()
	if srv != nil {
		_ = srv.Close() // closes the listener; hijacked (upgraded) connections are ours
	} else {
		_ = l.ln.Close()
	}
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

// wsConn is an MQTT byte stream over WebSocket binary messages: a packet may span messages
// and a message may hold several packets.
type wsConn struct {
	net.Conn
	c  *websocket.Conn
	r  io.Reader // the message being read, nil between messages
	wm sync.Mutex
}

func (ws *wsConn) Read(p []byte) (int, error) {
	for {
		if ws.r == nil {
			op, r, err := ws.c.NextReader()
			if err != nil {
				return 0, err
			}
			if op != websocket.BinaryMessage {
				return 0, errors.New("mqtt over websocket: text frame (MQTT needs binary frames)")
			}
			ws.r = r
		}
		n, err := ws.r.Read(p)
		if errors.Is(err, io.EOF) {
			ws.r = nil
			if n == 0 {
				continue
			}
			err = nil
		}
		return n, err
	}
}

func (ws *wsConn) Write(p []byte) (int, error) {
	ws.wm.Lock()
	defer ws.wm.Unlock()
	if err := ws.c.WriteMessage(websocket.BinaryMessage, p); err != nil {
		return 0, err
	}
	return len(p), nil
}
