package mqtt_test

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

// encode returns the wire bytes of pk in MQTT version v.
func encode(t testing.TB, pk packets.Packet, v byte, enc func(*packets.Packet, *bytes.Buffer) error) []byte {
	t.Helper()
	pk.ProtocolVersion = v
	var b bytes.Buffer
	if err := enc(&pk, &b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func connectBytes(t testing.TB, v byte, id string) []byte {
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connect}}
	name := "MQTT"
	if v == 3 {
		name = "MQIsdp"
	}
	pk.Connect = packets.ConnectParams{ProtocolName: []byte(name), Clean: true, Keepalive: 30, ClientIdentifier: id,
		UsernameFlag: true, Username: []byte(rootKey), PasswordFlag: true, Password: []byte(rootSecret)}
	return encode(t, pk, v, (*packets.Packet).ConnectEncode)
}

// FuzzBrokerInput sends arbitrary bytes to the MQTT port, either as a connection's first bytes or
// after a valid CONNECT (so that they reach the parsing of every packet type), and then checks
// that the broker still admits and answers a well-behaved client: no input may crash it, wedge
// it or leave it refusing others. Seeds: valid packets of each kind, in MQTT 3.1.1 and 5, and
// the malformed shapes abuse_test.go sends.
func FuzzBrokerInput(f *testing.F) {
	e := newEnv(f)
	connect := connectBytes(f, 4, "fuzz")
	for _, v := range []byte{4, 5} {
		f.Add(false, connectBytes(f, v, "seed"))
		f.Add(true, encode(f, packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, PacketID: 3,
			TopicName: "fuzz/a", Payload: []byte(`{"t":1}`)}, v, (*packets.Packet).PublishEncode))
		f.Add(true, encode(f, packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 2, Retain: true}, PacketID: 4,
			TopicName: "fuzz/r", Payload: []byte("kept")}, v, (*packets.Packet).PublishEncode))
		f.Add(true, encode(f, packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, PacketID: 5,
			Filters: packets.Subscriptions{{Filter: "fuzz/#", Qos: 1}, {Filter: "$share/g/fuzz/+", Qos: 0}}}, v, (*packets.Packet).SubscribeEncode))
		f.Add(true, encode(f, packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Unsubscribe, Qos: 1}, PacketID: 6,
			Filters: packets.Subscriptions{{Filter: "fuzz/#"}}}, v, (*packets.Packet).UnsubscribeEncode))
	}
	f.Add(false, []byte{0x10, 0x80, 0x80, 0x80, 0x01}) // a CONNECT claiming 2 MiB
	f.Add(true, []byte{0x30, 0x80, 0x80, 0x80, 0x01})  // a PUBLISH claiming 2 MiB
	f.Add(true, []byte{0x30, 0xff, 0xff, 0xff, 0xff})  // a remaining length of five bytes
	f.Add(true, []byte{0x62, 0x02, 0x00, 0x01})        // PUBREL of an id never received
	f.Add(true, []byte{0xc0, 0x00, 0xe0, 0x00})        // PINGREQ, DISCONNECT
	f.Add(true, connect)                               // a second CONNECT
	f.Add(false, []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))

	ping := []byte{0xc0, 0x00}
	f.Fuzz(func(t *testing.T, afterConnect bool, data []byte) {
		c, err := net.DialTimeout("tcp", e.addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if afterConnect {
			c.Write(connect)
			ack := make([]byte, 4)
			if _, err := io.ReadFull(c, ack); err != nil || ack[0] != 0x20 || ack[3] != 0 {
				t.Fatalf("CONNACK % x, %v", ack, err)
			}
		}
		c.Write(data)
		// Let the broker act on it: until it closes the connection or a moment passes.
		c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		io.Copy(io.Discard, c)
		c.Close()

		h, err := net.DialTimeout("tcp", e.addr, 5*time.Second)
		if err != nil {
			t.Fatalf("after input % x: dial: %v", data, err)
		}
		defer h.Close()
		h.SetDeadline(time.Now().Add(5 * time.Second))
		h.Write(append(connectBytes(t, 4, "healthy"), ping...))
		got := make([]byte, 6)
		if _, err := io.ReadFull(h, got); err != nil || got[0] != 0x20 || got[3] != 0 || got[4] != 0xd0 {
			t.Fatalf("after input % x: a good client got % x (%v), want CONNACK 0 and PINGRESP", data, got, err)
		}
	})
}
