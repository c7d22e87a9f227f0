package replicate

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/minicloud/minicloud/internal/placement"
)

// The holder's and the coordinator's state of read leases (lease.go).

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
