package stream

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
)

// archived reads back every part of an archive: the rows of each object, by key.
func archived(t *testing.T, objs *fakeObjects, bucket, format string) map[string][]ArchiveRow {
	t.Helper()
	out := map[string][]ArchiveRow{}
	for _, k := range objs.keys(bucket, "stream=") {
		o, err := objs.get(bucket, k)
		if err != nil {
			t.Fatal(err)
		}
		if format == "parquet" {
			rows, err := parquet.Read[ArchiveRow](bytes.NewReader(o.data), int64(len(o.data)))
			if err != nil {
				t.Fatalf("%s is not a readable Parquet file: %v", k, err)
			}
			out[k] = rows
			continue
		}
		ms, err := DecodeNDJSON(bytes.NewReader(o.data))
		if err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		for _, m := range ms {
			out[k] = append(out[k], ArchiveRow{ID: m.ID, Offset: int64(m.Offset), Topic: m.Topic, Time: m.Time, Payload: m.Bytes()})
		}
	}
	return out
}

func TestArchiveTimePartitionedParts(t *testing.T) {
	for _, format := range []string{"parquet", "ndjson"} {
		t.Run(format, func(t *testing.T) {
			objs := newFakeObjects()
			if err := objs.CreateBucketSites(t.Context(), "lake", nil); err != nil {
				t.Fatal(err)
			}
			clock := &fakeClock{t: time.Date(2025, 3, 9, 23, 59, 0, 0, time.UTC)}
			n := newTestNode(t, "n1", "a", objs, func(o *Options) { o.Now = clock.Now })
			if _, err := n.m.Create(CreateRequest{Name: "tele", Topics: []string{"plant/#"}}); err != nil {
				t.Fatal(err)
			}
			if _, err := n.m.Archive(t.Context(), "tele", ArchiveRequest{Bucket: "nolake", Format: format}); err == nil {
				t.Fatal("archive into a missing bucket accepted")
			}
			if _, err := n.m.Archive(t.Context(), "tele", ArchiveRequest{Bucket: "lake", Format: format}); err != nil {
				t.Fatal(err)
			}
			// 120 messages a second apart from 23:59: they cross into the next hour and day.
			type sent struct {
				topic   string
				payload []byte
				at      time.Time
			}
			var want []sent
			for i := 0; i < 120; i++ {
				p := []byte(fmt.Sprintf(`{"i":%d}`, i))
				if i%10 == 0 {
					p = []byte{0xff, byte(i), 0} // binary payloads too
				}
				want = append(want, sent{fmt.Sprintf("plant/m%d", i%4), p, clock.Now()})
				n.publish(want[i].topic, string(p), false)
				if i%7 == 0 {
					n.publish("plant/peer", "logged by another node: not archived here", true)
				}
				clock.Advance(time.Second)
			}
			var parts map[string][]ArchiveRow
			waitFor(t, 10*time.Second, "every message archived", func() bool {
				parts = archived(t, objs, "lake", format)
				total := 0
				for _, rows := range parts {
					total += len(rows)
				}
				return total == len(want)
			})
			byID := map[string]ArchiveRow{}
			for key, rows := range parts {
				for _, r := range rows {
					hourDir := fmt.Sprintf("stream=tele/date=%s/hour=%02d/", r.Time.UTC().Format("2006-01-02"), r.Time.UTC().Hour())
					if !strings.HasPrefix(key, hourDir) || !strings.HasSuffix(key, "."+format) {
						t.Errorf("row %s (time %v) is in %s", r.ID, r.Time, key)
					}
					if _, dup := byID[r.ID]; dup {
						t.Errorf("row %s archived twice", r.ID)
					}
					byID[r.ID] = r
				}
			}
			if !hasKeyPrefix(parts, "stream=tele/date=2025-03-09/hour=23/") || !hasKeyPrefix(parts, "stream=tele/date=2025-03-10/hour=00/") {
				t.Fatalf("parts %v: want some in 2025-03-09 hour 23 and 2025-03-10 hour 00", keysOf(parts))
			}
			i := 0
			for off := int64(0); i < len(want); off++ {
				r, ok := byID[fmt.Sprintf("n1-%d", off)]
				if !ok {
					continue // a peer message's offset
				}
				w := want[i]
				if r.Topic != w.topic || !bytes.Equal(r.Payload, w.payload) || !r.Time.Equal(w.at) || r.Offset != off {
					t.Fatalf("row %d: %+v, want topic %s payload %q time %v", i, r, w.topic, w.payload, w.at)
				}
				i++
			}
		})
	}
}

func hasKeyPrefix(parts map[string][]ArchiveRow, prefix string) bool {
	for k := range parts {
		if strings.HasPrefix(k, prefix) {
			return true
		}
	}
	return false
}

func keysOf(parts map[string][]ArchiveRow) []string {
	var ks []string
	for k := range parts {
		ks = append(ks, k)
	}
	return ks
}
