package stream

import (
	"context"
	"fmt"
	"math/rand"
	"sort"
	"testing"
	"time"

	"github.com/minicloud/minicloud/internal/mqtt"
)

// testSite is a site of stream managers joined by hand: publish logs a message on one node
// and hands its live copies to the nodes that are up (minus those drop picks), as
// internal/node/streamrepl.go does over the RPC; catchUp runs CatchUp against the origin's
// LocalSince, as the node's catch-up loop does.
type testSite struct {
	t     *testing.T
	nodes map[string]*testNode
	down  map[string]bool
	drop  func(from, to string) bool // nil: no live copy is lost
}

func newTestSite(t *testing.T, ids ...string) *testSite {
	s := &testSite{t: t, nodes: map[string]*testNode{}, down: map[string]bool{}}
	for _, id := range ids {
		s.nodes[id] = newTestNode(t, id, "a", nil, nil)
	}
	first := s.nodes[ids[0]]
	if _, err := first.m.Create(CreateRequest{Name: "tele", Topics: []string{"t/#"}}); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids[1:] {
		s.nodes[id].m.Merge(first.m.Table())
	}
	return s
}

func (s *testSite) publish(on, payload string) {
	s.t.Helper()
	p, es := s.nodes[on].m.RecordForPeers(mqtt.JournalMessage{Topic: "t/" + on, Payload: []byte(payload), QoS: 1})
	if err := p.Wait(); err != nil {
		s.t.Fatal(err)
	}
	for id, n := range s.nodes {
		if id == on || s.down[id] || s.drop != nil && s.drop(on, id) {
			continue
		}
		w, err := n.m.AppendPeer(on, es)
		if err == nil {
			err = w.Wait()
		}
		if err != nil {
			s.t.Fatal(err)
		}
	}
}

// catchUp brings node id up to date with every other node that is up.
func (s *testSite) catchUp(id string) {
	s.t.Helper()
	for origin, o := range s.nodes {
		if origin == id || s.down[origin] {
			continue
		}
		fetch := func(_ context.Context, name string, from uint64) (PeerBatch, error) {
			return o.m.LocalSince(name, from)
		}
		if err := s.nodes[id].m.CatchUp(context.Background(), origin, fetch); err != nil {
			s.t.Fatal(err)
		}
	}
}

// checkExactlyOnce fails unless node id's log holds every payload in want once, nothing else,
// each under the id its origin's log gives it, as a Peer entry when it came from another node.
func (s *testSite) checkExactlyOnce(id string, want []string) {
	s.t.Helper()
	es, err := s.nodes[id].m.ReadEntries("tele", 0, 1<<20, 1<<30)
	if err != nil {
		s.t.Fatal(err)
	}
	ids := map[string]string{} // payload -> id at its origin
	for oid, n := range s.nodes {
		oes, err := n.m.ReadEntries("tele", 0, 1<<20, 1<<30)
		if err != nil {
			s.t.Fatal(err)
		}
		for _, e := range oes {
			if e.Kind == Local {
				ids[string(e.Payload)] = oid + "-" + fmt.Sprint(e.Offset)
			}
		}
	}
	got := map[string]int{}
	for i := range es {
		e := &es[i]
		p := string(e.Payload)
		got[p]++
		if want := ids[p]; e.ID() != want {
			s.t.Fatalf("%s logs %q as %s (kind %v), its origin as %s", id, p, e.ID(), e.Kind, want)
		}
		if (e.Origin == id) != (e.Kind == Local) {
			s.t.Fatalf("%s logs %q from %s as kind %v", id, p, e.Origin, e.Kind)
		}
	}
	var missing, twice []string
	for _, p := range want {
		switch got[p] {
		case 0:
			missing = append(missing, p)
		case 1:
		default:
			twice = append(twice, p)
		}
		delete(got, p)
	}
	if len(missing)+len(twice)+len(got) > 0 {
		sort.Strings(missing)
		s.fail(id, missing, twice, got)
	}
}

func (s *testSite) fail(id string, missing, twice []string, extra map[string]int) {
	s.t.Helper()
	s.t.Fatalf("%s: %d missing (e.g. %v), %d logged more than once (e.g. %v), %d unexpected", id,
		len(missing), missing[:min(5, len(missing))], len(twice), twice[:min(5, len(twice))], len(extra))
}

// TestCatchUpAfterDowntime: n3 is down while n1 and n2 log messages (and lose a third of their
// live copies to each other); once back and caught up, every node's log holds every message
// once, under the id its origin gave it, and live copies after that are logged once too.
func TestCatchUpAfterDowntime(t *testing.T) {
	s := newTestSite(t, "n1", "n2", "n3")
	var want []string
	pub := func(on string, i int) {
		p := fmt.Sprintf("%s:%d", on, i)
		s.publish(on, p)
		want = append(want, p)
	}
	for i := 0; i < 20; i++ {
		pub("n1", i)
		pub("n2", i)
	}
	s.down["n3"] = true
	s.nodes["n3"].restart()
	rng := rand.New(rand.NewSource(1))
	s.drop = func(_, _ string) bool { return rng.Intn(3) == 0 }
	for i := 20; i < 300; i++ {
		pub("n1", i)
		pub("n2", i)
		if i%50 == 0 {
			s.nodes["n1"].m.AppendTo("tele", "t/rule", [][]byte{[]byte(fmt.Sprintf("rule:%d", i))}) // Local too
			want = append(want, fmt.Sprintf("rule:%d", i))
		}
	}
	s.drop = nil
	delete(s.down, "n3")
	for _, id := range []string{"n1", "n2", "n3"} {
		s.catchUp(id)
	}
	for _, id := range []string{"n1", "n2", "n3"} {
		s.checkExactlyOnce(id, want)
	}
	// Live copies after catch-up: logged once, and catch-up again finds nothing to add.
	for i := 300; i < 320; i++ {
		pub("n1", i)
		pub("n3", i)
	}
	before := s.nodes["n3"].m.List()[0].NextOffset
	s.catchUp("n3")
	if after := s.nodes["n3"].m.List()[0].NextOffset; after != before {
		t.Fatalf("catch-up with nothing missing logged %d entries", after-before)
	}
	for _, id := range []string{"n1", "n2", "n3"} {
		s.checkExactlyOnce(id, want)
	}
	in := s.nodes["n3"].m.List()[0]
	if len(in.Peers) != 2 {
		t.Fatalf("n3 describes %d peers, want 2: %+v", len(in.Peers), in.Peers)
	}
	for _, p := range in.Peers {
		if p.Shipped == 0 || p.Backlog != 0 || p.LastError != "" {
			t.Fatalf("n3's catch-up from %s: %+v (want messages caught up, no backlog, no error)", p.Target, p)
		}
	}
}

// TestCatchUpStateSurvivesRestart: what a node holds of a peer survives a clean restart and a
// crash (the state not saved since the copies came): catching up after either logs nothing
// twice, including copies that came out of order (a gap, then what followed it).
func TestCatchUpStateSurvivesRestart(t *testing.T) {
	for _, crash := range []bool{false, true} {
		t.Run(fmt.Sprintf("crash=%v", crash), func(t *testing.T) {
			s := newTestSite(t, "n1", "n2")
			var want []string
			for i := 0; i < 100; i++ {
				p := fmt.Sprintf("n1:%d", i)
				if i >= 40 && i < 50 {
					s.down["n2"] = true // a gap: n2 then holds 50.. beyond its next
				}
				s.publish("n1", p)
				delete(s.down, "n2")
				want = append(want, p)
			}
			n2 := s.nodes["n2"]
			if crash {
				// The node dies before it saves what it holds: its state is the one saved when
				// the stream opened, and the start-up scan must find every copy.
				n2.m.Close()
				if err := saveState(n2.db, stateKey(subPeer, "tele", ""), peerSyncState{Epoch: n2.m.Table()[0].Created}); err != nil {
					t.Fatal(err)
				}
				n2.open("")
			} else {
				n2.restart()
			}
			s.catchUp("n2")
			s.checkExactlyOnce("n2", want)
		})
	}
}

// TestCatchUpLegacyLog: a log written before peers' copies carried ids (Peer entries under
// this node's id, no saved state) is not filled with the origin's history again: it takes the
// origin's messages from its end on.
func TestCatchUpLegacyLog(t *testing.T) {
	s := newTestSite(t, "n1", "n2")
	n2 := s.nodes["n2"]
	s.down["n2"] = true
	for i := 0; i < 10; i++ {
		s.publish("n1", fmt.Sprintf("old:%d", i))
		n2.publish("t/n1", fmt.Sprintf("old:%d", i), true) // the old replication: a Peer entry without id
	}
	delete(s.down, "n2")
	n2.m.Close()
	b := n2.db.NewBatch()
	b.Delete(stateKey(subPeer, "tele", ""))
	if err := b.Commit(true); err != nil {
		t.Fatal(err)
	}
	b.Close()
	n2.open("")
	s.down["n2"] = true
	s.publish("n1", "missed")
	delete(s.down, "n2")
	s.catchUp("n2")
	s.publish("n1", "new")
	s.catchUp("n2")
	got := map[string]int{}
	for _, m := range n2.readAll("tele") {
		got[m.Payload]++
	}
	if got["old:3"] != 1 || got["new"] != 1 {
		t.Fatalf("legacy log after catch-up: %v (want each old message once, and the new one)", got)
	}
	if got["missed"] != 0 {
		t.Fatalf("a legacy log fetched what the origin logged before they first met: %v", got)
	}
}

// TestAppendPeerTwice: the same live copies sent twice (a retried RPC) are logged once.
func TestAppendPeerTwice(t *testing.T) {
	s := newTestSite(t, "n1", "n2")
	p, es := s.nodes["n1"].m.RecordForPeers(mqtt.JournalMessage{Topic: "t/x", Payload: []byte("once"), QoS: 1})
	if err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	es = append(es, es...) // and twice in one batch
	for i := 0; i < 2; i++ {
		w, err := s.nodes["n2"].m.AppendPeer("n1", es)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Wait(); err != nil {
			t.Fatal(err)
		}
	}
	s.checkExactlyOnce("n2", []string{"once"})
}

// TestCatchUpAfterOriginLostItsTail: n2 holds live copies of messages n1 handed out but never
// wrote (n1 was killed first); n1's log, reopened, gives those offsets to new messages. n2 must
// log the new messages (live and by catch-up) rather than take them for copies it holds.
func TestCatchUpAfterOriginLostItsTail(t *testing.T) {
	for _, live := range []bool{true, false} {
		t.Run(fmt.Sprintf("live=%v", live), func(t *testing.T) { testOriginLostItsTail(t, live) })
	}
}

// testOriginLostItsTail: with live, n2 gets the first new messages as live copies; without,
// only catch-up brings them (which must then ask again from below where it asked).
func testOriginLostItsTail(t *testing.T, live bool) {
	s := newTestSite(t, "n1", "n2")
	var want []string
	for i := 0; i < 20; i++ {
		p := fmt.Sprintf("n1:%d", i)
		s.publish("n1", p)
		want = append(want, p)
	}
	n1, n2 := s.nodes["n1"], s.nodes["n2"]
	l, err := n1.m.logOf("tele")
	if err != nil {
		t.Fatal(err)
	}
	var lost []PeerEntry
	for seq := l.Next(); seq < l.Next()+5; seq++ {
		lost = append(lost, PeerEntry{Stream: "tele", Seq: seq, From: seq, Opened: uint64(l.opened), Base: l.base, Topic: "t/n1", Payload: []byte(fmt.Sprint("lost:", seq))})
	}
	w, err := n2.m.AppendPeer("n1", lost)
	if err == nil {
		err = w.Wait()
	}
	if err != nil {
		t.Fatal(err)
	}
	n1.restart()
	s.down["n2"] = !live
	for i := 20; i < 25; i++ { // offsets the lost messages had
		p := fmt.Sprintf("n1:%d", i)
		s.publish("n1", p)
		want = append(want, p)
	}
	s.down["n2"] = true
	for i := 25; i < 30; i++ { // and some that only catch-up brings
		p := fmt.Sprintf("n1:%d", i)
		s.publish("n1", p)
		want = append(want, p)
	}
	delete(s.down, "n2")
	n2.restart()
	s.catchUp("n2")
	got := map[string]int{}
	for _, m := range n2.readAll("tele") {
		got[m.Payload]++
	}
	for _, p := range want {
		if got[p] != 1 {
			t.Fatalf("n2 logs %q %d times, want once (log: %v)", p, got[p], got)
		}
	}
}

// relay brings node id up to date with the entries of every down node that the up ones hold.
func (s *testSite) relay(id string) {
	s.t.Helper()
	for origin := range s.nodes {
		if origin == id || !s.down[origin] {
			continue
		}
		for via, v := range s.nodes {
			if via == id || via == origin || s.down[via] {
				continue
			}
			fetch := func(_ context.Context, name, origin string, after, pos uint64, since time.Time) (PeerBatch, error) {
				return v.m.OriginSince(name, origin, after, pos, since)
			}
			if err := s.nodes[id].m.CatchUpVia(context.Background(), origin, via, fetch); err != nil {
				s.t.Fatal(err)
			}
		}
	}
}

// TestCatchUpViaRelay: n3 is down while n1 logs messages (copied to n2); then n1 is down when
// n3 comes back: n3 gets n1's messages from n2's copies, each once, and takes the rest from n1
// once it is back, nothing twice.
func TestCatchUpViaRelay(t *testing.T) {
	s := newTestSite(t, "n1", "n2", "n3")
	var want []string
	pub := func(on string, from, to int) {
		for i := from; i < to; i++ {
			p := fmt.Sprintf("%s:%d", on, i)
			s.publish(on, p)
			want = append(want, p)
		}
	}
	pub("n1", 0, 10)
	s.down["n3"] = true
	for i := 10; i < 100; i++ { // n1's offsets are sparse in its Local entries: no chain
		pub("n1", i, i+1)
		if i%2 == 0 {
			pub("n2", i, i+1)
		}
	}
	s.down["n1"] = true
	delete(s.down, "n3")
	s.nodes["n3"].restart()
	s.catchUp("n3")
	s.relay("n3")
	s.checkExactlyOnce("n3", want)
	s.relay("n3") // again: nothing new
	s.checkExactlyOnce("n3", want)
	delete(s.down, "n1")
	s.down["n3"] = true
	pub("n1", 100, 120)
	delete(s.down, "n3")
	s.catchUp("n3")
	s.checkExactlyOnce("n3", want)
	for _, p := range s.nodes["n3"].m.List()[0].Peers {
		// 90 through n2, 20 from n1; none sent again by n1 (the relay moved next past them).
		if p.Target == "peer:n1" && (p.Shipped != 110 || p.Duplicates != 0) {
			t.Fatalf("n3's catch-up of n1: %+v, want 110 caught up, none twice", p)
		}
	}
}
