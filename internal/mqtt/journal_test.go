package mqtt_test

import (
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

func (j *gateJournal) Record(m mqtt.JournalMessage) func() error {
	j.mu.Lock()
	j.topics = append(j.topics, string(m.Payload))
	j.mu.Unlock()
	if m.Topic == "pipe/free" {
		return nil // a topic no stream logs: nothing to wait for
	}
	return func() error {
		<-j.open
		return j.err
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
