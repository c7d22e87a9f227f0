package mqtt

import (
	"sync"
	"sync/atomic"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// Pipelined acknowledgements. mochi handles a client's packets one after the other on the
// client's read goroutine and sends the PUBACK from there; a journal that makes the publish wait
// for its fsync there would cost a publisher that keeps many publishes in flight one fsync per
// message (about a thousand messages a second), however well the log groups its fsyncs. So a
// client's QoS 1 publish is taken off mochi's path (the journal hook rejects it, which makes
// mochi do nothing more with it): the hook publishes it to subscribers at once, through an
// in-process client (b.acked) whose publishes the journal does not see again, and queues its
// PUBACK on the client's acker, a goroutine per publishing client that waits for each
// message's journal in order and then sends the PUBACK. The client's read goroutine goes on
// reading, so the publishes behind it join the same group commit, and the acker sends the
// PUBACKs of all the messages that are ready in one write (corkConn).
//
// Every QoS 1 publish of a network client takes this path, journaled or not: its PUBACKs are
// then all in one queue, in order, and a message is always handed to its subscribers (queued
// for offline persistent sessions too) before its PUBACK. mochi sends the PUBACK first, so a
// publisher could have its acknowledgement while a persistent session that reconnects at
// that moment takes over its old queue without the message (TestPersistentSession lost one
// that way, about one run in fifteen).
//
// Subscribers thus get a message before it is durable, as they would from a broker without a
// log; only the publisher's PUBACK waits. If the journal then fails, an MQTT 5 publisher gets
// a negative PUBACK (and an MQTT 3 one none, so it resends): subscribers may have seen a message
// the log does not hold, which QoS 1 (at least once) allows.
//
// Order: subscribers get a client's messages in the order it sent them (all are published on
// its read goroutine), and its PUBACKs come in that order too, as MQTT requires. QoS 2 keeps
// mochi's own path (its PUBREC/PUBREL exchange holds state in mochi): it waits for the journal
// on the read goroutine.

// ackerDepth bounds the PUBACKs one client may have waiting for the journal: beyond it the
// client's read goroutine waits, and TCP slows the client down.
const ackerDepth = 4096

type ackJob struct {
	id    uint16 // packet id to acknowledge
	topic string
	p     Pending // nil: nothing to wait for (a topic no stream logs)
}

func (j ackJob) ready() bool { return j.p == nil || j.p.Done() }

// acker pipelines one client's publishes; see above.
type acker struct {
	jobs   chan ackJob
	mu     sync.Mutex // orders sends against close
	closed bool
}

// put queues j unless the acker is closed (the broker is closing: the message is dropped
// unacknowledged, and the client resends it).
func (k *acker) put(j ackJob) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.closed {
		return
	}
	k.jobs <- j
}

func (k *acker) close() {
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.closed {
		k.closed = true
		close(k.jobs)
	}
}

// ackers holds the ackers of connected clients.
type ackers struct {
	b  *Broker
	mu sync.Mutex
	m  map[*mochi.Client]*acker
	wg sync.WaitGroup // the acker goroutines; Broker.Close waits for them
}

func newAckers(b *Broker) *ackers { return &ackers{b: b, m: map[*mochi.Client]*acker{}} }

// publish publishes pk (a QoS 1 publish of cl the journal hook took off mochi's path) to
// subscribers now, and queues its PUBACK on cl's acker, starting one if needed. Called on cl's
// read goroutine.
func (a *ackers) publish(cl *mochi.Client, pk packets.Packet, p Pending) {
	b := a.b
	id := pk.PacketID
	pk.PacketID = 1 // mochi wants a nonzero id for QoS 1 from in-process clients
	stashOrigin(&pk, cl)
	if err := b.srv.InjectPacket(b.acked, pk); err != nil {
		b.log.Warn("publish a client's message", "topic", pk.TopicName, "err", err)
	} else {
		// InjectPacket counts the message as received once more.
		atomic.AddInt64(&b.srv.Info.MessagesReceived, -1)
		atomic.AddInt64(&b.srv.Info.PacketsReceived, -1)
	}
	a.mu.Lock()
	k := a.m[cl]
	if k == nil {
		k = &acker{jobs: make(chan ackJob, ackerDepth)}
		a.m[cl] = k
		a.wg.Add(1)
		go a.run(cl, k)
	}
	a.mu.Unlock()
	k.put(ackJob{id, pk.TopicName, p})
}

// done ends cl's acker once it has finished what it holds. Called when cl disconnects, after
// its read goroutine ended, so nothing is queued after.
func (a *ackers) done(cl *mochi.Client) {
	a.mu.Lock()
	k := a.m[cl]
	delete(a.m, cl)
	a.mu.Unlock()
	if k != nil {
		k.close()
	}
}

// run acknowledges cl's queued messages in order as their journal completes. A group commit
// completes many messages at once: their PUBACKs go out in one write (corkConn), sent before
// the acker blocks on a message whose journal is not done yet.
func (a *ackers) run(cl *mochi.Client, k *acker) {
	defer a.wg.Done()
	cc, _ := cl.Net.Conn.(*corkConn) // nil for a connection not from our listeners: no batching
	for j := range k.jobs {
		err := j.wait() // nothing is corked while the acker blocks
		cc.Cork()
		a.ack(cl, j, err)
	batch:
		for {
			select {
			case j, ok := <-k.jobs:
				if !ok {
					break batch
				}
				if !j.ready() {
					_ = cc.Uncork() // never hold PUBACKs (or mochi's writes) while waiting
				}
				err := j.wait()
				cc.Cork()
				a.ack(cl, j, err)
			default:
				break batch
			}
		}
		_ = cc.Uncork() // a broken connection: the client resends what it has no PUBACK for
	}
}

// wait waits for a message's journal.
func (j ackJob) wait() error {
	if j.p == nil {
		return nil
	}
	return j.p.Wait()
}

// ack acknowledges a message once its journal is done (err: it failed).
func (a *ackers) ack(cl *mochi.Client, j ackJob, err error) {
	if err != nil {
		a.b.log.Error("journal a message before its ack", "topic", j.topic, "err", err)
		if cl.Properties.ProtocolVersion == 5 {
			_ = cl.WritePacket(puback(j.id, packets.ErrImplementationSpecificError))
		}
		return // MQTT 3 has no negative ack: none at all, the client resends
	}
	// The client may be gone by now: then the PUBACK is lost and the client resends (a
	// duplicate, as MQTT allows).
	_ = cl.WritePacket(puback(j.id, packets.CodeSuccess))
}

// stashOrigin keeps cl's id and protocol version in fields a PUBLISH does not use: mochi makes
// b.acked the origin of the publish and gives it b.acked's protocol version; the journal hook
// restores both (restoreOrigin), for No Local subscriptions and for the MQTT 5 message expiry
// of a retained message (mochi expires only those of version 5).
func stashOrigin(pk *packets.Packet, cl *mochi.Client) {
	pk.Connect.ClientIdentifier, pk.Connect.Keepalive = cl.ID, uint16(cl.Properties.ProtocolVersion)
}

func restoreOrigin(pk *packets.Packet) {
	pk.Origin, pk.ProtocolVersion = pk.Connect.ClientIdentifier, byte(pk.Connect.Keepalive)
	pk.Connect.ClientIdentifier, pk.Connect.Keepalive = "", 0
}

func puback(id uint16, code packets.Code) packets.Packet {
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, PacketID: id, ReasonCode: code.Code}
	if code.Code >= packets.ErrUnspecifiedError.Code {
		pk.Properties.ReasonString = code.Reason
	}
	return pk
}

// wait blocks until every acker has finished (after the server closed every client).
func (a *ackers) wait() {
	a.mu.Lock()
	for cl, k := range a.m {
		k.close()
		delete(a.m, cl)
	}
	a.mu.Unlock()
	a.wg.Wait()
}
