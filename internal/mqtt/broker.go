// Package mqtt is minicloud's embedded MQTT broker (3.1.1 and 5, on mochi-mqtt): QoS 0/1/2,
// retained messages, wills, persistent sessions that survive a restart, shared subscriptions and
// message expiry. Clients log in with minicloud access keys (username = access key, password =
// secret) and are held to their keys' topic grants (see iam.TopicGrantPrefix). Other packages
// publish and subscribe in process (HTTP ingest, rules); the mesh carries messages between the
// nodes of a site through Peers.
//
// It must not know about streams, rules or the mesh beyond those two seams.
package mqtt

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/minicloud/minicloud/internal/metastore"
)

// Options configure a Broker.
type Options struct {
	// Listener is where clients connect; nil runs the broker in process only (HTTP ingest and
	// rules still work). The broker takes ownership and closes it.
	Listener net.Listener
	// TLSListener and WSSListener serve MQTT over TLS and over WebSocket in TLS with TLSConfig
	// (required with either); WSListener serves MQTT over plain WebSocket. Each is optional,
	// taken over and closed like Listener, and under the same connection limits.
	TLSListener, WSListener, WSSListener net.Listener
	TLSConfig                            *tls.Config
	// DataDir keeps sessions and retained messages across restarts; "" keeps them in memory.
	DataDir string
	Keys    Keys    // required: credentials and topic grants
	Peers   Peers   // optional: the other nodes of the site (see also SetPeers)
	Journal Journal // optional: told of every message before it is acknowledged (journal.go)
	// Registerer receives the broker's metrics; nil registers none.
	Registerer prometheus.Registerer
	Logger     *slog.Logger

	MaxPacketSize  uint32        // largest packet a client may send
	MaxConnections int           // open connections at most; more are closed at once
	ConnectTimeout time.Duration // time a new connection has to send CONNECT
	// MaxInflight is how many QoS 1/2 messages may wait for one client (in flight or queued while
	// a persistent session is offline); beyond it messages to that client are dropped and counted.
	MaxInflight uint16
	// MaxQueuedWrites is how many outgoing packets may wait for one client's socket; a slow
	// subscriber beyond it loses messages (counted) rather than slow everybody down.
	MaxQueuedWrites int32
	// SocketReadBuffer is each client connection's kernel receive buffer (0: the system's,
	// which grows to megabytes); see flowHook for why it is bounded.
	SocketReadBuffer int
	// StallTimeout is how long publishers wait for a congested subscriber that drains nothing
	// before they stop waiting for it (see flowHook).
	StallTimeout time.Duration
}

// DefaultOptions returns the options minicloud serves with.
func DefaultOptions() Options {
	return Options{
		MaxPacketSize:   1 << 20, // 1 MiB: large enough for any telemetry, small enough that garbage cannot make us allocate much
		MaxConnections:  10000,   // far above an edge site's devices, far below the process's descriptor limit
		ConnectTimeout:  10 * time.Second,
		MaxInflight:     8192,  // mochi's default
		MaxQueuedWrites: 16384, // twice mochi's default: absorbs bursts to a fast subscriber
		// 128 KiB: about a thousand small messages per publisher in flight in the kernel, and
		// still 2.5 MB/s per connection at 50 ms round trip.
		SocketReadBuffer: 128 << 10,
		StallTimeout:     30 * time.Second, // longer than any pause of a live (if starved) client; a stuck one is waited for once
	}
}

// Validate checks the options.
func (o *Options) Validate() error {
	switch {
	case o.Keys == nil:
		return errors.New("mqtt: Options.Keys is required")
	case o.MaxPacketSize < 1024:
		return errors.New("mqtt: MaxPacketSize must be at least 1024 bytes")
	case o.MaxConnections < 1:
		return errors.New("mqtt: MaxConnections must be positive")
	case o.ConnectTimeout <= 0:
		return errors.New("mqtt: ConnectTimeout must be positive")
	case o.MaxQueuedWrites < 1 || o.MaxInflight < 1:
		return errors.New("mqtt: MaxQueuedWrites and MaxInflight must be positive")
	case o.StallTimeout <= 0:
		return errors.New("mqtt: StallTimeout must be positive")
	case (o.TLSListener != nil || o.WSSListener != nil) && o.TLSConfig == nil:
		return errors.New("mqtt: a TLS listener needs Options.TLSConfig (a certificate and key)")
	}
	return nil
}

// Broker is a running MQTT broker.
type Broker struct {
	srv      *mochi.Server
	keys     Keys
	log      *slog.Logger
	db       *metastore.DB // nil without DataDir
	store    *storeHook    // nil without DataDir
	flow     *flowHook
	ln       *guardedListener
	local    *mochi.Client // publishes of this process: forwarded to peers
	fromPeer *mochi.Client // publishes from other nodes: never forwarded again
	acked    *mochi.Client // publishes of clients' messages once journaled (acker.go)
	imported *mochi.Client // messages other sites forwarded: neither journaled nor forwarded
	ackers   *ackers
	peers    atomic.Pointer[peersBox]
	subID    atomic.Int64
	metrics  *metrics
	extra    []net.Addr // addresses of the TLS and WebSocket listeners
	closed   atomic.Bool
}

// ErrBadTopic is returned for a topic name no client could subscribe to.
var ErrBadTopic = errors.New("bad topic name")

// New builds a broker and starts serving.
func New(o Options) (*Broker, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	caps := mochi.NewDefaultServerCapabilities()
	caps.MaximumPacketSize = o.MaxPacketSize
	caps.MaximumInflight = o.MaxInflight
	caps.MaximumClientWritesPending = o.MaxQueuedWrites
	// mochi expires every retained and queued message after this many seconds, whatever the
	// publisher asked; 0 keeps them until the publisher's own v5 message expiry, as mosquitto does.
	caps.MaximumMessageExpiryInterval = 0
	b := &Broker{keys: o.Keys, log: o.Logger}
	b.srv = mochi.New(&mochi.Options{
		Capabilities: caps,
		// Bigger batches to a busy subscriber: mochi coalesces queued packets up to this many
		// bytes per write (its default, 2 KiB, is a syscall per ~15 small messages). Grown only
		// while a queue is non-empty.
		ClientNetWriteBufferSize: 32 << 10,
		// mochi logs each client's misbehaviour (a denied publish, a keepalive it dislikes) as a
		// warning with the whole packet, payload included: noise at best, a leak at worst. What
		// matters of it is counted in the metrics.
		Logger:       slog.New(quietHandler{o.Logger.Handler(), slog.LevelError}),
		InlineClient: true, // in-process subscriptions (Subscribe) ride on mochi's inline client
		// $SYS topics once a minute, not every second: nobody here reads them often.
		SysTopicResendInterval: 60,
	})
	b.local = b.srv.NewClient(nil, mochi.LocalListener, "minicloud-local", true)
	b.fromPeer = b.srv.NewClient(nil, mochi.LocalListener, "minicloud-peer", true)
	b.acked = b.srv.NewClient(nil, mochi.LocalListener, "minicloud-acked", true)
	b.imported = b.srv.NewClient(nil, mochi.LocalListener, "minicloud-imported", true)
	b.ackers = newAckers(b)
	var err error
	if b.metrics, err = newMetrics(o.Registerer, b.srv.Info); err != nil {
		return nil, fmt.Errorf("mqtt metrics: %w", err)
	}
	b.SetPeers(o.Peers)
	if err := b.addHooks(o); err != nil {
		b.closeStore()
		return nil, err
	}
	if err := b.addListeners(o); err != nil {
		b.srv.Close()
		b.closeStore()
		return nil, err
	}
	if err := b.srv.Serve(); err != nil {
		b.srv.Close()
		b.closeStore()
		return nil, fmt.Errorf("start mqtt broker: %w", err)
	}
	go b.flow.run()
	return b, nil
}

func (b *Broker) addHooks(o Options) error {
	if err := b.srv.AddHook(&authHook{b: b}, nil); err != nil {
		return fmt.Errorf("mqtt auth hook: %w", err)
	}
	b.flow = newFlowHook(b, o)
	if err := b.srv.AddHook(b.flow, nil); err != nil {
		return fmt.Errorf("mqtt flow hook: %w", err)
	}
	if err := b.srv.AddHook(&orderHook{}, nil); err != nil {
		return fmt.Errorf("mqtt order hook: %w", err)
	}
	if err := b.srv.AddHook(&peerHook{b: b}, nil); err != nil {
		return fmt.Errorf("mqtt peer hook: %w", err)
	}
	if err := b.addJournal(o.Journal); err != nil {
		return err
	}
	if o.DataDir == "" {
		return nil
	}
	db, err := metastore.Open(o.DataDir, metastore.Options{CacheBytes: 4 << 20, MemTableBytes: 4 << 20}, o.Logger)
	if err != nil {
		return fmt.Errorf("open mqtt store: %w", err)
	}
	b.db, b.store = db, newStoreHook(db, o.Logger)
	if err := b.srv.AddHook(b.store, nil); err != nil {
		return fmt.Errorf("mqtt store hook: %w", err)
	}
	return nil
}

// addListeners adds the listeners of o: plain TCP, TLS, WebSocket and WebSocket over TLS.
func (b *Broker) addListeners(o Options) error {
	if o.Listener != nil {
		b.ln = newGuardedListener("tcp", o.Listener, o.MaxConnections, o.ConnectTimeout, b.metrics.refused.Inc, o.Logger)
		b.ln.readBuffer, b.ln.disconnect = o.SocketReadBuffer, b.disconnectListener
		if err := b.srv.AddListener(b.ln); err != nil {
			return fmt.Errorf("mqtt listener: %w", err)
		}
	}
	if o.TLSListener != nil {
		cfg := o.TLSConfig.Clone()
		cfg.MinVersion = max(cfg.MinVersion, tls.VersionTLS12)
		// The TLS handshake happens on the first read, within the connection's CONNECT deadline.
		ln := newGuardedListener("tls", tls.NewListener(o.TLSListener, cfg), o.MaxConnections, o.ConnectTimeout, b.metrics.refused.Inc, o.Logger)
		ln.disconnect = b.disconnectListener
		if err := b.srv.AddListener(ln); err != nil {
			return fmt.Errorf("mqtt tls listener: %w", err)
		}
		b.extra = append(b.extra, o.TLSListener.Addr())
	}
	for _, ws := range []struct {
		id  string
		ln  net.Listener
		tls bool
	}{{"ws", o.WSListener, false}, {"wss", o.WSSListener, true}} {
		if ws.ln == nil {
			continue
		}
		ln := ws.ln
		if ws.tls {
			cfg := o.TLSConfig.Clone()
			cfg.MinVersion = max(cfg.MinVersion, tls.VersionTLS12)
			ln = tls.NewListener(ln, cfg)
		}
		wl := newWSListener(ws.id, ln, o.MaxConnections, o.ConnectTimeout, b.metrics.refused.Inc, o.Logger)
		wl.disconnect = b.disconnectListener
		if err := b.srv.AddListener(wl); err != nil {
			return fmt.Errorf("mqtt %s listener: %w", ws.id, err)
		}
		b.extra = append(b.extra, ws.ln.Addr())
	}
	return nil
}

// disconnectListener disconnects the clients of listener id when the broker closes, as mochi's
// own CloseFn does, but without its Clients.GetByListener (mochi v2.7.9): that read-locks the
// client map and then again inside (Len), so a client leaving at that moment (Clients.Delete,
// waiting for the write lock between the two) deadlocks both, and Broker.Close never returns
// (seen once in `go test -race ./internal/mqtt`: every goroutine parked on the map's lock).
// GetAll locks once.
func (b *Broker) disconnectListener(id string) {
	for _, cl := range b.srv.Clients.GetAll() {
		if cl.Net.Listener == id && !cl.Closed() {
			_ = b.srv.DisconnectClient(cl, packets.ErrServerShuttingDown)
		}
	}
}

func (b *Broker) closeStore() {
	if b.store != nil {
		b.store.Stop() // mochi stops it on Close; not when New fails half way
	}
	if b.db != nil {
		b.db.Close()
		b.db = nil
	}
}

// Addr is where the broker listens, or nil when it has no listener.
func (b *Broker) Addr() net.Addr {
	if b.ln == nil {
		return nil
	}
	return b.ln.ln.Addr()
}

// Addrs lists the addresses of the TLS and WebSocket listeners, in the order tls, ws, wss
// (those configured).
func (b *Broker) Addrs() []net.Addr { return b.extra }

// Close disconnects every client, stops the broker's goroutines and closes its store.
func (b *Broker) Close() error {
	if b.closed.Swap(true) {
		return nil
	}
	b.flow.close()
	err := b.srv.Close() // closes listeners (ours waits for its goroutines), then hooks
	b.ackers.wait()
	b.closeStore()
	return err
}

// Publish publishes a message from this process as if a client had (without ACL checks: the
// caller authorised it), to local subscribers and, through Peers, the rest of the site.
func (b *Broker) Publish(topic string, payload []byte, qos byte, retain bool) error {
	return b.inject(b.local, topic, payload, qos, retain)
}

func (b *Broker) inject(cl *mochi.Client, topic string, payload []byte, qos byte, retain bool) error {
	if err := ValidTopic(topic); err != nil {
		return err
	}
	if qos > 2 {
		return fmt.Errorf("publish to %s: qos %d is not 0, 1 or 2", topic, qos)
	}
	if b.closed.Load() {
		return errors.New("publish: broker closed")
	}
	pk := packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: qos, Retain: retain},
		TopicName:   topic,
		Payload:     payload,
		PacketID:    uint16(qos), // mochi wants a nonzero id for QoS > 0 even from in-process clients
	}
	if err := b.srv.InjectPacket(cl, pk); err != nil {
		return fmt.Errorf("publish to %s: %w", topic, err)
	}
	return nil
}

// ValidTopic checks a topic name for publishing: 1 to 65535 bytes of UTF-8 without NUL or
// wildcards, not in $SYS.
func ValidTopic(topic string) error {
	switch {
	case topic == "":
		return fmt.Errorf("%w: empty", ErrBadTopic)
	case len(topic) > 65535:
		return fmt.Errorf("%w: longer than 65535 bytes", ErrBadTopic)
	case !utf8.ValidString(topic) || strings.ContainsRune(topic, 0):
		return fmt.Errorf("%w: %q is not UTF-8 text", ErrBadTopic, topic)
	case strings.ContainsAny(topic, "+#"):
		return fmt.Errorf("%w: %q holds a wildcard (+ or #)", ErrBadTopic, topic)
	case strings.HasPrefix(topic, "$"):
		return fmt.Errorf("%w: %q: topics starting with $ are the broker's", ErrBadTopic, topic)
	}
	return nil
}

// Subscribe calls fn for every message published on a topic matching filter (retained ones
// first), on the publisher's goroutine: fn must be quick and must not modify payload, which it
// may keep. The returned function ends the subscription.
func (b *Broker) Subscribe(filter string, fn func(topic string, payload []byte)) (unsubscribe func(), err error) {
	if !mochi.IsValidFilter(filter, false) || mochi.IsSharedFilter(filter) {
		return nil, fmt.Errorf("subscribe: %q is not a valid topic filter", filter)
	}
	id := int(b.subID.Add(1))
	handler := func(_ *mochi.Client, _ packets.Subscription, pk packets.Packet) { fn(pk.TopicName, pk.Payload) }
	if err := b.srv.Subscribe(filter, id, handler); err != nil {
		return nil, fmt.Errorf("subscribe to %s: %w", filter, err)
	}
	var once atomic.Bool
	return func() {
		if !once.Swap(true) && !b.closed.Load() {
			_ = b.srv.Unsubscribe(filter, id)
		}
	}, nil
}
