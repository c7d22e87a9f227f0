package rulesrt_test

import (
	"net"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/minicloud/minicloud/internal/iam"
	"github.com/minicloud/minicloud/internal/metastore"
	"github.com/minicloud/minicloud/internal/mqtt"
	"github.com/minicloud/minicloud/internal/rulesrt"
)

const (
	rootKey    = "root"
	rootSecret = "root-secret-0123456789"
)

// env is a node's worth of edge: a metastore, a broker with a TCP listener, and a runtime that
// can be closed and reopened on the same store.
type env struct {
	t      *testing.T
	db     *metastore.DB
	broker *mqtt.Broker
	rt     *rulesrt.Runtime
	tweak  func(*rulesrt.Options)
}

func newEnv(t *testing.T, tweak func(*rulesrt.Options)) *env {
	t.Helper()
	db, err := metastore.Open(t.TempDir(), metastore.Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := iam.Open(db, rootKey, rootSecret)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o := mqtt.DefaultOptions()
	o.Listener, o.Keys = ln, keys
	b, err := mqtt.New(o)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, db: db, broker: b, tweak: tweak}
	e.open()
	t.Cleanup(func() {
		e.rt.Close()
		b.Close()
		db.Close()
	})
	return e
}

func (e *env) open() {
	e.t.Helper()
	o := rulesrt.DefaultOptions()
	o.DB, o.Broker = e.db, e.broker
	o.RetryMin, o.RetryMax = 50*time.Millisecond, 200*time.Millisecond
	if e.tweak != nil {
		e.tweak(&o)
	}
	rt, err := rulesrt.Open(o)
	if err != nil {
		e.t.Fatal(err)
	}
	e.rt = rt
}

// reopen closes the runtime and opens a new one on the same store, as a node restart does.
func (e *env) reopen() {
	e.t.Helper()
	e.rt.Close()
	e.open()
}

func (e *env) sql(stmt string) rulesrt.SQLResult {
	e.t.Helper()
	res, err := e.rt.ExecSQL(stmt)
	if err != nil {
		e.t.Fatalf("%s: %v", stmt, err)
	}
	return res
}

func (e *env) create(name, def string) rulesrt.RuleInfo {
	e.t.Helper()
	info, err := e.rt.Create(name, []byte(def))
	if err != nil {
		e.t.Fatalf("create rule %s: %v", name, err)
	}
	if info.Status != rulesrt.StatusRunning {
		e.t.Fatalf("rule %s is %s: %s", name, info.Status, info.Error)
	}
	return info
}

// client connects a paho client with the root key.
func (e *env) client(id string) paho.Client {
	e.t.Helper()
	o := paho.NewClientOptions().AddBroker("tcp://" + e.broker.Addr().String()).SetClientID(id).
		SetUsername(rootKey).SetPassword(rootSecret).SetAutoReconnect(false)
	c := paho.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		e.t.Fatalf("connect: %v", tok.Error())
	}
	e.t.Cleanup(func() { c.Disconnect(0) })
	return c
}

func (e *env) publish(c paho.Client, topic, payload string) {
	e.t.Helper()
	if tok := c.Publish(topic, 1, false, payload); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		e.t.Fatalf("publish: %v", tok.Error())
	}
}

// collector gathers strings from any goroutine.
type collector struct {
	mu  sync.Mutex
	got []string
}

func (c *collector) add(s string) {
	c.mu.Lock()
	c.got = append(c.got, s)
	c.mu.Unlock()
}

func (c *collector) all() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.got...)
}

// waitFor polls cond for up to d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
