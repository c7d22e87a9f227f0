package mqtt_test

import (
	"fmt"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/minicloud/minicloud/internal/iam"
	"github.com/minicloud/minicloud/internal/metastore"
	"github.com/minicloud/minicloud/internal/mqtt"
)

const (
	rootKey    = "root"
	rootSecret = "root-secret-0123456789"
)

// env is a broker with a real key store: the root key, a reader of sensors/, a writer of
// sensors/ and a key with no grants at all.
type env struct {
	t       testing.TB
	keys    *iam.Store
	broker  *mqtt.Broker
	addr    string
	dataDir string
	secrets map[string]string
}

func newEnv(t testing.TB) *env {
	t.Helper()
	db, err := metastore.Open(t.TempDir(), metastore.Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	keys, err := iam.Open(db, rootKey, rootSecret)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, keys: keys, dataDir: filepath.Join(t.TempDir(), "mqtt"), secrets: map[string]string{rootKey: rootSecret}}
	for ak, grants := range map[string]map[string]string{
		"reader":  {"mqtt:sensors": iam.PermRead},
		"writer":  {"mqtt:sensors": iam.PermWrite},
		"nogrant": {},
	} {
		k, err := keys.CreateKey(ak, ak, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		for b, p := range grants {
			if err := keys.Grant(ak, b, p); err != nil {
				t.Fatal(err)
			}
		}
		e.secrets[ak] = k.Secret
	}
	e.start("127.0.0.1:0", nil)
	return e
}

// start (re)starts the broker on addr with the env's data directory.
func (e *env) start(addr string, tweak func(*mqtt.Options)) {
	e.t.Helper()
	var ln net.Listener
	var err error
	for i := 0; i < 50; i++ { // a restart may find the old port still closing
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		e.t.Fatal(err)
	}
	o := mqtt.DefaultOptions()
	o.Listener, o.DataDir, o.Keys = ln, e.dataDir, e.keys
	if tweak != nil {
		tweak(&o)
	}
	b, err := mqtt.New(o)
	if err != nil {
		e.t.Fatal(err)
	}
	e.broker, e.addr = b, ln.Addr().String()
	e.t.Cleanup(func() { b.Close() })
}

// restart closes the broker and starts a new one on the same address and data.
func (e *env) restart() {
	e.t.Helper()
	if err := e.broker.Close(); err != nil {
		e.t.Fatal(err)
	}
	e.start(e.addr, nil)
}

// clientOpts are paho options for key ak (MQTT 3.1.1).
func (e *env) clientOpts(ak, id string) *paho.ClientOptions {
	o := paho.NewClientOptions().AddBroker("tcp://" + e.addr).SetClientID(id).
		SetUsername(ak).SetPassword(e.secrets[ak]).SetProtocolVersion(4).
		SetAutoReconnect(false).SetConnectRetry(false).SetConnectTimeout(5 * time.Second).
		SetWriteTimeout(5 * time.Second)
	return o
}

func (e *env) connect(o *paho.ClientOptions) paho.Client {
	e.t.Helper()
	c := paho.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		e.t.Fatalf("connect %s: %v", o.ClientID, tok.Error())
	}
	e.t.Cleanup(func() { c.Disconnect(0) })
	return c
}

func (e *env) client(ak, id string) paho.Client { return e.connect(e.clientOpts(ak, id)) }

func wait(t *testing.T, tok paho.Token, what string) {
	t.Helper()
	if !tok.WaitTimeout(10 * time.Second) {
		t.Fatalf("%s: timed out", what)
	}
	if err := tok.Error(); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// inbox collects messages of a subscription.
type inbox struct {
	mu   sync.Mutex
	msgs []msg
	ch   chan struct{}
}

type msg struct {
	topic    string
	payload  string
	qos      byte
	retained bool
}

func newInbox() *inbox { return &inbox{ch: make(chan struct{}, 1<<16)} }

func (in *inbox) handler(_ paho.Client, m paho.Message) {
	in.mu.Lock()
	in.msgs = append(in.msgs, msg{m.Topic(), string(m.Payload()), m.Qos(), m.Retained()})
	in.mu.Unlock()
	in.ch <- struct{}{}
}

func (in *inbox) add(topic string, payload []byte) {
	in.mu.Lock()
	in.msgs = append(in.msgs, msg{topic: topic, payload: string(payload)})
	in.mu.Unlock()
	in.ch <- struct{}{}
}

// waitN waits for n messages in all and returns them.
func (in *inbox) waitN(t *testing.T, n int) []msg {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		in.mu.Lock()
		got := append([]msg(nil), in.msgs...)
		in.mu.Unlock()
		if len(got) >= n {
			return got
		}
		select {
		case <-in.ch:
		case <-deadline:
			t.Fatalf("got %d messages, want %d: %v", len(got), n, got)
		}
	}
}

// none checks that nothing arrives for a while.
func (in *inbox) none(t *testing.T, d time.Duration) {
	t.Helper()
	time.Sleep(d)
	in.mu.Lock()
	defer in.mu.Unlock()
	if len(in.msgs) > 0 {
		t.Fatalf("got %v, want nothing", in.msgs)
	}
}

func ids(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%d", prefix, i)
	}
	return out
}
