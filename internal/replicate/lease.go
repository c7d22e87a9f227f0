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

// The holder side.

// holder is this node's leases: per grantor, the unbroken chain of grants it holds, and per
// partition whether it may read locally.
type holder struct {
	mu     sync.Mutex
	d      time.Duration
	gen    uint64            // the layout generation the state is for (layout.gen)
	key    uint64            // its layout key
	others map[int][]string  // partition -> the other replicas (partitions this node holds)
	peers  map[string]*chain // grantor -> chain
	epoch  uint64            // the last chain's epoch
	base   time.Time         // origin of serving
	// serving[p]: until when (ns after base) partition p may be read locally; 0: not.
	serving [placement.Partitions]atomic.Int64
	servGen atomic.Uint64 // gen the serving times belong to
}

// chain is the grants held from one grantor since the last lapse.
type chain struct {
	inc, since uint64
	parts      partSet
	validUntil time.Time
	epoch      uint64         // numbers the chains of this holder: a new chain, a new epoch
	synced     map[int]uint64 // partition -> epoch of the chain a completed sync started under
}

func newHolder(d time.Duration, base time.Time) *holder {
	return &holder{d: d, base: base, peers: map[string]*chain{}}
}

// reset starts over for a layout (generation gen, key) in which this node holds the partitions of
// others (partition -> its other replicas); key 0: no leases in this layout (a transition).
func (h *holder) reset(gen, key uint64, others map[int][]string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.gen, h.key, h.others = gen, key, others
	h.peers = map[string]*chain{}
	h.servGen.Store(gen)
	for p := range h.serving {
		h.serving[p].Store(0)
	}
}

// layout returns the generation and key the state is for.
func (h *holder) layout() (gen, key uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.gen, h.key
}

// request returns what to send grantor peer.
func (h *holder) request(peer string) grantReq {
	h.mu.Lock()
	defer h.mu.Unlock()
	req := grantReq{key: h.key}
	if c := h.peers[peer]; c != nil {
		req.inc, req.since = c.inc, c.since
	}
	return req
}

// renewed records a grant from peer for parts, asked at send and received at recv, whose listed
// entries this node holds.
func (h *holder) renewed(gen uint64, peer string, parts partSet, resp grantResp, send, recv time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if gen != h.gen {
		return // the layout changed meanwhile
	}
	c := h.peers[peer]
	if c == nil {
		c = &chain{synced: map[int]uint64{}}
		h.peers[peer] = c
	}
	if c.epoch == 0 || resp.fresh || c.inc != resp.inc || c.parts != parts || !recv.Before(c.validUntil) {
		h.epoch++
		c.epoch = h.epoch // a new chain: a sync must follow
	}
	c.inc, c.since, c.parts = resp.inc, resp.seq, parts
	if v := send.Add(holderValidity(h.d)); v.After(c.validUntil) {
		c.validUntil = v
	}
	h.recompute()
}

// broken ends the chain with peer at once (a listed record could not be checked).
func (h *holder) broken(peer string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if c := h.peers[peer]; c != nil {
		c.validUntil = time.Time{}
		h.recompute()
	}
}

// epochOf returns the epoch of the chain with peer (0: none): a sync that starts after this
// call and completes makes the chain's partitions readable (synced with that epoch).
func (h *holder) epochOf(peer string) uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	if c := h.peers[peer]; c != nil {
		return c.epoch
	}
	return 0
}

// synced records that partitions ps were synced with peer by a sync that started after
// epochOf(peer) returned epoch.
func (h *holder) synced(peer string, ps []int, epoch uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	c := h.peers[peer]
	if c == nil || epoch == 0 || c.epoch != epoch {
		return // no chain, or a new one began since: the sync may predate its grant
	}
	for _, p := range ps {
		c.synced[p] = epoch
	}
	h.recompute()
}

// needSync returns, per grantor, the partitions of a valid chain not synced under it.
func (h *holder) needSync(now time.Time) map[string][]int {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := map[string][]int{}
	for peer, c := range h.peers {
		if !now.Before(c.validUntil) {
			continue
		}
		for _, p := range c.parts.list() {
			if c.synced[p] != c.epoch {
				out[peer] = append(out[peer], p)
			}
		}
	}
	return out
}

// recompute derives serving from the chains (h.mu held).
func (h *holder) recompute() {
	for p := range placement.Partitions {
		others, mine := h.others[p]
		var until time.Time
		ok := mine && len(others) > 0
		for i, r := range others {
			c := h.peers[r]
			if c == nil || !c.parts.has(p) || c.synced[p] != c.epoch {
				ok = false
				break
			}
			if i == 0 || c.validUntil.Before(until) {
				until = c.validUntil
			}
		}
		v := int64(0)
		if ok && until.After(h.base) {
			v = int64(until.Sub(h.base))
		}
		h.serving[p].Store(v)
	}
}

// serves reports whether partition p may be read locally at now, in layout generation gen.
func (h *holder) serves(p int, gen uint64, now time.Time) bool {
	if h.servGen.Load() != gen {
		return false
	}
	v := h.serving[p].Load()
	return v != 0 && now.Sub(h.base) < time.Duration(v)
}

// held counts the partitions that may be read locally at now.
func (h *holder) held(now time.Time) int {
	k := 0
	for p := range h.serving {
		if v := h.serving[p].Load(); v != 0 && now.Sub(h.base) < time.Duration(v) {
			k++
		}
	}
	return k
}

// The coordinator side.

// leaseGate is what a write's coordinator still waits for because of leases.
type leaseGate struct {
	reps     []string             // the key's replicas (both sets during a transition)
	until    map[string]time.Time // holder -> end of the longest grant named for it
	acked    map[string]bool      // replicas that acknowledged themselves
	allUntil time.Time            // a restart window: every replica, or this time
}

func newLeaseGate(reps []string) *leaseGate {
	return &leaseGate{reps: reps, until: map[string]time.Time{}, acked: map[string]bool{}}
}

// note adds a replica's note, received at now.
func (g *leaseGate) note(n leaseNote, now time.Time) {
	for _, hl := range n.holders {
		if end := now.Add(hl.remain); end.After(g.until[hl.node]) {
			g.until[hl.node] = end
		}
	}
	if n.all > 0 {
		if end := now.Add(n.all); end.After(g.allUntil) {
			g.allUntil = end
		}
	}
}

// ack records node's own acknowledgement (not a hint standing in for it).
func (g *leaseGate) ack(node string) { g.acked[node] = true }

// wait returns when the gate may open at the earliest, and false when it is open at now.
func (g *leaseGate) wait(now time.Time) (time.Time, bool) {
	var next time.Time
	waiting := false
	later := func(t time.Time) {
		if !waiting || t.Before(next) {
			next = t
		}
		waiting = true
	}
	for n, end := range g.until {
		if !g.acked[n] && now.Before(end) {
			later(end)
		}
	}
	if now.Before(g.allUntil) {
		for _, r := range g.reps {
			if !g.acked[r] {
				later(g.allUntil)
				break
			}
		}
	}
	return next, waiting
}
