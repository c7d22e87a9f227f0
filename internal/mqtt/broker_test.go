package mqtt_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/mochi-mqtt/server/v2/packets"
)

func TestQoSLevels(t *testing.T) {
	e := newEnv(t)
	for qos := byte(0); qos <= 2; qos++ {
		t.Run(fmt.Sprintf("qos%d", qos), func(t *testing.T) {
			topic := fmt.Sprintf("sensors/q%d", qos)
			in := newInbox()
			sub := e.client(rootKey, fmt.Sprintf("sub%d", qos))
			wait(t, sub.Subscribe(topic, qos, in.handler), "subscribe")
			pub := e.client("writer", fmt.Sprintf("pub%d", qos))
			const n = 50
			for i := 0; i < n; i++ {
				wait(t, pub.Publish(topic, qos, false, fmt.Sprint(i)), "publish")
			}
			got := in.waitN(t, n)
			for i, m := range got {
				if m.payload != fmt.Sprint(i) || m.qos != qos || m.topic != topic {
					t.Fatalf("message %d = %+v, want payload %d at qos %d", i, m, i, qos)
				}
			}
		})
	}
}

func TestRetained(t *testing.T) {
	e := newEnv(t)
	pub := e.client(rootKey, "pub")
	wait(t, pub.Publish("sensors/ret", 1, true, "kept"), "publish retained")
	in := newInbox()
	wait(t, e.client("reader", "sub").Subscribe("sensors/#", 1, in.handler), "subscribe")
	if m := in.waitN(t, 1)[0]; m.payload != "kept" || !m.retained {
		t.Fatalf("got %+v, want retained 'kept'", m)
	}

	// It survives a restart of the broker.
	e.restart()
	in = newInbox()
	wait(t, e.client("reader", "sub2").Subscribe("sensors/ret", 1, in.handler), "subscribe after restart")
	if m := in.waitN(t, 1)[0]; m.payload != "kept" || !m.retained {
		t.Fatalf("after restart got %+v, want retained 'kept'", m)
	}

	// An empty retained message clears it, also across a restart.
	wait(t, e.client(rootKey, "pub2").Publish("sensors/ret", 1, true, ""), "clear retained")
	e.restart()
	in = newInbox()
	wait(t, e.client("reader", "sub3").Subscribe("sensors/ret", 1, in.handler), "subscribe after clear")
	in.none(t, 300*time.Millisecond)
}

func TestWill(t *testing.T) {
	e := newEnv(t)
	in := newInbox()
	wait(t, e.client(rootKey, "watcher").Subscribe("sensors/status/#", 1, in.handler), "subscribe")

	// A clean DISCONNECT discards the will.
	o := e.clientOpts("writer", "polite").SetWill("sensors/status/polite", "gone", 1, false)
	c := paho.NewClient(o)
	wait(t, c.Connect(), "connect")
	c.Disconnect(100)
	in.none(t, 300*time.Millisecond)

	// A dropped connection publishes it.
	v5 := dialV5(t, e.addr)
	code := v5.connect("rude", "writer", e.secrets["writer"], func(c *packets.ConnectParams, _ *packets.Properties) {
		c.WillFlag, c.WillTopic, c.WillPayload, c.WillQos = true, "sensors/status/rude", []byte("lost"), 1
	})
	if code != 0 {
		t.Fatalf("CONNACK %#x", code)
	}
	v5.conn.Close()
	if m := in.waitN(t, 1)[0]; m.topic != "sensors/status/rude" || m.payload != "lost" {
		t.Fatalf("got %+v, want the will", m)
	}
}

func TestPersistentSession(t *testing.T) {
	e := newEnv(t)
	in := newInbox()
	opts := func() *paho.ClientOptions {
		return e.clientOpts("reader", "durable").SetCleanSession(false).SetDefaultPublishHandler(in.handler)
	}
	c := e.connect(opts())
	wait(t, c.Subscribe("sensors/p", 1, nil), "subscribe")
	c.Disconnect(100)

	pub := e.client("writer", "pub")
	for i := 0; i < 5; i++ {
		wait(t, pub.Publish("sensors/p", 1, false, fmt.Sprint("offline", i)), "publish")
	}
	c = e.connect(opts()) // same id, clean session off: the queued messages arrive
	got := in.waitN(t, 5)
	for i, m := range got {
		if m.payload != fmt.Sprint("offline", i) {
			t.Fatalf("message %d = %q; all: %v", i, m.payload, got)
		}
	}
	// paho acknowledges after the handler returns; unacknowledged messages would (rightly) be
	// delivered again below.
	time.Sleep(200 * time.Millisecond)
	c.Disconnect(100)
	pub.Disconnect(100)

	// Queued while the client is away, then the broker restarts: the session, its subscription
	// and its queued messages are all still there.
	pub = e.client("writer", "pub2")
	for i := 0; i < 5; i++ {
		wait(t, pub.Publish("sensors/p", 1, false, fmt.Sprint("restart", i)), "publish")
	}
	pub.Disconnect(100)
	e.restart()
	e.connect(opts())
	got = in.waitN(t, 10)
	for i, m := range got[5:] {
		if m.payload != fmt.Sprint("restart", i) {
			t.Fatalf("after restart message %d = %q", i, m.payload)
		}
	}
	wait(t, e.client("writer", "pub3").Publish("sensors/p", 1, false, "live"), "publish")
	if m := in.waitN(t, 11)[10]; m.payload != "live" {
		t.Fatalf("subscription not restored: got %q", m.payload)
	}
}

func TestCleanSessionForgetsOldOne(t *testing.T) {
	e := newEnv(t)
	in := newInbox()
	c := e.connect(e.clientOpts("reader", "flip").SetCleanSession(false))
	wait(t, c.Subscribe("sensors/f", 1, nil), "subscribe")
	c.Disconnect(100)
	e.connect(e.clientOpts("reader", "flip").SetCleanSession(true).SetDefaultPublishHandler(in.handler)).Disconnect(100)
	e.restart()
	wait(t, e.client("writer", "pub").Publish("sensors/f", 1, false, "x"), "publish")
	e.connect(e.clientOpts("reader", "flip").SetCleanSession(false).SetDefaultPublishHandler(in.handler))
	in.none(t, 300*time.Millisecond)
}

func TestSharedSubscription(t *testing.T) {
	e := newEnv(t)
	a, b := newInbox(), newInbox()
	wait(t, e.client("reader", "a").Subscribe("$share/g/sensors/s", 1, a.handler), "subscribe a")
	wait(t, e.client("reader", "b").Subscribe("$share/g/sensors/s", 1, b.handler), "subscribe b")
	pub := e.client("writer", "pub")
	const n = 40
	for i := 0; i < n; i++ {
		wait(t, pub.Publish("sensors/s", 1, false, fmt.Sprint(i)), "publish")
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		a.mu.Lock()
		b.mu.Lock()
		na, nb := len(a.msgs), len(b.msgs)
		seen := map[string]bool{}
		for _, m := range append(append([]msg(nil), a.msgs...), b.msgs...) {
			if seen[m.payload] {
				t.Fatalf("message %s delivered twice in the group", m.payload)
			}
			seen[m.payload] = true
		}
		b.mu.Unlock()
		a.mu.Unlock()
		if na+nb == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("group got %d+%d messages, want %d", na, nb, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestRetainedMessageExpiry(t *testing.T) {
	e := newEnv(t)
	v5 := dialV5(t, e.addr)
	if code := v5.connect("exp", rootKey, rootSecret, nil); code != 0 {
		t.Fatalf("CONNACK %#x", code)
	}
	v5.send(packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Publish, Retain: true},
		TopicName:   "sensors/exp", Payload: []byte("short-lived"),
		Properties: packets.Properties{MessageExpiryInterval: 1},
	}, (*packets.Packet).PublishEncode)
	wait(t, e.client(rootKey, "pub").Publish("sensors/keep", 1, true, "kept"), "publish")
	time.Sleep(3500 * time.Millisecond) // expired once a second has passed after the 1 s, by a sweep each second
	in := newInbox()
	wait(t, e.client("reader", "sub").Subscribe("sensors/#", 1, in.handler), "subscribe")
	if got := in.waitN(t, 1); len(got) != 1 || got[0].payload != "kept" {
		t.Fatalf("got %v, want only the message without expiry", got)
	}
	in.none2(t, 300*time.Millisecond, 1)
}

// none2 checks that no more than n messages arrive within d.
func (in *inbox) none2(t *testing.T, d time.Duration, n int) {
	t.Helper()
	time.Sleep(d)
	in.mu.Lock()
	defer in.mu.Unlock()
	if len(in.msgs) > n {
		t.Fatalf("got %v, want %d messages", in.msgs, n)
	}
}

func TestBadCredentials(t *testing.T) {
	e := newEnv(t)
	for name, o := range map[string]*paho.ClientOptions{
		"wrong secret": e.clientOpts(rootKey, "x").SetPassword("wrong"),
		"unknown key":  e.clientOpts("nobody", "x").SetPassword("whatever"),
		"anonymous":    e.clientOpts("", "x").SetPassword(""),
	} {
		tok := paho.NewClient(o).Connect()
		tok.WaitTimeout(10 * time.Second)
		if err := tok.Error(); err == nil || !strings.Contains(err.Error(), "bad user name or password") {
			t.Errorf("%s (3.1.1): got %v, want CONNACK 4 bad user name or password", name, err)
		}
	}
	for name, up := range map[string][2]string{"wrong secret": {rootKey, "wrong"}, "anonymous": {"", ""}, "unknown key": {"nobody", "x"}} {
		if code := dialV5(t, e.addr).connect("x", up[0], up[1], nil); code != 0x86 {
			t.Errorf("%s (v5): CONNACK %#x, want 0x86", name, code)
		}
	}
}

func TestACLv5ReasonCodes(t *testing.T) {
	e := newEnv(t)
	conn := func(ak, id string) *v5conn {
		c := dialV5(t, e.addr)
		if code := c.connect(id, ak, e.secrets[ak], nil); code != 0 {
			t.Fatalf("%s: CONNACK %#x", ak, code)
		}
		return c
	}
	reader, writer, nogrant := conn("reader", "r"), conn("writer", "w"), conn("nogrant", "n")
	for _, c := range []struct {
		name string
		got  byte
		want byte
	}{
		{"reader subscribes sensors/#", reader.subscribe("sensors/#", 1), 1},
		{"reader subscribes shared sensors/+", reader.subscribe("$share/g/sensors/+", 1), 1},
		{"reader subscribes other/#", reader.subscribe("other/#", 1), 0x87},
		{"reader subscribes #", reader.subscribe("#", 1), 0x87},
		{"reader subscribes shared other/#", reader.subscribe("$share/g/other/#", 1), 0x87},
		{"reader publishes", reader.publish("sensors/x", "no", packets.Properties{}), 0x87},
		{"writer publishes sensors/x", writer.publish("sensors/x", "yes", packets.Properties{}), 0},
		{"writer publishes other/x", writer.publish("other/x", "no", packets.Properties{}), 0x87},
		{"writer subscribes", writer.subscribe("sensors/#", 1), 0x87},
		{"no grant subscribes", nogrant.subscribe("sensors/#", 0), 0x87},
		{"no grant publishes", nogrant.publish("sensors/x", "no", packets.Properties{}), 0x87},
	} {
		if c.got != c.want {
			t.Errorf("%s: reason code %#x, want %#x", c.name, c.got, c.want)
		}
	}
	// The message the writer may publish reached the reader.
	if pk := reader.expect(packets.Publish); string(pk.Payload) != "yes" {
		t.Errorf("reader got %q", pk.Payload)
	}

	// A will on a topic the key may not publish to is refused at CONNECT.
	code := dialV5(t, e.addr).connect("w2", "writer", e.secrets["writer"], func(c *packets.ConnectParams, _ *packets.Properties) {
		c.WillFlag, c.WillTopic, c.WillPayload = true, "other/will", []byte("x")
	})
	if code != 0x87 {
		t.Errorf("forbidden will: CONNACK %#x, want 0x87", code)
	}
	// A session of one key cannot be taken over by another.
	if code := dialV5(t, e.addr).connect("r", "writer", e.secrets["writer"], nil); code != 0x85 {
		t.Errorf("session of another key: CONNACK %#x, want 0x85", code)
	}
}

func TestACLv3(t *testing.T) {
	e := newEnv(t)
	reader := e.client("reader", "r")
	tok := reader.Subscribe("other/#", 1, nil)
	wait(t, tok, "subscribe")
	if code := tok.(*paho.SubscribeToken).Result()["other/#"]; code != 0x80 {
		t.Errorf("3.1.1 denied subscribe: SUBACK %#x, want 0x80", code)
	}
	// A 3.1.1 client has no PUBACK reason codes: a denied QoS 1 publish ends its connection.
	lost := make(chan error, 1)
	w := e.connect(e.clientOpts("writer", "w").SetConnectionLostHandler(func(_ paho.Client, err error) { lost <- err }))
	w.Publish("other/x", 1, false, "no")
	select {
	case <-lost:
	case <-time.After(10 * time.Second):
		t.Fatal("denied 3.1.1 publish did not end the connection")
	}
}
