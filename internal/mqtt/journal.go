package mqtt

import (
	"fmt"
	"strings"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// Journal is told of every message published on this node, before the publisher is
// acknowledged: the seam through which the stream log (internal/stream) persists messages. A
// subscription (Subscribe) would not do: mochi acknowledges a QoS 1 message before it delivers it
// to subscribers, so a crash in between would lose an acknowledged message.
type Journal interface {
	// Record takes a message published by a network client, in process (Publish), by another
	// node of the site (DeliverFromPeer) or as a will. It must not keep m.Payload beyond the
	// call unless it copies it. It returns nil when there is nothing to wait for, or the
	// message's Pending, whose Wait blocks until it is stored as durably as the journal promises.
	// The broker waits, before acknowledging, for QoS 1 and 2 messages of this node's clients
	// and of Publish (HTTP ingest answers only then); never for messages from peers, which were
	// acknowledged by the node that received them.
	Record(m JournalMessage) Pending
}

// Pending is a journaled message on its way to durable storage.
type Pending interface {
	// Wait blocks until the message is stored as durably as the journal promises and returns
	// the error if it could not be.
	Wait() error
	// Done tells, without blocking, whether Wait would return at once. The acker (acker.go)
	// sends the PUBACKs of every message whose Done is true in one write before it blocks.
	Done() bool
}

// JournalMessage is a message as the Journal sees it.
type JournalMessage struct {
	Topic    string
	Payload  []byte
	QoS      byte
	Retain   bool
	FromPeer bool // delivered by another node of the site, which journals it as its own
}

// addJournal installs the journal hook, with Options.Journal (or none), before the broker
// serves, so that no message is acknowledged unjournaled, not even one a client resends the
// moment the listener opens. It is installed without a journal too: it is what publishes a
// client's QoS 1 messages before acknowledging them (acker.go).
func (b *Broker) addJournal(j Journal) error {
	if err := b.srv.AddHook(&journalHook{b: b, j: j}, nil); err != nil {
		return fmt.Errorf("mqtt journal hook: %w", err)
	}
	return nil
}

// journalHook runs after the auth and flow hooks, so it sees only messages they let through.
type journalHook struct {
	mochi.HookBase
	b *Broker
	j Journal // nil: none
}

func (h *journalHook) ID() string { return "minicloud-journal" }

func (h *journalHook) Provides(b byte) bool {
	return b == mochi.OnPublish || b == mochi.OnWillSent || b == mochi.OnDisconnect
}

func (h *journalHook) OnPublish(cl *mochi.Client, pk packets.Packet) (packets.Packet, error) {
	if cl == h.b.acked {
		// The acker's publish of a client's message (journaled when the client sent it): it
		// is the client's again (see stashOrigin).
		restoreOrigin(&pk)
		return pk, nil
	}
	if cl == h.b.imported {
		return pk, nil // journaled on import
	}
	fromPeer := cl == h.b.fromPeer
	var p Pending
	if h.j != nil && !strings.HasPrefix(pk.TopicName, "$") {
		p = h.j.Record(JournalMessage{pk.TopicName, pk.Payload, pk.FixedHeader.Qos, pk.FixedHeader.Retain, fromPeer})
	}
	qos := pk.FixedHeader.Qos
	if !cl.Net.Inline && qos == 1 {
		h.b.ackers.publish(cl, pk, p) // acker.go: published now, acknowledged once journaled
		return pk, packets.ErrRejectPacket
	}
	if p == nil || fromPeer || qos == 0 {
		return pk, nil
	}
	if err := p.Wait(); err != nil {
		h.b.log.Error("journal a message before its ack", "topic", pk.TopicName, "err", err)
		if cl.Properties.ProtocolVersion == 5 {
			return pk, packets.ErrImplementationSpecificError // a PUBACK/PUBREC with that reason code
		}
		return pk, packets.ErrRejectPacket // MQTT 3 has no negative ack: none at all, the client resends
	}
	return pk, nil
}

func (h *journalHook) OnDisconnect(cl *mochi.Client, _ error, _ bool) { h.b.ackers.done(cl) }

func (h *journalHook) OnWillSent(_ *mochi.Client, pk packets.Packet) {
	if h.j != nil {
		h.j.Record(JournalMessage{Topic: pk.TopicName, Payload: pk.Payload, QoS: pk.FixedHeader.Qos, Retain: pk.FixedHeader.Retain})
	}
}
