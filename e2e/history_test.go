package e2e

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// A history checker for the site's register-per-key model. Every key is a register; a PUT
// writes a unique value, a DELETE writes "absent" (each DELETE gets a unique id too, so that a
// report can name it), a GET or a LIST entry reads the register. The site promises, for R+W>RF
// with LWW by hybrid logical clock, that
//   - a read never returns a value that was never written, nor one written only after the read
//     ended;
//   - a read never misses an acknowledged write: if write w was acknowledged before read r
//     started, r returns w or a write that is not older than w, i.e. not one that was
//     acknowledged before w even started;
//   - the same for the final reads after the load, which is "no acknowledged write is lost".
// A write that failed or timed out may take effect at any later time or never (a hint may
// carry it): it is never required and never forbidden. This is weaker than linearizability on
// purpose: a Dynamo-style quorum without synchronous read repair lets two reads concurrent
// with a write disagree, and porcupine would flag that; the invariants above are what the
// design (I1, I4, R+W>RF) promises.

// epoch is the zero of every recorded time: one monotonic clock for all histories of a run.
var epoch = time.Now()

func since() time.Duration { return time.Since(epoch) }

// never is the end of a write that was not acknowledged.
const never = time.Duration(math.MaxInt64)

type opKind int

const (
	opPut opKind = iota
	opDelete
	opRead
)

func (k opKind) String() string { return [...]string{"PUT", "DELETE", "READ"}[k] }

// op is one completed client operation. Failed reads are not recorded (they observed nothing).
type op struct {
	kind       opKind
	key        string
	id         int64 // writes: the value's id; reads: the id observed (0: absent)
	start, end time.Duration
	acked      bool   // writes: acknowledged (end is then meaningful)
	via        string // node and request, for reports
}

func (o op) String() string {
	end := "never acked"
	if o.kind == opRead || o.acked {
		end = fmt.Sprintf("%.3fs", o.end.Seconds())
	}
	what := fmt.Sprintf("%s %s #%d", o.kind, o.key, o.id)
	if o.kind == opRead && o.id == 0 {
		what = fmt.Sprintf("READ %s = absent", o.key)
	}
	return fmt.Sprintf("%s via %s [%.3fs, %s]", what, o.via, o.start.Seconds(), end)
}

// history collects operations from many clients.
type history struct {
	mu  sync.Mutex
	ops []op
	bad []string // reads whose bytes matched no write at all
}

func (h *history) add(o op) {
	if o.kind != opRead && !o.acked {
		o.end = never
	}
	h.mu.Lock()
	h.ops = append(h.ops, o)
	h.mu.Unlock()
}

// corrupt records a read that returned bytes no write produced.
func (h *history) corrupt(format string, args ...any) {
	h.mu.Lock()
	h.bad = append(h.bad, fmt.Sprintf(format, args...))
	h.mu.Unlock()
}

// counts returns how many operations of each kind were recorded (writes: acknowledged ones).
func (h *history) counts() (puts, deletes, reads int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, o := range h.ops {
		switch {
		case o.kind == opPut && o.acked:
			puts++
		case o.kind == opDelete && o.acked:
			deletes++
		case o.kind == opRead:
			reads++
		}
	}
	return
}

// ackedWritesSince counts writes acknowledged after t.
func (h *history) ackedWritesSince(t time.Duration) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, o := range h.ops {
		if o.kind != opRead && o.acked && o.end >= t {
			n++
		}
	}
	return n
}

// violation is one read the model forbids.
type violation struct {
	key string
	at  time.Duration // the read's end
	msg string
}

// check returns every violation of the model.
func (h *history) check() []violation {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []violation
	for _, b := range h.bad {
		out = append(out, violation{msg: b})
	}
	byKey := map[string][]op{}
	for _, o := range h.ops {
		byKey[o.key] = append(byKey[o.key], o)
	}
	keys := make([]string, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		out = append(out, checkKey(byKey[k])...)
	}
	return out
}

// checkKey checks the reads of one key against its writes.
func checkKey(ops []op) []violation {
	// The register starts absent: a virtual DELETE acknowledged before anything else.
	writes := []op{{kind: opDelete, id: 0, start: -1, end: -1, acked: true, via: "initial state"}}
	for _, o := range ops {
		if o.kind != opRead {
			writes = append(writes, o)
		}
	}
	var out []violation
	for _, r := range ops {
		if r.kind != opRead {
			continue
		}
		var cands []op
		for _, w := range writes {
			if r.id == 0 && w.kind == opDelete || r.id != 0 && w.kind == opPut && w.id == r.id {
				cands = append(cands, w)
			}
		}
		if len(cands) == 0 {
			out = append(out, violation{r.key, r.end, fmt.Sprintf("%v: returned a value no PUT of this key wrote", r)})
			continue
		}
		// Report, if no candidate fits, on the latest one that began before the read ended: the
		// write the read most plausibly saw.
		why := explain(cands[0], r, writes)
		for _, u := range cands {
			w := explain(u, r, writes)
			if w == "" {
				why = ""
				break
			}
			if u.start <= r.end {
				why = w
			}
		}
		if why != "" {
			out = append(out, violation{r.key, r.end, fmt.Sprintf("%v: %s", r, why)})
		}
	}
	return out
}

// explain says why read r cannot have observed write u ("" when it can).
func explain(u, r op, writes []op) string {
	if u.start > r.end {
		return fmt.Sprintf("it returned %v, which started after the read ended", u)
	}
	for _, w := range writes {
		if w.acked && w.end < r.start && u.end < w.start {
			return fmt.Sprintf("it returned %v, but %v was acknowledged before the read started and began after that one was acknowledged", u, w)
		}
	}
	return ""
}

// around lists the operations on key that overlap [from, to] in start order, to explain a
// violation.
func (h *history) around(key string, from, to time.Duration) string {
	h.mu.Lock()
	var ops []op
	for _, o := range h.ops {
		if o.key == key && o.start <= to && (o.end >= from || o.end == never) {
			ops = append(ops, o)
		}
	}
	h.mu.Unlock()
	sort.Slice(ops, func(i, j int) bool { return ops[i].start < ops[j].start })
	var b strings.Builder
	for _, o := range ops {
		fmt.Fprintf(&b, "  %v\n", o)
	}
	return b.String()
}

// explainFirst returns the violations, the first few with every operation on their key in the
// second before them.
func (h *history) explainFirst(v []violation, n int) string {
	var b strings.Builder
	for i, x := range v {
		if i == 20 {
			fmt.Fprintf(&b, "... and %d more\n", len(v)-i)
			break
		}
		fmt.Fprintln(&b, x.msg)
		if i < n && x.key != "" {
			fmt.Fprintf(&b, " operations on %s around it:\n%s", x.key, h.around(x.key, x.at-time.Second, x.at))
		}
	}
	return b.String()
}

// summary prints at most n violations.
func summary(v []string, n int) string {
	if len(v) > n {
		return strings.Join(v[:n], "\n") + fmt.Sprintf("\n... and %d more", len(v)-n)
	}
	return strings.Join(v, "\n")
}

// TestHistoryChecker shows that the checker accepts what the model allows and reports lost
// writes, stale reads and reads from the future.
func TestHistoryChecker(t *testing.T) {
	s := time.Second
	put := func(id int64, a, b time.Duration) op {
		return op{kind: opPut, key: "k", id: id, start: a, end: b, acked: true}
	}
	failedPut := func(id int64, a time.Duration) op { return op{kind: opPut, key: "k", id: id, start: a} }
	del := func(id int64, a, b time.Duration) op {
		return op{kind: opDelete, key: "k", id: id, start: a, end: b, acked: true}
	}
	read := func(id int64, a, b time.Duration) op { return op{kind: opRead, key: "k", id: id, start: a, end: b} }
	cases := []struct {
		name string
		ops  []op
		bad  int
	}{
		{"read after ack sees it", []op{put(1, 1*s, 2*s), read(1, 3*s, 4*s)}, 0},
		{"read before any write is absent", []op{read(0, 1*s, 2*s), put(1, 3*s, 4*s)}, 0},
		{"lost acknowledged write", []op{put(1, 1*s, 2*s), read(0, 3*s, 4*s)}, 1},
		{"stale value after a newer ack", []op{put(1, 1*s, 2*s), put(2, 3*s, 4*s), read(1, 5*s, 6*s)}, 1},
		{"concurrent writes may read either", []op{put(1, 1*s, 4*s), put(2, 2*s, 3*s), read(1, 5*s, 6*s), read(2, 5*s, 6*s)}, 0},
		{"read concurrent with a write may see old or new", []op{put(1, 1*s, 2*s), put(2, 3*s, 6*s), read(1, 4*s, 5*s), read(2, 4*s, 5*s)}, 0},
		{"failed write may appear or not", []op{put(1, 1*s, 2*s), failedPut(2, 3*s), read(2, 9*s, 10*s), read(1, 9*s, 10*s)}, 0},
		{"failed write never hides a later ack", []op{failedPut(1, 1*s), put(2, 3*s, 4*s), read(0, 5*s, 6*s)}, 1},
		{"acknowledged delete", []op{put(1, 1*s, 2*s), del(2, 3*s, 4*s), read(0, 5*s, 6*s)}, 0},
		{"deleted value comes back", []op{put(1, 1*s, 2*s), del(2, 3*s, 4*s), read(1, 5*s, 6*s)}, 1},
		{"read from the future", []op{read(1, 1*s, 2*s), put(1, 3*s, 4*s)}, 1},
		{"value nobody wrote", []op{put(1, 1*s, 2*s), read(7, 3*s, 4*s)}, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var h history
			for _, o := range c.ops {
				h.add(o)
			}
			if v := h.check(); len(v) != c.bad {
				t.Fatalf("%d violations, want %d:\n%s", len(v), c.bad, h.explainFirst(v, 0))
			}
		})
	}
}
