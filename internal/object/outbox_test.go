package object

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"
)

// TestOutboxCursor: entries are read in order after a cursor, each exactly once, and dropped
// entries are gone; HintKeyBefore gives a position that re-reads only recent entries.
func TestOutboxCursor(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	if err := s.CreateBucket(ctx, "bkt", ""); err != nil {
		t.Fatal(err)
	}
	var msgs []RecordMsg
	for i := 0; i < 10; i++ {
		key := fmt.Sprintf("k%d", i)
		if _, err := s.PutObject(ctx, "bkt", key, bytes.NewReader([]byte(key)), int64(len(key)), PutOptions{}); err != nil {
			t.Fatal(err)
		}
		recs, err := s.KeyRecords("bkt", key)
		if err != nil || len(recs) != 1 {
			t.Fatalf("records of %s: %v %v", key, recs, err)
		}
		msgs = append(msgs, recs[0])
		if err := s.AddHintLazy("site:x", recs[0]); err != nil {
			t.Fatal(err)
		}
	}
	first, err := s.HintsAfter("site:x", nil, 4)
	if err != nil || len(first) != 4 {
		t.Fatalf("first page: %d %v", len(first), err)
	}
	rest, err := s.HintsAfter("site:x", first[3].Key, 100)
	if err != nil || len(rest) != 6 {
		t.Fatalf("second page: %d %v", len(rest), err)
	}
	for i, h := range append(first, rest...) {
		if h.Msg.Key != msgs[i].Key {
			t.Fatalf("entry %d is %s, want %s (order)", i, h.Msg.Key, msgs[i].Key)
		}
	}
	if err := s.DropHints(first); err != nil {
		t.Fatal(err)
	}
	left, _ := s.HintsAfter("site:x", nil, 100)
	if len(left) != 6 || left[0].Msg.Key != "k4" {
		t.Fatalf("after dropping 4: %d left, first %v", len(left), left)
	}
	// A position 5 s before the last entry re-reads everything written in the last 5 s...
	back := HintKeyBefore("site:x", rest[5].Key, time.Time{}, 5*time.Second)
	again, _ := s.HintsAfter("site:x", back, 100)
	if len(again) != 6 {
		t.Fatalf("from 5 s back: %d entries, want the 6 left", len(again))
	}
	// An add that began before the last entry's key moves the position back to it.
	if p := HintKeyBefore("site:x", rest[5].Key, time.Now().Add(-time.Hour), 0); bytes.Compare(p, first[0].Key) >= 0 {
		t.Fatal("an add in progress since an hour ago does not move the position before every entry")
	}
	// ...and none of another target.
	if other, _ := s.HintsAfter("site:y", nil, 100); len(other) != 0 {
		t.Fatalf("site:y has %d entries", len(other))
	}
	if ts, ok, err := s.OldestPending(); err != nil || !ok || ts != left[0].Msg.Version.TS {
		t.Fatalf("oldest pending %v %v %v, want %v", ts, ok, err, left[0].Msg.Version.TS)
	}
}

// TestTombstoneStability: what HoldsDeletedBy and DropRecord report for an unversioned delete.
func TestTombstoneStability(t *testing.T) {
	s, _ := openTest(t)
	other, _ := openTest(t) // a replica that missed the delete
	ctx := context.Background()
	for _, st := range []*Store{s, other} {
		if err := st.CreateBucket(ctx, "bkt", ""); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.PutObject(ctx, "bkt", "k", bytes.NewReader([]byte("v1")), 2, PutOptions{}); err != nil {
		t.Fatal(err)
	}
	live, _ := s.KeyRecords("bkt", "k")
	if _, err := other.MergeRecord(live[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteObject(ctx, "bkt", "k", ""); err != nil {
		t.Fatal(err)
	}
	recs, _ := s.KeyRecords("bkt", "k")
	if len(recs) != 1 || !recs[0].IsTombstone() {
		t.Fatalf("after delete: %d records, tombstone %v", len(recs), len(recs) == 1 && recs[0].IsTombstone())
	}
	tomb := recs[0]
	if live[0].IsTombstone() {
		t.Fatal("a live version reported as a tombstone")
	}
	for _, c := range []struct {
		name string
		st   *Store
		want bool
	}{{"replica with the tombstone", s, false}, {"replica that missed it", other, true}} {
		got, err := c.st.HoldsDeletedBy(tomb)
		if err != nil || got != c.want {
			t.Errorf("%s: HoldsDeletedBy = %v, %v; want %v", c.name, got, err, c.want)
		}
	}
	if _, err := other.MergeRecord(tomb); err != nil {
		t.Fatal(err)
	}
	if held, _ := other.HoldsDeletedBy(tomb); held {
		t.Error("a replica that merged the tombstone still holds what it deletes")
	}
	changed := tomb
	changed.Enc = append([]byte(nil), tomb.Enc...)
	changed.Enc[len(changed.Enc)-1] ^= 1
	if ok, _ := s.DropRecord(changed); ok {
		t.Error("DropRecord removed a record that differs from the one given")
	}
	if ok, err := s.DropRecord(tomb); !ok || err != nil {
		t.Fatalf("DropRecord: %v %v", ok, err)
	}
	if recs, _ := s.KeyRecords("bkt", "k"); len(recs) != 0 {
		t.Fatalf("%d records after the purge", len(recs))
	}
	if held, _ := s.HoldsDeletedBy(tomb); held {
		t.Error("an empty key holds what the tombstone deleted")
	}
}

// TestDecodeHintMsg: the fast path decodes what encoding/json wrote, for awkward keys too.
func TestDecodeHintMsg(t *testing.T) {
	for _, m := range []RecordMsg{
		{Bucket: "b", Key: "k", Enc: []byte("hello")},
		{Bucket: "b", Key: `x,"e":"y`, Enc: bytes.Repeat([]byte{0xff, 0, '"'}, 100)},
		{Bucket: "b", Key: "<&>", Enc: []byte{}},
		{Bucket: "b", Key: "nil enc"},
		{Bucket: "b", Key: "part", Enc: []byte("p"), Kind: KindPart, Sub: "u/00001"},
	} {
		v, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeHintMsg(v)
		if err != nil || got.Bucket != m.Bucket || got.Key != m.Key || got.Version != m.Version || !bytes.Equal(got.Enc, m.Enc) || got.Kind != m.Kind || got.Sub != m.Sub {
			t.Errorf("%q: got %+v, %v", m.Key, got, err)
		}
	}
	if _, err := decodeHintMsg([]byte(`{"b":"x","e":"!!"}`)); err == nil {
		t.Error("bad base64 decoded without error")
	}
}
