package replicate

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/minicloud/minicloud/internal/crdt"
	"github.com/minicloud/minicloud/internal/object"
)

func TestBatchRoundTrip(t *testing.T) {
	msgs := []object.RecordMsg{
		{Bucket: "b", Key: "k", Version: crdt.Version{TS: 1 << 40, Node: 7}, Enc: []byte("enc")},
		{Bucket: "bucket", Key: "a/ü/\"x\"", Version: crdt.Version{TS: 2, Node: 1<<64 - 1}, Enc: bytes.Repeat([]byte{0, 1, 2}, 7000)},
		{Bucket: "b", Key: "", Enc: nil},
		{Bucket: "b", Key: "mp", Enc: []byte("x"), Kind: object.KindPart, Sub: "upload-1/00002"},
	}
	got, err := decodeBatch(encodeBatch(msgs))
	if err != nil {
		t.Fatal(err)
	}
	for i := range msgs {
		if got[i].Bucket != msgs[i].Bucket || got[i].Key != msgs[i].Key || got[i].Version != msgs[i].Version || !bytes.Equal(got[i].Enc, msgs[i].Enc) ||
			got[i].Kind != msgs[i].Kind || got[i].Sub != msgs[i].Sub {
			t.Errorf("record %d: got %+v", i, got[i])
		}
	}
	if got, err := decodeBatch(encodeBatch(nil)); err != nil || len(got) != 0 {
		t.Errorf("empty batch: %v %v", got, err)
	}
	for _, bad := range [][]byte{nil, []byte("MCB"), []byte("XXXX\x01"), []byte("MCB2\x05"), append(encodeBatch(msgs), 0)} {
		if _, err := decodeBatch(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// FuzzDecodeBatch: any input gives records or an error, never a panic, and what decodes
// encodes back to the same bytes.
func FuzzDecodeBatch(f *testing.F) {
	f.Add(encodeBatch([]object.RecordMsg{{Bucket: "b", Key: "k", Enc: []byte("e")}}))
	f.Add([]byte("MCB2\x02\x01b"))
	f.Fuzz(func(t *testing.T, data []byte) {
		msgs, err := decodeBatch(data)
		if err != nil {
			return
		}
		again, err := decodeBatch(encodeBatch(msgs))
		if err != nil || len(again) != len(msgs) {
			t.Fatalf("re-encoded batch: %v", err)
		}
		for i := range msgs {
			if !reflect.DeepEqual(again[i].Bucket, msgs[i].Bucket) || again[i].Key != msgs[i].Key || again[i].Version != msgs[i].Version || !bytes.Equal(again[i].Enc, msgs[i].Enc) ||
				again[i].Kind != msgs[i].Kind || again[i].Sub != msgs[i].Sub {
				t.Fatalf("record %d differs after a round trip", i)
			}
		}
	})
}
