package e2e

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/minicloud/minicloud/internal/placement"
	"github.com/minicloud/minicloud/internal/testserver"
)

// TestSiteJoinAndDecommission: a 3-node site holding data takes a 4th node, then loses another
// by decommission, both under a mixed client load. No client sees an error, the history check
// passes, every object reads back byte-identical from every remaining node, every new replica
// holds its partitions' data, and the data that moved is reported against the minimum.
func TestSiteJoinAndDecommission(t *testing.T) {
	ctx := testserver.Context(t)
	s := startSite(t, 3)
	t.Cleanup(s.dumpLogs)
	s.createBucket(ctx, "base")
	s.createBucket(ctx, "site")
	base := preload(ctx, t, s, "base", 150)
	s.waitSame(ctx, 30*time.Second, s.nodes)

	// Join: s3 comes in through s0 while clients of s0, s1 and s2 keep working.
	old := s.ids(s.nodes)
	before := s.holdings(ctx, "base", base, s.nodes)
	blobs := blobSizes(s.nodes)
	pushed := s.pushed(ctx, s.nodes)
	l1 := startLoad(ctx, t, loadOpts{bucket: "site", prefix: "j/", keys: 40, nodes: append(slices.Clone(s.nodes), s.nodes...),
		maxOps: 3000, seed: time.Now().UnixNano(), smallOnly: true})
	defer l1.Stop()
	waitWrites(t, l1, 0, 60)
	joinAt := since()
	s3n := s.add("s3")
	s.waitAlive(ctx, 30*time.Second, s.nodes, s.ids(s.nodes))
	waitWrites(t, l1, joinAt, 100)
	l1.Stop()
	s.waitInSync(ctx, 60*time.Second, s.nodes, s.rounds(ctx, s.nodes))
	s.reportMove(ctx, "join of s3", base, old, s.nodes, before, blobs, pushed)
	if bad := l1.errorsWhere(func(string, time.Duration) bool { return true }); len(bad) > 0 {
		t.Errorf("%d client errors during the join:\n%s", len(bad), summary(bad, 20))
	}

	// Decommission s1: clients of every node, s1 included, keep working until its data has
	// moved; then it is stopped for good.
	s1 := s.nodes[1]
	old = s.ids(s.nodes)
	before = s.holdings(ctx, "base", base, s.nodes)
	blobs = blobSizes(s.nodes)
	pushed = s.pushed(ctx, s.nodes)
	l2 := startLoad(ctx, t, loadOpts{bucket: "site", prefix: "d/", keys: 40, nodes: append(slices.Clone(s.nodes), s.nodes...),
		maxOps: 3000, seed: time.Now().UnixNano(), smallOnly: true})
	defer l2.Stop()
	waitWrites(t, l2, 0, 60)
	decomAt := since()
	cli(t, s.nodes[0].Endpoint(), "node", "decommission", s1.ID)
	remaining := s.without(s1)
	poll(t, 30*time.Second, "every node sees s1 decommissioned", func() string {
		for _, n := range s.nodes {
			st, err := status(ctx, n)
			if err != nil {
				return err.Error()
			}
			if st.state(s1.ID) != "decommissioned" {
				return fmt.Sprintf("%s sees s1 as %q", n.ID, st.state(s1.ID))
			}
		}
		return ""
	})
	waitWrites(t, l2, decomAt, 100)
	l2.Stop()
	s.waitInSync(ctx, 60*time.Second, remaining, s.rounds(ctx, remaining))
	s.reportMove(ctx, "decommission of s1", base, old, remaining, before, blobs, pushed)
	if bad := l2.errorsWhere(func(string, time.Duration) bool { return true }); len(bad) > 0 {
		t.Errorf("%d client errors during the decommission:\n%s", len(bad), summary(bad, 20))
	}
	s1.Kill()

	// Everything reads back from every remaining node, and the histories hold.
	for _, n := range remaining {
		c := sdkClient(n.Endpoint())
		for key, size := range base {
			if _, b, err := readRaw(ctx, c, "base", key); err != nil || !bytes.Equal(b, content(key, size)) {
				t.Errorf("base/%s via %s: %d bytes, %v", key, n.ID, len(b), err)
			}
		}
	}
	for _, l := range []*load{l1, l2} {
		final := l.finalReads(ctx, t, remaining)
		for _, n := range remaining {
			l.checkListing(ctx, t, n, final)
		}
		if v := l.hist.check(); len(v) > 0 {
			t.Errorf("%d history violations (%s):\n%s", len(v), l.o.prefix, l.hist.explainFirst(v, 3))
		}
		ops, _ := l.totalOps()
		puts, dels, reads := l.hist.counts()
		t.Logf("load %s: %d ops (%d acked PUT, %d acked DELETE, %d reads checked), no errors", l.o.prefix, ops, puts, dels, reads)
	}
	_ = s3n
}

// preload writes n objects of 70-130 KiB (chunked, so that chunk stores measure moved data)
// through every node and returns their sizes by key.
func preload(ctx context.Context, t *testing.T, s *site, bucket string, n int) map[string]int {
	t.Helper()
	sizes := map[string]int{}
	for i := 0; i < n; i++ {
		sizes[fmt.Sprintf("b/%03d", i)] = 70<<10 + (i*7919)%(60<<10)
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	next := make(chan string, n)
	for k := range sizes {
		next <- k
	}
	close(next)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := sdkClient(s.nodes[w%len(s.nodes)].Endpoint())
			for k := range next {
				data := content(k, sizes[k])
				if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(k), Body: bytes.NewReader(data)}); err != nil {
					errs <- fmt.Errorf("preload %s: %w", k, err)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	return sizes
}

// readRaw GETs an object's bytes.
func readRaw(ctx context.Context, c *s3.Client, bucket, key string) (int64, []byte, error) {
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return 0, nil, err
	}
	defer out.Body.Close()
	var b bytes.Buffer
	_, err = b.ReadFrom(out.Body)
	return aws.ToInt64(out.ContentLength), b.Bytes(), err
}

func waitWrites(t *testing.T, l *load, after time.Duration, n int) {
	t.Helper()
	poll(t, 30*time.Second, fmt.Sprintf("%d writes", n), func() string {
		if got := l.hist.ackedWritesSince(after); got < n {
			return fmt.Sprintf("%d acknowledged writes", got)
		}
		return ""
	})
}

// waitSame waits until no hint is pending and every replica of every partition holds the same
// records (asked directly, without waiting for an anti-entropy round to say so).
func (s *site) waitSame(ctx context.Context, d time.Duration, layout []*siteNode) {
	s.t.Helper()
	poll(s.t, d, "replicas equal", func() string {
		for _, n := range layout {
			st, err := status(ctx, n)
			if err != nil {
				return err.Error()
			}
			if st.hints() > 0 {
				return fmt.Sprintf("%s has hints pending %v", n.ID, st.Hints)
			}
		}
		ps, err := s.diverged(ctx, layout)
		if err != nil {
			return err.Error()
		}
		if len(ps) > 0 {
			return fmt.Sprintf("%d partitions differ", len(ps))
		}
		return ""
	})
}

// holdings tells, per node, which of the keys its own store holds a record of.
func (s *site) holdings(ctx context.Context, bucket string, keys map[string]int, nodes []*siteNode) map[string]map[string]bool {
	s.t.Helper()
	out := map[string]map[string]bool{}
	for _, n := range nodes {
		addr, err := s.rpcAddr(n)
		if err != nil {
			s.t.Fatal(err)
		}
		out[n.ID] = map[string]bool{}
		for k := range keys {
			msgs, err := s.rpc.Key(ctx, addr, bucket, k)
			if err != nil {
				s.t.Fatalf("records of %s on %s: %v", k, n.ID, err)
			}
			out[n.ID][k] = len(msgs) > 0
		}
	}
	return out
}

func blobSizes(nodes []*siteNode) map[string]int64 {
	out := map[string]int64{}
	for _, n := range nodes {
		out[n.ID] = blobBytes(n)
	}
	return out
}

// pushed sums the records anti-entropy pushed or pulled and the hints delivered, on every node.
func (s *site) pushed(ctx context.Context, nodes []*siteNode) int64 {
	s.t.Helper()
	var total int64
	for _, n := range nodes {
		st, err := status(ctx, n)
		if err != nil {
			s.t.Fatal(err)
		}
		total += st.Repair.Pushed + st.Repair.Pulled + st.Repair.HintsDelivered
	}
	return total
}

// reportMove measures what a layout change moved of the preloaded objects and compares it with
// the minimum: "ideal" counts every replica the layout reassigned (new replica set minus old),
// "needed" only those whose new node did not already hold the object (a node keeps what it
// replicated before, so a decommission after a join may find data already in place). It fails
// the test when a new replica lacks an object or an object went to a node that does not
// replicate it.
func (s *site) reportMove(ctx context.Context, what string, keys map[string]int, oldLayout []string, now []*siteNode,
	before map[string]map[string]bool, blobsBefore map[string]int64, pushedBefore int64) {
	s.t.Helper()
	newLayout := s.ids(now)
	after := s.holdings(ctx, "base", keys, now)
	var moved, movedB, ideal, idealB, needed, neededB, stray, missing int
	for k, size := range keys {
		p := placement.Partition("base", k)
		oldR, newR := placement.Replicas(p, oldLayout, siteRF), placement.Replicas(p, newLayout, siteRF)
		for _, n := range newLayout {
			gained := after[n][k] && !before[n][k]
			isNew := slices.Contains(newR, n) && !slices.Contains(oldR, n)
			if gained {
				moved++
				movedB += size
				if !slices.Contains(newR, n) {
					stray++
				}
			}
			if isNew {
				ideal++
				idealB += size
				if !before[n][k] {
					needed++
					neededB += size
				}
			}
			if slices.Contains(newR, n) && !after[n][k] {
				missing++
			}
		}
	}
	var disk int64
	for _, n := range now {
		if d := blobBytes(n) - blobsBefore[n.ID]; d > 0 {
			disk += d
		}
	}
	mib := func(b int) float64 { return float64(b) / (1 << 20) }
	s.t.Logf("%s: %d objects (%.1f MiB) moved to new replicas; ideal (replicas reassigned) %d (%.1f MiB): moved/ideal %.2f; needed (not yet on the new replica) %d: moved/needed %.2f; chunk stores grew %.1f MiB; %d records sent by anti-entropy and hints (all buckets)",
		what, moved, mib(movedB), ideal, mib(idealB), float64(moved)/float64(max(ideal, 1)), needed, float64(moved)/float64(max(needed, 1)),
		float64(disk)/(1<<20), s.pushed(ctx, now)-pushedBefore)
	if missing > 0 {
		s.t.Errorf("%s: %d (object, new replica) pairs missing after the move", what, missing)
	}
	if stray > 0 {
		s.t.Errorf("%s: %d objects copied to nodes that do not replicate them", what, stray)
	}
}
