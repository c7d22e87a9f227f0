package object

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/minicloud/minicloud/internal/crdt"
)

// putRec writes bucket/key and returns the record it stored.
func putRec(t *testing.T, s *Store, bucket, key string, data []byte) RecordMsg {
	t.Helper()
	info, err := s.PutObject(context.Background(), bucket, key, bytes.NewReader(data), int64(len(data)), PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	recs, err := s.KeyRecords(bucket, key)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range recs {
		if versionID(m.Version) == info.VersionID || info.VersionID == NullVersion && len(recs) > 0 {
			return m
		}
	}
	t.Fatalf("no record of %s/%s version %s", bucket, key, info.VersionID)
	return RecordMsg{}
}

// deleteRepl deletes as the replication layer does (PrepareDelete, then the replica merges the
// result): a version deleted by id leaves its purged record, which the local DeleteObject of a
// lone store does not.
func deleteRepl(t *testing.T, s *Store, bucket, key, versionID string) RecordMsg {
	t.Helper()
	cur, err := s.KeyRecords(bucket, key)
	if err != nil {
		t.Fatal(err)
	}
	p, _, err := s.PrepareDelete(bucket, key, versionID, cur)
	if err != nil || p == nil {
		t.Fatalf("prepare delete: %v", err)
	}
	defer p.Release()
	if _, err := s.MergeRecord(p.Msg); err != nil {
		t.Fatal(err)
	}
	return p.Msg
}

// queued returns every entry of target, oldest first.
func queued(t *testing.T, s *Store, target string) []Hint {
	t.Helper()
	hs, err := s.HintsAfter(target, nil, 1000)
	if err != nil {
		t.Fatal(err)
	}
	return hs
}

// resolveBoth resolves h from the store and, as a site read would, from the key's records,
// and checks both agree.
func resolveBoth(t *testing.T, s *Store, h Hint) (RecordMsg, bool) {
	t.Helper()
	m, ok, err := s.ResolveHint(h)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := s.KeyRecords(h.Msg.Bucket, h.Msg.Key)
	if err != nil {
		t.Fatal(err)
	}
	pm, pok := PickForHint(h, recs)
	if ok != pok || ok && (pm.Version != m.Version || !bytes.Equal(pm.Enc, m.Enc)) {
		t.Fatalf("store resolves %v %v, records resolve %v %v", m.Version, ok, pm.Version, pok)
	}
	return m, ok
}

// TestOutboxRefSuperseded: an entry of an unversioned key names its record; once the key is
// overwritten or deleted the entry resolves to what replaced it (the null slot is LWW), and a
// reference is ~100 bytes where the record is 16 KiB.
func TestOutboxRefSuperseded(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	s.CreateBucket(ctx, "bkt", "")
	first := putRec(t, s, "bkt", "k", randBytes(16<<10))
	if err := s.AddOutbox("site:x", first, false); err != nil {
		t.Fatal(err)
	}
	hs := queued(t, s, "site:x")
	if len(hs) != 1 || !hs[0].ByRef() || hs[0].Msg.Version != first.Version || len(hs[0].Msg.Enc) != 0 {
		t.Fatalf("entry: %+v", hs)
	}
	if v, _ := s.db.Get(hs[0].Key); len(v) > 100 {
		t.Fatalf("a reference entry takes %d bytes", len(v))
	}
	if m, ok := resolveBoth(t, s, hs[0]); !ok || !bytes.Equal(m.Enc, first.Enc) {
		t.Fatal("the entry does not resolve to its record")
	}
	second := putRec(t, s, "bkt", "k", []byte("two"))
	if m, ok := resolveBoth(t, s, hs[0]); !ok || m.Version != second.Version || !bytes.Equal(m.Enc, second.Enc) {
		t.Fatalf("after an overwrite the entry resolves to %v %v, want the newer %v", m.Version, ok, second.Version)
	}
	deleteRepl(t, s, "bkt", "k", "")
	m, ok := resolveBoth(t, s, hs[0])
	if !ok || !m.IsTombstone() || !second.Version.Less(m.Version) {
		t.Fatalf("after a delete the entry resolves to %v %v, want the tombstone", m.Version, ok)
	}
	// A tombstone's own entry is a reference to it, and ships it.
	if err := s.AddOutbox("site:x", m, false); err != nil {
		t.Fatal(err)
	}
	hs = queued(t, s, "site:x")
	if tm, ok := resolveBoth(t, s, hs[1]); !ok || !tm.IsTombstone() {
		t.Fatal("the tombstone's entry does not resolve to it")
	}
	// Nothing of the key left (the tombstone dropped, as a purge does): nothing to ship.
	if dropped, err := s.DropRecord(m); err != nil || !dropped {
		t.Fatalf("drop tombstone: %v %v", dropped, err)
	}
	if _, ok := resolveBoth(t, s, hs[0]); ok {
		t.Fatal("an entry of a key with no record left resolves to something")
	}
}

// TestOutboxRefVersions: with versioning on, every version's entry resolves to that version
// (noncurrent ones included), a version deleted by id to its purged record, and a delete
// marker to itself.
func TestOutboxRefVersions(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	s.CreateBucket(ctx, "vbk", "")
	s.UpdateBucket(ctx, "vbk", func(b *Bucket) error { b.Versioning = VersioningEnabled; return nil })
	var vers []RecordMsg
	for i := 0; i < 3; i++ {
		m := putRec(t, s, "vbk", "k", []byte(fmt.Sprintf("v%d", i)))
		vers = append(vers, m)
		if err := s.AddOutbox("site:x", m, false); err != nil {
			t.Fatal(err)
		}
	}
	d, err := s.DeleteObject(ctx, "vbk", "k", "")
	if err != nil || !d.DeleteMarker {
		t.Fatalf("delete: %+v %v", d, err)
	}
	recs, _ := s.KeyRecords("vbk", "k")
	if err := s.AddOutbox("site:x", recs[0], false); err != nil {
		t.Fatal(err)
	}
	deleteRepl(t, s, "vbk", "k", versionID(vers[1].Version))
	hs := queued(t, s, "site:x")
	if len(hs) != 4 {
		t.Fatalf("%d entries, want 4", len(hs))
	}
	for i, h := range hs {
		if !h.ByRef() {
			t.Fatalf("entry %d holds its record", i)
		}
		m, ok := resolveBoth(t, s, h)
		if !ok || m.Version != h.Msg.Version {
			t.Fatalf("entry %d resolves to %v %v, want its own version", i, m.Version, ok)
		}
		r, err := decodeRecord(m.Enc, m.Version)
		if err != nil {
			t.Fatal(err)
		}
		switch i {
		case 1:
			if !r.Purged {
				t.Error("the version deleted by id does not resolve to its purged record")
			}
		case 3:
			if !r.Del {
				t.Error("the delete marker's entry does not resolve to it")
			}
		default:
			if r.Purged || string(r.inline) != fmt.Sprintf("v%d", i) {
				t.Errorf("version %d resolves to %q (purged %v)", i, r.inline, r.Purged)
			}
		}
	}
}

// TestOutboxWholeWhenNotStored: a record this node does not store (it coordinated the write
// for other replicas) is queued whole, and a multipart record always is.
func TestOutboxWholeWhenNotStored(t *testing.T) {
	s, _ := openTest(t)
	other, _ := openTest(t)
	ctx := context.Background()
	for _, st := range []*Store{s, other} {
		st.CreateBucket(ctx, "bkt", "")
	}
	m := putRec(t, other, "bkt", "k", []byte("elsewhere"))
	if err := s.AddOutbox("site:x", m, true); err != nil {
		t.Fatal(err)
	}
	hs := queued(t, s, "site:x")
	if len(hs) != 1 || hs[0].ByRef() || !bytes.Equal(hs[0].Msg.Enc, m.Enc) || hs[0].Msg.Version != m.Version {
		t.Fatalf("entry: %+v", hs)
	}
	if got, ok, err := s.ResolveHint(hs[0]); err != nil || !ok || !bytes.Equal(got.Enc, m.Enc) {
		t.Fatal("a whole entry does not resolve to its own record")
	}
	part := RecordMsg{Bucket: "bkt", Key: "k", Kind: KindUpload, Sub: "u1", Enc: []byte(`{}`), Version: m.Version}
	if err := s.AddOutbox("site:y", part, false); err != nil {
		t.Fatal(err)
	}
	if hs := queued(t, s, "site:y"); len(hs) != 1 || hs[0].ByRef() || hs[0].Msg.Kind != KindUpload || hs[0].Msg.Sub != "u1" {
		t.Fatalf("multipart entry: %+v", hs)
	}
}

// TestOutboxRefKeepsChunks: a reference to a chunked object keeps its chunks (they stay
// readable after the version is overwritten) until the entry is dropped.
func TestOutboxRefKeepsChunks(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	s.CreateBucket(ctx, "bkt", "")
	big := putRec(t, s, "bkt", "big", randBytes(InlineLimit+1000))
	refs, err := big.Chunks()
	if err != nil || len(refs) == 0 {
		t.Fatalf("chunks: %v %v", refs, err)
	}
	if err := s.AddOutbox("site:x", big, false); err != nil {
		t.Fatal(err)
	}
	hs := queued(t, s, "site:x")
	if len(hs) != 1 || !hs[0].ByRef() {
		t.Fatalf("entry: %+v", hs)
	}
	putRec(t, s, "bkt", "big", []byte("small now"))
	for _, c := range refs {
		if has, _ := s.db.Has(refKey(c.ID, hs[0].Key)); !has {
			t.Fatalf("chunk %s not held by the entry", c.ID)
		}
		if _, err := s.ReadChunk(c); err != nil {
			t.Fatalf("chunk of the overwritten version: %v", err)
		}
	}
	if err := s.DropHints(hs); err != nil {
		t.Fatal(err)
	}
	for _, c := range refs {
		if has, _ := s.db.Has(refKey(c.ID, hs[0].Key)); has {
			t.Fatalf("chunk %s still held after the entry was dropped", c.ID)
		}
	}
}

// TestOutboxOldFormat: entries written before the binary forms (RecordMsg JSON, with chunk
// references) are read, counted as pending, resolve to their own record and drop with their
// chunk references.
func TestOutboxOldFormat(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	s.CreateBucket(ctx, "bkt", "")
	big := putRec(t, s, "bkt", "big", randBytes(InlineLimit+1000))
	small := putRec(t, s, "bkt", "small", []byte("tiny"))
	refs, _ := big.Chunks()
	var keys [][]byte
	for i, m := range []RecordMsg{big, small} {
		// What addHint wrote before: the record as JSON, one reference per chunk.
		k := append(hintPrefix("site:x"), fmt.Sprintf("%016x%08x", uint64(m.Version.TS), i)...)
		v, _ := json.Marshal(m)
		b := s.db.NewBatch()
		b.Set(k, v)
		if i == 0 {
			for _, c := range refs {
				b.Set(refKey(c.ID, k), nil)
			}
		}
		if err := b.Commit(true); err != nil {
			t.Fatal(err)
		}
		b.Close()
		keys = append(keys, k)
	}
	hs := queued(t, s, "site:x")
	if len(hs) != 2 || hs[0].ByRef() || !bytes.Equal(hs[0].Msg.Enc, big.Enc) || !bytes.Equal(hs[1].Msg.Enc, small.Enc) {
		t.Fatalf("old entries read as %+v", hs)
	}
	if ts, ok, err := s.OldestPending(); err != nil || !ok || ts != big.Version.TS {
		t.Fatalf("oldest pending %v %v %v", ts, ok, err)
	}
	if m, ok, err := s.ResolveHint(hs[1]); err != nil || !ok || !bytes.Equal(m.Enc, small.Enc) {
		t.Fatal("an old entry does not resolve to its own record")
	}
	if err := s.DropHints(hs); err != nil {
		t.Fatal(err)
	}
	for _, c := range refs {
		if has, _ := s.db.Has(refKey(c.ID, keys[0])); has {
			t.Fatal("the old entry's chunk reference survived its drop")
		}
	}
	if hs := queued(t, s, "site:x"); len(hs) != 0 {
		t.Fatalf("%d entries left", len(hs))
	}
}

// TestOutboxRefSurvivesRestart: entries (both forms) written before a restart are read after it
// and resolve against the reopened store, overwrites made before the restart included.
func TestOutboxRefSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{NodeID: "test"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	s.CreateBucket(ctx, "bkt", "")
	var want []RecordMsg
	for i := 0; i < 5; i++ {
		m := putRec(t, s, "bkt", fmt.Sprintf("k%d", i), []byte(fmt.Sprintf("d%d", i)))
		if err := s.AddOutbox("site:x", m, false); err != nil {
			t.Fatal(err)
		}
		want = append(want, m)
	}
	// Half shipped before the restart.
	hs := queued(t, s, "site:x")
	if err := s.DropHints(hs[:2]); err != nil {
		t.Fatal(err)
	}
	want[4] = putRec(t, s, "bkt", "k4", []byte("overwritten"))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(dir, Options{NodeID: "test"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	hs = queued(t, s, "site:x")
	if len(hs) != 3 {
		t.Fatalf("%d entries after the restart, want 3", len(hs))
	}
	for i, h := range hs {
		m, ok := resolveBoth(t, s, h)
		if w := want[i+2]; !ok || m.Version != w.Version || !bytes.Equal(m.Enc, w.Enc) {
			t.Fatalf("entry %d resolves to %v %v, want %v", i, m.Version, ok, w.Version)
		}
	}
	if ts, ok, err := s.OldestPending(); err != nil || !ok || ts != want[2].Version.TS {
		t.Fatalf("oldest pending %v %v %v, want %v", ts, ok, err, want[2].Version.TS)
	}
}

// TestPurgedNullClearsOlder: a replica that gets the purged record of a null version without
// the version itself drops the older null record the version replaced, and the purge's
// causal-stability check counts such a record as deleted data.
func TestPurgedNullClearsOlder(t *testing.T) {
	s, _ := openTest(t)
	other, _ := openTest(t) // got the older null record only
	ctx := context.Background()
	for _, st := range []*Store{s, other} {
		st.CreateBucket(ctx, "bkt", "")
	}
	old := putRec(t, s, "bkt", "k", []byte("old"))
	if _, err := other.MergeRecord(old); err != nil {
		t.Fatal(err)
	}
	newer := putRec(t, s, "bkt", "k", []byte("new"))
	deleteRepl(t, s, "bkt", "k", NullVersion)
	recs, _ := s.KeyRecords("bkt", "k")
	if len(recs) != 1 || recs[0].Version != newer.Version || !recs[0].IsTombstone() {
		t.Fatalf("after the purge the writer holds %+v", recs)
	}
	purged := recs[0]
	if held, err := other.HoldsDeletedBy(purged); err != nil || !held {
		t.Fatalf("the replica with the older null record holds nothing the purge deletes: %v %v", held, err)
	}
	if _, err := other.MergeRecord(purged); err != nil {
		t.Fatal(err)
	}
	got, _ := other.KeyRecords("bkt", "k")
	if len(got) != 1 || got[0].Version != newer.Version {
		t.Fatalf("the replica holds %d records after the purged one (want only it)", len(got))
	}
	// The older record arriving late (anti-entropy from a stale replica) does not come back.
	if changed, err := other.MergeRecord(old); err != nil || changed {
		t.Fatalf("the older null record merged after the purge: %v %v", changed, err)
	}
	// The read path's merge agrees.
	merged, err := MergeVersions([]RecordMsg{old, purged})
	if err != nil || len(merged) != 1 || merged[0].Version != newer.Version {
		t.Fatalf("merge of the older record and the purge: %d records, %v", len(merged), err)
	}
}

// FuzzDecodeEntry: no input makes the entry decoder panic or allocate without bound, and what
// it accepts in a binary form encodes and decodes back to the same entry.
func FuzzDecodeEntry(f *testing.F) {
	m := RecordMsg{Bucket: "b", Key: "k", Version: crdt.Version{TS: 7, Node: 9}, Enc: []byte("rec")}
	f.Add(encodeWholeEntry(m))
	f.Add(encodeWholeEntry(RecordMsg{Bucket: "b", Key: "k", Kind: KindPart, Sub: "u/00001", Enc: []byte("{}")}))
	f.Add(encodeRefEntry(m, hintRef{nullSlot: true, chunks: []string{"c1", "c2"}}))
	f.Add(encodeRefEntry(m, hintRef{}))
	j, _ := json.Marshal(m)
	f.Add(j)
	f.Add([]byte{entryRef, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, v []byte) {
		m, ref, err := decodeEntry(v, true)
		if err != nil || v[0] == '{' {
			return
		}
		var again []byte
		if ref != nil {
			again = encodeRefEntry(m, *ref)
		} else {
			again = encodeWholeEntry(m)
		}
		m2, ref2, err := decodeEntry(again, true)
		if err != nil {
			t.Fatalf("re-encoded entry does not decode: %v", err)
		}
		if m2.Bucket != m.Bucket || m2.Key != m.Key || m2.Version != m.Version || m2.Kind != m.Kind || m2.Sub != m.Sub || !bytes.Equal(m2.Enc, m.Enc) || (ref == nil) != (ref2 == nil) {
			t.Fatalf("round trip changed the entry: %+v -> %+v", m, m2)
		}
		if ref != nil && (ref.nullSlot != ref2.nullSlot || fmt.Sprint(ref.chunks) != fmt.Sprint(ref2.chunks)) {
			t.Fatalf("round trip changed the reference: %+v -> %+v", ref, ref2)
		}
	})
}
