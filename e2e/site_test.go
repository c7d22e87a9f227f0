package e2e

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/minicloud/minicloud/internal/placement"
	"github.com/minicloud/minicloud/internal/testserver"
)

// TestSiteNodeFailure: a site of real processes (RF=3, W=2, R=2) under a mixed PUT, GET, LIST
// and DELETE load from aws-sdk-go-v2 clients spread over its nodes loses one node to SIGKILL;
// the load goes on, then the node comes back, with its disk intact or wiped (same node id, an
// empty data dir: a replaced disk). The test demands that
//   - clients of the other nodes see no error at all, and clients of the returning node none
//     once it has rejoined;
//   - the history has no lost acknowledged write and no read that misses one (history_test.go);
//   - afterwards every node returns the same bytes for every key, and lists the same;
//   - the node has caught up within 60 s of its restart: no hint pending anywhere, every
//     replica of every partition holds the same records (digests asked of each replica), and
//     each node's anti-entropy reports all partitions in sync;
//   - its own data dir holds the newest version of every key it replicates, byte for byte.
func TestSiteNodeFailure(t *testing.T) {
	for _, c := range []struct {
		nodes int
		wipe  bool
	}{{3, false}, {3, true}, {5, false}, {5, true}} {
		name := fmt.Sprintf("%dnodes/restart", c.nodes)
		if c.wipe {
			name = fmt.Sprintf("%dnodes/wiped", c.nodes)
		}
		t.Run(name, func(t *testing.T) { siteNodeFailure(t, c.nodes, c.wipe) })
	}
}

func siteNodeFailure(t *testing.T, size int, wiped bool) {
	ctx := testserver.Context(t)
	s := startSite(t, size)
	t.Cleanup(s.dumpLogs)
	s.createBucket(ctx, "site")
	victim := s.nodes[size-1] // not the first node: the others join through it
	survivors := s.without(victim)

	// Two clients per node.
	clients := append(slices.Clone(s.nodes), s.nodes...)
	l := startLoad(ctx, t, loadOpts{bucket: "site", prefix: "k/", keys: 40, nodes: clients, maxOps: 3000, seed: time.Now().UnixNano()})
	defer l.Stop()
	poll(t, 30*time.Second, "writes before the kill", func() string {
		if n := l.hist.ackedWritesSince(0); n < 60 {
			return fmt.Sprintf("%d acknowledged writes", n)
		}
		return ""
	})

	killAt := since()
	t.Logf("%.3fs: SIGKILL %s", killAt.Seconds(), victim.ID)
	victim.Kill()
	if wiped {
		wipe(t, victim)
	}
	// The load goes on until the other nodes have noticed the death and taken more writes.
	var detected time.Duration
	poll(t, 30*time.Second, "writes with "+victim.ID+" down", func() string {
		if detected == 0 {
			seen := true
			for _, n := range survivors {
				st, err := status(ctx, n)
				seen = seen && err == nil && st.state(victim.ID) == "down"
			}
			if !seen {
				return "not every node sees " + victim.ID + " down"
			}
			detected = since() - killAt
		}
		if n := l.hist.ackedWritesSince(detected + killAt); n < 60 {
			return fmt.Sprintf("%d acknowledged writes since %s was seen down", n, victim.ID)
		}
		return ""
	})
	outage := l.hist.ackedWritesSince(killAt)

	restart := time.Now()
	restartAt := since()
	t.Logf("%.3fs: restart %s", restartAt.Seconds(), victim.ID)
	victim.Restart()
	poll(t, 30*time.Second, victim.ID+" rejoined", func() string {
		st, err := status(ctx, victim)
		if err != nil {
			return err.Error()
		}
		for _, n := range s.nodes {
			if st.state(n.ID) != "alive" {
				return fmt.Sprintf("%s sees %s as %q", victim.ID, n.ID, st.state(n.ID))
			}
		}
		if st.Buckets == 0 {
			return victim.ID + " knows no bucket yet"
		}
		return ""
	})
	rejoinedAt := since()
	t.Logf("%.3fs: %s has rejoined", rejoinedAt.Seconds(), victim.ID)
	poll(t, 30*time.Second, "writes after the rejoin", func() string {
		if n := l.hist.ackedWritesSince(rejoinedAt); n < 60 {
			return fmt.Sprintf("%d acknowledged writes", n)
		}
		return ""
	})
	l.Stop()

	rounds := s.rounds(ctx, s.nodes)
	s.waitInSync(ctx, 60*time.Second-time.Since(restart), s.nodes, rounds)
	catchUp := time.Since(restart)

	// Clients of the killed node fail from the kill until it has rejoined; nobody else may.
	bad := l.errorsWhere(func(node string, at time.Duration) bool {
		return node != victim.ID || at < killAt || at > rejoinedAt
	})
	excused := l.errorsWhere(func(node string, at time.Duration) bool {
		return node == victim.ID && at >= killAt && at <= rejoinedAt
	})
	if len(bad) > 0 {
		t.Errorf("%d client errors outside the killed node's outage:\n%s", len(bad), summary(bad, 20))
	}

	final := l.finalReads(ctx, t, s.nodes)
	for _, n := range s.nodes {
		l.checkListing(ctx, t, n, final)
	}
	if v := l.hist.check(); len(v) > 0 {
		t.Errorf("%d history violations:\n%s", len(v), l.hist.explainFirst(v, 3))
	}

	// The returning node's own copy of every key it replicates.
	ids := s.ids(s.nodes)
	held := 0
	for key, want := range final {
		if !slices.Contains(placement.Replicas(placement.Partition("site", key), ids, siteRF), victim.ID) {
			continue
		}
		held++
		if err := s.ownCopy(ctx, victim, "site", key, want); err != nil {
			t.Error(err)
		}
	}

	var pushed, delivered int64
	for _, n := range s.nodes {
		st, err := status(ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		pushed += st.Repair.Pushed
		delivered += st.Repair.HintsDelivered
	}
	puts, dels, reads := l.hist.counts()
	ops, errs := l.totalOps()
	t.Logf("%d nodes, %s %s: %d ops (%d acked PUT, %d acked DELETE, %d reads checked), %d errors, all %d on %s's clients during its outage",
		size, victim.ID, map[bool]string{false: "restarted", true: "wiped and restarted"}[wiped], ops, puts, dels, reads, errs, len(excused), victim.ID)
	t.Logf("death seen by all after %.1fs; %d writes acknowledged while it was down; rejoined %.1fs after restart; caught up %.1fs after restart (%d records pushed by anti-entropy, %d hints delivered); its own copy of %d/%d keys checked",
		detected.Seconds(), outage, (rejoinedAt - restartAt).Seconds(), catchUp.Seconds(), pushed, delivered, held, len(final))
}
