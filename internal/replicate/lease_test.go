package replicate

import (
	"testing"
	"time"

	"github.com/minicloud/minicloud/internal/clock"
	"github.com/minicloud/minicloud/internal/crdt"
	"github.com/minicloud/minicloud/internal/object"
	"github.com/minicloud/minicloud/internal/placement"
)

// The lease state machines (lease.go) on an injected clock.

const testD = time.Second

func recordIn(p int, key string, ts int64) object.RecordMsg {
	// find a key of partition p
	for i := 0; ; i++ {
		k := key + string(rune('a'+i%26)) + itoa(i)
		if placement.Partition("b", k) == p {
			return object.RecordMsg{Bucket: "b", Key: k, Version: crdt.Version{TS: crdt.Timestamp(ts), Node: 1}, Enc: []byte(k)}
		}
	}
}

func names(n leaseNote) map[string]time.Duration {
	out := map[string]time.Duration{}
	for _, h := range n.holders {
		out[h.node] = h.remain
	}
	return out
}

func TestGrantorRestartWindowNamesEveryReplica(t *testing.T) {
	clk := clock.NewFake(time.Unix(1000, 0))
	g := newGrantor(clk)
	n := g.merged(recordIn(3, "k", 1), true)
	if n.all != restartWindow(testD) {
		t.Fatalf("at start: all = %v, want %v", n.all, restartWindow(testD))
	}
	clk.Advance(restartWindow(testD) - time.Millisecond)
	if n := g.merged(recordIn(3, "k", 2), true); n.all != time.Millisecond {
		t.Fatalf("1ms before the window ends: all = %v", n.all)
	}
	clk.Advance(time.Millisecond)
	if n := g.merged(recordIn(3, "k", 3), true); n.all != 0 || len(n.holders) != 0 {
		t.Fatalf("after the window, no grants: note %+v", n)
	}
}

func TestGrantorNotesHoldersUntilTheirGrantEnds(t *testing.T) {
	clk := clock.NewFake(time.Unix(1000, 0))
	g := newGrantor(clk)
	clk.Advance(2 * testD) // past the restart window
	parts := partsOf([]int{3, 4})
	resp := g.grant("h", grantReq{key: 7}, parts, true)
	if !resp.granted || !resp.fresh {
		t.Fatalf("first grant: %+v, want granted and fresh", resp)
	}
	clk.Advance(testD / 4)
	if got := names(g.merged(recordIn(3, "k", 1), true)); got["h"] != testD*3/4 {
		t.Fatalf("note on partition 3: %v, want h for %v", got, testD*3/4)
	}
	if got := names(g.merged(recordIn(5, "k", 1), true)); len(got) != 0 {
		t.Fatalf("note on partition 5 (not granted): %v", got)
	}
	if r := g.grant("h", grantReq{key: 7}, parts, false); r.granted {
		t.Fatal("granted though the layouts differ")
	}
	clk.Advance(testD * 3 / 4)
	if got := names(g.merged(recordIn(3, "k", 2), true)); len(got) != 0 {
		t.Fatalf("note after the grant ended: %v", got)
	}
}

func TestGrantorListsRecordsSinceTheHoldersLastConfirmed(t *testing.T) {
	clk := clock.NewFake(time.Unix(1000, 0))
	g := newGrantor(clk)
	parts := partsOf([]int{3})
	r1 := g.grant("h", grantReq{key: 7}, parts, true)
	m1, m2, other := recordIn(3, "x", 1), recordIn(3, "y", 2), recordIn(9, "z", 3)
	g.merged(m1, true)
	g.merged(other, true)                // another partition: not listed
	g.merged(recordIn(3, "w", 4), false) // changed nothing: not listed
	r2 := g.grant("h", grantReq{key: 7, inc: r1.inc, since: r1.seq}, parts, true)
	if r2.fresh || len(r2.entries) != 1 || r2.entries[0].key != m1.Key || r2.entries[0].fp != m1.Fingerprint() {
		t.Fatalf("second grant: %+v, want m1 listed", r2)
	}
	g.merged(m2, true)
	// The answer r2 was lost: the holder asks again from r1's number and gets both.
	r3 := g.grant("h", grantReq{key: 7, inc: r1.inc, since: r1.seq}, parts, true)
	if r3.fresh || len(r3.entries) != 2 {
		t.Fatalf("after a lost answer: %+v, want m1 and m2", r3)
	}
	if r := g.grant("h", grantReq{key: 7, inc: r1.inc + 2, since: r3.seq}, parts, true); !r.fresh {
		t.Fatal("another incarnation's number: not fresh")
	}
	clk.Advance(logKeep(testD) + time.Millisecond) // the log forgets m1 and m2
	g.merged(recordIn(3, "v", 5), true)
	if r := g.grant("h", grantReq{key: 7, inc: r1.inc, since: r1.seq}, parts, true); !r.fresh {
		t.Fatalf("since pruned entries: %+v, want fresh", r)
	}
}

func TestHolderServesOnlyAfterGrantsFromAllAndASync(t *testing.T) {
	base := time.Unix(1000, 0)
	h := newHolder(testD, base)
	others := map[int][]string{3: {"a", "b"}, 4: {"a", "b"}}
	h.reset(1, 7, others)
	parts := partsOf([]int{3, 4})
	now := base.Add(time.Second)
	h.renewed(1, "a", parts, grantResp{granted: true, fresh: true, inc: 11, seq: 5}, now, now)
	if h.serves(3, 1, now) {
		t.Fatal("serves with one grantor of two")
	}
	h.renewed(1, "b", parts, grantResp{granted: true, fresh: true, inc: 12, seq: 9}, now, now)
	if h.serves(3, 1, now) {
		t.Fatal("serves before syncing")
	}
	if got := h.needSync(now); len(got["a"]) != 2 || len(got["b"]) != 2 {
		t.Fatalf("needSync = %v", got)
	}
	ea, eb := h.epochOf("a"), h.epochOf("b")
	h.synced("a", []int{3, 4}, ea)
	h.synced("b", []int{3}, eb)
	if !h.serves(3, 1, now) || h.serves(4, 1, now) {
		t.Fatal("want partition 3 served (synced with both), 4 not (not synced with b)")
	}
	if h.serves(3, 2, now) {
		t.Fatal("serves in another layout generation")
	}
	// Validity: send + 0.9 D.
	if h.serves(3, 1, now.Add(holderValidity(testD))) {
		t.Fatal("serves past send + 0.9D")
	}
	// A renewal before the end continues the chain (no new sync); a fresh answer breaks it.
	later := now.Add(testD / 4)
	h.renewed(1, "a", parts, grantResp{granted: true, inc: 11, seq: 6}, later, later)
	if !h.serves(3, 1, later) || h.epochOf("a") != ea {
		t.Fatal("a continuous renewal broke the chain")
	}
	h.renewed(1, "a", parts, grantResp{granted: true, fresh: true, inc: 11, seq: 6}, later, later)
	if h.serves(3, 1, later) || h.epochOf("a") == ea {
		t.Fatal("a fresh answer did not start a new chain")
	}
	// A sync that began under the old chain does not count for the new one.
	h.synced("a", []int{3}, ea)
	if h.serves(3, 1, later) {
		t.Fatal("a sync from before the chain counted")
	}
	h.synced("a", []int{3}, h.epochOf("a"))
	if !h.serves(3, 1, later) {
		t.Fatal("not served after the new chain's sync")
	}
	// A renewal that arrives after the validity ended starts a new chain (a lapse).
	lapse := later.Add(testD)
	h.renewed(1, "b", parts, grantResp{granted: true, inc: 12, seq: 10}, lapse, lapse)
	if h.serves(3, 1, lapse) {
		t.Fatal("serves after a lapse without a new sync")
	}
	// broken ends the chain at once.
	h.synced("b", []int{3}, h.epochOf("b"))
	h.renewed(1, "a", parts, grantResp{granted: true, inc: 11, seq: 7}, lapse, lapse)
	h.synced("a", []int{3}, h.epochOf("a"))
	if !h.serves(3, 1, lapse) {
		t.Fatal("setup: not served")
	}
	h.broken("a")
	if h.serves(3, 1, lapse) {
		t.Fatal("serves after broken")
	}
}

func TestLeaseGateWaitsForHoldersOrTheirGrantsEnd(t *testing.T) {
	now := time.Unix(1000, 0)
	g := newLeaseGate([]string{"c", "h", "x"})
	g.ack("c")
	g.note(leaseNote{holders: []heldLease{{"h", 300 * time.Millisecond}, {"x", 100 * time.Millisecond}}}, now)
	next, waiting := g.wait(now)
	if !waiting || !next.Equal(now.Add(100*time.Millisecond)) {
		t.Fatalf("wait = %v %v, want the earliest end", next, waiting)
	}
	g.ack("x")
	if next, _ := g.wait(now); !next.Equal(now.Add(300 * time.Millisecond)) {
		t.Fatalf("after x acked: next %v", next)
	}
	if _, waiting := g.wait(now.Add(300 * time.Millisecond)); waiting {
		t.Fatal("still waiting after h's grant ended")
	}
	g.ack("h")
	g.note(leaseNote{all: time.Second}, now)
	if _, waiting := g.wait(now); waiting {
		t.Fatal("restart window: every replica acknowledged, yet waiting")
	}
	g2 := newLeaseGate([]string{"c", "h"})
	g2.ack("c")
	g2.note(leaseNote{all: time.Second}, now)
	if next, waiting := g2.wait(now); !waiting || !next.Equal(now.Add(time.Second)) {
		t.Fatalf("restart window with h silent: %v %v", next, waiting)
	}
}
