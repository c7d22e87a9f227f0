package stream

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
)

// twoSites is a stream forwarded from site a (nodes a1, a2) to site b (node b1) over a shared
// in-memory object layer, with definitions spread by Merge.
type twoSites struct {
	objs       *fakeObjects
	a1, a2, b1 *testNode
}

func newTwoSites(t *testing.T) *twoSites {
	s := &twoSites{objs: newFakeObjects()}
	sites := func() []string { return []string{"a", "b"} }
	all := func() []*testNode { return []*testNode{s.a1, s.a2, s.b1} }
	mod := func(self **testNode) func(*Options) {
		return func(o *Options) {
			o.Sites = sites
			o.BatchMessages = 50 // many batches
			o.Broadcast = func(d Def) {
				for _, n := range all() {
					if n != nil && n != *self {
						n.m.Merge([]Def{d})
					}
				}
			}
		}
	}
	s.a1 = newTestNode(t, "a1", "a", s.objs, mod(&s.a1))
	s.a2 = newTestNode(t, "a2", "a", s.objs, mod(&s.a2))
	s.b1 = newTestNode(t, "b1", "b", s.objs, mod(&s.b1))
	if _, err := s.a1.m.Create(CreateRequest{Name: "tele", Topics: []string{"plant/#"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.a1.m.Forward("tele", ForwardRequest{Site: "b"}); err != nil {
		t.Fatal(err)
	}
	return s
}

// publishOnA publishes n messages per publisher through a1 and a2, as a site's brokers would:
// each message is logged Local on the node it entered and Peer on the other.
func (s *twoSites) publishOnA(from, n int) {
	for i := from; i < from+n; i++ {
		for _, p := range []struct {
			in, peer *testNode
			name     string
		}{{s.a1, s.a2, "p1"}, {s.a2, s.a1, "p2"}} {
			payload := fmt.Sprintf("%s:%d", p.name, i)
			p.in.publish("plant/"+p.name, payload, false)
			p.peer.publish("plant/"+p.name, payload, true)
		}
	}
}

// checkExactlyOnce checks that b holds messages 0..n-1 of both publishers once each, in each
// publisher's order.
func (s *twoSites) checkExactlyOnce(t *testing.T, n int) {
	t.Helper()
	ms := s.b1.readAll("tele")
	next := map[string]int{}
	ids := map[string]bool{}
	for _, m := range ms {
		if ids[m.ID] {
			t.Fatalf("b holds %s twice", m.ID)
		}
		ids[m.ID] = true
		pub, num, _ := strings.Cut(m.Payload, ":")
		var i int
		fmt.Sscan(num, &i)
		if i != next[pub] {
			t.Fatalf("publisher %s: message %d where %d was due", pub, i, next[pub])
		}
		next[pub]++
	}
	if next["p1"] != n || next["p2"] != n {
		t.Fatalf("b holds %v messages per publisher, want %d each", next, n)
	}
}

func (s *twoSites) imported() int { return len(s.b1.readAll("tele")) }

func TestForwardToSiteExactlyOnceInOrder(t *testing.T) {
	s := newTwoSites(t)
	s.publishOnA(0, 300)
	waitFor(t, 20*time.Second, "b imports 600 messages", func() bool { return s.imported() == 600 })
	s.checkExactlyOnce(t, 300)
	ms := s.b1.readAll("tele")
	if !strings.HasPrefix(ms[0].ID, "a") || ms[0].Time.IsZero() {
		t.Fatalf("imported message keeps no origin id or time: %+v", ms[0])
	}
	in, _ := s.a1.m.Describe("tele")
	if len(in.Forwards) != 1 || in.Forwards[0].Shipped != 300 || in.Forwards[0].Backlog != 0 {
		t.Fatalf("a1's forward: %+v", in.Forwards)
	}
	in, _ = s.b1.m.Describe("tele")
	if in.Import == nil || in.Import.Shipped != 600 {
		t.Fatalf("b1's import: %+v", in.Import)
	}
}

// The object layer is unreachable for a while (a WAN cut as the forwarder sees it): messages
// wait in the log and arrive once, in order, when it returns.
func TestForwardAcrossOutage(t *testing.T) {
	s := newTwoSites(t)
	s.publishOnA(0, 50)
	waitFor(t, 20*time.Second, "first messages on b", func() bool { return s.imported() == 100 })
	s.objs.setDown(true)
	s.publishOnA(50, 200)
	time.Sleep(300 * time.Millisecond) // forwarders fail and back off
	in, _ := s.a1.m.Describe("tele")
	if in.Forwards[0].LastError == "" || in.Forwards[0].Backlog == 0 {
		t.Fatalf("during the outage a1's forward shows %+v", in.Forwards[0])
	}
	s.objs.setDown(false)
	waitFor(t, 20*time.Second, "b catches up", func() bool { return s.imported() == 500 })
	s.checkExactlyOnce(t, 250)
}

// Crashes between a step and the save of its cursor: the forwarder forgets what it shipped (it
// finds its batches in the bucket and moves past them) and the importer forgets what it
// imported (it finds the messages in its log and drops them by id). b still has each once.
func TestForwardAndImportSurviveLostCursors(t *testing.T) {
	s := newTwoSites(t)
	s.publishOnA(0, 100)
	waitFor(t, 20*time.Second, "b imports", func() bool { return s.imported() == 200 })

	s.a1.m.Close()
	if err := deleteStates(s.a1.db, "tele"); err != nil {
		t.Fatal(err)
	}
	s.a1.open("")
	s.b1.m.Close()
	if err := deleteStates(s.b1.db, "tele"); err != nil {
		t.Fatal(err)
	}
	s.b1.open("")

	s.publishOnA(100, 100)
	waitFor(t, 20*time.Second, "b imports the rest", func() bool { return s.imported() >= 400 })
	time.Sleep(200 * time.Millisecond) // give duplicates, if any, a chance to arrive
	s.checkExactlyOnce(t, 200)
	// a1 shipped only the new messages, not its whole history again.
	in, _ := s.a1.m.Describe("tele")
	if in.Forwards[0].Shipped != 100 {
		t.Fatalf("a1 shipped %d messages after the restart, want the 100 new ones", in.Forwards[0].Shipped)
	}
	in, _ = s.b1.m.Describe("tele")
	if in.Import.Duplicates == 0 {
		t.Fatalf("b1 re-read batches but dropped no duplicates: %+v", in.Import)
	}
}

func TestForwardToCloudWritesBatchesIntoASyncedBucket(t *testing.T) {
	objs := newFakeObjects()
	n := newTestNode(t, "n1", "a", objs, nil)
	if _, err := n.m.Create(CreateRequest{Name: "tele", Topics: []string{"#"}}); err != nil {
		t.Fatal(err)
	}
	cloud, err := ParseCloudTarget("s3://upstream/edge/plant1")
	if err != nil {
		t.Fatal(err)
	}
	cloud.Endpoint, cloud.AccessKey, cloud.SecretKey = "https://s3.example", "ak", "sk"
	if _, err := n.m.Forward("tele", ForwardRequest{Cloud: &cloud}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		n.publish("x/y", fmt.Sprint(i), false)
	}
	bucket := cloudBucket("a", &cloud)
	waitFor(t, 10*time.Second, "batches in the synced bucket", func() bool {
		total := 0
		for _, k := range objs.keys(bucket, "tele/") {
			o, _ := objs.get(bucket, k)
			ms, _ := DecodeNDJSON(strings.NewReader(string(o.data)))
			total += len(ms)
		}
		return total == 20
	})
	b, _ := objs.GetBucket(t.Context(), bucket)
	if len(b.Sync) != 1 || b.Sync[0].Bucket != "upstream" || b.Sync[0].Prefix != "edge/plant1/" {
		t.Fatalf("bucket %s syncs to %+v", bucket, b.Sync)
	}
}

// Close stops every goroutine the managers started: log writers, forwarders, importers and
// archivers.
func TestManagerCloseStopsEveryGoroutine(t *testing.T) {
	s := newTwoSites(t)
	if err := s.objs.CreateBucketSites(t.Context(), "lake", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.a1.m.Archive(t.Context(), "tele", ArchiveRequest{Bucket: "lake", Format: "parquet"}); err != nil {
		t.Fatal(err)
	}
	s.publishOnA(0, 10)
	waitFor(t, 10*time.Second, "b imports", func() bool { return s.imported() == 20 })
	for _, n := range []*testNode{s.a1, s.a2, s.b1} {
		if err := n.m.Close(); err != nil {
			t.Fatal(err)
		}
	}
	var stacks string
	waitFor(t, 5*time.Second, "goroutines of this package to end", func() bool {
		buf := make([]byte, 1<<20)
		stacks = string(buf[:runtime.Stack(buf, true)])
		for _, g := range strings.Split(stacks, "\n\n") {
			if strings.Contains(g, "internal/stream.") && !strings.Contains(g, "TestManagerCloseStopsEveryGoroutine") {
				t.Logf("still running:\n%s", g)
				return false
			}
		}
		return true
	})
}
