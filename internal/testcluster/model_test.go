package testcluster_test

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"strings"
)

// The history checker: a register per key. The client of a simulation runs one operation at a
// time, so a key's history is a sequence; and since the schedule lets the clock move between
// operations, a later write always gets a newer hybrid-logical-clock version than an earlier one,
// so last-writer-wins agrees with the order of the history.
//
// A write that failed (503) is indeterminate: the coordinator keeps retrying it in the background,
// so it may become visible at any later time, ordered by its version. An acknowledged write is
// "strict" when W of the key's home replicas held it right after the acknowledgement (the test
// looks at their stores); a strict write can then not be missed by a read quorum (R+W>RF), so a
// read must return it or a later write. A write acknowledged through sloppy quorum (a fallback node
// holds a hint for a home replica) may be missed by reads until the hint is delivered, so it
// only sets what the site must hold once faults heal. Losing a disk (Wipe) does not loosen reads:
// the wiped node bootstraps (replicate/bootstrap.go) and reads count only replicas that have
// their data.

// write is one write of a key's history: a value (or a delete) and what the client saw.
type write struct {
	op      int // index in the run's operation log
	deleted bool
	value   []byte
	etag    string
	acked   bool
	strict  bool
}

func (w write) String() string {
	st := "failed"
	if w.acked {
		st = "acked/sloppy"
		if w.strict {
			st = "acked/strict"
		}
	}
	if w.deleted {
		return fmt.Sprintf("#%d delete (%s)", w.op, st)
	}
	return fmt.Sprintf("#%d put %s (%s)", w.op, w.etag[:8], st)
}

// register is one key's history.
type register struct {
	writes []write // writes[0] is the key's initial absence
	anchor int     // latest write every read must see (or a later one)
	final  int     // latest acknowledged write: what the site must hold after healing
}

func newRegister() *register {
	return &register{writes: []write{{op: -1, deleted: true, acked: true, strict: true}}}
}

func etagOf(b []byte) string {
	s := md5.Sum(b)
	return hex.EncodeToString(s[:])
}

// observed is what a read returned: absent, or a value identified by its ETag (values are unique
// per write, except a retried write's).
type observed struct {
	absent bool
	etag   string
}

func (o observed) String() string {
	if o.absent {
		return "absent"
	}
	return "etag " + o.etag[:8]
}

func (w write) matches(o observed) bool {
	if o.absent {
		return w.deleted
	}
	return !w.deleted && w.etag == o.etag
}

// record appends a write.
func (r *register) record(w write) {
	r.writes = append(r.writes, w)
	if w.acked {
		r.final = len(r.writes) - 1
		if w.strict {
			r.anchor = len(r.writes) - 1
		}
	}
}

// checkRead says why o may not be read now ("" when it may), and returns the write it matched.
func (r *register) checkRead(o observed) (string, *write) {
	from := r.anchor
	for i := len(r.writes) - 1; i >= from; i-- {
		if r.writes[i].matches(o) {
			return "", &r.writes[i]
		}
	}
	for i := from - 1; i >= 0; i-- {
		if r.writes[i].matches(o) {
			return fmt.Sprintf("read %v, the value of %v, older than %v acknowledged before the read", o, r.writes[i], r.writes[r.anchor]), nil
		}
	}
	return fmt.Sprintf("read %v, which no write of this key since the last convergence wrote", o), nil
}

// candidates are the writes a read may return now.
func (r *register) candidates() []write {
	return r.writes[r.anchor:]
}

// checkFinal says why o may not be the converged state ("" when it may): it must be the latest
// acknowledged write or a failed one after it.
func (r *register) checkFinal(o observed) (string, *write) {
	for i := len(r.writes) - 1; i >= r.final; i-- {
		if r.writes[i].matches(o) {
			return "", &r.writes[i]
		}
	}
	return fmt.Sprintf("converged to %v, but the last acknowledged write is %v (lost write)", o, r.writes[r.final]), nil
}

// settle restarts the history from the converged state o, as if it had just been written.
func (r *register) settle(o observed, w *write) {
	nw := write{op: -1, deleted: o.absent, acked: true, strict: true}
	if w != nil {
		nw = *w
		nw.acked, nw.strict = true, true
	}
	r.writes = []write{nw}
	r.anchor, r.final = 0, 0
}

func (r *register) String() string {
	var b strings.Builder
	for i, w := range r.writes {
		mark := ""
		if i == r.anchor {
			mark += " <anchor>"
		}
		if i == r.final {
			mark += " <final>"
		}
		fmt.Fprintf(&b, "\n    %v%s", w, mark)
	}
	return b.String()
}
