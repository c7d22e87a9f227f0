package stream

import (
	"bytes"
	"testing"
	"time"
)

// FuzzDecodePeerBatch: batches come over the site's RPC: any bytes decode to a batch or an
// error, never a panic or an allocation the input does not pay for; what decodes encodes to
// the same bytes.
func FuzzDecodePeerBatch(f *testing.F) {
	good := AppendPeerBatch(nil, &PeerBatch{Origin: "n1", First: 1, Next: 7, End: 9, Entries: []PeerEntry{
		{Stream: "tele", Seq: 3, From: 2, Time: time.Unix(1700000000, 5), Topic: "a/b", Payload: []byte(`{"t":1}`)},
		{Stream: "tele", Seq: 6, Time: time.Unix(0, 0), Topic: "a/c", Payload: []byte{0xff, 0}},
	}})
	f.Add(good)
	f.Add(good[:len(good)-3])
	f.Add([]byte{1, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := DecodePeerBatch(data)
		if err != nil {
			return
		}
		again := AppendPeerBatch(nil, &b)
		b2, err := DecodePeerBatch(again)
		if err != nil {
			t.Fatalf("re-encoded batch does not decode: %v", err)
		}
		if !bytes.Equal(AppendPeerBatch(nil, &b2), again) {
			t.Fatal("decode and encode do not round-trip")
		}
	})
}
