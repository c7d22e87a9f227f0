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

// Read leases (internal/replicate/lease.go): a holder that misses a write must not read it stale
// once the write is acknowledged. n0 coordinates a write whose merge to n2 is lost, while n2
// keeps renewing its grants (its requests go through): the coordinator must wait for n2's grants
// (the gate), and n2 must not extend them without the records its grantors list (the check).
// Each broken variant reads stale, which shows the test can fail.
func TestLeaseHolderMissingAWrite(t *testing.T) {
	for _, tc := range []struct {
		name            string
		noGate, noCheck bool
		wantStale       bool
	}{
		{name: "gated and checked"},
		{name: "no gate", noGate: true, wantStale: true},
		{name: "no check", noCheck: true, wantStale: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bubble(t, func(t *testing.T) {
				ctx := context.Background()
				var lose atomic.Bool
				c := testcluster.New(t, testcluster.Options{
					Nodes: 3, Rand: rand.New(rand.NewPCG(3, 3)), Dir: dataDir(t),
					Net: testcluster.NetConfig{
						MinDelay: 100 * time.Microsecond, MaxDelay: 500 * time.Microsecond, CutTimeout: 2 * time.Second,
						Drop: func(from, to, path string) bool {
							return lose.Load() && from == "n0:7001" && to == "n2:7001" && strings.HasPrefix(path, "/rpc/op/merges")
						},
					},
					ReadLeases: true, NoLeaseGate: tc.noGate, NoLeaseCheck: tc.noCheck,
				})
				c.CreateBucket("leased", "")
				put := func(v string) {
					t.Helper()
					if _, err := c.Store(0).PutObject(ctx, "leased", "k", strings.NewReader(v), int64(len(v)), object.PutOptions{}); err != nil {
						t.Fatal(err)
					}
				}
				get := func(i int) string {
					t.Helper()
					_, rd, err := c.Store(i).GetObject(ctx, "leased", "k", "", 0, -1)
					if err != nil {
						t.Fatal(err)
					}
					defer rd.Close()
					b, err := io.ReadAll(rd)
					if err != nil {
						t.Fatal(err)
					}
					return string(b)
				}
				put("v1")
				time.Sleep(3 * time.Second) // every node takes its grants and syncs
				local := c.Store(2).Stats.LeaseReads.Load()
				if got := get(2); got != "v1" {
					t.Fatalf("n2 reads %q before the loss, want v1", got)
				}
				if c.Store(2).Stats.LeaseReads.Load() != local+1 {
					t.Fatal("setup: n2 does not read under a lease")
				}
				lose.Store(true)
				start := time.Now()
				put("v2")
				took := time.Since(start)
				got := get(2)
				t.Logf("write acknowledged after %v; n2 then reads %q (lease reads on n2: %d, fetched: %d)",
					took, got, c.Store(2).Stats.LeaseReads.Load()-local, c.Store(2).Stats.LeaseFetched.Load())
				if stale := got != "v2"; stale != tc.wantStale {
					t.Fatalf("n2 reads %q after the acknowledged write of v2 (stale read expected: %v)", got, tc.wantStale)
				}
			})
		})
	}
}
