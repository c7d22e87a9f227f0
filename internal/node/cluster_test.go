package node

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/minicloud/minicloud/internal/iam"
	"github.com/minicloud/minicloud/internal/object"
	"github.com/minicloud/minicloud/internal/rulesrt"
	"github.com/minicloud/minicloud/internal/stream"
)

// The mesh compares versions of table records as hashes of their encoding, so a record must
// encode to the same bytes on the node that receives it (decode, store, encode again) as on the
// node that sent it; otherwise the two never agree and exchange it again at every sync.
func TestMeshTableRecordsEncodeStably(t *testing.T) {
	zone := time.FixedZone("CET", 3600)
	now := time.Date(2026, 11, 25, 8, 0, 0, 123456789, zone)
	records := map[string]any{
		"bucket": object.Bucket{Name: "b", Created: now, Location: "a", Versioning: "Enabled",
			CORS:   []object.CORSRule{{AllowedOrigins: []string{"*"}, AllowedMethods: []string{"GET"}}},
			Policy: []byte(`{"Statement":[]}`), PublicRead: true, Tags: map[string]string{"z": "1", "a": "<2>"},
			TS: 42, Sites: []string{"a", "b"}, Sync: []object.SyncTarget{{ID: "s", Endpoint: "http://x"}}},
		"key":    iam.Key{AccessKey: "AK", Secret: "s", Created: now, Grants: map[string]string{"b": "read", "*": "owner"}, TS: 7},
		"stream": stream.Def{Name: "s", Topics: []string{"a/#"}, Retain: time.Hour, Archives: []stream.Archive{{Bucket: "b", Format: "ndjson"}}, Created: 1, TS: 2, By: "n"},
		"rule":   rulesrt.TableRow{Kind: rulesrt.KindRule, Name: "r", Def: json.RawMessage(`{ "sql" : "SELECT a<b" }`), TS: 3, By: "n"},
	}
	for name, r := range records {
		first, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		// What the receiving store keeps and encodes again (twice: a relay of a relay).
		b := first
		for range 2 {
			back := newOf(r)
			if err := json.Unmarshal(b, back); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if b, err = json.Marshal(back); err != nil {
				t.Fatal(err)
			}
		}
		second, _ := json.Marshal(mustDecode(t, b, r))
		if !bytes.Equal(b, second) {
			t.Errorf("%s encodes differently after a round trip:\n%s\n%s", name, b, second)
		}
		if name != "rule" && !bytes.Equal(first, b) {
			t.Errorf("%s encodes differently after a round trip:\n%s\n%s", name, first, b)
		}
	}
}

func newOf(r any) any {
	switch r.(type) {
	case object.Bucket:
		return new(object.Bucket)
	case iam.Key:
		return new(iam.Key)
	case stream.Def:
		return new(stream.Def)
	case rulesrt.TableRow:
		return new(rulesrt.TableRow)
	}
	panic("unknown record type")
}

func mustDecode(t *testing.T, b []byte, like any) any {
	v := newOf(like)
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
	return v
}

// The adapter reports each record under its key and merges what it is given.
func TestLWWTableAdapter(t *testing.T) {
	store := map[string]iam.Key{"A": {AccessKey: "A", TS: 1}}
	tab := lww(func() []iam.Key {
		var out []iam.Key
		for _, k := range store {
			out = append(out, k)
		}
		return out
	}, func(k iam.Key) string { return k.AccessKey }, each(func(k iam.Key) error {
		if old, ok := store[k.AccessKey]; !ok || k.TS > old.TS {
			store[k.AccessKey] = k
		}
		return nil
	}))
	es := tab.Entries()
	if len(es) != 1 || tab.Key(es["A"]) != "A" {
		t.Fatalf("entries %q", es)
	}
	if tab.Key([]byte("not json")) != "" {
		t.Fatal("a record that does not decode has a key")
	}
	tab.Merge([][]byte{[]byte(`{"accessKey":"B","ts":5}`), []byte(`{"accessKey":"A","ts":0}`), []byte(`garbage`)})
	if store["B"].TS != 5 || store["A"].TS != 1 {
		t.Fatalf("after merge: %+v", store)
	}
}
