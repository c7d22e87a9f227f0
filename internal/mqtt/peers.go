package mqtt

import (
	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// Peers carries messages to the other nodes of the site, so that a client of any node receives
// what a client of any other node publishes. The mesh implements it; the broker calls Forward for
// every message published on this node (by a network client, a will, HTTP ingest or a rule),
// after this node's own subscribers were served, on the publisher's goroutine. Forward must
// therefore not block: queue and return. The receiving node hands each message to its broker's
// DeliverFromPeer, which never forwards again, so a message crosses the mesh once.
type Peers interface {
	Forward(topic string, payload []byte, qos byte, retain bool)
}

// peersBox lets SetPeers swap the implementation atomically.
type peersBox struct{ p Peers }

// SetPeers sets (or, with nil, removes) the mesh forwarder. It may be called at any time, e.g.
// once the mesh is up.
func (b *Broker) SetPeers(p Peers) {
	if p == nil {
		b.peers.Store(nil)
		return
	}
	b.peers.Store(&peersBox{p})
}

// DeliverFromPeer publishes a message that another node of the site received from its client:
// to this node's subscribers and retained store, without forwarding it again.
func (b *Broker) DeliverFromPeer(topic string, payload []byte, qos byte, retain bool) error {
	return b.inject(b.fromPeer, topic, payload, qos, retain)
}

// DeliverImported publishes a message that another site forwarded and this node's stream log
// imported: to this node's subscribers and rules, at QoS 1 (the log keeps no QoS; 1 lets
// persistent sessions queue it), not retained, neither journaled again nor forwarded to the
// other nodes of the site, each of which imports it itself.
func (b *Broker) DeliverImported(topic string, payload []byte) error {
	return b.inject(b.imported, topic, payload, 1, false)
}

// peerHook forwards local publishes to the Peers.
type peerHook struct {
	mochi.HookBase
	b *Broker
}

func (h *peerHook) ID() string { return "minicloud-peers" }

func (h *peerHook) Provides(b byte) bool { return b == mochi.OnPublished || b == mochi.OnWillSent }

func (h *peerHook) OnPublished(cl *mochi.Client, pk packets.Packet) {
	h.b.metrics.published.Inc()
	if cl != h.b.fromPeer && cl != h.b.imported && !pk.Ignore {
		h.forward(pk)
	}
}

func (h *peerHook) OnWillSent(_ *mochi.Client, pk packets.Packet) {
	h.b.metrics.published.Inc()
	h.forward(pk)
}

func (h *peerHook) forward(pk packets.Packet) {
	box := h.b.peers.Load()
	if box == nil {
		return
	}
	box.p.Forward(pk.TopicName, pk.Payload, pk.FixedHeader.Qos, pk.FixedHeader.Retain)
	h.b.metrics.forwarded.Inc()
}
