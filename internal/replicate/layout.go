package replicate

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/minicloud/minicloud/internal/placement"
)

// Layout transitions (Garage's lesson): when the site's node set changes (a join or a
// decommission), the new replicas of a partition do not have its data yet. Until this node's
// anti-entropy has found every partition it shares with live peers in sync, writes go to the old
// and the new replica sets (each must reach its quorum) and reads wait for a quorum of each set
// (see readMet), the old one having the data.

type layout struct {
	mu    sync.Mutex
	cur   []string
	prev  []string // nil when no transition runs
	since time.Time
	// joining: this node started without a member list of its own and has not yet taken the
	// site's layout from a peer (layoutjoin.go); until then it serves no request.
	joining bool
	// adopt holds a token during an adoption (one at a time). A channel rather than a mutex: a
	// request waiting for an adoption gives up with its context, and in a testing/synctest
	// bubble a goroutine waiting on a mutex is not durably blocked, so virtual time stopped while
	// a request waited for an adoption that itself waited on the clock (TestSimLeases seed 7,
	// 600 operations, hung).
	adopt chan struct{}
	// gen counts changes of cur or prev: lease state (lease.go) belongs to one generation.
	gen atomic.Uint64
}

// sets returns the site's current node set and, during a transition, the previous one.
func (s *Store) sets() (cur, prev []string) {
	nodes := s.o.Cluster.SiteNodes(s.o.Site)
	if len(nodes) == 0 {
		nodes = []string{s.self()}
	}
	l := &s.layout
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.joining {
		// The view is partial (only the nodes gossip has shown so far): do not remember it as
		// a layout, or it would become the "previous" one of the next change.
		return nodes, nil
	}
	if !slices.Equal(nodes, l.cur) {
		if l.cur != nil && l.prev == nil {
			l.prev = l.cur // an ongoing transition keeps its older set: that is where data is
		}
		l.gen.Add(1)
		if l.cur != nil {
			l.since = time.Now()
			s.log.Info("layout changed; writing to old and new replicas until in sync", "nodes", nodes, "previous", l.prev)
		}
		l.cur = nodes
	}
	return l.cur, l.prev
}

// endTransition closes a transition once an anti-entropy round that began after it found every
// shared partition in sync.
func (s *Store) endTransition(roundStart time.Time) {
	l := &s.layout
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.prev != nil && roundStart.After(l.since) {
		s.log.Info("layout transition complete", "nodes", l.cur)
		l.prev = nil
		l.gen.Add(1)
	}
}

// Transitioning reports whether a layout transition is running (for status).
func (s *Store) Transitioning() bool {
	s.layout.mu.Lock()
	defer s.layout.mu.Unlock()
	return s.layout.prev != nil
}

// replicaSets returns the key's replicas in the current layout and, during a transition, in the
// previous one (nil otherwise).
func (s *Store) replicaSets(bucket, key string) (cur, prev []string) {
	if s.o.Cluster == nil {
		return []string{""}, nil
	}
	nodes, old := s.sets()
	p := placement.Partition(bucket, key)
	cur = placement.Replicas(p, nodes, s.o.RF)
	if old != nil {
		prev = placement.Replicas(p, old, s.o.RF)
		if slices.Equal(sorted(prev), sorted(cur)) {
			prev = nil
		}
	}
	return cur, prev
}

func sorted(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}

func union(a, b []string) []string {
	out := slices.Clone(a)
	for _, n := range b {
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// quorumCheck counts answers per replica set.
type quorumCheck struct {
	cur, prev   []string
	needCur     int
	needPrev    int
	okCur, okPv int
	// Reads also need answers from replicas that are not bootstrapping (bootstrap.go).
	safeCur, safePv         int
	needSafeCur, needSafePv int
	booting                 func(string) bool
}

func (s *Store) newQuorumCheck(cur, prev []string, q int) *quorumCheck {
	c := &quorumCheck{cur: cur, prev: prev, needCur: s.quorum(q, len(cur)), booting: s.isBootstrapping}
	c.needSafeCur = min(c.needCur, len(cur)-s.quorum(s.o.W, len(cur))+1)
	if prev != nil {
		c.needPrev = s.quorum(q, len(prev))
		c.needSafePv = min(c.needPrev, len(prev)-s.quorum(s.o.W, len(prev))+1)
	}
	return c
}

func (c *quorumCheck) ok(n string) {
	safe := !c.booting(n)
	if slices.Contains(c.cur, n) {
		c.okCur++
		if safe {
			c.safeCur++
		}
	}
	if slices.Contains(c.prev, n) {
		c.okPv++
		if safe {
			c.safePv++
		}
	}
}

// met reports whether the write quorum is reached in every set that counts.
func (c *quorumCheck) met() bool {
	return c.okCur >= c.needCur && c.okPv >= c.needPrev
}

// readMet: during a transition a read needs a quorum of both sets. The old set's quorum is what
// guarantees seeing data written before the change; the new set's quorum is what guarantees
// seeing writes coordinated by nodes whose own transition has already ended (each node tracks
// its own), which write to the new set only. Reading the old set alone returned stale values for
// acknowledged writes (e2e TestSiteNodeFailure/5nodes: a node whose transition did not end under
// load answered from two old replicas that had not been written for seconds). In each set enough
// of the answers must come from replicas that are not bootstrapping (bootstrap.go).
func (c *quorumCheck) readMet() bool {
	return c.met() && c.safeCur >= c.needSafeCur && c.safePv >= c.needSafePv
}
