package mqtt_test

import (
	"crypto/rand"
	"net"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/minicloud/minicloud/internal/mqtt"
)

// closedByServer waits until the server closes c.
func closedByServer(t *testing.T, c net.Conn, within time.Duration) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(within))
	buf := make([]byte, 1024)
	for {
		if _, err := c.Read(buf); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatalf("server kept the connection open for %v", within)
			}
			return
		}
	}
}

func TestGarbageAndOversizedPackets(t *testing.T) {
	e := newEnv(t)
	in := newInbox()
	sub := e.client(rootKey, "bystander")
	wait(t, sub.Subscribe("sensors/ok", 1, in.handler), "subscribe")

	garbage := make([]byte, 4096)
	rand.Read(garbage)
	// A CONNECT claiming 2 MiB (over the 1 MiB limit), and a connected client sending a PUBLISH
	// of 2 MiB.
	huge := []byte{0x10, 0x80, 0x80, 0x80, 0x01}
	for name, data := range map[string][]byte{"random bytes": garbage, "oversized CONNECT": huge} {
		c, err := net.Dial("tcp", e.addr)
		if err != nil {
			t.Fatal(err)
		}
		c.Write(data)
		closedByServer(t, c, 5*time.Second)
		c.Close()
		t.Logf("%s: connection closed", name)
	}
	v5 := dialV5(t, e.addr)
	if code := v5.connect("big", rootKey, rootSecret, nil); code != 0 {
		t.Fatalf("CONNACK %#x", code)
	}
	v5.conn.Write([]byte{0x30, 0x80, 0x80, 0x80, 0x01}) // PUBLISH header, 2 MiB to follow
	closedByServer(t, v5.conn, 5*time.Second)

	// Everybody else is still served.
	wait(t, e.client("writer", "after").Publish("sensors/ok", 1, false, "still here"), "publish")
	if m := in.waitN(t, 1)[0]; m.payload != "still here" {
		t.Fatalf("got %+v", m)
	}
}

func TestConnectionFlood(t *testing.T) {
	e := newEnv(t)
	e.broker.Close()
	e.start("127.0.0.1:0", func(o *mqtt.Options) {
		o.MaxConnections = 20
		o.ConnectTimeout = 500 * time.Millisecond
	})
	in := newInbox()
	sub := e.client(rootKey, "steady")
	wait(t, sub.Subscribe("sensors/flood", 1, in.handler), "subscribe")

	// Idle connections that never send CONNECT, many more than the broker admits.
	var idle []net.Conn
	for i := 0; i < 100; i++ {
		c, err := net.Dial("tcp", e.addr)
		if err != nil {
			t.Fatal(err)
		}
		idle = append(idle, c)
	}
	defer func() {
		for _, c := range idle {
			c.Close()
		}
	}()
	// The connected client keeps working during the flood...
	wait(t, sub.Publish("sensors/flood", 1, false, "during"), "publish during flood")
	in.waitN(t, 1)
	// ...and once the idle ones time out, new clients get in again.
	deadline := time.Now().Add(10 * time.Second)
	for {
		c := e.clientOpts(rootKey, "late")
		cl := paho.NewClient(c)
		tok := cl.Connect()
		if tok.WaitTimeout(5*time.Second) && tok.Error() == nil {
			cl.Disconnect(0)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no new connection admitted after the flood: %v", tok.Error())
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, c := range idle {
		closedByServer(t, c, 5*time.Second)
	}
}
