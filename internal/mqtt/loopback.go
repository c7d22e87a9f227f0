package mqtt

import "sync"

// Loopback joins the brokers of one process into a site without a network, the way the mesh
// joins nodes: what a client publishes on one is delivered on all the others, once. For tests,
// and as the reference behaviour of a Peers implementation.
type Loopback struct {
	mu      sync.RWMutex
	brokers []*Broker
}

// Join adds b to the site and sets its Peers.
func (l *Loopback) Join(b *Broker) {
	l.mu.Lock()
	l.brokers = append(l.brokers, b)
	l.mu.Unlock()
	b.SetPeers(loopbackPeer{l, b})
}

var _ Peers = loopbackPeer{}

type loopbackPeer struct {
	l    *Loopback
	from *Broker
}

// Forward delivers synchronously, which a real implementation must not do (it would make the
// publisher wait for the slowest node); in one process it keeps tests deterministic.
func (p loopbackPeer) Forward(topic string, payload []byte, qos byte, retain bool) {
	p.l.mu.RLock()
	defer p.l.mu.RUnlock()
	for _, b := range p.l.brokers {
		if b != p.from {
			_ = b.DeliverFromPeer(topic, append([]byte(nil), payload...), qos, retain)
		}
	}
}
