package node

import (
	"github.com/minicloud/minicloud/internal/mqtt"
	"github.com/minicloud/minicloud/internal/stream"
)

// EdgeStatus is the streams side of `minicloud status`: the broker, the site copies of stream
// messages and each stream's counters on this node.
type EdgeStatus struct {
	MQTT    *mqtt.Stats    `json:"mqtt,omitempty"`
	Peers   PeerStats      `json:"peers"`
	Streams []StreamStatus `json:"streams,omitempty"`
}

// PeerStats counts what did not reach the other nodes of the site.
type PeerStats struct {
	DeliveryDropped     int64 `json:"deliveryDropped"`     // messages not delivered to other nodes' subscribers
	LogCopiesDropped    int64 `json:"logCopiesDropped"`    // stream messages not copied to a peer's log
	UnderReplicatedAcks int64 `json:"underReplicatedAcks"` // QoS 1/2 acks with fewer than W copies
}

// StreamStatus is one stream on this node: messages in, and out and backlog per target.
type StreamStatus struct {
	Name       string              `json:"name"`
	MessagesIn uint64              `json:"messagesIn"`
	LogBytes   int64               `json:"logBytes"`
	Targets    []stream.TargetInfo `json:"targets,omitempty"` // forwards, archives, import, then peer:NODE (catch-up)
}

func (n *Node) edgeStatus() *EdgeStatus {
	var es EdgeStatus
	if b := n.edge.broker; b != nil {
		st := b.Stats()
		es.MQTT = &st
	}
	if p := n.mqttPeers; p != nil {
		es.Peers.DeliveryDropped = p.dropped.Load()
		if r := p.repl; r != nil {
			es.Peers.LogCopiesDropped, es.Peers.UnderReplicatedAcks = r.dropped.Load(), r.under.Load()
		}
	}
	if m := n.streams.manager(); m != nil {
		for _, in := range m.List() {
			s := StreamStatus{Name: in.Name, MessagesIn: in.MessagesIn, LogBytes: in.LogBytes}
			s.Targets = append(append(s.Targets, in.Forwards...), in.Archives...)
			if in.Import != nil {
				s.Targets = append(s.Targets, *in.Import)
			}
			s.Targets = append(s.Targets, in.Peers...)
			es.Streams = append(es.Streams, s)
		}
	}
	return &es
}
