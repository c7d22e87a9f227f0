package node

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"syscall"

	"github.com/minicloud/minicloud/internal/admin"
	"github.com/minicloud/minicloud/internal/ingest"
	"github.com/minicloud/minicloud/internal/mqtt"
	"github.com/minicloud/minicloud/internal/rulesrt"
	"github.com/minicloud/minicloud/internal/sigv4"
)

// edge is the node's streams side: the MQTT broker, HTTP ingest into it, and the rules runtime
// that reads from it. The broker runs even without --mqtt (then with no listener), because
// ingest and rules publish and subscribe in process.
//
// The mesh joins the brokers of a site through mqtt.Peers: it calls
// n.edge.broker.SetPeers(p) once it is up, and hands every message it receives from another node
// to n.edge.broker.DeliverFromPeer.
type edge struct {
	broker *mqtt.Broker
	ingest http.Handler
	rules  *rulesrt.Runtime
}

// openEdge starts the broker (listening on --mqtt when set), ingest and the rules.
func (n *Node) openEdge(verifier *sigv4.Verifier) error {
	o := mqtt.DefaultOptions()
	if err := n.mqttListeners(&o); err != nil {
		return err
	}
	o.DataDir = filepath.Join(n.cfg.Data, "mqtt")
	o.Keys, o.Registerer, o.Logger = n.keys, n.reg, n.log.With("component", "mqtt")
	o.Journal = n.streamJournal() // streams.go: messages are logged before they are acknowledged
	b, err := mqtt.New(o)
	if err != nil {
		closeMQTTListeners(&o)
		return err
	}
	n.edge.broker = b
	if m := n.streams.manager(); m != nil {
		m.SetRepublisher(b) // messages imported from other sites reach this node's subscribers
	}
	n.edge.ingest = ingest.New(ingest.Options{Publisher: b, Keys: n.keys, Verifier: verifier, Logger: n.log.With("component", "ingest")})
	ro := rulesrt.DefaultOptions()
	ro.DB, ro.Broker, ro.Logger = n.meta, b, n.log.With("component", "rules")
	n.rulesWiring(&ro) // rules.go
	if n.edge.rules, err = rulesrt.Open(ro); err != nil {
		return fmt.Errorf("start rules: %w", err)
	}
	n.rulesStarted(n.edge.rules) // rules.go
	if a := b.Addr(); a != nil {
		n.log.Info("mqtt broker listening", "mqtt", a.String())
	}
	for _, a := range b.Addrs() {
		n.log.Info("mqtt broker listening", "addr", a.String())
	}
	return nil
}

// mqttListeners opens the broker's sockets (--mqtt, --mqtt-tls, --mqtt-ws, --mqtt-wss), so that
// a port in use fails start-up (except the default --mqtt port: see config.Serve.MQTTDefault),
// and loads the TLS certificate.
func (n *Node) mqttListeners(o *mqtt.Options) error {
	for _, l := range []struct {
		flag, addr string
		ln         *net.Listener
	}{{"--mqtt", n.cfg.MQTT, &o.Listener}, {"--mqtt-tls", n.cfg.MQTTTLS, &o.TLSListener},
		{"--mqtt-ws", n.cfg.MQTTWS, &o.WSListener}, {"--mqtt-wss", n.cfg.MQTTWSS, &o.WSSListener}} {
		if l.addr == "" {
			continue
		}
		ln, err := net.Listen("tcp", l.addr)
		if err != nil && l.ln == &o.Listener && n.cfg.MQTTDefault && errors.Is(err, syscall.EADDRINUSE) {
			n.log.Warn("mqtt: the default port is taken (another node or broker on this host?); serving without an MQTT listener: set --mqtt ADDR",
				"addr", l.addr, "err", err)
			continue
		}
		if err != nil {
			closeMQTTListeners(o)
			return fmt.Errorf("listen on %s %s: %w", l.flag, l.addr, err)
		}
		*l.ln = ln
	}
	if o.TLSListener != nil || o.WSSListener != nil {
		cert, err := tls.LoadX509KeyPair(n.cfg.TLSCert, n.cfg.TLSKey)
		if err != nil {
			closeMQTTListeners(o)
			return fmt.Errorf("load --tls-cert %s and --tls-key %s: %w", n.cfg.TLSCert, n.cfg.TLSKey, err)
		}
		o.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	return nil
}

func closeMQTTListeners(o *mqtt.Options) {
	for _, ln := range []net.Listener{o.Listener, o.TLSListener, o.WSListener, o.WSSListener} {
		if ln != nil {
			ln.Close()
		}
	}
}

// closeEdge stops the rules (checkpointing them), then the broker. Safe to call twice.
func (n *Node) closeEdge() {
	if n.edge.rules != nil {
		n.rulesClosed()
		n.edge.rules.Close()
		n.edge.rules = nil
	}
	if n.edge.broker != nil {
		if m := n.streams.manager(); m != nil {
			m.SetRepublisher(nil)
		}
		if err := n.edge.broker.Close(); err != nil {
			n.log.Warn("close mqtt broker", "err", err)
		}
		n.edge.broker = nil
	}
}

// streamsHandler returns the ingest handler for POST /streams/... requests, else nil.
func (n *Node) streamsHandler(r *http.Request) http.Handler {
	if n.edge.ingest == nil || !ingest.Match(r) {
		return nil
	}
	return n.edge.ingest
}

// rulesAPI is the admin API's view of the rules runtime (a nil interface when there is none).
func (n *Node) rulesAPI() admin.Rules {
	if n.edge.rules == nil {
		return nil
	}
	return n.edge.rules
}
