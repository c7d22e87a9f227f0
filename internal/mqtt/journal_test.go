package mqtt_test

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/minicloud/minicloud/internal/mqtt"
)

// gateJournal records messages and holds every wait until open is closed (or fails them).
type gateJournal struct {
	mu     sync.Mutex
	topics []string
	open   chan struct{}
	err    error
}

func (j *gateJournal) Record(m mqtt.JournalMessage) mqtt.Pending {
	j.mu.Lock()
	j.topics = append(j.topics, string(m.Payload))
	j.mu.Unlock()
	if m.Topic == "pipe/free" {
		return nil // a topic no stream logs: nothing to wait for
	}
	return gatePending{j}
}

type gatePending struct{ j *gateJournal }

func (p gatePending) Wait() error {
	<-p.j.open
	return p.j.err
}

func (p gatePending) Done() bool {
	select {
	case <-p.j.open:
		return true
	default:
		return false
	}
}

func (j *gateJournal) recorded() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return len(j.topics)
}

// TestJournalPipelinesAcks: a publisher with many QoS 1 publishes in flight has all of them
// journaled while the first still waits for its journal (so one group commit can cover them);
// its subscribers get them at once, in the order sent (QoS 0 ones and ones the journal does
// not keep among them), but it gets no PUBACK before the journal is done, and then every one.
func TestJournalPipelinesAcks(t *testing.T) {
	e := newEnv(t)
	j := &gateJournal{open: make(chan struct{})}
	e.broker.Close()
	e.start(e.addr, func(o *mqtt.Options) { o.Journal = j })

	in := newInbox()
	sub := e.client(rootKey, "sub")
	wait(t, sub.Subscribe("pipe/#", 1, in.handler), "subscribe")
	pub := e.client(rootKey, "pub")
	const n = 50
	var toks []interface{ WaitTimeout(time.Duration) bool }
	for i := 0; i < n; i++ {
		qos, topic := byte(1), "pipe/t"
		switch i % 10 {
		case 5:
			qos = 0 // must not overtake the QoS 1 messages before it
		case 7:
			topic = "pipe/free" // not journaled: still acknowledged, still in order
		}
		toks = append(toks, pub.Publish(topic, qos, false, fmt.Sprint(i)))
	}
	deadline := time.Now().Add(10 * time.Second)
	for j.recorded() < n {
		if time.Now().After(deadline) {
			t.Fatalf("journal saw %d of %d publishes while the first waited: the acks are not pipelined", j.recorded(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	got := in.waitN(t, n) // delivery does not wait for the journal
	for i, m := range got {
		if m.payload != fmt.Sprint(i) {
			t.Fatalf("delivery %d is %q: order broken (%v)", i, m.payload, got)
		}
	}
	for i, tok := range toks {
		if i%10 != 5 && tok.WaitTimeout(0) {
			t.Fatalf("PUBACK of publish %d before the journal was done", i)
		}
	}
	close(j.open)
	for i, tok := range toks {
		if !tok.WaitTimeout(10 * time.Second) {
			t.Fatalf("publish %d: no PUBACK", i)
		}
	}
}

// TestJournalFailureIsNegativeAck: when the journal fails, an MQTT 5 publisher gets a PUBACK
// with reason code 0x83 (implementation specific error).
func TestJournalFailureIsNegativeAck(t *testing.T) {
	e := newEnv(t)
	j := &gateJournal{open: make(chan struct{}), err: errors.New("disk on fire")}
	close(j.open)
	e.broker.Close()
	e.start(e.addr, func(o *mqtt.Options) { o.Journal = j })
	in := newInbox()
	sub := e.client(rootKey, "sub")
	wait(t, sub.Subscribe("fail/#", 1, in.handler), "subscribe")
	c := dialV5(t, e.addr)
	if code := c.connect("v5pub", rootKey, rootSecret, nil); code != 0 {
		t.Fatalf("connect: %#x", code)
	}
	if code := c.publish("fail/x", "lost", packets.Properties{}); code != packets.ErrImplementationSpecificError.Code {
		t.Fatalf("PUBACK reason %#x, want %#x", code, packets.ErrImplementationSpecificError.Code)
	}
}

// TestJournalAcksBatchedInOrder: the PUBACKs that one journal commit releases reach the
// publisher in one write (one read gets them all), in the order it published, journaled or
// not; and in that order too when packets to the same client (its own subscription's
// deliveries) are written at the same time.
func TestJournalAcksBatchedInOrder(t *testing.T) {
	e := newEnv(t)
	j := &gateJournal{open: make(chan struct{})}
	e.broker.Close()
	e.start(e.addr, func(o *mqtt.Options) { o.Journal = j })

	const n = 40
	plain, both := dialV5(t, e.addr), dialV5(t, e.addr)
	for id, c := range map[string]*v5conn{"plain": plain, "both": both} {
		if code := c.connect(id, rootKey, rootSecret, nil); code != 0 {
			t.Fatalf("%s: CONNACK %#x", id, code)
		}
	}
	if code := both.subscribe("pipe/#", 0); code != 0 {
		t.Fatalf("SUBACK %#x", code)
	}
	for id, c := range map[string]*v5conn{"plain": plain, "both": both} {
		for i := 1; i <= n; i++ {
			topic := "pipe/" + id
			if i%7 == 0 {
				topic = "pipe/free" // not journaled: acknowledged behind the others all the same
			}
			c.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1},
				PacketID: uint16(i), TopicName: topic, Payload: []byte(fmt.Sprint(i))}, (*packets.Packet).PublishEncode)
		}
		// The acker waits for the first publish's journal and holds the others.
		deadline := time.Now().Add(10 * time.Second)
		for e.broker.AckerQueued(id) != n-1 {
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d PUBACKs queued behind the first, want %d", id, e.broker.AckerQueued(id), n-1)
			}
			time.Sleep(time.Millisecond)
		}
	}
	close(j.open)

	// One read of the plain publisher gets every PUBACK: they were written at once.
	plain.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 64<<10)
	k, err := plain.conn.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	acks := plain.r // parse what the one read returned
	acks.Reset(bytes.NewReader(buf[:k]))
	for i := 1; i <= n; i++ {
		pk, err := plain.read()
		if err != nil {
			t.Fatalf("the first read held %d bytes, %d PUBACKs: the acks were not written at once (%v)", k, i-1, err)
		}
		if pk.FixedHeader.Type != packets.Puback || pk.PacketID != uint16(i) || pk.ReasonCode != 0 {
			t.Fatalf("packet %d: type %d id %d code %#x, want PUBACK %d", i, pk.FixedHeader.Type, pk.PacketID, pk.ReasonCode, i)
		}
	}

	// The subscribed publisher gets its PUBACKs in order among its deliveries.
	next, delivered := 1, 0
	for next <= n || delivered < n {
		pk, err := both.read()
		if err != nil {
			t.Fatalf("after %d PUBACKs and %d deliveries: %v", next-1, delivered, err)
		}
		switch pk.FixedHeader.Type {
		case packets.Publish:
			delivered++
		case packets.Puback:
			if pk.PacketID != uint16(next) {
				t.Fatalf("PUBACK %d where %d was due: out of order", pk.PacketID, next)
			}
			next++
		default:
			t.Fatalf("unexpected packet type %d", pk.FixedHeader.Type)
		}
	}
}

// TestNoLocal: an MQTT 5 subscription with No Local does not get its own client's messages
// back, though the broker publishes a client's QoS 1 messages through an in-process client
// (acker.go); other clients' messages it gets.
func TestNoLocal(t *testing.T) {
	e := newEnv(t)
	c := dialV5(t, e.addr)
	if code := c.connect("nolocal", rootKey, rootSecret, nil); code != 0 {
		t.Fatalf("CONNACK %#x", code)
	}
	c.send(packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1},
		PacketID:    7,
		Filters:     packets.Subscriptions{{Filter: "nl/#", Qos: 1, NoLocal: true}},
	}, (*packets.Packet).SubscribeEncode)
	if codes := c.expect(packets.Suback).ReasonCodes; len(codes) != 1 || codes[0] != 1 {
		t.Fatalf("SUBACK %v", codes)
	}
	for _, qos := range []byte{0, 1} {
		c.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: qos}, PacketID: 9,
			TopicName: "nl/own", Payload: []byte("own")}, (*packets.Packet).PublishEncode)
	}
	c.expect(packets.Puback) // not the QoS 0 or 1 message back before it
	wait(t, e.client(rootKey, "other").Publish("nl/other", 1, false, "other"), "publish")
	if pk := c.expect(packets.Publish); string(pk.Payload) != "other" {
		t.Fatalf("got %q on %s, want the other client's message", pk.Payload, pk.TopicName)
	}
}

// TestUnjournaledAckedAtOnceYetInOrder: a QoS 1 publish the journal does not keep is
// acknowledged at once while no PUBACK of its client waits, but one published behind a message
// still waiting for its journal waits its turn.
func TestUnjournaledAckedAtOnceYetInOrder(t *testing.T) {
	e := newEnv(t)
	j := &gateJournal{open: make(chan struct{})}
	e.broker.Close()
	e.start(e.addr, func(o *mqtt.Options) { o.Journal = j })
	var opened sync.Once
	openGate := func() { opened.Do(func() { close(j.open) }) }
	t.Cleanup(openGate) // before the broker closes (cleanups run last first): it waits for its ackers
	c := dialV5(t, e.addr)
	if code := c.connect("inorder", rootKey, rootSecret, nil); code != 0 {
		t.Fatalf("CONNACK %#x", code)
	}
	publish := func(id uint16, topic string) {
		c.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1},
			PacketID: id, TopicName: topic, Payload: []byte("x")}, (*packets.Packet).PublishEncode)
	}
	publish(1, "pipe/free")
	if pk := c.expect(packets.Puback); pk.PacketID != 1 {
		t.Fatalf("PUBACK %d, want 1", pk.PacketID)
	}
	publish(2, "pipe/t") // waits for the journal
	publish(3, "pipe/free")
	c.conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if _, err := c.r.Peek(1); err == nil {
		pk, _ := c.read()
		t.Fatalf("packet type %d id %d while publish 2 waits for its journal: publish 3 overtook it", pk.FixedHeader.Type, pk.PacketID)
	}
	openGate()
	for _, want := range []uint16{2, 3} {
		if pk := c.expect(packets.Puback); pk.PacketID != want {
			t.Fatalf("PUBACK %d, want %d", pk.PacketID, want)
		}
	}
	publish(4, "pipe/free") // nothing waits any more: at once again
	if pk := c.expect(packets.Puback); pk.PacketID != 4 {
		t.Fatalf("PUBACK %d, want 4", pk.PacketID)
	}
}
