package mqtt_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

// v5conn is a bare MQTT 5 client built on mochi's packet codec, for the reason codes that
// paho's 3.1.1 client cannot show (no v5 Go client is in go.mod).
type v5conn struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
}

func dialV5(t *testing.T, addr string) *v5conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &v5conn{t: t, conn: c, r: bufio.NewReader(c)}
}

func (c *v5conn) send(pk packets.Packet, encode func(*packets.Packet, *bytes.Buffer) error) {
	c.t.Helper()
	pk.ProtocolVersion = 5
	var buf bytes.Buffer
	if err := encode(&pk, &buf); err != nil {
		c.t.Fatal(err)
	}
	c.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.conn.Write(buf.Bytes()); err != nil {
		c.t.Fatal(err)
	}
}

// read returns the next packet, or an error when the connection ends first.
func (c *v5conn) read() (packets.Packet, error) {
	c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	var pk packets.Packet
	b, err := c.r.ReadByte()
	if err != nil {
		return pk, err
	}
	if err := pk.FixedHeader.Decode(b); err != nil {
		return pk, err
	}
	n, _, err := packets.DecodeLength(c.r)
	if err != nil {
		return pk, err
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(c.r, body); err != nil {
		return pk, err
	}
	pk.ProtocolVersion = 5
	pk.FixedHeader.Remaining = n
	switch pk.FixedHeader.Type {
	case packets.Connack:
		err = pk.ConnackDecode(body)
	case packets.Suback:
		err = pk.SubackDecode(body)
	case packets.Puback:
		err = pk.PubackDecode(body)
	case packets.Pubrec:
		err = pk.PubrecDecode(body)
	case packets.Publish:
		err = pk.PublishDecode(body)
	case packets.Disconnect:
		err = pk.DisconnectDecode(body)
	}
	return pk, err
}

func (c *v5conn) expect(typ byte) packets.Packet {
	c.t.Helper()
	pk, err := c.read()
	if err != nil {
		c.t.Fatalf("waiting for packet type %d: %v", typ, err)
	}
	if pk.FixedHeader.Type != typ {
		c.t.Fatalf("got packet type %d, want %d", pk.FixedHeader.Type, typ)
	}
	return pk
}

// connect sends CONNECT and returns the CONNACK's reason code.
func (c *v5conn) connect(id, user, pass string, tweak func(*packets.ConnectParams, *packets.Properties)) byte {
	c.t.Helper()
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connect}}
	pk.Connect = packets.ConnectParams{ProtocolName: []byte("MQTT"), Clean: true, Keepalive: 30, ClientIdentifier: id}
	if user != "" {
		pk.Connect.UsernameFlag, pk.Connect.Username = true, []byte(user)
		pk.Connect.PasswordFlag, pk.Connect.Password = true, []byte(pass)
	}
	if tweak != nil {
		tweak(&pk.Connect, &pk.Properties)
	}
	c.send(pk, (*packets.Packet).ConnectEncode)
	return c.expect(packets.Connack).ReasonCode
}

// subscribe returns the SUBACK's reason code.
func (c *v5conn) subscribe(filter string, qos byte) byte {
	c.t.Helper()
	c.send(packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1},
		PacketID:    7,
		Filters:     packets.Subscriptions{{Filter: filter, Qos: qos}},
	}, (*packets.Packet).SubscribeEncode)
	codes := c.expect(packets.Suback).ReasonCodes
	if len(codes) != 1 {
		c.t.Fatalf("SUBACK with %d codes", len(codes))
	}
	return codes[0]
}

// publish sends a QoS 1 PUBLISH and returns the PUBACK's reason code.
func (c *v5conn) publish(topic, payload string, props packets.Properties) byte {
	c.t.Helper()
	c.send(packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1},
		PacketID:    9, TopicName: topic, Payload: []byte(payload), Properties: props,
	}, (*packets.Packet).PublishEncode)
	return c.expect(packets.Puback).ReasonCode
}

// TestCloseDisconnectsV5Clients: a closing broker tells its MQTT 5 clients why (DISCONNECT,
// server shutting down), also with clients leaving at that moment (the broker disconnects
// them itself: see Broker.disconnectListener).
func TestCloseDisconnectsV5Clients(t *testing.T) {
	e := newEnv(t)
	stay := dialV5(t, e.addr)
	if code := stay.connect("stay", rootKey, rootSecret, nil); code != 0 {
		t.Fatalf("CONNACK %#x", code)
	}
	for i := 0; i < 20; i++ { // clients leaving while the broker closes
		c := dialV5(t, e.addr)
		if code := c.connect(fmt.Sprint("leave", i), rootKey, rootSecret, nil); code != 0 {
			t.Fatalf("CONNACK %#x", code)
		}
		go c.conn.Close()
	}
	done := make(chan error, 1)
	go func() { done <- e.broker.Close() }()
	pk := stay.expect(packets.Disconnect)
	if pk.ReasonCode != packets.ErrServerShuttingDown.Code {
		t.Fatalf("DISCONNECT reason %#x, want %#x (server shutting down)", pk.ReasonCode, packets.ErrServerShuttingDown.Code)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Broker.Close did not return")
	}
}
