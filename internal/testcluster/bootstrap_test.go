package testcluster_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/minicloud/minicloud/internal/object"
	"github.com/minicloud/minicloud/internal/s3err"
	"github.com/minicloud/minicloud/internal/testcluster"
)

// A replica whose disk is lost comes back empty with the same id. Until anti-entropy has refilled
// it, a read must not count it towards R: it and one stale replica would make a quorum that
// misses a write acknowledged by W replicas before the loss (the write survives on the third).
// Here v1 is acknowledged by n1 and n2 while n0 is down; n0 comes back without it (its hint not
// delivered yet); n2's disk is lost; n0, cut off from n1, may answer only ServiceUnavailable, not
// "no such key". Once n2 is refilled, every node reads v1.
func TestWipedReplicaDoesNotCountForReads(t *testing.T) {
	bubble(t, func(t *testing.T) {
		ctx := context.Background()
		c := testcluster.New(t, testcluster.Options{
			Nodes: 3, Rand: rand.New(rand.NewPCG(11, 11)), Detection: 1, Dir: dataDir(t),
		})
		c.CreateBucket("plain", "")
		c.Crash(0)
		v1 := []byte("acknowledged by n1 and n2")
		if _, err := c.Store(1).PutObject(ctx, "plain", "k", bytes.NewReader(v1), int64(len(v1)), object.PutOptions{}); err != nil {
			t.Fatal(err)
		}
		c.Restart(0)
		c.Wipe(2)
		if !c.Bootstrapping(2) {
			t.Fatal("n2 restarted with an empty disk but is not bootstrapping")
		}
		if c.Bootstrapping(0) || c.Bootstrapping(1) {
			t.Fatal("nodes with their disks are bootstrapping")
		}
		c.Cut(0, 1)
		_, rd, err := c.Store(0).GetObject(ctx, "plain", "k", "", 0, -1)
		if err == nil {
			body, _ := io.ReadAll(rd)
			rd.Close()
			if !bytes.Equal(body, v1) {
				t.Fatalf("GET via n0 returned %q, want v1 or ServiceUnavailable", body)
			}
		} else if !errors.Is(err, s3err.ServiceUnavailable) {
			t.Fatalf("GET via n0 with only n0 (stale) and n2 (wiped) reachable: %v; want ServiceUnavailable (an acknowledged write was missed)", err)
		}
		l, err := c.Store(0).ListObjects(ctx, "plain", object.ListOptions{})
		if err == nil && len(l.Objects) == 0 {
			t.Fatal("LIST via n0 answered without the acknowledged key")
		}
		// The bootstrapping node itself coordinates reads from the others.
		if got := get(t, c.Store(2), "k"); !bytes.Equal(got, v1) {
			t.Fatalf("GET via the bootstrapping n2: %q", got)
		}
		c.Heal()
		c.Settle(ctx, 2)
		if c.Bootstrapping(2) {
			t.Fatal("n2 still bootstrapping after anti-entropy with every replica")
		}
		if recs, _ := c.Node(2).Objects.KeyRecords("plain", "k"); len(recs) != 1 {
			t.Fatalf("n2 not refilled: %s", describe(recs))
		}
		for i := range c.N() {
			if got := get(t, c.Store(i), "k"); !bytes.Equal(got, v1) {
				t.Errorf("GET via n%d after the refill: %q", i, got)
			}
		}
	})
}

// A node restarted while it is still being refilled stays bootstrapping: what it lacks is still
// missing.
func TestBootstrappingSurvivesRestart(t *testing.T) {
	bubble(t, func(t *testing.T) {
		ctx := context.Background()
		c := testcluster.New(t, testcluster.Options{
			Nodes: 3, Rand: rand.New(rand.NewPCG(12, 12)), Detection: 1, Dir: dataDir(t),
		})
		c.CreateBucket("plain", "")
		v1 := []byte("v1")
		if _, err := c.Store(0).PutObject(ctx, "plain", "k", bytes.NewReader(v1), int64(len(v1)), object.PutOptions{}); err != nil {
			t.Fatal(err)
		}
		c.Crash(1) // a replica is down: n2 cannot finish refilling
		c.Wipe(2)
		c.Settle(ctx, 2)
		if !c.Bootstrapping(2) {
			t.Fatal("n2 left bootstrapping without syncing with n1")
		}
		c.Crash(2)
		c.Restart(2)
		if !c.Bootstrapping(2) {
			t.Fatal("n2 restarted in the middle of its refill is no longer bootstrapping")
		}
		c.Restart(1)
		c.Settle(ctx, 2)
		if c.Bootstrapping(2) {
			t.Fatal("n2 still bootstrapping after anti-entropy with every replica")
		}
	})
}

func get(t *testing.T, s interface {
	GetObject(context.Context, string, string, string, int64, int64) (object.ObjectInfo, object.Reader, error)
}, key string) []byte {
	t.Helper()
	_, rd, err := s.GetObject(context.Background(), "plain", key, "", 0, -1)
	if err != nil {
		t.Fatalf("GET %s: %v", key, err)
	}
	defer rd.Close()
	b, err := io.ReadAll(rd)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
