package mesh

import (
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
)

func testMesh(self Member) *Mesh {
	m := &Mesh{o: Options{Self: self}, members: map[string]Member{}, alive: map[string]bool{},
		learned: map[string]time.Time{}, inbox: make(chan func(), 16)}
	m.members[self.ID] = self
	return m
}

// Member records merge to the same result in any order: the later record's fields, and
// decommissioned once any record says so (a node that restarts after being decommissioned while
// down announces a later record without the flag; it must not undo the decommission).
func TestMergeMembersOrderAndStickyDecommission(t *testing.T) {
	restarted := Member{ID: "x", Site: "a", Mesh: "10.0.0.1:7946", RPC: "10.0.0.1:1", TS: 20}
	decom := Member{ID: "x", Site: "a", Mesh: "10.0.0.1:7946", RPC: "10.0.0.1:0", TS: 10, Decommissioned: true}
	tie := restarted
	tie.RPC = "10.0.0.1:2" // same TS, other content: the larger encoding wins everywhere
	orders := [][]Member{{restarted, decom, tie}, {decom, tie, restarted}, {tie, restarted, decom}}
	var first Member
	for i, order := range orders {
		m := testMesh(Member{ID: "self", TS: 1})
		for _, r := range order {
			m.mergeMembers([]Member{r})
		}
		got := m.members["x"]
		if !got.Decommissioned || got.TS != 20 {
			t.Fatalf("order %d: merged %+v, want the TS 20 record, decommissioned", i, got)
		}
		if i == 0 {
			first = got
		} else if got != first {
			t.Fatalf("order %d merged to %+v, order 0 to %+v", i, got, first)
		}
	}
}

// A later record of this node from elsewhere (its clock went back across a restart) is refuted:
// this node restamps its own record later still, so that its own wins everywhere.
func TestMergeMembersRefutesNewerRecordOfSelf(t *testing.T) {
	self := Member{ID: "self", Site: "a", RPC: "10.0.0.1:5", TS: 100}
	m := testMesh(self)
	stale := self
	stale.RPC, stale.TS = "10.0.0.1:4", time.Now().Add(time.Hour).UnixNano()
	m.mergeMembers([]Member{stale})
	got := m.members["self"]
	if got.RPC != self.RPC || got.TS <= stale.TS {
		t.Fatalf("own record after a later stale one: %+v, want RPC %s and TS > %d", got, self.RPC, stale.TS)
	}
	if len(m.inbox) != 1 {
		t.Fatalf("%d refutations queued, want 1", len(m.inbox))
	}
	m.mergeMembers([]Member{got})
	if len(m.inbox) != 1 {
		t.Fatal("its own current record made the node refute again")
	}
}

// A node's gossip metadata decodes to exactly the record the node keeps of itself, and stays
// far under memberlist's limit.
func TestMetaRoundTrip(t *testing.T) {
	self := Member{ID: "n0123456789abcdef", Site: "factory-north", Mesh: "198.18.0.7:7946", RPC: "198.18.0.7:41234",
		S3: "198.18.0.8:9000", TS: time.Now().UnixNano(), Bootstrapping: true}
	meta := encodeMeta(self)
	if len(meta) > 150 {
		t.Errorf("meta is %d bytes: %s", len(meta), meta)
	}
	if len(meta) > memberlist.MetaMaxSize {
		t.Fatalf("meta is over memberlist's limit: %d bytes", len(meta))
	}
	got, ok := decodeMeta(&memberlist.Node{Name: self.ID, Addr: []byte{198, 18, 0, 7}, Port: 7946, Meta: meta})
	if !ok || got != self {
		t.Fatalf("meta %s decodes to %+v, want %+v", meta, got, self)
	}
}
