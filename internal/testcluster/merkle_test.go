package testcluster_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/minicloud/minicloud/internal/object"
	"github.com/minicloud/minicloud/internal/placement"
	"github.com/minicloud/minicloud/internal/testcluster"
)

// Anti-entropy walks the partitions' Merkle trees down to the few records that differ: two
// replicas of one partition holding many records in common and a few different ones converge in
// one round, and what crosses the network depends on the differences, not on the partition's
// size (a flat list of the partition's fingerprints would grow tenfold here).
func TestMerkleSyncBytesFollowDifferences(t *testing.T) {
	const diffs = 4
	bytesFor := map[int]int64{}
	for _, size := range []int{300, 3000} {
		bubble(t, func(t *testing.T) {
			bytesFor[size] = merkleRound(t, size, diffs)
		})
	}
	t.Logf("one anti-entropy round with %d differing records each way: %d bytes with 300 records in the partition, %d bytes with 3000",
		diffs, bytesFor[300], bytesFor[3000])
	if bytesFor[3000] > bytesFor[300]*3/2 {
		t.Errorf("bytes exchanged grew from %d to %d with the partition's size (10x) for the same %d differences", bytesFor[300], bytesFor[3000], 2*diffs)
	}
	// A flat list would carry at least 16 bytes per record of the partition.
	if bytesFor[3000] > 3000*16/2 {
		t.Errorf("%d bytes exchanged for %d differences among 3000 records: not much less than listing the partition", bytesFor[3000], 2*diffs)
	}
}

// merkleRound loads size records of one partition on both nodes of a 2-node site, gives each
// node diffs records the other lacks, runs one anti-entropy round on n1 and returns the bytes
// it exchanged, after checking that both replicas then hold the same records.
func merkleRound(t *testing.T, size, diffs int) int64 {
	ctx := context.Background()
	c := testcluster.New(t, testcluster.Options{
		Nodes: 2, RF: 2, W: 2, R: 2, Rand: rand.New(rand.NewPCG(13, 13)), Dir: dataDir(t),
	})
	c.CreateBucket("plain", "")
	part := placement.Partition("plain", "anchor")
	keys := keysIn("plain", part, size+2*diffs)
	n0, n1 := c.Node(0).Objects, c.Node(1).Objects
	put := func(s *object.Store, key string) {
		body := []byte("value of " + key)
		if _, err := s.PutObject(ctx, "plain", key, bytes.NewReader(body), int64(len(body)), object.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range keys[:size] {
		put(n0, k)
	}
	err := n0.ScanRecords(ctx, func(m object.RecordMsg) error { _, err := n1.MergeRecord(m); return err })
	if err != nil {
		t.Fatal(err)
	}
	if n0.TreeRoot(part) != n1.TreeRoot(part) {
		t.Fatal("setup: replicas differ before the differences")
	}
	for _, k := range keys[size : size+diffs] {
		put(n0, k)
	}
	for _, k := range keys[size+diffs:] {
		put(n1, k)
	}
	before := c.Net.Stats().Bytes
	c.Node(1).Repl.AntiEntropyNow(ctx)
	exchanged := c.Net.Stats().Bytes - before
	r0, r1 := n0.TreeRoot(part), n1.TreeRoot(part)
	if r0 != r1 || r0.Count != int64(size+2*diffs) {
		t.Fatalf("after one round: roots %x (%d records) and %x (%d records), want equal with %d", r0.Hash, r0.Count, r1.Hash, r1.Count, size+2*diffs)
	}
	if ps := c.Node(1).Repl.PeerSyncs()["n0"]; ps.Compared != placement.Partitions || ps.Equal != placement.Partitions-1 {
		t.Errorf("peer status after the round: %+v, want %d compared, all but one equal", ps, placement.Partitions)
	}
	c.Node(1).Repl.AntiEntropyNow(ctx)
	if ps := c.Node(1).Repl.PeerSyncs()["n0"]; ps.Equal != placement.Partitions || ps.LastFullSync.IsZero() {
		t.Errorf("peer status after a second round: %+v, want all equal and a full sync", ps)
	}
	return exchanged
}

// keysIn returns n keys of bucket that fall in partition p.
func keysIn(bucket string, p, n int) []string {
	var out []string
	for i := 0; len(out) < n; i++ {
		k := fmt.Sprintf("k/%07d", i)
		if placement.Partition(bucket, k) == p {
			out = append(out, k)
		}
	}
	return out
}
