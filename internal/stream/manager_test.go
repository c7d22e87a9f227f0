package stream

import (
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/minicloud/minicloud/internal/metastore"
	"github.com/minicloud/minicloud/internal/mqtt"
)

// testNode is one node's stream manager, reopenable on the same directories.
type testNode struct {
	t    *testing.T
	o    Options
	db   *metastore.DB
	m    *Manager
	dbMu sync.Mutex
}

func newTestNode(t *testing.T, id, site string, objs Objects, mod func(*Options)) *testNode {
	t.Helper()
	dir := t.TempDir()
	o := DefaultOptions()
	o.Dir, o.NodeID, o.Site, o.Objects = filepath.Join(dir, "streams"), id, site, objs
	o.ShipEvery, o.ArchiveEvery, o.RetryBackoffAt = 20*time.Millisecond, 50*time.Millisecond, 200*time.Millisecond
	if mod != nil {
		mod(&o)
	}
	n := &testNode{t: t, o: o}
	n.open(filepath.Join(dir, "meta"))
	t.Cleanup(n.close)
	return n
}

func (n *testNode) open(metaDir string) {
	n.t.Helper()
	if n.db == nil {
		db, err := metastore.Open(metaDir, metastore.Options{}, nil)
		if err != nil {
			n.t.Fatal(err)
		}
		n.db = db
	}
	n.o.DB = n.db
	m, err := Open(n.o)
	if err != nil {
		n.t.Fatal(err)
	}
	n.m = m
}

// restart closes the manager (as a clean stop would) and opens it again.
func (n *testNode) restart() {
	n.t.Helper()
	if err := n.m.Close(); err != nil {
		n.t.Fatal(err)
	}
	n.open("")
}

func (n *testNode) close() {
	if n.m != nil {
		n.m.Close()
	}
	if n.db != nil {
		n.db.Close()
	}
}

// publish records a message as the broker's journal would, and waits like a QoS 1 publish.
func (n *testNode) publish(topic, payload string, fromPeer bool) {
	n.t.Helper()
	if p := n.m.Record(mqtt.JournalMessage{Topic: topic, Payload: []byte(payload), QoS: 1, FromPeer: fromPeer}); p != nil {
		if err := p.Wait(); err != nil {
			n.t.Fatal(err)
		}
	}
}

func (n *testNode) readAll(name string) []Message {
	n.t.Helper()
	ms, err := n.m.Read(name, 0, 1<<20)
	if err != nil {
		n.t.Fatal(err)
	}
	return ms
}

func waitFor(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestManagerLogsMatchingMessagesAcrossRestart(t *testing.T) {
	reg := prometheus.NewRegistry()
	n := newTestNode(t, "n1", "a", nil, func(o *Options) { o.Registerer = reg })
	if _, err := n.m.Create(CreateRequest{Name: "plant", Topics: []string{"sensors/#,alarms/+"}, Retain: "7d", MaxSize: "10GiB"}); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []CreateRequest{
		{Name: "plant", Topics: []string{"x"}},
		{Name: "bad name", Topics: []string{"x"}},
		{Name: "ok", Topics: []string{"a/#/b"}},
		{Name: "ok", Topics: []string{"x"}, Retain: "forever"},
		{Name: "ok", Topics: []string{"x"}, MaxSize: "lots"},
		{Name: "ok"},
	} {
		if _, err := n.m.Create(bad); err == nil {
			t.Errorf("create %+v: accepted", bad)
		}
	}
	n.publish("sensors/t1", `{"t":21.5}`, false)
	n.publish("other/t1", "not logged", false)
	n.publish("alarms/door", "open", true)
	n.publish("alarms/door/x", "not logged", false)
	n.publish("sensors", "the parent level matches sensors/#", false)
	ms := n.readAll("plant")
	want := []string{"sensors/t1", "alarms/door", "sensors"}
	if len(ms) != len(want) {
		t.Fatalf("logged %d messages, want %d: %+v", len(ms), len(want), ms)
	}
	for i, m := range ms {
		if m.Topic != want[i] || m.Offset != uint64(i) || m.ID != fmt.Sprintf("n1-%d", i) {
			t.Errorf("message %d: %+v", i, m)
		}
	}
	in, _ := n.m.Describe("plant")
	if in.MessagesIn != 3 || in.NextOffset != 3 || in.Retain != "168h0m0s" || in.MaxBytes != 10<<30 {
		t.Fatalf("describe: %+v", in)
	}
	if v := gatherValue(t, reg, "minicloud_stream_messages_in_total"); v != 3 {
		t.Fatalf("messages_in metric %v", v)
	}
	n.restart()
	if ms := n.readAll("plant"); len(ms) != 3 {
		t.Fatalf("after restart: %d messages", len(ms))
	}
	n.publish("sensors/t2", "after", false)
	if ms := n.readAll("plant"); len(ms) != 4 || ms[3].Offset != 3 {
		t.Fatalf("after restart and a publish: %+v", ms)
	}
	if err := n.m.Delete("plant"); err != nil {
		t.Fatal(err)
	}
	if _, err := n.m.Describe("plant"); err == nil {
		t.Fatal("deleted stream still described")
	}
	if n.m.Record(mqtt.JournalMessage{Topic: "sensors/t1"}) != nil {
		t.Fatal("a deleted stream still takes messages")
	}
	if _, err := n.m.Create(CreateRequest{Name: "plant", Topics: []string{"sensors/#"}}); err != nil {
		t.Fatal(err)
	}
	n.publish("sensors/t3", "new stream", false)
	if ms := n.readAll("plant"); len(ms) != 1 || ms[0].Payload != "new stream" {
		t.Fatalf("re-created stream holds %+v", ms)
	}
}

// gatherValue returns the value of a metric family of reg that has a single series.
func gatherValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.Metric) == 1 {
			if c := mf.Metric[0].Counter; c != nil {
				return c.GetValue()
			}
			return mf.Metric[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s with one series", name)
	return 0
}

func TestDefinitionsSpreadByMerge(t *testing.T) {
	var b *testNode
	a := newTestNode(t, "na", "a", nil, func(o *Options) { o.Broadcast = func(d Def) { b.m.Merge([]Def{d}) } })
	b = newTestNode(t, "nb", "a", nil, nil)
	if _, err := a.m.Create(CreateRequest{Name: "s", Topics: []string{"t/#"}}); err != nil {
		t.Fatal(err)
	}
	b.publish("t/1", "on b", false)
	if ms := b.readAll("s"); len(ms) != 1 || ms[0].ID != "nb-0" {
		t.Fatalf("b's log: %+v", ms)
	}
	// An older definition loses; the tombstone of a delete wins over the live one.
	b.m.Merge([]Def{{Name: "s", Topics: []string{"zzz"}, TS: 1}})
	if in, _ := b.m.Describe("s"); in.Topics[0] != "t/#" {
		t.Fatalf("an older definition replaced a newer one: %+v", in)
	}
	if err := a.m.Delete("s"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.m.Describe("s"); err == nil {
		t.Fatal("b still has the deleted stream")
	}
	if got := strings.Join(func() []string {
		var s []string
		for _, d := range b.m.Table() {
			s = append(s, fmt.Sprint(d.Name, d.Deleted))
		}
		return s
	}(), ","); got != "strue" {
		t.Fatalf("b's table: %s", got)
	}
}
