package mqtt_test

import (
	"strings"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/minicloud/minicloud/internal/mqtt"
)

func counter(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			var m *dto.Metric = mf.GetMetric()[0]
			if m.Counter != nil {
				return m.Counter.GetValue()
			}
			return m.Gauge.GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// A subscriber that stops reading for a while makes publishers wait instead of losing its
// messages: every one arrives, in order, once it reads again.
func TestBackpressureInsteadOfLoss(t *testing.T) {
	e := newEnv(t)
	e.broker.Close()
	reg := prometheus.NewRegistry()
	e.start("127.0.0.1:0", func(o *mqtt.Options) {
		o.MaxQueuedWrites = 4096 // 4 MB of these messages: more than the sampler lets a burst add between two looks
		o.Registerer = reg
	})
	sub := dialV5(t, e.addr)
	if code := sub.connect("slow", rootKey, rootSecret, nil); code != 0 {
		t.Fatalf("CONNACK %#x", code)
	}
	if code := sub.subscribe("sensors/bp", 0); code != 0 {
		t.Fatalf("SUBACK %#x", code)
	}
	// Enough data to fill the socket buffers on both sides many times over.
	const n = 30000
	payload := strings.Repeat("x", 1000)
	pub := e.client("writer", "fast")
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < n; i++ {
			pub.Publish("sensors/bp", 0, false, payload)
		}
	}()
	// The subscriber reads nothing until the publisher has had to wait (30 MB cannot fit in the
	// queue and the sockets' buffers).
	for deadline := time.Now().Add(30 * time.Second); counter(t, reg, "minicloud_mqtt_backpressure_waits_total") == 0; {
		if time.Now().After(deadline) {
			t.Fatal("publisher never waited")
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)
	for i := 0; i < n; i++ {
		pk, err := sub.read()
		if err != nil || pk.FixedHeader.Type != packets.Publish {
			t.Fatalf("message %d: %v (type %d)", i, err, pk.FixedHeader.Type)
		}
	}
	<-done
	if d := counter(t, reg, "minicloud_mqtt_messages_dropped_total"); d != 0 {
		t.Fatalf("%v messages dropped", d)
	}
}

// A subscriber that reads nothing at all holds publishers up once, for StallTimeout, and then
// no more: the others keep getting their messages.
func TestStuckSubscriberDoesNotStallOthers(t *testing.T) {
	e := newEnv(t)
	e.broker.Close()
	reg := prometheus.NewRegistry()
	e.start("127.0.0.1:0", func(o *mqtt.Options) {
		o.MaxQueuedWrites = 256
		o.StallTimeout = 300 * time.Millisecond
		o.Registerer = reg
	})
	stuck := dialV5(t, e.addr)
	if code := stuck.connect("stuck", rootKey, rootSecret, nil); code != 0 {
		t.Fatalf("CONNACK %#x", code)
	}
	stuck.subscribe("sensors/#", 0) // and never reads again
	in := newInbox()
	wait(t, e.client("reader", "healthy").Subscribe("sensors/#", 0, in.handler), "subscribe")
	pub := e.client("writer", "pub")
	payload := strings.Repeat("x", 1000)
	start := time.Now()
	const n = 30000
	for i := 0; i < n; i++ {
		pub.Publish("sensors/s", 0, false, payload)
	}
	wait(t, pub.Publish("sensors/s", 1, false, "last"), "last publish")
	if d := time.Since(start); d > 20*time.Second {
		t.Fatalf("publishing took %v", d)
	}
	in.waitN(t, 1)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		in.mu.Lock()
		last := in.msgs[len(in.msgs)-1].payload
		in.mu.Unlock()
		if last == "last" {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if s := counter(t, reg, "minicloud_mqtt_stalled_subscribers_total"); s < 1 {
		t.Fatalf("stuck subscriber never given up on (%v)", s)
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if last := in.msgs[len(in.msgs)-1].payload; last != "last" {
		t.Fatalf("healthy subscriber got %d messages, not the last one", len(in.msgs))
	}
}
