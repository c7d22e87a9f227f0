package mqtt_test

import (
	"errors"
	"testing"
	"time"

	"github.com/minicloud/minicloud/internal/mqtt"
)

func TestInProcessPublishSubscribe(t *testing.T) {
	e := newEnv(t)
	got := newInbox()
	unsub, err := e.broker.Subscribe("sensors/+/t", got.add)
	if err != nil {
		t.Fatal(err)
	}
	net := newInbox()
	wait(t, e.client("reader", "net").Subscribe("sensors/#", 1, net.handler), "subscribe")

	// In-process publishes reach in-process and network subscribers; network publishes reach
	// in-process subscribers.
	if err := e.broker.Publish("sensors/a/t", []byte("one"), 1, false); err != nil {
		t.Fatal(err)
	}
	wait(t, e.client("writer", "w").Publish("sensors/b/t", 1, false, "two"), "publish")
	if m := got.waitN(t, 2); m[0].payload != "one" || m[1].payload != "two" || m[1].topic != "sensors/b/t" {
		t.Fatalf("in-process subscriber got %v", m)
	}
	if m := net.waitN(t, 2); m[0].payload != "one" || m[0].qos != 1 {
		t.Fatalf("network subscriber got %v", m)
	}

	unsub()
	unsub() // twice is harmless
	e.broker.Publish("sensors/c/t", []byte("three"), 0, false)
	net.waitN(t, 3)
	got.none2(t, 200*time.Millisecond, 2)

	for _, topic := range []string{"", "a/+", "a/#", "$SYS/x", "a\x00b"} {
		if err := e.broker.Publish(topic, nil, 0, false); !errors.Is(err, mqtt.ErrBadTopic) {
			t.Errorf("Publish(%q) = %v, want ErrBadTopic", topic, err)
		}
	}
	for _, filter := range []string{"", "a/#/b", "$share/g/a"} {
		if _, err := e.broker.Subscribe(filter, got.add); err == nil {
			t.Errorf("Subscribe(%q) succeeded", filter)
		}
	}
}

// Two brokers joined by the loopback Peers: a message published on either reaches subscribers on
// both, exactly once, and retained messages travel too.
func TestPeersDeliverOnce(t *testing.T) {
	a, b := newEnv(t), newEnv(t)
	var site mqtt.Loopback
	site.Join(a.broker)
	site.Join(b.broker)
	inA, inB := newInbox(), newInbox()
	wait(t, a.client(rootKey, "sa").Subscribe("sensors/#", 1, inA.handler), "subscribe a")
	wait(t, b.client(rootKey, "sb").Subscribe("sensors/#", 1, inB.handler), "subscribe b")

	wait(t, a.client("writer", "pa").Publish("sensors/x", 1, false, "from a"), "publish on a")
	if err := b.broker.Publish("sensors/y", []byte("from b"), 1, false); err != nil {
		t.Fatal(err)
	}
	wait(t, b.client("writer", "pb").Publish("sensors/r", 1, true, "retained on b"), "publish retained on b")
	for name, in := range map[string]*inbox{"a": inA, "b": inB} {
		got := in.waitN(t, 3)
		in.none2(t, 200*time.Millisecond, 3)
		want := map[string]bool{"from a": true, "from b": true, "retained on b": true}
		for _, m := range got {
			if !want[m.payload] {
				t.Fatalf("broker %s: unexpected or duplicate %+v in %v", name, m, got)
			}
			delete(want, m.payload)
		}
	}
	late := newInbox()
	wait(t, a.client("reader", "late").Subscribe("sensors/r", 1, late.handler), "subscribe late")
	if m := late.waitN(t, 1)[0]; m.payload != "retained on b" || !m.retained {
		t.Fatalf("retained message did not cross: %+v", m)
	}
}
