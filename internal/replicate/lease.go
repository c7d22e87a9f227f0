package replicate

import (
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/minicloud/minicloud/internal/clock"
	"github.com/minicloud/minicloud/internal/crdt"
	"github.com/minicloud/minicloud/internal/object"
	"github.com/minicloud/minicloud/internal/placement"
)

// Read leases: a node answers a GET or HEAD of a key from its own replica alone (no second
// replica asked, R=1 in effect) while it holds a valid lease on the key's partition; the write
// path makes sure a lease holder has every acknowledged write. The R+W>RF guarantee (a read in
// the site never misses a write acknowledged before it began) is kept, under crashes, restarts,
// wiped disks, lost messages and partitions.
//
// Holder and grantors. Holder H asks every other node it shares partitions with (under the
// current layout: the site's node set, no transition running) for a grant, one request per
// grantor every D/4 (D, the lease duration, 1 s by default). H counts a grant valid until the
// time it SENT the request plus 0.9 D (its monotonic clock; the tenth is the margin for clock
// rates); the grantor G records grantedUntil[H] = its receive time + D. G grants only when its
// layout is H's (same node set, hashed into the request) and neither runs a transition. H reads
// partition p locally only if: it is a replica of p; no transition runs; it is not bootstrapping;
// it holds an unexpired grant from every other replica of p; and, since the first grant of each
// unbroken chain of grants, it has synced p with that replica (below).
//
// Enforcement is reported by replicas and applied by the coordinator, so that coordinators need
// no lease state and a lagging membership view cannot break it: every replica's acknowledgement
// of a merge carries the holders G has an unexpired grant for on the record's partition, each
// with the grant's remaining time (leaseNote). The coordinator answers the client only once it
// has its write quorum AND, for every holder named in any acknowledgement received, the holder's
// own acknowledgement or the end of the named time, counted from when the coordinator received
// the note (which is later than G wrote it: conservative) (leaseGate, writeLocal).
//
// That alone is not enough: a holder that missed a write (the coordinator's merge to it was lost
// or cut off) while its grants kept being renewed would read stale data once the coordinator
// stopped waiting. So each grantor keeps a log of the records it merged in the last 2 D (with a
// sequence number), and each grant answer lists the records of the shared partitions merged
// since the last answer H confirmed (H sends that sequence number, and G's incarnation, with its
// request). H extends its grant only after checking that it holds each listed record (or newer:
// it fetches and merges what it lacks, as read repair would). The argument, for a write w that G
// acknowledged at t (merge durable, logged and the note taken under one lock), and a local read
// on H at r > the acknowledgement:
//   - w logged before the first grant of H's current chain from G: G had w durably before that
//     grant, and H's sync with G (started after receiving the grant) pulled it;
//   - w logged between two grants of the chain: the later grant's answer listed it, and H held
//     it before using that grant;
//   - w logged after the last grant H uses at r: G's table then held that grant unexpired (its end,
//     receive + D, is after H's own end, send + 0.9 D, which is after r), so G's note named H and
//     the coordinator waited for H's acknowledgement (H has w) or past that end (no read at r).
//
// A merge that changed nothing (G already had the record or a newer one) is not logged: the
// record that made it so was logged when it arrived, and the same three cases apply to it. A
// grant answer whose log no longer reaches back to H's last confirmed number, or from another
// incarnation of G, is "fresh": H starts a new chain and syncs again.
//
// Restarts: a grantor that restarts loses its grant table, so for its first D + D/10 its notes
// name every other replica of the partition (the coordinator then waits for each replica's
// acknowledgement, or until the window ends): grants given before the crash end within D of it.
// The grantor's state lives in the RPC server, which exists before the node serves anything.
// A holder that restarts starts with no grants, so with new chains and a sync.
//
// Post-grant sync: writes acknowledged before H's chain began may be missing on H (it was down,
// slow, cut off, or restarted). Once it holds a grant that starts a chain, H runs anti-entropy's
// sync of the partition with that grantor (syncPeer, the one bootstrap.go's refill relies on) and
// reads locally only after it; any lapse (a grant not renewed before H's own validity ended, a
// fresh answer, a listed record H could not get) breaks the chain, and reads of the partition go
// back to R replicas until a new chain and a new sync.
//
// What needs no gating: hints, read repair and anti-entropy deliver records that were already
// acknowledged (a valid holder has them by the argument above), and they reach holders through
// the same merges anyway. Every write acknowledged to a client goes through writeLocal (PUT,
// DELETE, copies, tags, multipart parts, completion and abort, and writes from other sites).
//
// Sloppy quorum: when a replica's acknowledgement is a hint on a fallback node, the fallback has
// no lease state and the note is empty; a write acknowledged by hints alone can be missed by a
// holder as it can be by an R-replica read today (sloppy.go), until the hints are delivered.
//
// Costs, accepted: a write waits for the slowest live replica rather than the W-th; after a
// replica dies, writes to its partitions wait up to D (its grants running out), without an error;
// a write during a grantor's first D after a restart waits for every replica of its partition or
// the end of that window. Layout: a node whose membership view lags (it has not heard of a join)
// can hold a lease under the old layout like it can read an old quorum today; grants expire
// within D, and grantors that know the new layout give no new ones.

// DefaultLeaseDuration is the lease length D when Options.LeaseDuration is 0.
const DefaultLeaseDuration = time.Second

// holderValidity is the part of D a holder counts a grant valid for, from its request's sending.
func holderValidity(d time.Duration) time.Duration { return d * 9 / 10 }

// restartWindow is how long after its start a grantor names every replica in its notes.
func restartWindow(d time.Duration) time.Duration { return d + d/10 }

// logKeep is how long a grantor keeps merged records in its log.
func logKeep(d time.Duration) time.Duration { return 2 * d }

// partSet is a set of partitions.
type partSet [placement.Partitions / 64]uint64

func (s *partSet) add(p int)      { s[p/64] |= 1 << (p % 64) }
func (s *partSet) has(p int) bool { return s[p/64]&(1<<(p%64)) != 0 }
func (s *partSet) empty() bool    { return *s == partSet{} }
func partsOf(ps []int) (s partSet) {
	for _, p := range ps {
		s.add(p)
	}
	return s
}
func (s *partSet) list() (out []int) {
	for p := range placement.Partitions {
		if s.has(p) {
			out = append(out, p)
		}
	}
	return out
}

// layoutKey identifies a site layout (its node set) in grant requests.
func layoutKey(nodes []string) uint64 {
	h := fnv.New64a()
	for _, n := range sorted(nodes) {
		h.Write([]byte(n))
		h.Write([]byte{0})
	}
	return h.Sum64() | 1 // never 0: 0 means "no layout"
}

// The grantor side.

// grantor is a node's table of the grants it gave and its log of merged records. It belongs to
// the RPC server, which answers merges before the replication layer exists (see restarts).
type grantor struct {
	clk clock.Clock
	d   atomic.Int64 // lease duration (ns)
	// noWindow: no restart window (Options.BrokenNoRestartWindow, tests only)
	noWindow atomic.Bool
	started  time.Time
	inc      uint64 // this incarnation: a grantor that restarted is another one

	mu     sync.Mutex
	grants map[string]grantRec
	log    []logEntry // contiguous sequence numbers, oldest first
	seq    uint64     // the newest entry's number (0: none yet)
}

type grantRec struct {
	until time.Time
	parts partSet
}

// logEntry is one record merged on the grantor.
type logEntry struct {
	seq     uint64
	at      time.Time
	part    int
	bucket  string
	key     string
	version crdt.Version
	fp      fingerprint
}

// leaseNote is what one replica's acknowledgement says about leases on the record's partition.
type leaseNote struct {
	holders []heldLease
	all     time.Duration // > 0: restart window, every other replica may hold a lease this long
}

type heldLease struct {
	node   string
	remain time.Duration
}

func newGrantor(clk clock.Clock) *grantor {
	if clk == nil {
		clk = clock.Real{}
	}
	g := &grantor{clk: clk, started: clk.Now(), inc: rand.Uint64() | 1, grants: map[string]grantRec{}}
	g.d.Store(int64(DefaultLeaseDuration))
	return g
}

func (g *grantor) duration() time.Duration { return time.Duration(g.d.Load()) }

// setDuration sets D. The restart window uses the longer of the default and D (grants given
// before a restart may have had either).
func (g *grantor) setDuration(d time.Duration) {
	if d > 0 {
		g.d.Store(int64(d))
	}
}

func (g *grantor) window() time.Duration {
	return restartWindow(max(g.duration(), DefaultLeaseDuration))
}

// merged logs a record merged durably on this node (changed: the store changed) and returns the
// note for its acknowledgement. Logging and the note are one step under the lock, ordered with
// grants (see the argument above).
func (g *grantor) merged(m object.RecordMsg, changed bool) leaseNote {
	p := placement.Partition(m.Bucket, m.Key)
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.clk.Now()
	if changed && m.Kind == 0 {
		g.seq++
		g.log = append(g.log, logEntry{seq: g.seq, at: now, part: p, bucket: m.Bucket, key: m.Key, version: m.Version, fp: m.Fingerprint()})
	}
	g.prune(now)
	var n leaseNote
	for h, gr := range g.grants {
		if now.Before(gr.until) && gr.parts.has(p) {
			n.holders = append(n.holders, heldLease{node: h, remain: gr.until.Sub(now)})
		}
	}
	if end := g.started.Add(g.window()); now.Before(end) && !g.noWindow.Load() {
		n.all = end.Sub(now)
	}
	return n
}

// prune drops log entries older than logKeep and grants that ended.
func (g *grantor) prune(now time.Time) {
	cut := now.Add(-logKeep(g.duration()))
	i := 0
	for i < len(g.log) && g.log[i].at.Before(cut) {
		i++
	}
	if i > 0 {
		g.log = slices.Delete(g.log, 0, i)
	}
	for h, gr := range g.grants {
		if !now.Before(gr.until) {
			delete(g.grants, h)
		}
	}
}

// grantReq is a holder's request: its layout, the incarnation of this grantor it knows and the
// last log number it confirmed from it.
type grantReq struct {
	key   uint64
	inc   uint64
	since uint64
}

// grantResp is a grantor's answer.
type grantResp struct {
	granted bool
	inc     uint64
	fresh   bool // the holder must start a new chain (and sync): entries are not complete
	seq     uint64
	entries []logEntry // records of the shared partitions merged since the holder's `since`
}

// grant answers holder's request for the partitions parts (both replicate them under the same
// layout); ok is false when the layouts differ or a transition runs (no grant then).
func (g *grantor) grant(holder string, req grantReq, parts partSet, ok bool) grantResp {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.clk.Now()
	g.prune(now)
	resp := grantResp{inc: g.inc, seq: g.seq}
	if !ok || parts.empty() {
		return resp
	}
	resp.granted = true
	// A holder with no chain from this grantor sends inc 0, never an incarnation's number.
	resp.fresh = req.inc != g.inc || req.since > g.seq ||
		len(g.log) == 0 && req.since != g.seq || len(g.log) > 0 && req.since+1 < g.log[0].seq
	if !resp.fresh {
		for _, e := range g.log {
			if e.seq > req.since && parts.has(e.part) {
				resp.entries = append(resp.entries, e)
			}
		}
	}
	g.grants[holder] = grantRec{until: now.Add(g.duration()), parts: parts}
	return resp
}

// granted counts the holders with an unexpired grant (for metrics).
func (g *grantor) granted() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.clk.Now()
	k := 0
	for _, gr := range g.grants {
		if now.Before(gr.until) {
			k++
		}
	}
	return k
}
