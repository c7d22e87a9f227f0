package rulesrt_test

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minicloud/minicloud/internal/rules"
	"github.com/minicloud/minicloud/internal/rulesrt"
)

// TestRulesMeshTable: streams and rules defined on one node reach another through Table and
// Merge; the node that does not own a rule keeps it on standby; changes made on both sides while
// cut off merge by last writer; a deletion travels as a tombstone.
func TestRulesMeshTable(t *testing.T) {
	var mu sync.Mutex
	var fromA []rulesrt.TableRow
	a := newEnv(t, func(o *rulesrt.Options) {
		o.NodeID = "a"
		o.OnChange = func(r rulesrt.TableRow) { mu.Lock(); fromA = append(fromA, r); mu.Unlock() }
	})
	b := newEnv(t, func(o *rulesrt.Options) {
		o.NodeID = "b"
		o.Owner = func(*rules.RuleSpec, string) (string, bool) { return "a", false }
	})
	a.sql(`CREATE STREAM s (v float) WITH (DATASOURCE="in/#")`)
	a.create("r1", `{"sql": "SELECT v FROM s", "actions": [{"log": {}}]}`)
	mu.Lock()
	if len(fromA) != 2 || fromA[0].Kind != rulesrt.KindStream || fromA[1].Kind != rulesrt.KindRule {
		t.Fatalf("broadcast rows %+v", fromA)
	}
	mu.Unlock()
	// The rule row alone first (gossip may bring it before its stream): it waits for the stream.
	rows := a.rt.Table()
	for _, r := range rows {
		if r.Kind == rulesrt.KindRule {
			b.rt.Merge([]rulesrt.TableRow{r})
		}
	}
	b.rt.Merge(rows)
	info, err := b.rt.Describe("r1")
	if err != nil || info.Status != rulesrt.StatusStandby || info.Owner != "a" {
		t.Fatalf("on b: %+v %v", info, err)
	}
	if _, err := b.rt.ExecSQL("DESCRIBE STREAM s"); err != nil {
		t.Fatalf("stream on b: %v", err)
	}

	// Cut off: a stops the rule, then b changes it; the later change wins on both.
	if _, err := a.rt.Stop("r1"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.rt.Stop("r1"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.rt.Start("r1"); err != nil {
		t.Fatal(err)
	}
	a.rt.Merge(b.rt.Table())
	b.rt.Merge(a.rt.Table())
	if info, _ := a.rt.Describe("r1"); info.Status != rulesrt.StatusRunning {
		t.Fatalf("on a after merge: %s, want running (b's later start)", info.Status)
	}

	// A stale row changes nothing.
	var stale rulesrt.TableRow
	for _, r := range rows {
		if r.Kind == rulesrt.KindRule {
			stale = r
			stale.Stopped = true
		}
	}
	a.rt.Merge([]rulesrt.TableRow{stale})
	if info, _ := a.rt.Describe("r1"); info.Status != rulesrt.StatusRunning {
		t.Fatalf("a stale row stopped the rule")
	}

	// Deleted on b: a drops it, and it stays deleted after a restart.
	if err := b.rt.Delete("r1"); err != nil {
		t.Fatal(err)
	}
	a.rt.Merge(b.rt.Table())
	if _, err := a.rt.Describe("r1"); !errors.Is(err, rulesrt.ErrNotFound) {
		t.Fatalf("on a after delete: %v", err)
	}
	a.reopen()
	if _, err := a.rt.Describe("r1"); !errors.Is(err, rulesrt.ErrNotFound) {
		t.Fatalf("on a after restart: %v", err)
	}
	// A re-creation outranks the tombstone everywhere.
	a.create("r1", `{"sql": "SELECT v * 2 AS d FROM s", "actions": [{"log": {}}]}`)
	b.rt.Merge(a.rt.Table())
	if info, err := b.rt.Describe("r1"); err != nil || info.SQL != "SELECT v * 2 AS d FROM s" {
		t.Fatalf("re-created on b: %+v %v", info, err)
	}
}

// TestStandbyDrainsOutbox: results a node put in its webhook outbox are delivered by that node
// even once another node runs the rule (this one went down and came back, or the layout
// changed): its senders run alone until the outbox is empty.
func TestStandbyDrainsOutbox(t *testing.T) {
	hook := newWebhook(t)
	hook.down()
	var elsewhere atomic.Bool
	e := newEnv(t, func(o *rulesrt.Options) {
		o.NodeID = "a"
		o.ReconcileEvery = 50 * time.Millisecond
		o.Owner = func(*rules.RuleSpec, string) (string, bool) {
			if elsewhere.Load() {
				return "b", false
			}
			return "a", true
		}
		o.Alive = func(string) bool { return false }
	})
	e.sql(`CREATE STREAM s (v float) WITH (DATASOURCE="in/#")`)
	e.create("hook", `{"sql": "SELECT v FROM s", "actions": [{"rest": {"url": "`+hook.url()+`", "sendSingle": true}}]}`)
	e.broker.Publish("in/x", []byte(`{"v": 1}`), 0, false)
	e.broker.Publish("in/x", []byte(`{"v": 2}`), 0, false)
	waitFor(t, 5*time.Second, "2 results pending", func() bool {
		info, _ := e.rt.Describe("hook")
		return info.Actions[0].Pending == 2
	})
	elsewhere.Store(true)
	waitFor(t, 5*time.Second, "the rule on standby", func() bool {
		info, _ := e.rt.Describe("hook")
		return info.Status == rulesrt.StatusStandby
	})
	hook.up()
	waitFor(t, 10*time.Second, "the outbox delivered from standby", func() bool {
		info, _ := e.rt.Describe("hook")
		return len(hook.received()) == 2 && info.Actions[0].Pending == 0
	})
	if got := hook.received(); got[0] != `{"v":1}` || got[1] != `{"v":2}` {
		t.Fatalf("webhook got %v", got)
	}
	e.broker.Publish("in/x", []byte(`{"v": 3}`), 0, false) // not run here: nothing more
	elsewhere.Store(false)
	waitFor(t, 5*time.Second, "the rule back", func() bool {
		info, _ := e.rt.Describe("hook")
		return info.Status == rulesrt.StatusRunning
	})
	if got := hook.received(); len(got) != 2 {
		t.Fatalf("webhook got %v while the rule ran elsewhere", got)
	}
}
