package replicate

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/minicloud/minicloud/internal/placement"
)

// The wire side of read leases (lease.go): the notes in merge acknowledgements, the grant
// operation, and the replication layer's attachment to its RPC server.

// minHeld is the smallest encoding of a held lease in a note.
const minHeld = 2

func (e *enc) note(n leaseNote) {
	e.uvarint(uint64(len(n.holders)))
	for _, h := range n.holders {
		e.str(h.node)
		e.uvarint(uint64(max(h.remain, 0)))
	}
	e.uvarint(uint64(max(n.all, 0)))
}

// maxRemain bounds a remaining time a peer may name (a garbled one must not stall writes).
const maxRemain = time.Minute

func (d *dec) note() leaseNote {
	var n leaseNote
	k := d.count(minHeld)
	for i := 0; i < k; i++ {
		n.holders = append(n.holders, heldLease{node: d.str(), remain: min(time.Duration(d.uvarint()), maxRemain)})
	}
	n.all = min(time.Duration(d.uvarint()), maxRemain)
	return n
}

func encodeGrantReq(r grantReq, holder string) []byte {
	e := enc{}
	e.str(holder)
	e.uvarint(r.key)
	e.uvarint(r.inc)
	e.uvarint(r.since)
	return e.b
}

func decodeGrantReq(b []byte) (grantReq, string, error) {
	d := dec{b: b}
	holder := d.str()
	r := grantReq{key: d.uvarint(), inc: d.uvarint(), since: d.uvarint()}
	return r, holder, d.done()
}

// minEntry is the smallest encoding of a log entry.
const minEntry = 6

func encodeGrantResp(r grantResp) []byte {
	e := enc{}
	e.bool(r.granted)
	e.uvarint(r.inc)
	e.bool(r.fresh)
	e.uvarint(r.seq)
	e.uvarint(uint64(len(r.entries)))
	for _, x := range r.entries {
		e.uvarint(uint64(x.part))
		e.str(x.bucket)
		e.str(x.key)
		e.version(x.version)
		e.bytes(x.fp[:])
	}
	return e.b
}

func decodeGrantResp(b []byte) (grantResp, error) {
	d := dec{b: b}
	r := grantResp{granted: d.bool(), inc: d.uvarint(), fresh: d.bool(), seq: d.uvarint()}
	k := d.count(minEntry)
	for i := 0; i < k; i++ {
		x := logEntry{part: int(d.uvarint()), bucket: d.str(), key: d.str(), version: d.version()}
		fp := d.bytes()
		if len(fp) != len(x.fp) || x.part < 0 || x.part >= placement.Partitions {
			d.fail()
			break
		}
		copy(x.fp[:], fp)
		r.entries = append(r.entries, x)
	}
	return r, d.done()
}

// lease: holder, layout key, incarnation, since → grant answer.
func (s *Server) opLease(_ context.Context, req []byte) ([]byte, error) {
	r, holder, err := decodeGrantReq(req)
	if err != nil {
		return nil, badRequest(err)
	}
	var parts partSet
	ok := false
	if st := s.site.Load(); st != nil && st.o.ReadLeases {
		parts, ok = st.leaseShares(holder, r.key)
	}
	return encodeGrantResp(s.grants.grant(holder, r, parts, ok)), nil
}

// Lease asks addr (a grantor) for a grant to holder.
func (c *Client) Lease(ctx context.Context, addr, holder string, r grantReq) (grantResp, error) {
	resp, err := c.op(ctx, addr, opLease, encodeGrantReq(r, holder))
	if err != nil {
		return grantResp{}, err
	}
	out, err := decodeGrantResp(resp)
	if err != nil {
		return grantResp{}, fmt.Errorf("lease answer from %s: %w", addr, err)
	}
	return out, nil
}

// ServeLeases attaches this replication layer to its RPC server: the server's grantor logs this
// node's own merges too and answers grant requests with this node's layout. Call it once,
// before Start.
func (s *Store) ServeLeases(srv *Server) {
	s.grants = srv.grants
	s.grants.setDuration(s.o.LeaseDuration)
	s.grants.noWindow.Store(s.o.BrokenNoRestartWindow)
	srv.site.Store(s)
}

// leaseLayout is the lease view of one layout generation: who shares which partitions.
type leaseLayout struct {
	gen    uint64
	key    uint64             // 0: a transition runs (no leases)
	shares map[string]partSet // other node -> the partitions both hold
	others map[int][]string   // partition this node holds -> its other replicas
}

// currentLeaseLayout returns the lease view of the current layout, computed once per generation.
func (s *Store) currentLeaseLayout() *leaseLayout {
	s.sets() // notices a membership change (and counts it in gen) first
	gen := s.layout.gen.Load()
	if ll := s.leaseView.Load(); ll != nil && ll.gen == gen {
		return ll
	}
	cur, prev := s.sets()
	ll := &leaseLayout{gen: gen, shares: map[string]partSet{}, others: map[int][]string{}}
	if prev == nil && s.layoutKnown() {
		ll.key = layoutKey(cur)
		self := s.self()
		for p := range placement.Partitions {
			reps := placement.Replicas(p, cur, s.o.RF)
			if !contains(reps, self) {
				continue
			}
			var others []string
			for _, n := range reps {
				if n != self {
					others = append(others, n)
					ps := ll.shares[n]
					ps.add(p)
					ll.shares[n] = ps
				}
			}
			ll.others[p] = others
		}
	}
	if s.layout.gen.Load() == gen {
		s.leaseView.Store(ll) // else computed across a change: used once, not kept
	}
	return ll
}

// leaseShares returns the partitions this node would grant holder a lease on: those both hold,
// when holder's layout key is this node's and no transition runs.
func (s *Store) leaseShares(holder string, key uint64) (partSet, bool) {
	if s.o.Cluster == nil || !s.layoutKnown() {
		return partSet{}, false
	}
	ll := s.currentLeaseLayout()
	if ll.key == 0 || ll.key != key {
		return partSet{}, false
	}
	ps := ll.shares[holder]
	return ps, !ps.empty()
}

// errLeaseCheck: a record a grantor listed could not be found or fetched here.
var errLeaseCheck = errors.New("lease: a listed record could not be checked")

// checkEntries makes sure this node holds every record a grantor listed (or newer): a record
// missing here (its merge is still on the way, or was lost) is fetched from the grantor and
// merged, as read repair would.
func (s *Store) checkEntries(ctx context.Context, addr string, entries []logEntry) error {
	fetched := map[[2]string]bool{}
	for _, x := range entries {
		if rec, err := s.local.KeyRecord(x.bucket, x.key, x.version); err == nil && rec.Fingerprint() == x.fp {
			continue
		}
		k := [2]string{x.bucket, x.key}
		if fetched[k] {
			continue
		}
		msgs, _, err := s.o.Client.Heads(ctx, addr, x.bucket, x.key, true)
		if err != nil {
			return fmt.Errorf("%w: %s/%s: %v", errLeaseCheck, x.bucket, x.key, err)
		}
		for _, m := range msgs {
			if err := s.writeOne(ctx, s.self(), m); err != nil {
				return fmt.Errorf("%w: merge %s/%s: %v", errLeaseCheck, x.bucket, x.key, err)
			}
		}
		fetched[k] = true
		s.Stats.LeaseFetched.Add(1)
	}
	return nil
}

// LeaseState returns how many partitions this node reads locally under a lease now, and how
// many nodes hold an unexpired grant from it (for status and metrics).
func (s *Store) LeaseState() (readable, granted int) {
	readable = s.leases.held(time.Now())
	if s.grants != nil {
		granted = s.grants.granted()
	}
	return readable, granted
}
