package stream

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

// FuzzDecodeNDJSON: forwarded batch objects come from other sites (and anyone who can write
// the bucket): any bytes give messages or an error, never a panic; what decodes encodes and
// decodes again to the same messages, and its ids either split into origin and sequence or
// are refused.
func FuzzDecodeNDJSON(f *testing.F) {
	es := []Entry{
		{Offset: 3, Origin: "n1", Seq: 3, Topic: "a/b", Time: time.Unix(1700000000, 5), Payload: []byte(`{"t":1}`)},
		{Offset: 4, Origin: "n-2", Seq: 4, Topic: "a/c", Time: time.Unix(1700000001, 0), Payload: []byte{0xff, 0, 1}},
	}
	good, err := encodeNDJSON(es)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte("{}\n\n{\"id\":\"x-\"}\n"))
	f.Add([]byte(`{"id":"a-1","payload_b64":"!!"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		msgs, err := DecodeNDJSON(bytes.NewReader(data))
		if err != nil {
			return
		}
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		for _, m := range msgs {
			if err := enc.Encode(m); err != nil {
				t.Fatalf("encode %+v: %v", m, err)
			}
			if origin, seq, err := splitID(m.ID); err == nil && (origin == "" || !strings.HasPrefix(m.ID, origin+"-")) {
				t.Fatalf("id %q splits into %q and %d", m.ID, origin, seq)
			}
		}
		again, err := DecodeNDJSON(&buf)
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if len(again) != len(msgs) {
			t.Fatalf("%d messages, then %d", len(msgs), len(again))
		}
		for i := range msgs {
			if !reflect.DeepEqual(msgs[i].Bytes(), again[i].Bytes()) || msgs[i].ID != again[i].ID || msgs[i].Topic != again[i].Topic || !msgs[i].Time.Equal(again[i].Time) {
				t.Fatalf("message %d: %+v, then %+v", i, msgs[i], again[i])
			}
		}
	})
}
