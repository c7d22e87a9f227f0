package replicate

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/minicloud/minicloud/internal/crdt"
	"github.com/minicloud/minicloud/internal/object"
)

func sampleRecords() []object.RecordMsg {
	return []object.RecordMsg{
		{Bucket: "b", Key: "k", Version: crdt.Version{TS: 1 << 40, Node: 7}, Enc: []byte{3, '{', '}', 'x', 'y'}},
		{Bucket: "bucket-2", Key: "a/b/c", Version: crdt.Version{TS: 9, Node: 1<<63 + 5}, Enc: nil, Kind: object.KindPart, Sub: "upload-1/00002"},
		{},
	}
}

func TestRecordsRoundTrip(t *testing.T) {
	in := sampleRecords()
	out, err := decodeRecords(encodeRecords(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != len(in) {
		t.Fatalf("decoded %d records, want %d", len(out), len(in))
	}
	for i := range in {
		if out[i].Bucket != in[i].Bucket || out[i].Key != in[i].Key || out[i].Version != in[i].Version || !bytes.Equal(out[i].Enc, in[i].Enc) ||
			out[i].Kind != in[i].Kind || out[i].Sub != in[i].Sub {
			t.Errorf("record %d: got %+v, want %+v", i, out[i], in[i])
		}
	}
}

func TestHeadsRoundTrip(t *testing.T) {
	in := sampleRecords()
	cut := []bool{true, false, true}
	out, oc, err := decodeHeads(encodeHeads(in, cut))
	if err != nil {
		t.Fatal(err)
	}
	for i := range in {
		if out[i].Key != in[i].Key || oc[i] != cut[i] {
			t.Errorf("head %d: got %+v %v, want %+v %v", i, out[i], oc[i], in[i], cut[i])
		}
	}
}

func TestDecodeRejectsTruncated(t *testing.T) {
	b := encodeRecords(sampleRecords())
	for n := 0; n < len(b); n++ {
		if _, err := decodeRecords(b[:n]); err == nil {
			t.Fatalf("decoding the first %d of %d bytes succeeded", n, len(b))
		}
	}
	if _, err := decodeRecords(append(b, 0)); err == nil {
		t.Fatal("trailing byte accepted")
	}
	// A count far beyond what the message holds is refused before anything is allocated.
	e := enc{}
	e.uvarint(1 << 60)
	if _, err := decodeRecords(e.b); err == nil {
		t.Fatal("huge count accepted")
	}
}

func TestHeadOfCutsInlineData(t *testing.T) {
	m := object.RecordMsg{Enc: []byte{2, '{', '}', 1, 2, 3}}
	h, cut := object.HeadOf(m)
	if !cut || !bytes.Equal(h.Enc, []byte{2, '{', '}'}) {
		t.Fatalf("HeadOf = %v %v", h.Enc, cut)
	}
	if h2, cut := object.HeadOf(h); cut || !bytes.Equal(h2.Enc, h.Enc) {
		t.Fatalf("HeadOf of a head = %v %v", h2.Enc, cut)
	}
	if headFingerprint(m) != headFingerprint(h) {
		t.Fatal("a record and its head have different head fingerprints")
	}
}

// FuzzDecode feeds arbitrary peer input to every decoder of the binary operations: each must
// return an error or a value, never panic, and what decodes must encode into something that decodes again.
func FuzzDecode(f *testing.F) {
	f.Add(encodeRecords(sampleRecords()))
	f.Add(encodeHeads(sampleRecords(), []bool{true, false, true}))
	f.Add([]byte{1, 0, 1, 0xaa})
	f.Add(encodeList(sampleRecords(), true))
	f.Add([]byte{2, 0, 1, 1, 5, 'h', 'e', 'l', 'l', 'o'})
	f.Fuzz(func(t *testing.T, b []byte) {
		if msgs, err := decodeRecords(b); err == nil {
			again, err := decodeRecords(encodeRecords(msgs))
			if err != nil || len(again) != len(msgs) {
				t.Fatalf("re-encoding %d records: %d, %v", len(msgs), len(again), err)
			}
		}
		if msgs, cut, err := decodeHeads(b); err == nil && len(msgs) != len(cut) {
			t.Fatalf("%d heads, %d cut flags", len(msgs), len(cut))
		}
		if msgs, trunc, found, err := decodeList(b); err == nil {
			again, trunc2, found2, err := decodeList(encodeList(msgs, trunc))
			if err != nil || len(again) != len(msgs) || trunc2 != trunc || (found && !found2) {
				t.Fatalf("re-encoding a list of %d: %d, %v", len(msgs), len(again), err)
			}
		}
		for want := 0; want < 3; want++ {
			if out, err := decodeOutcomes(&dec{b: b}, want); err == nil && len(out) != want {
				t.Fatalf("%d outcomes, want %d", len(out), want)
			}
		}
		if req, holder, err := decodeGrantReq(b); err == nil {
			again, h2, err := decodeGrantReq(encodeGrantReq(req, holder))
			if err != nil || again != req || h2 != holder {
				t.Fatalf("re-encoding a grant request: %+v %q, %v", again, h2, err)
			}
		}
		if resp, err := decodeGrantResp(b); err == nil {
			again, err := decodeGrantResp(encodeGrantResp(resp))
			if err != nil || len(again.entries) != len(resp.entries) || again.seq != resp.seq {
				t.Fatalf("re-encoding a grant answer of %d entries: %d, %v", len(resp.entries), len(again.entries), err)
			}
		}
		d := dec{b: b}
		if n := d.note(); d.done() == nil {
			e := enc{}
			e.note(n)
			d2 := dec{b: e.b}
			if n2 := d2.note(); d2.done() != nil || len(n2.holders) != len(n.holders) || n2.all != n.all {
				t.Fatalf("re-encoding a lease note: %+v, %+v", n, n2)
			}
		}
	})
}

// Every field of object.RecordMsg must travel in the binary encoding: this fails when a field is
// added, until enc.record and dec.record carry it (and this count is updated).
func TestRecordCodecCoversEveryField(t *testing.T) {
	if n := reflect.TypeOf(object.RecordMsg{}).NumField(); n != 6 {
		t.Fatalf("object.RecordMsg has %d fields; codec.go encodes 6: add the new ones to enc.record and dec.record", n)
	}
}
