package mqtt_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/gorilla/websocket"

	"github.com/minicloud/minicloud/internal/mqtt"
)

// selfSigned returns a server certificate for 127.0.0.1 and a pool that trusts it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "minicloud test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// TestTLSAndWebSocketListeners: paho clients over TLS (mqtts), plain WebSocket and WebSocket in
// TLS reach the same broker: a message published over each arrives at subscribers on the
// others; wrong credentials are refused there as on plain TCP, and a client that does not
// speak TLS gets nothing from the TLS port while the broker keeps serving.
func TestTLSAndWebSocketListeners(t *testing.T) {
	e := newEnv(t)
	cert, pool := selfSigned(t)
	e.broker.Close()
	tlsLn, wsLn, wssLn := listen(t), listen(t), listen(t)
	e.start(e.addr, func(o *mqtt.Options) {
		o.TLSListener, o.WSListener, o.WSSListener = tlsLn, wsLn, wssLn
		o.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	})
	if got := len(e.broker.Addrs()); got != 3 {
		t.Fatalf("Addrs lists %d listeners, want 3", got)
	}
	urls := map[string]string{
		"tls": "ssl://" + tlsLn.Addr().String(),
		"ws":  "ws://" + wsLn.Addr().String() + "/mqtt",
		"wss": "wss://" + wssLn.Addr().String() + "/mqtt",
	}
	opts := func(url, id, secret string) *paho.ClientOptions {
		return paho.NewClientOptions().AddBroker(url).SetClientID(id).SetUsername(rootKey).SetPassword(secret).
			SetProtocolVersion(4).SetAutoReconnect(false).SetConnectRetry(false).SetConnectTimeout(5 * time.Second).
			SetTLSConfig(&tls.Config{RootCAs: pool})
	}
	inboxes := map[string]*inbox{}
	clients := map[string]paho.Client{}
	for name, url := range urls {
		c := e.connect(opts(url, "c-"+name, rootSecret))
		in := newInbox()
		wait(t, c.Subscribe("over/#", 1, in.handler), "subscribe over "+name)
		clients[name], inboxes[name] = c, in
	}
	for _, name := range []string{"tls", "ws", "wss"} {
		wait(t, clients[name].Publish("over/"+name, 1, false, "via "+name), "publish over "+name)
	}
	for name, in := range inboxes {
		got := in.waitN(t, 3)
		seen := map[string]bool{}
		for _, m := range got {
			seen[m.payload] = true
		}
		for _, from := range []string{"tls", "ws", "wss"} {
			if !seen["via "+from] {
				t.Errorf("subscriber over %s did not get the message published over %s: %v", name, from, got)
			}
		}
	}
	for name, url := range urls {
		c := paho.NewClient(opts(url, "bad-"+name, "wrong-secret"))
		tok := c.Connect()
		if !tok.WaitTimeout(10*time.Second) || tok.Error() == nil {
			t.Errorf("connect over %s with a wrong secret: accepted", name)
		}
	}
	// Plain MQTT to the TLS port: the handshake fails, nothing is served, the broker goes on.
	raw, err := net.DialTimeout("tcp", tlsLn.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	raw.Write([]byte{0x10, 0x10, 0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 30, 0, 4, 'x', 'x', 'x', 'x'})
	raw.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4)
	if n, _ := raw.Read(buf); n > 0 && buf[0] == 0x20 {
		t.Fatal("a plain MQTT client got a CONNACK on the TLS port")
	}
	raw.Close()

	// Garbage over WebSocket: a text frame, then binary garbage and an oversized length; each
	// connection is closed, and the broker goes on serving the others.
	for _, frame := range []struct {
		typ  int
		data []byte
	}{
		{websocket.TextMessage, []byte("hello")},
		{websocket.BinaryMessage, []byte{0xff, 0xff, 0xff, 0xff, 0x7f}},
		{websocket.BinaryMessage, []byte{0x10, 0xff, 0xff, 0xff, 0x7f}}, // CONNECT of 256 MiB
	} {
		ws, _, err := websocket.DefaultDialer.Dial(urls["ws"], nil)
		if err != nil {
			t.Fatal(err)
		}
		ws.WriteMessage(frame.typ, frame.data)
		ws.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, _, err := ws.ReadMessage(); err == nil {
			t.Errorf("websocket garbage %x got an answer", frame.data)
		} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Errorf("websocket garbage %x: connection left open", frame.data)
		}
		ws.Close()
	}
	for name, c := range clients {
		wait(t, c.Publish("over/after", 1, false, "still here"), "publish over "+name+" after garbage")
	}
}

// TestWebSocketFlood: WebSocket connections that never send CONNECT count against
// MaxConnections like TCP ones: beyond it the upgrade is refused with 503, the broker serves
// its clients meanwhile, and the idle ones are closed after ConnectTimeout, so new clients get
// in again.
func TestWebSocketFlood(t *testing.T) {
	e := newEnv(t)
	e.broker.Close()
	wsLn := listen(t)
	e.start(e.addr, func(o *mqtt.Options) {
		o.WSListener = wsLn
		o.MaxConnections = 10
		o.ConnectTimeout = 500 * time.Millisecond
	})
	url := "ws://" + wsLn.Addr().String() + "/mqtt"
	in := newInbox()
	sub := e.client(rootKey, "steady")
	wait(t, sub.Subscribe("flood/#", 1, in.handler), "subscribe")
	var idle []*websocket.Conn
	refused := 0
	for i := 0; i < 30; i++ {
		ws, resp, err := websocket.DefaultDialer.Dial(url, nil)
		if err != nil {
			if resp == nil || resp.StatusCode != 503 {
				t.Fatalf("dial %d: %v (%v)", i, err, resp)
			}
			refused++
			continue
		}
		idle = append(idle, ws)
	}
	defer func() {
		for _, ws := range idle {
			ws.Close()
		}
	}()
	if refused == 0 || len(idle) > 10 {
		t.Fatalf("%d websocket connections admitted, %d refused: no cap", len(idle), refused)
	}
	wait(t, sub.Publish("flood/x", 1, false, "during"), "publish during the flood")
	in.waitN(t, 1)
	deadline := time.Now().Add(10 * time.Second)
	for {
		c := paho.NewClient(paho.NewClientOptions().AddBroker(url).SetClientID("late").SetUsername(rootKey).
			SetPassword(rootSecret).SetProtocolVersion(4).SetAutoReconnect(false).SetConnectTimeout(2 * time.Second))
		tok := c.Connect()
		if tok.WaitTimeout(5*time.Second) && tok.Error() == nil {
			c.Disconnect(0)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no websocket client admitted after the flood: %v", tok.Error())
		}
		time.Sleep(100 * time.Millisecond)
	}
}
