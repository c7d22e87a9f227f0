package stream_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minicloud/minicloud/internal/stream"
)

// TestProcessSiteNodeCatchesUpAfterKill: a 3-node site (RF=3, W=2) logs a stream. n3 is
// SIGKILLed while publishers on n1 and n2 publish at QoS 1 (acknowledged with copies on n1 and
// n2). Restarted, n3 catches up from the other two: its own log then holds every acknowledged
// message exactly once, under the same id as at its origin. Then n1 and n2 are SIGKILLed, and
// everything is read back through n3 alone (the HTTP read and `minicloud stream tail`).
func TestProcessSiteNodeCatchesUpAfterKill(t *testing.T) {
	n1, n2, n3 := startSiteWithStream(t, 0)
	warm := n1.client(t, "warm")
	if tok := warm.Publish("tele/warm", 1, false, "warm:0"); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publish with every node up: %v", tok.Error())
	}
	eventually(t, 10*time.Second, "n3 logs the first message", func() bool { return len(n3.all(t, "tele")) == 1 })

	n3.Kill()
	var mu sync.Mutex
	acked := map[string]*[]int{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, pub := range []struct {
		name string
		on   *proc
	}{{"p1", n1}, {"p2", n2}, {"p3", n1}} {
		list := &[]int{}
		acked[pub.name] = list
		pipelinedPublisher(t, pub.on.client(t, pub.name), pub.name, stop, list, &mu, &wg)
	}
	time.Sleep(3 * time.Second)
	close(stop)
	wg.Wait()
	want := map[string]bool{"warm:0": true}
	for name, l := range acked {
		for _, i := range *l {
			want[fmt.Sprintf("%s:%d", name, i)] = true
		}
	}
	if len(want) < 200 {
		t.Fatalf("only %d messages acknowledged while n3 was down: the test proves nothing", len(want))
	}
	t.Logf("%d messages acknowledged while n3 was down", len(want)-1)

	// What each message is called at its origin: n3 must log it under the same id.
	ids := map[string]string{}
	for _, p := range []*proc{n1, n2} {
		for _, m := range p.all(t, "tele") {
			if prev, ok := ids[m.Payload]; ok && prev != m.ID {
				t.Fatalf("%q has id %s on one node and %s on another", m.Payload, prev, m.ID)
			}
			ids[m.Payload] = m.ID
		}
	}

	n3.Restart()
	check := func(ms []stream.Message) (missing []string, twice []string) {
		got := map[string]int{}
		for _, m := range ms {
			got[m.Payload]++
			if want[m.Payload] && m.ID != ids[m.Payload] {
				t.Fatalf("n3 logs %q as %s, its origin as %s", m.Payload, m.ID, ids[m.Payload])
			}
		}
		for p := range want {
			if got[p] == 0 {
				missing = append(missing, p)
			}
		}
		for p, n := range got {
			if n > 1 {
				twice = append(twice, p)
			}
		}
		return missing, twice
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		missing, twice := check(n3.all(t, "tele"))
		if len(twice) > 0 {
			t.Fatalf("n3 logs %d messages more than once, e.g. %v", len(twice), twice[:min(5, len(twice))])
		}
		if len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("n3 lacks %d of %d acknowledged messages 30 s after its restart, e.g. %v", len(missing), len(want), missing[:min(5, len(missing))])
		}
		time.Sleep(250 * time.Millisecond)
	}
	st := n3.cli(t, "status")
	t.Logf("status on n3 after catch-up:\n%s", st)
	if !strings.Contains(st, "peer:n1") || !strings.Contains(st, "peer:n2") {
		t.Fatalf("status on n3 shows no catch-up progress:\n%s", st)
	}

	n1.Kill()
	n2.Kill()
	missing, twice := check(n3.all(t, "tele"))
	if len(missing)+len(twice) > 0 {
		t.Fatalf("n3 alone: %d missing, %d more than once", len(missing), len(twice))
	}
	tail := n3.cli(t, "stream", "tail", "tele", "--from", "0", "--limit", "100000")
	ms, err := stream.DecodeNDJSON(strings.NewReader(tail))
	if err != nil {
		t.Fatal(err)
	}
	if missing, twice := check(ms); len(missing)+len(twice) > 0 {
		t.Fatalf("stream tail on n3 alone: %d missing, %d more than once", len(missing), len(twice))
	}
}

// TestProcessSiteNodeCatchesUpThroughPeer: n3 is SIGKILLed while a publisher on n1 publishes at
// QoS 1 (acknowledged with a copy on n2); then n1 is SIGKILLed too, and n3 restarted: it gets
// every acknowledged message from n2's copies, exactly once, under n1's ids.
func TestProcessSiteNodeCatchesUpThroughPeer(t *testing.T) {
	n1, _, n3 := startSiteWithStream(t, 0) // n2 keeps the copies n3 catches up from
	warm := n1.client(t, "warm")
	if tok := warm.Publish("tele/warm", 1, false, "warm:0"); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publish with every node up: %v", tok.Error())
	}
	eventually(t, 10*time.Second, "n3 logs the first message", func() bool { return len(n3.all(t, "tele")) == 1 })

	n3.Kill()
	var mu sync.Mutex
	acked := &[]int{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	pipelinedPublisher(t, n1.client(t, "p1"), "p1", stop, acked, &mu, &wg)
	time.Sleep(2 * time.Second)
	close(stop)
	wg.Wait()
	want := map[string]bool{"warm:0": true}
	for _, i := range *acked {
		want[fmt.Sprintf("p1:%d", i)] = true
	}
	if len(want) < 100 {
		t.Fatalf("only %d messages acknowledged: the test proves nothing", len(want))
	}
	ids := map[string]string{}
	for _, m := range n1.all(t, "tele") {
		ids[m.Payload] = m.ID
	}
	n1.Kill()
	n3.Restart()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := map[string]int{}
		for _, m := range n3.all(t, "tele") {
			got[m.Payload]++
			if got[m.Payload] > 1 {
				t.Fatalf("n3 logs %q twice", m.Payload)
			}
			if want[m.Payload] && m.ID != ids[m.Payload] {
				t.Fatalf("n3 logs %q as %s, n1 as %s", m.Payload, m.ID, ids[m.Payload])
			}
		}
		var missing []string
		for p := range want {
			if got[p] == 0 {
				missing = append(missing, p)
			}
		}
		if len(missing) == 0 {
			t.Logf("n3 has all %d messages acknowledged while it was down, through n2", len(want)-1)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("n3 lacks %d of %d acknowledged messages 30 s after its restart, with n1 down, e.g. %v", len(missing), len(want), missing[:min(5, len(missing))])
		}
		time.Sleep(250 * time.Millisecond)
	}
}
