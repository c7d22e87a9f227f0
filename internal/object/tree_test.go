package object

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/minicloud/minicloud/internal/placement"
)

// The in-memory leaves follow every kind of change (put, overwrite, delete, tags, merge), agree
// with a scan of the index below them, survive a restart, and two stores holding the same records
// have the same trees whatever order the records came in.
func TestTreeFollowsChanges(t *testing.T) {
	ctx := context.Background()
	dirA := t.TempDir()
	a, err := Open(dirA, Options{NodeID: "test"})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := openTest(t)
	for _, s := range []*Store{a, b} {
		if err := s.CreateBucket(ctx, "bkt", ""); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 300 {
		key := fmt.Sprintf("k%03d", i%150)
		if _, err := a.PutObject(ctx, "bkt", key, bytes.NewReader([]byte(key+fmt.Sprint(i))), -1, PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 150; i += 7 {
		if _, err := a.DeleteObject(ctx, "bkt", fmt.Sprintf("k%03d", i), ""); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.PutObjectTagging(ctx, "bkt", "k001", "", map[string]string{"a": "b"}); err != nil {
		t.Fatal(err)
	}
	// b gets a's records in reverse order.
	var msgs []RecordMsg
	if err := a.ScanRecords(ctx, func(m RecordMsg) error { msgs = append(msgs, m); return nil }); err != nil {
		t.Fatal(err)
	}
	for i := len(msgs) - 1; i >= 0; i-- {
		if _, err := b.MergeRecord(msgs[i]); err != nil {
			t.Fatal(err)
		}
	}
	check := func(s *Store, name string) {
		t.Helper()
		for p := range placement.Partitions {
			l1, err := s.TreeChildren(p, 0, 0)
			if err != nil {
				t.Fatal(err)
			}
			for i := range TreeFanout {
				leaves, err := s.TreeChildren(p, 1, uint64(i))
				if err != nil {
					t.Fatal(err)
				}
				if innerHash(leaves) != l1[i] {
					t.Fatalf("%s: partition %d node 1/%d differs from its leaves", name, p, i)
				}
				for j, leaf := range leaves {
					below, err := s.TreeChildren(p, 2, uint64(i*TreeFanout+j))
					if err != nil {
						t.Fatal(err)
					}
					var x TreeNode
					for _, c := range below {
						for k := range x.Hash {
							x.Hash[k] ^= c.Hash[k]
						}
						x.Count += c.Count
					}
					if x != leaf {
						t.Fatalf("%s: partition %d leaf %d: memory %v, index %v", name, p, i*TreeFanout+j, leaf, x)
					}
				}
			}
		}
	}
	check(a, "a")
	check(b, "b")
	n := 0
	for p := range placement.Partitions {
		if a.TreeRoot(p) != b.TreeRoot(p) {
			t.Errorf("partition %d: roots differ between stores holding the same records", p)
		}
		n += int(a.TreeRoot(p).Count)
	}
	if n != len(msgs) {
		t.Errorf("trees count %d records, the store holds %d", n, len(msgs))
	}
	roots := map[int]TreeNode{}
	for p := range placement.Partitions {
		roots[p] = a.TreeRoot(p)
	}
	a.Close()
	var a2 *Store
	a2, err = Open(dirA, Options{NodeID: "test"})
	if err != nil {
		t.Fatal(err)
	}
	defer a2.Close()
	for p := range placement.Partitions {
		if a2.TreeRoot(p) != roots[p] {
			t.Fatalf("partition %d: root changed across a restart", p)
		}
	}
	check(a2, "a reopened")
	// A record changed on one side only: the roots of its partition differ, the others not.
	m := msgs[0]
	if _, err := b.PutObject(ctx, "bkt", m.Key, bytes.NewReader([]byte("new")), 3, PutOptions{}); err != nil {
		t.Fatal(err)
	}
	for p := range placement.Partitions {
		if differ := a2.TreeRoot(p) != b.TreeRoot(p); differ != (p == placement.Partition("bkt", m.Key)) {
			t.Errorf("partition %d: roots differ: %v", p, differ)
		}
	}
	// A record dropped without a successor (a purged tombstone, a drained bucket) leaves it too.
	last := msgs[len(msgs)-1]
	before := b.TreeRoot(placement.Partition("bkt", last.Key)).Count
	if ok, err := b.DropRecord(last); err != nil || !ok {
		t.Fatalf("drop: %v %v", ok, err)
	}
	if after := b.TreeRoot(placement.Partition("bkt", last.Key)).Count; after != before-1 {
		t.Errorf("dropping a record took the partition's count from %d to %d", before, after)
	}
	check(b, "b after a drop")
}
