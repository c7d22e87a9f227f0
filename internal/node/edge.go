package node

import (
	"fmt"
	"net"
	"net/http"
	"path/filepath"

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
	if n.cfg.MQTT != "" {
		ln, err := net.Listen("tcp", n.cfg.MQTT)
		if err != nil {
			return fmt.Errorf("listen on --mqtt %s: %w", n.cfg.MQTT, err)
		}
		o.Listener = ln
	}
	o.DataDir = filepath.Join(n.cfg.Data, "mqtt")
	o.Keys, o.Registerer, o.Logger = n.keys, n.reg, n.log.With("component", "mqtt")
	o.Journal = n.streamJournal() // streams.go: messages are logged before they are acknowledged
	b, err := mqtt.New(o)
	if err != nil {
		if o.Listener != nil {
			o.Listener.Close()
		}
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
	return nil
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
