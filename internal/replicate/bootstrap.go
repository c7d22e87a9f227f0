package replicate

import (
	"sync"
	"sync/atomic"

	"github.com/minicloud/minicloud/internal/placement"
)

// Bootstrapping: a node that starts with an empty data dir in an existing site (a replaced disk
// that comes back with the same node id, or a new node) holds none of the records the layout says
// it holds. If it answered reads like any replica, a read quorum could be it plus one stale
// replica, and miss a write that W replicas acknowledged before the disk was lost (the write
// survives on the others, but R+W>RF no longer makes every read quorum meet them).
//
// So it announces the state in its member metadata, and every coordinator (itself included)
// needs, besides R answers in all, n-W+1 answers from replicas that are not bootstrapping (n the
// replicas of the key, W the write quorum; with the defaults, 2 of 3): a write acknowledged by W
// replicas is then still on at least one of them, since at most the bootstrapping ones lost it.
//
// It still takes writes, and its acknowledgements count towards W. That is safe: a write it
// acknowledges is on its disk (fsync'd like any other), so the W acknowledged copies all exist;
// and a read's n-W+1 non-bootstrapping answers meet the W-b copies on non-bootstrapping replicas
// (b of the acknowledgers bootstrapping) in a set of n-b' replicas (b' >= b bootstrapping in all):
// (n-W+1) + (W-b) > n-b'. Not counting them would only make writes fail while a node refills.
//
// It leaves the state once, for every partition it holds, it has been in sync with every other
// replica of the partition in the current layout: their tree roots were equal, or one
// anti-entropy sync with that replica (pushing and pulling every difference) completed, since the
// state began. A replica that is down keeps it bootstrapping (the only surviving copy of a write
// may be there); a node that is merely slow to refill costs availability, never a stale read.

// BootstrapView is the part of the cluster view that tells which peers are bootstrapping (from
// their member metadata). A Cluster without it has none.
type BootstrapView interface {
	Bootstrapping(id string) bool
}

type bootstrap struct {
	on       atomic.Bool
	mu       sync.Mutex
	done     map[int]map[string]bool // partition -> peers it was found in sync with
	announce func(bool)
}

// Bootstrap puts this node in the bootstrapping state, before Start, and records that durably:
// a node restarted before it was refilled stays in the state (the local store's Refilling tells
// the caller at the next start). announce is called with false when the node leaves it (the node
// then clears it in its member metadata).
func (s *Store) Bootstrap(announce func(bool)) error {
	if err := s.local.SetRefilling(true); err != nil {
		return err
	}
	b := &s.ae.boot
	b.mu.Lock()
	b.done = map[int]map[string]bool{}
	b.announce = announce
	b.mu.Unlock()
	b.on.Store(true)
	s.log.Info("bootstrapping: this node's data is missing; it does not count towards read quorums until anti-entropy has refilled it")
	return nil
}

// Bootstrapping reports whether this node is still being refilled.
func (s *Store) Bootstrapping() bool { return s.ae.boot.on.Load() }

// isBootstrapping reports whether node n is being refilled, as this node knows.
func (s *Store) isBootstrapping(n string) bool {
	if n == s.self() {
		return s.Bootstrapping()
	}
	if bv, ok := s.o.Cluster.(BootstrapView); ok {
		return bv.Bootstrapping(n)
	}
	return false
}

// synced records that partition p was found in sync with peer.
func (b *bootstrap) synced(p int, peer string) {
	if !b.on.Load() {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.done[p] == nil {
		b.done[p] = map[string]bool{}
	}
	b.done[p][peer] = true
}

// BootstrapProgress returns how many of the partitions this node holds are refilled, of how
// many (0, 0 when it is not bootstrapping).
func (s *Store) BootstrapProgress() (refilled, held int) {
	if !s.Bootstrapping() || s.o.Cluster == nil {
		return 0, 0
	}
	nodes := s.o.Cluster.SiteNodes(s.o.Site)
	b := &s.ae.boot
	b.mu.Lock()
	defer b.mu.Unlock()
	for p := 0; p < placement.Partitions; p++ {
		reps := placement.Replicas(p, nodes, s.o.RF)
		if !contains(reps, s.self()) {
			continue
		}
		held++
		ok := true
		for _, r := range reps {
			ok = ok && (r == s.self() || b.done[p][r])
		}
		if ok {
			refilled++
		}
	}
	return refilled, held
}

// checkRefilled ends the bootstrapping state once every partition this node holds is refilled.
func (s *Store) checkRefilled() {
	if !s.Bootstrapping() {
		return
	}
	if !s.layoutKnown() || len(s.o.Cluster.SiteNodes(s.o.Site)) < 2 && !s.otherSitesAlive() {
		// Not joined yet: the layout it holds partitions in is not the site's. (Alone in its site
		// once the mesh has answered, it is a one-node site: nothing in the site to refill from,
		// and every partition is trivially refilled; it stayed bootstrapping for ever, failing
		// every read: e2e TestGeoOutboxSurvivesSiteOutage and the other two-site tests.)
		return
	}
	refilled, held := s.BootstrapProgress()
	if refilled < held {
		s.log.Info("bootstrapping: refilling from peers", "partitions", held, "refilled", refilled)
		return
	}
	b := &s.ae.boot
	if err := s.local.SetRefilling(false); err != nil {
		s.log.Warn("bootstrapping done, but the state could not be cleared; will retry", "err", err)
		return
	}
	if !b.on.CompareAndSwap(true, false) {
		return
	}
	s.log.Info("bootstrapping done: every partition this node holds is in sync with its other replicas", "partitions", held)
	b.mu.Lock()
	announce := b.announce
	b.done = nil
	b.mu.Unlock()
	if announce != nil {
		announce(false)
	}
}
