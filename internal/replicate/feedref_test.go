package replicate

import (
	"bytes"
	"context"
	"testing"

	"github.com/minicloud/minicloud/internal/object"
)

// TestResolveHints: the shipper puts in each reference entry the record to ship (the newer one
// for an overwritten key), drops the entry of a key no replica holds anything of any more, and
// leaves whole entries as they are.
func TestResolveHints(t *testing.T) {
	local, err := object.Open(t.TempDir(), object.Options{NodeID: "n1"})
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close()
	s := New(Options{Local: local})
	defer s.Close()
	ctx := context.Background()
	if err := local.CreateBucket(ctx, "bkt", ""); err != nil {
		t.Fatal(err)
	}
	put := func(key, data string) object.RecordMsg {
		if _, err := local.PutObject(ctx, "bkt", key, bytes.NewReader([]byte(data)), int64(len(data)), object.PutOptions{}); err != nil {
			t.Fatal(err)
		}
		recs, err := local.KeyRecords("bkt", key)
		if err != nil || len(recs) != 1 {
			t.Fatalf("records of %s: %d %v", key, len(recs), err)
		}
		return recs[0]
	}
	kept := put("kept", "one")
	over := put("over", "old")
	gone := put("gone", "bye")
	for _, m := range []object.RecordMsg{kept, over, gone} {
		if err := local.AddOutbox("site:x", m, false); err != nil {
			t.Fatal(err)
		}
	}
	newer := put("over", "new")
	if _, err := local.DropRecord(gone); err != nil {
		t.Fatal(err)
	}
	hints, err := local.HintsAfter("site:x", nil, 10)
	if err != nil || len(hints) != 3 {
		t.Fatalf("entries: %d %v", len(hints), err)
	}
	out, err := s.resolveHints(hints)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 2 || !bytes.Equal(out[0].Msg.Enc, kept.Enc) || out[1].Msg.Version != newer.Version || !bytes.Equal(out[1].Msg.Enc, newer.Enc) {
		t.Fatalf("resolved: %+v", out)
	}
	left, _ := local.HintsAfter("site:x", nil, 10)
	if len(left) != 2 {
		t.Fatalf("%d entries left, want 2 (the one of the gone key dropped)", len(left))
	}
}
