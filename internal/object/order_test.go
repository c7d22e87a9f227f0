package object

import (
	"bytes"
	"context"
	"testing"

	"github.com/minicloud/minicloud/internal/crdt"
)

// Two versions of a key stamped with the same timestamp by two nodes differ only by node id; the
// larger id is the newer (crdt.Version.Less, what replicas and coordinators resolve by). Local
// lookups and the local version listing must agree with that, whatever order the storage keys
// sort in.
func TestSameTimestampVersionsOrderByNode(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	if err := s.CreateBucket(ctx, "bkt", ""); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateBucket(ctx, "bkt", func(b *Bucket) error { b.Versioning = VersioningEnabled; return nil }); err != nil {
		t.Fatal(err)
	}
	mk := func(body string, node uint64, ts crdt.Timestamp) RecordMsg {
		p, err := s.PreparePut(ctx, "bkt", "k", bytes.NewReader([]byte(body)), int64(len(body)), PutOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer p.Release()
		m := p.Msg
		m.Version = crdt.Version{TS: ts, Node: node}
		return m
	}
	ts := s.hlc.Now() + 1000
	older := mk("from the smaller node id", 1, ts)
	newer := mk("from the larger node id", 2, ts)
	// Merge in both orders: storage must not depend on arrival.
	for _, order := range [][]RecordMsg{{older, newer}, {newer, older}} {
		if err := s.UpdateBucket(ctx, "bkt", func(b *Bucket) error { return nil }); err != nil {
			t.Fatal(err)
		}
		for _, m := range order {
			if _, err := s.MergeRecord(m); err != nil {
				t.Fatal(err)
			}
		}
		info, err := s.HeadObject(ctx, "bkt", "k", "")
		if err != nil {
			t.Fatal(err)
		}
		if want := versionID(newer.Version); info.VersionID != want {
			t.Errorf("HEAD: version %s, want the larger node's %s", info.VersionID, want)
		}
		if got := readAll(t, s, "bkt", "k", "", 0, -1); string(got) != "from the larger node id" {
			t.Errorf("GET: %q", got)
		}
		recs, err := s.KeyRecords("bkt", "k")
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != 2 || recs[0].Version != newer.Version {
			t.Errorf("KeyRecords not newest first: %v", recs)
		}
		res, err := s.ListObjectVersions(ctx, "bkt", VersionListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Versions) != 2 {
			t.Fatalf("%d versions listed", len(res.Versions))
		}
		if v := res.Versions[0]; v.VersionID != versionID(newer.Version) || !v.IsLatest || res.Versions[1].IsLatest {
			t.Errorf("versions listed %s latest=%v, %s latest=%v; want %s first and latest", v.VersionID, v.IsLatest, res.Versions[1].VersionID, res.Versions[1].IsLatest, versionID(newer.Version))
		}
		l, _, err := s.ListLatest("bkt", "", "", 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(l) != 1 || l[0].Version != newer.Version {
			t.Errorf("ListLatest: %v", l)
		}
		// Paging with a version-id marker on the newer version must return the older next.
		page, err := s.ListObjectVersions(ctx, "bkt", VersionListOptions{KeyMarker: "k", VersionIDMarker: versionID(newer.Version)})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Versions) != 1 || page.Versions[0].VersionID != versionID(older.Version) {
			t.Errorf("after the marker: %+v", page.Versions)
		}
	}
}
