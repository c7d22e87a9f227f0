package replicate

import (
	"testing"
	"time"

	"github.com/minicloud/minicloud/internal/crdt"
	"github.com/minicloud/minicloud/internal/object"
)

func TestCutBatches(t *testing.T) {
	hint := func(n int) object.Hint { return object.Hint{Msg: object.RecordMsg{Key: "k", Enc: make([]byte, n)}} }
	many := func(k, n int) []object.Hint {
		var out []object.Hint
		for i := 0; i < k; i++ {
			out = append(out, hint(n))
		}
		return out
	}
	o := GeoOptions{BatchRecords: 3, BatchBytes: 1000}
	for _, c := range []struct {
		name  string
		hints []object.Hint
		want  []int // batch sizes
	}{
		{"none", nil, nil},
		{"one", many(1, 10), []int{1}},
		{"by count", many(7, 10), []int{3, 3, 1}},
		{"by bytes", many(4, 400), []int{2, 2}},
		{"one record over the byte limit goes alone", append(many(1, 5000), many(2, 10)...), []int{1, 2}},
	} {
		var got []int
		total := 0
		for _, b := range cutBatches(c.hints, o) {
			got = append(got, len(b))
			total += len(b)
		}
		if len(got) != len(c.want) || total != len(c.hints) {
			t.Errorf("%s: batches %v, want %v", c.name, got, c.want)
			continue
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Errorf("%s: batches %v, want %v", c.name, got, c.want)
			}
		}
	}
}

// TestSettleCutoff: a cross-site round compares only records older than the settle period
// (10 s, or half the round period when shorter), so changes still in the outbox are not taken
// for differences.
func TestSettleCutoff(t *testing.T) {
	now := time.Now()
	for _, c := range []struct {
		every, settle time.Duration
	}{{time.Minute, 10 * time.Second}, {time.Second, 500 * time.Millisecond}} {
		before := settleCutoff(now, c.every)
		at := func(d time.Duration) object.RecordMsg {
			return object.RecordMsg{Version: crdt.Version{TS: crdt.Timestamp(uint64(now.Add(d).UnixMilli()) << 16)}}
		}
		if !settled(at(-c.settle-time.Millisecond), before) || settled(at(-c.settle+time.Millisecond), before) || settled(at(0), before) {
			t.Errorf("every %v: cutoff %v is not %v before now", c.every, before.Physical(), c.settle)
		}
		if !settled(at(0), 0) {
			t.Error("a zero cutoff (a request from a node before it) leaves records out")
		}
	}
}
