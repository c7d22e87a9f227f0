package testcluster_test

import (
	"context"
	"io"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minicloud/minicloud/internal/object"
	"github.com/minicloud/minicloud/internal/testcluster"
)

// leaseSite is a 3-node site with read leases on, whose network loses n0's merges to n2 while
// lose is set, with v1 written and every node holding its leases.
type leaseSite struct {
	t    *testing.T
	c    *testcluster.Cluster
	lose *atomic.Bool
}

func newLeaseSite(t *testing.T, o testcluster.Options) *leaseSite {
	var lose atomic.Bool
	o.Nodes, o.Rand, o.Dir, o.ReadLeases = 3, rand.New(rand.NewPCG(3, 3)), dataDir(t), true
	o.Net = testcluster.NetConfig{
		MinDelay: 100 * time.Microsecond, MaxDelay: 500 * time.Microsecond, CutTimeout: 2 * time.Second,
		Drop: func(from, to, path string) bool {
			return lose.Load() && from == "n0:7001" && to == "n2:7001" && strings.HasPrefix(path, "/rpc/op/merges")
		},
	}
	s := &leaseSite{t: t, c: testcluster.New(t, o), lose: &lose}
	s.c.CreateBucket("leased", "")
	s.put("v1")
	time.Sleep(3 * time.Second) // every node takes its grants and syncs
	local := s.c.Store(2).Stats.LeaseReads.Load()
	if got := s.get(2); got != "v1" {
		t.Fatalf("n2 reads %q before the loss, want v1", got)
	}
	if s.c.Store(2).Stats.LeaseReads.Load() != local+1 {
		t.Fatal("setup: n2 does not read under a lease")
	}
	return s
}

func (s *leaseSite) put(v string) time.Duration {
	s.t.Helper()
	start := time.Now()
	if _, err := s.c.Store(0).PutObject(context.Background(), "leased", "k", strings.NewReader(v), int64(len(v)), object.PutOptions{}); err != nil {
		s.t.Fatal(err)
	}
	return time.Since(start)
}

func (s *leaseSite) get(i int) string {
	s.t.Helper()
	_, rd, err := s.c.Store(i).GetObject(context.Background(), "leased", "k", "", 0, -1)
	if err != nil {
		s.t.Fatal(err)
	}
	defer rd.Close()
	b, err := io.ReadAll(rd)
	if err != nil {
		s.t.Fatal(err)
	}
	return string(b)
}

// Read leases (internal/replicate/lease.go): a holder that misses a write must not read it stale
// once the write is acknowledged. n0 coordinates a write whose merge to n2 is lost, while n2
// keeps renewing its grants (its requests go through): the coordinator must wait for n2's grants
// (the gate), and n2 must not extend them without the records its grantors list (the check).
// Each broken variant reads stale, which shows the test can fail.
func TestLeaseHolderMissingAWrite(t *testing.T) {
	for _, tc := range []struct {
		name      string
		o         testcluster.Options
		wantStale bool
	}{
		{name: "gated and checked"},
		{name: "no gate", o: testcluster.Options{NoLeaseGate: true}, wantStale: true},
		{name: "no check", o: testcluster.Options{NoLeaseCheck: true}, wantStale: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bubble(t, func(t *testing.T) {
				s := newLeaseSite(t, tc.o)
				s.lose.Store(true)
				took := s.put("v2")
				got := s.get(2)
				t.Logf("write acknowledged after %v; n2 then reads %q (lease reads on n2: %d, fetched: %d)",
					took, got, s.c.Store(2).Stats.LeaseReads.Load(), s.c.Store(2).Stats.LeaseFetched.Load())
				if stale := got != "v2"; stale != tc.wantStale {
					t.Fatalf("n2 reads %q after the acknowledged write of v2 (stale read expected: %v)", got, tc.wantStale)
				}
			})
		})
	}
}

// A grantor that restarts has lost its grant table while its old grants may still be valid on
// the holder: in its first D its acknowledgements name every replica. Both of n2's grantors
// restart, then acknowledge a write whose merge to n2 is lost: without the window, n2 reads stale
// on the grants of the grantors' previous lives.
func TestLeaseGrantorRestartWindow(t *testing.T) {
	for _, tc := range []struct {
		name      string
		o         testcluster.Options
		wantStale bool
	}{
		{name: "window"},
		{name: "no window", o: testcluster.Options{NoRestartWindow: true}, wantStale: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bubble(t, func(t *testing.T) {
				s := newLeaseSite(t, tc.o)
				s.c.Crash(0)
				s.c.Crash(1)
				s.c.Restart(0)
				s.c.Restart(1)
				s.lose.Store(true)
				took := s.put("v2")
				got := s.get(2)
				t.Logf("write acknowledged after %v; n2 then reads %q", took, got)
				if stale := got != "v2"; stale != tc.wantStale {
					t.Fatalf("n2 reads %q after the acknowledged write of v2 (stale read expected: %v)", got, tc.wantStale)
				}
			})
		})
	}
}

// A holder that was down missed writes acknowledged meanwhile: after it takes new grants it must
// sync with its grantors before reading locally (no hint or anti-entropy round runs here).
func TestLeaseHolderSyncsAfterRestart(t *testing.T) {
	for _, tc := range []struct {
		name      string
		o         testcluster.Options
		wantStale bool
	}{
		{name: "sync"},
		{name: "no sync", o: testcluster.Options{NoLeaseSync: true}, wantStale: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bubble(t, func(t *testing.T) {
				s := newLeaseSite(t, tc.o)
				s.c.Crash(2)
				took := s.put("v2")
				s.c.Restart(2)
				time.Sleep(2 * time.Second) // n2 takes new grants
				before := s.c.Store(2).Stats.LeaseReads.Load()
				got := s.get(2)
				local := s.c.Store(2).Stats.LeaseReads.Load() - before
				t.Logf("write acknowledged after %v; restarted n2 then reads %q (%d local reads)", took, got, local)
				if local != 1 {
					t.Fatal("n2 did not read under a lease after its restart")
				}
				if stale := got != "v2"; stale != tc.wantStale {
					t.Fatalf("n2 reads %q after the acknowledged write of v2 (stale read expected: %v)", got, tc.wantStale)
				}
			})
		})
	}
}
