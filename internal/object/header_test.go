package object

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/minicloud/minicloud/internal/blobstore"
	"github.com/minicloud/minicloud/internal/crdt"
)

func sampleHeaders() []*record {
	return []*record{
		{},
		{Null: true, Tomb: true},
		{Del: true, Purged: true, MetaTS: 77},
		{
			Size: 5 << 30, ETag: "0123456789abcdef0123456789abcdef-3",
			Meta: Meta{ContentType: "text/plain", ContentEncoding: "gzip", ContentDisposition: "inline", ContentLanguage: "de",
				CacheControl: "no-cache", Expires: "Wed, 21 Oct 2015 07:28:00 GMT", StorageClass: "STANDARD",
				User: map[string]string{"b": "2", "a": "1", "ünï": "çødé"}},
			Sum:       Checksum{Algorithm: "CRC32C", Value: "AAAAAA==-3"},
			Tags:      map[string]string{"k": "v", "": ""},
			PartEnds:  []int64{5 << 20, 10 << 20, 12 << 20},
			Chunks:    []blobstore.Ref{{ID: "aa", Size: 1 << 20, CRC: 1<<32 - 1}, {ID: "bb", Size: 3, CRC: 0}},
			InlineCRC: 12345, MetaTS: crdt.Timestamp(1 << 62),
		},
	}
}

// Every header field survives the binary encoding, and encoding is deterministic (map order).
func TestHeaderRoundTrip(t *testing.T) {
	for i, r := range sampleHeaders() {
		r.inline = []byte("inline data")
		enc, err := r.encode()
		if err != nil {
			t.Fatal(err)
		}
		for j := 0; j < 5; j++ {
			again, _ := r.encode()
			if !bytes.Equal(enc, again) {
				t.Fatalf("header %d: two encodings differ", i)
			}
		}
		got, err := decodeRecord(enc, crdt.Version{TS: 9, Node: 3})
		if err != nil {
			t.Fatalf("header %d: %v", i, err)
		}
		want := *r
		want.version = crdt.Version{TS: 9, Node: 3}
		if !reflect.DeepEqual(*got, want) {
			t.Fatalf("header %d: decoded %+v, want %+v", i, *got, want)
		}
		hd, err := decodeHeader(enc, crdt.Version{})
		if err != nil || hd.inline != nil || hd.ETag != r.ETag {
			t.Fatalf("header %d without data: %+v, %v", i, hd, err)
		}
	}
}

// Records stored with a JSON header (before the binary format) are still read.
func TestJSONHeaderStillRead(t *testing.T) {
	r := sampleHeaders()[3]
	h, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	enc := appendUvarintBytes(h, []byte("data"))
	got, err := decodeRecord(enc, crdt.Version{})
	if err != nil {
		t.Fatal(err)
	}
	if got.ETag != r.ETag || !reflect.DeepEqual(got.Chunks, r.Chunks) || !reflect.DeepEqual(got.Meta, r.Meta) || string(got.inline) != "data" {
		t.Fatalf("decoded %+v", got)
	}
}

func appendUvarintBytes(h, data []byte) []byte {
	var b []byte
	n := uint64(len(h))
	for n >= 0x80 {
		b = append(b, byte(n)|0x80)
		n >>= 7
	}
	b = append(b, byte(n))
	return append(append(b, h...), data...)
}

// A header read from disk or a peer that is malformed is an error, never a panic or an
// allocation beyond its own size; a header that decodes encodes back to one that decodes the same.
func FuzzDecodeHeader(f *testing.F) {
	for _, r := range sampleHeaders() {
		enc, _ := r.encode()
		f.Add(enc)
	}
	f.Add([]byte{3, '{', '}', 0})
	f.Add([]byte{2, 1, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeRecord(b, crdt.Version{})
		if err != nil {
			return
		}
		enc, err := r.encode()
		if err != nil {
			t.Fatal(err)
		}
		again, err := decodeRecord(enc, crdt.Version{})
		if err != nil {
			t.Fatalf("re-encoded header does not decode: %v", err)
		}
		if !reflect.DeepEqual(normal(again), normal(r)) {
			t.Fatalf("round trip changed the header: %+v vs %+v", again, r)
		}
	})
}

// normal maps empty maps and slices to nil (the binary form does not tell them apart).
func normal(r *record) record {
	c := *r
	if len(c.Meta.User) == 0 {
		c.Meta.User = nil
	}
	if len(c.Tags) == 0 {
		c.Tags = nil
	}
	if len(c.PartEnds) == 0 {
		c.PartEnds = nil
	}
	if len(c.Chunks) == 0 {
		c.Chunks = nil
	}
	if len(c.inline) == 0 {
		c.inline = nil
	}
	return c
}
