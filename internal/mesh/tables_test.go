package mesh_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/minicloud/minicloud/internal/mesh"
)

// row is a record of the test's last-writer-wins table.
type row struct {
	Key string `json:"k"`
	Val string `json:"v,omitempty"`
	TS  int64  `json:"ts"`
	Del bool   `json:"del,omitempty"`
}

// wins reports whether a beats b: the later TS, then the larger value (any deterministic rule).
func (a row) wins(b row) bool {
	if a.TS != b.TS {
		return a.TS > b.TS
	}
	return a.Val > b.Val || a.Val == b.Val && a.Del && !b.Del
}

// lwwTable is a node's copy of the table, as a store would keep it.
type lwwTable struct {
	mu   sync.Mutex
	rows map[string]row
}

func (t *lwwTable) Entries() map[string][]byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := map[string][]byte{}
	for k, r := range t.rows {
		b, _ := json.Marshal(r)
		out[k] = b
	}
	return out
}

func (t *lwwTable) Key(e []byte) string {
	var r row
	if json.Unmarshal(e, &r) != nil {
		return ""
	}
	return r.Key
}

func (t *lwwTable) Merge(es [][]byte) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, e := range es {
		var r row
		if json.Unmarshal(e, &r) != nil || r.Key == "" {
			continue
		}
		if old, ok := t.rows[r.Key]; !ok || r.wins(old) {
			t.rows[r.Key] = r
		}
	}
}

func (t *lwwTable) snapshot() map[string]row {
	t.mu.Lock()
	defer t.mu.Unlock()
	return maps.Clone(t.rows)
}

// tableCluster is a simulated mesh whose nodes each replicate one table "t".
type tableCluster struct {
	*simCluster
	tabs []*lwwTable
}

func newTableCluster(t *testing.T, seed uint64, loss float64) *tableCluster {
	tc := &tableCluster{}
	tc.simCluster = &simCluster{t: t, p: simParams{seed: seed, tune: func(*memberlist.Config) {}},
		net: newSimNet(seed, loss, simLatency)}
	tc.tables = func(i int) map[string]mesh.Table {
		for len(tc.tabs) <= i {
			tc.tabs = append(tc.tabs, &lwwTable{rows: map[string]row{}})
		}
		return map[string]mesh.Table{"t": tc.tabs[i]}
	}
	return tc
}

// set writes a row on node i and publishes it, as a store does on a local change.
func (tc *tableCluster) set(i int, r row) {
	b, _ := json.Marshal(r)
	tc.tabs[i].Merge([][]byte{b})
	tc.nodes[i].m.Publish("t", b)
}

// waitTables polls until every node in among holds want, for at most limit; it returns how long
// that took, or fails with the first difference.
func (tc *tableCluster) waitTables(among []int, want map[string]row, limit time.Duration) time.Duration {
	tc.t.Helper()
	start := time.Now()
	for {
		bad := ""
		for _, i := range among {
			if d := diff(tc.tabs[i].snapshot(), want); d != "" {
				bad = fmt.Sprintf("node %d: %s", i, d)
				break
			}
		}
		if bad == "" {
			return time.Since(start)
		}
		if time.Since(start) > limit {
			tc.t.Fatalf("tables did not converge within %v (simulated): %s", limit, bad)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// diff describes how got differs from want ("" if it does not).
func diff(got, want map[string]row) string {
	var out []string
	for k, w := range want {
		if g, ok := got[k]; !ok {
			out = append(out, "lacks "+k)
		} else if g != w {
			out = append(out, fmt.Sprintf("%s is %.40v, want %.40v", k, g, w))
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			out = append(out, "has extra "+k)
		}
	}
	return strings.Join(out, "; ")
}

// waitAlive polls until every node sees want nodes alive.
func (tc *tableCluster) waitAlive(want int, limit time.Duration) {
	tc.t.Helper()
	if _, ok := waitAll(tc.nodes, 100*time.Millisecond, limit, func(n *simNode) bool { return aliveCount(n.m) == want }); !ok {
		tc.t.Fatalf("not every node sees %d alive within %v (simulated)", want, limit)
	}
}

func seedOf(t *testing.T) uint64 {
	seed := *simSeed
	if seed == 0 {
		seed = rand.Uint64()
	}
	t.Logf("seed %d (-meshsim.seed to reuse)", seed)
	return seed
}

func indexes(from, to int) []int {
	var out []int
	for i := from; i < to; i++ {
		out = append(out, i)
	}
	return out
}

// A site cut off from the others for longer than memberlist remembers dead nodes keeps changing
// the table, and so do the others; after the link returns, every node holds the state that
// last-writer-wins predicts, and a decommission made on one side holds on the other.
func TestTablesConvergeAfterPartition(t *testing.T) {
	seed := seedOf(t)
	synctest.Test(t, func(t *testing.T) {
		tc := newTableCluster(t, seed, 0)
		defer tc.stop()
		const sites, per = 3, 3
		for i := 0; i < sites*per; i++ {
			var join []string
			if i > 0 {
				join = []string{tc.nodes[(i*7)%i].addr} // some node started before, of any site
			}
			tc.start(i, i/per, join)
		}
		all := indexes(0, sites*per)
		tc.waitAlive(sites*per, time.Minute)

		want := map[string]row{}
		for k := 0; k < 5; k++ {
			r := row{Key: fmt.Sprintf("k%d", k), Val: "v0", TS: 10}
			want[r.Key] = r
			tc.set(k, r)
		}
		took := tc.waitTables(all, want, 10*time.Second)
		t.Logf("five rows written on five nodes reached every node after %v (simulated)", took)

		// Cut site 0 off for 2 minutes: longer than GossipToTheDeadTime, so only reconnecting
		// heals the membership.
		tc.net.setCut(0, true)
		time.Sleep(20 * time.Second)
		sideA, sideB := indexes(0, per), indexes(per, sites*per)
		// Both sides write k0 (A later: A wins), k1 (B later: B wins), k2 is deleted on A, each
		// side adds a row, and B decommissions a node of site 2.
		a := map[string]row{"k0": {Key: "k0", Val: "a", TS: 30}, "k1": {Key: "k1", Val: "a", TS: 20},
			"k2": {Key: "k2", TS: 30, Del: true}, "ka": {Key: "ka", Val: "a", TS: 20}}
		b := map[string]row{"k0": {Key: "k0", Val: "b", TS: 20}, "k1": {Key: "k1", Val: "b", TS: 30},
			"kb": {Key: "kb", Val: "b", TS: 20}}
		for k, r := range a {
			tc.set(sideA[len(k)%per], r)
		}
		for k, r := range b {
			tc.set(sideB[(len(k)+3)%len(sideB)], r)
		}
		victim := tc.nodes[sites*per-1].id
		if err := tc.nodes[per].m.Decommission(victim); err != nil {
			t.Fatal(err)
		}
		wantA, wantB := maps.Clone(want), maps.Clone(want)
		maps.Copy(wantA, a)
		maps.Copy(wantB, b)
		tc.waitTables(sideA, wantA, 10*time.Second)
		tc.waitTables(sideB, wantB, 10*time.Second)
		for _, i := range sideA {
			if m, _ := tc.nodes[i].m.Member(victim); m.Decommissioned {
				t.Fatalf("node %d, cut off, learned of the decommission", i)
			}
		}
		time.Sleep(100 * time.Second)
		for _, i := range sideA {
			if n := aliveCount(tc.nodes[i].m); n != per {
				t.Fatalf("node %d of the cut-off site sees %d nodes alive, want %d", i, n, per)
			}
		}

		tc.net.setCut(0, false)
		healed := time.Now()
		for k := range want {
			want[k] = wantA[k]
			if r, ok := wantB[k]; ok && r.wins(want[k]) {
				want[k] = r
			}
		}
		want["ka"], want["kb"] = wantA["ka"], wantB["kb"]
		if want["k0"].Val != "a" || want["k1"].Val != "b" || !want["k2"].Del {
			t.Fatalf("test expectation is wrong: %v", want)
		}
		took = tc.waitTables(all, want, 2*time.Minute)
		t.Logf("tables converged %v (simulated) after the link came back", took)
		tc.waitAlive(sites*per, 2*time.Minute)
		t.Logf("membership healed %v (simulated) after the link came back", time.Since(healed))
		for _, i := range all {
			if m, _ := tc.nodes[i].m.Member(victim); !m.Decommissioned {
				t.Fatalf("node %d does not see %s decommissioned after healing", i, victim)
			}
		}
	})
}

// A node that joins late receives every row, a large one included (which spreads as a hint
// and a fetch instead of by gossip), through one node of another site.
func TestTablesLateJoiner(t *testing.T) {
	seed := seedOf(t)
	synctest.Test(t, func(t *testing.T) {
		tc := newTableCluster(t, seed, 0)
		defer tc.stop()
		const n = 6
		for i := 0; i < n; i++ {
			var join []string
			if i > 0 {
				join = []string{tc.nodes[0].addr}
			}
			tc.start(i, i/2, join)
		}
		tc.waitAlive(n, time.Minute)
		want := map[string]row{}
		for k := 0; k < 40; k++ {
			r := row{Key: fmt.Sprintf("k%02d", k), Val: fmt.Sprint(k), TS: int64(k + 1)}
			want[r.Key] = r
			tc.set(k%n, r)
		}
		big := row{Key: "big", Val: strings.Repeat("x", 3000), TS: 1}
		want[big.Key] = big
		tc.set(1, big)
		took := tc.waitTables(indexes(0, n), want, 20*time.Second)
		t.Logf("41 rows (one of 3 KB) reached every node after %v (simulated)", took)

		tc.start(n, 9, []string{tc.nodes[3].addr})
		took = tc.waitTables([]int{n}, want, 10*time.Second)
		t.Logf("the late joiner held every row %v (simulated) after it started", took)
		for i, nd := range tc.nodes {
			if st := nd.m.Stats(); st.Dropped > 0 {
				t.Errorf("node %d dropped %d messages", i, st.Dropped)
			}
		}
	})
}

// With a third of all packets lost, gossip misses some nodes; anti-entropy completes the rows.
func TestTablesConvergeUnderLoss(t *testing.T) {
	seed := seedOf(t)
	synctest.Test(t, func(t *testing.T) {
		tc := newTableCluster(t, seed, 0.33)
		defer tc.stop()
		const n = 8
		for i := 0; i < n; i++ {
			var join []string
			if i > 0 {
				join = []string{tc.nodes[0].addr}
			}
			tc.start(i, i/4, join)
		}
		tc.waitAlive(n, 5*time.Minute)
		want := map[string]row{}
		for k := 0; k < 30; k++ {
			r := row{Key: fmt.Sprintf("k%02d", k), Val: fmt.Sprint(k), TS: 5}
			want[r.Key] = r
			tc.set(k%n, r)
		}
		took := tc.waitTables(indexes(0, n), want, 10*time.Minute)
		t.Logf("30 rows reached every node after %v (simulated) with 33%% packet loss", took)
	})
}
