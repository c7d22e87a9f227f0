package node

import (
	"testing"
	"time"

	"github.com/minicloud/minicloud/internal/stream"
)

// TestReplEntryCompletes: a message on its way to the site's peers is done once need of them
// have it, or once every peer answered; fewer acks than W-1 count as under-replicated.
func TestReplEntryCompletes(t *testing.T) {
	for _, c := range []struct {
		name          string
		want, targets int
		answers       []bool
		doneAfter     int // answers after which the entry is done (-1: never)
		under         int64
	}{
		{"first ack of two peers is enough for W=2", 1, 2, []bool{true, false}, 1, 0},
		{"a failure then an ack", 1, 2, []bool{false, true}, 2, 0},
		{"both peers fail", 1, 2, []bool{false, false}, 2, 1},
		{"W=3 needs both", 2, 2, []bool{true, true}, 2, 0},
		{"W=3 with one failure", 2, 2, []bool{true, false}, 2, 1},
		{"one peer of W-1=2 alive", 2, 1, []bool{true}, 1, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := &streamRepl{want: c.want}
			e := &replEntry{r: r, targets: c.targets, need: min(c.want, c.targets), done: make(chan struct{})}
			for i, ok := range c.answers {
				e.result(ok)
				select {
				case <-e.done:
					if i+1 < c.doneAfter {
						t.Fatalf("done after %d answers, want %d", i+1, c.doneAfter)
					}
				default:
					if i+1 >= c.doneAfter {
						t.Fatalf("not done after %d answers", i+1)
					}
				}
			}
			if got := r.under.Load(); got != c.under {
				t.Fatalf("under-replicated %d, want %d", got, c.under)
			}
		})
	}
}

// TestReplicateWithoutPeers: with no live peer the publish waits for nothing and counts as
// under-replicated (W=2); with W=1 it is not.
func TestReplicateWithoutPeers(t *testing.T) {
	for _, want := range []int{1, 0} {
		r := &streamRepl{want: want}
		none := []*replPeer{}
		r.peers.Store(&none)
		r.ctx = t.Context()
		e := r.replicate([]stream.PeerEntry{{Stream: "s", Topic: "a/b", Payload: []byte("x")}}, true)
		done := make(chan struct{})
		go func() { e.wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("a publish with no peer to copy to waits")
		}
		if got, exp := r.under.Load(), int64(want); got != exp {
			t.Fatalf("W-1=%d: under-replicated %d, want %d", want, got, exp)
		}
	}
}
