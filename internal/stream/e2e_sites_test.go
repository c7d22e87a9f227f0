package stream_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/minicloud/minicloud/internal/testserver"
)

const meshSecret = "MINICLOUD_MESH_SECRET=stream-test-mesh-secret-0123456789"

// startSite starts a one-node site of a mesh; join is the gossip address of a node to join.
func startSite(t *testing.T, site, join string) (*proc, string) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts minicloud processes")
	}
	mesh, mqtt := testserver.FreeAddr(t), testserver.FreeAddr(t)
	args := []string{"--mqtt", mqtt, "--mesh", mesh, "--site", site}
	if join != "" {
		args = append(args, "--join", join)
	}
	n := &testserver.Node{Data: t.TempDir(), Addr: testserver.FreeAddr(t), Args: args, Env: []string{meshSecret}}
	n.Init(t)
	n.Restart()
	t.Cleanup(n.Kill)
	return &proc{n, mqtt}, mesh
}

func eventually(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// TestProcessForwardToSiteAcrossKill: a stream is forwarded from site a to site b; b is killed
// during steady QoS 1 publishing on a and restarted a few seconds later. In the end b has every
// message acknowledged on a exactly once, in each publisher's order.
func TestProcessForwardToSiteAcrossKill(t *testing.T) {
	a, aMesh := startSite(t, "a", "")
	b, _ := startSite(t, "b", aMesh)
	eventually(t, 30*time.Second, "b sees site a", func() bool { return strings.Contains(b.cli(t, "status"), "a") })
	a.cli(t, "stream", "create", "tele", "--topics", "tele/#")
	eventually(t, 30*time.Second, "the definition reaches b", func() bool { return describes(b, "tele") })
	if out := a.cli(t, "stream", "forward", "tele", "--to-site", "b"); !strings.Contains(out, "now forwards to site b") {
		t.Fatalf("forward: %s", out)
	}

	var mu sync.Mutex
	acked := map[string][]int{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, name := range []string{"p1", "p2"} {
		c := a.client(t, name)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				tok := c.Publish("tele/"+name, 1, false, fmt.Sprintf("%s:%d", name, i))
				if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
					t.Errorf("publish on a: %v", tok.Error())
					return
				}
				mu.Lock()
				acked[name] = append(acked[name], i)
				mu.Unlock()
				time.Sleep(5 * time.Millisecond)
			}
		}()
	}
	time.Sleep(2 * time.Second)
	b.Kill()
	time.Sleep(4 * time.Second) // a keeps publishing; its batches wait in the outbox for b
	b.Restart()
	time.Sleep(2 * time.Second)
	close(stop)
	wg.Wait()
	total := len(acked["p1"]) + len(acked["p2"])
	t.Logf("%d messages acknowledged on a", total)

	deadline := time.Now().Add(90 * time.Second)
	for len(b.all(t, "tele")) < total {
		if time.Now().After(deadline) {
			prev := int64(-1)
			for _, m := range b.all(t, "tele") {
				var seq int64
				fmt.Sscanf(m.ID[strings.LastIndexByte(m.ID, '-')+1:], "%d", &seq)
				if seq != prev+1 {
					t.Logf("gap in b: %d then %s (%s) at b offset %d", prev, m.ID, m.Payload, m.Offset)
				}
				prev = seq
			}
			t.Fatalf("b has %d of %d messages after 90s\na: %s\nb: %s\na status: %s\nb log: %s", len(b.all(t, "tele")), total,
				a.cli(t, "stream", "describe", "tele"), b.cli(t, "stream", "describe", "tele"), a.cli(t, "status"), b.Log())
		}
		time.Sleep(250 * time.Millisecond)
	}
	time.Sleep(2 * time.Second) // duplicates, if any, would arrive now
	next := map[string]int{}
	seen := map[string]bool{}
	for _, m := range b.all(t, "tele") {
		if seen[m.ID] {
			t.Fatalf("b holds %s twice", m.ID)
		}
		seen[m.ID] = true
		var pub string
		var i int
		if _, err := fmt.Sscanf(strings.Replace(m.Payload, ":", " ", 1), "%s %d", &pub, &i); err != nil {
			t.Fatalf("payload %q: %v", m.Payload, err)
		}
		if i != next[pub] {
			t.Fatalf("b: %s message %d where %d was due", pub, i, next[pub])
		}
		next[pub]++
	}
	for pub, list := range acked {
		if next[pub] != len(list) {
			t.Fatalf("b has %d messages of %s, a acknowledged %d", next[pub], pub, len(list))
		}
	}
}

func describes(p *proc, name string) bool {
	req, _ := http.NewRequest("GET", p.Endpoint()+"/_minicloud/admin/v1/streams/"+name, nil)
	req.SetBasicAuth(testserver.AccessKey, testserver.SecretKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == 200
}

// TestProcessImportedReachSubscribersOnce: three one-node sites forward a stream to each other
// (every site to every other). A subscriber on each site receives every message published on
// any site exactly once: its own site's from the broker, the others' when they are imported,
// and nothing loops back (an imported message is neither forwarded again nor journaled twice).
func TestProcessImportedReachSubscribersOnce(t *testing.T) {
	a, aMesh := startSite(t, "a", "")
	b, _ := startSite(t, "b", aMesh)
	c, _ := startSite(t, "c", aMesh)
	sites := map[string]*proc{"a": a, "b": b, "c": c}
	eventually(t, 30*time.Second, "every site sees the others", func() bool {
		out := a.cli(t, "status")
		return strings.Contains(out, " b ") && strings.Contains(out, " c ") || strings.Count(out, "alive") >= 3
	})
	a.cli(t, "stream", "create", "tele", "--topics", "tele/#")
	for _, p := range sites {
		eventually(t, 30*time.Second, "the definition spreads", func() bool { return describes(p, "tele") })
	}
	for _, to := range []string{"a", "b", "c"} {
		a.cli(t, "stream", "forward", "tele", "--to-site", to)
	}
	type rx struct {
		mu  sync.Mutex
		got map[string]int
	}
	inbox := map[string]*rx{}
	for name, p := range sites {
		r := &rx{got: map[string]int{}}
		inbox[name] = r
		sub := p.client(t, "sub-"+name)
		if tok := sub.Subscribe("tele/#", 1, func(_ paho.Client, m paho.Message) {
			r.mu.Lock()
			r.got[string(m.Payload())]++
			r.mu.Unlock()
		}); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("subscribe on %s: %v", name, tok.Error())
		}
	}
	const per = 20
	var want []string
	for name, p := range sites {
		pub := p.client(t, "pub-"+name)
		for i := 0; i < per; i++ {
			msg := fmt.Sprintf("%s:%d", name, i)
			if tok := pub.Publish("tele/"+name, 1, false, msg); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
				t.Fatalf("publish on %s: %v", name, tok.Error())
			}
			want = append(want, msg)
		}
	}
	for name, r := range inbox {
		eventually(t, 60*time.Second, "site "+name+" receives every message", func() bool {
			r.mu.Lock()
			defer r.mu.Unlock()
			return len(r.got) == len(want)
		})
	}
	time.Sleep(3 * time.Second) // a loop or a second import would deliver again by now
	for name, r := range inbox {
		r.mu.Lock()
		for _, m := range want {
			if r.got[m] != 1 {
				t.Errorf("site %s received %s %d times", name, m, r.got[m])
			}
		}
		r.mu.Unlock()
		if n := len(sites[name].all(t, "tele")); n != len(want) {
			t.Errorf("site %s logged %d messages, want %d", name, n, len(want))
		}
	}
}
