package e2e

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/minicloud/minicloud/internal/stream"
	"github.com/minicloud/minicloud/internal/testserver"
)

// startEdge starts the site's node with an MQTT listener on its addresses (port 1883).
func (s *netSite) startEdge(t *testing.T, join string) {
	t.Helper()
	args := []string{"netns", "exec", s.ns, testserver.Binary(t), "serve", "--data", s.data, "--s3", "0.0.0.0:9000",
		"--mqtt", "0.0.0.0:1883", "--mesh", s.wanIP + ":7946", "--site", s.name, "--log-level", "warn"}
	if join != "" {
		args = append(args, "--join", join)
	}
	s.cmd = exec.Command("ip", args...)
	s.cmd.Env = append(os.Environ(), "MINICLOUD_ROOT_ACCESS_KEY="+testserver.AccessKey, "MINICLOUD_ROOT_SECRET_KEY="+testserver.SecretKey, geoSecret)
	var log bytes.Buffer
	s.cmd.Stdout, s.cmd.Stderr = &log, &log
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.cmd.Process.Signal(syscall.SIGKILL); s.cmd.Wait() })
	eventually(t, 30*time.Second, "site "+s.name+" serves", func() bool {
		resp, err := http.Get(s.endpoint() + "/_minicloud/health")
		if err != nil {
			return false
		}
		resp.Body.Close()
		c, err := net.DialTimeout("tcp", net.JoinHostPort(s.lanIP, "1883"), time.Second)
		if err != nil {
			return false
		}
		c.Close()
		return true
	})
}

func (s *netSite) mqttClient(t *testing.T, id string) paho.Client {
	t.Helper()
	o := paho.NewClientOptions().AddBroker("tcp://" + net.JoinHostPort(s.lanIP, "1883")).SetClientID(id).
		SetUsername(testserver.AccessKey).SetPassword(testserver.SecretKey).SetProtocolVersion(4).
		SetAutoReconnect(false).SetConnectRetry(false).SetConnectTimeout(5 * time.Second).SetWriteTimeout(5 * time.Second)
	c := paho.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect %s to site %s: %v", id, s.name, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(0) })
	return c
}

// streamMessages reads a whole stream from a site's log over the admin API, page by page.
func (s *netSite) streamMessages(t *testing.T, name string) []stream.Message {
	t.Helper()
	var all []stream.Message
	for from := uint64(0); ; {
		req, _ := http.NewRequest("GET", fmt.Sprintf("%s/_minicloud/admin/v1/streams/%s/messages?from=%d&limit=100000", s.endpoint(), name, from), nil)
		req.SetBasicAuth(testserver.AccessKey, testserver.SecretKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 200 {
			resp.Body.Close()
			t.Fatalf("read stream %s on %s: HTTP %d", name, s.name, resp.StatusCode)
		}
		ms, err := stream.DecodeNDJSON(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, ms...)
		if len(ms) < 100000 {
			return all
		}
		from = ms[len(ms)-1].Offset + 1
	}
}

// TestStreamAcrossWANCut: two sites in network namespaces; a stream is forwarded from a to b.
// Three publishers publish numbered QoS 1 messages on a steadily while a's WAN link is cut for
// a while (a keeps taking them: its devices are on its LAN) and after it heals. In the end b's
// log holds every message a acknowledged exactly once, in each publisher's order, nothing
// crossed during the cut, and b's MQTT subscriber received each of them exactly once.
func TestStreamAcrossWANCut(t *testing.T) {
	sites := setupSites(t, "a", "b")
	a, b := sites[0], sites[1]
	a.startEdge(t, "")
	b.startEdge(t, a.wanIP+":7946")
	eventually(t, 30*time.Second, "the sites see each other", func() bool {
		return strings.Count(cli(t, a.endpoint(), "status"), " alive") == 2 // "alive" or "alive, refilling"
	})
	cli(t, a.endpoint(), "stream", "create", "tele", "--topics", "tele/#")
	eventually(t, 30*time.Second, "the definition reaches b", func() bool {
		return strings.Contains(cli(t, b.endpoint(), "stream", "list"), "tele")
	})
	if out := cli(t, a.endpoint(), "stream", "forward", "tele", "--to-site", "b"); !strings.Contains(out, "now forwards to site b") {
		t.Fatalf("forward: %s", out)
	}
	var rmu sync.Mutex
	received := map[string]int{}
	sub := b.mqttClient(t, "sub-b")
	if tok := sub.Subscribe("tele/#", 1, func(_ paho.Client, m paho.Message) {
		rmu.Lock()
		received[string(m.Payload())]++
		rmu.Unlock()
	}); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe on b: %v", tok.Error())
	}

	var mu sync.Mutex
	acked := map[string]int{} // publisher -> messages acknowledged (0..n-1, in order)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, name := range []string{"p1", "p2", "p3"} {
		c := a.mqttClient(t, name)
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
					t.Errorf("publish %s:%d on a: %v", name, i, tok.Error())
					return
				}
				mu.Lock()
				acked[name] = i + 1
				mu.Unlock()
				time.Sleep(10 * time.Millisecond)
			}
		}()
	}
	time.Sleep(2 * time.Second)
	a.cut(t)
	time.Sleep(3 * time.Second) // whatever was on the wire at the cut has landed or failed by now
	before := len(b.streamMessages(t, "tele"))
	time.Sleep(5 * time.Second)
	if after := len(b.streamMessages(t, "tele")); after != before {
		t.Fatalf("b's log grew from %d to %d while a was cut off: the cut leaks", before, after)
	}
	a.heal(t)
	time.Sleep(2 * time.Second)
	close(stop)
	wg.Wait()
	total := 0
	for _, n := range acked {
		total += n
	}
	t.Logf("%d messages acknowledged on a, %d of them in b's log before the cut healed", total, before)

	deadline := time.Now().Add(120 * time.Second)
	for len(b.streamMessages(t, "tele")) < total {
		if time.Now().After(deadline) {
			t.Fatalf("b's log has %d of %d messages after 120 s\na: %s\nb: %s\nb status: %s", len(b.streamMessages(t, "tele")), total,
				cli(t, a.endpoint(), "stream", "describe", "tele"), cli(t, b.endpoint(), "stream", "describe", "tele"), cli(t, b.endpoint(), "status"))
		}
		time.Sleep(250 * time.Millisecond)
	}
	time.Sleep(3 * time.Second) // duplicates, if any, would land now
	next := map[string]int{}
	seen := map[string]bool{}
	for _, m := range b.streamMessages(t, "tele") {
		if seen[m.ID] || seen[m.Payload] {
			t.Fatalf("b holds %s (%s) twice", m.ID, m.Payload)
		}
		seen[m.ID], seen[m.Payload] = true, true
		pub, idx, ok := strings.Cut(m.Payload, ":")
		if !ok {
			t.Fatalf("payload %q", m.Payload)
		}
		if want := fmt.Sprint(next[pub]); idx != want {
			t.Fatalf("b: %s message %s where %s was due (per-publisher order broken)", pub, idx, want)
		}
		next[pub]++
	}
	for pub, n := range acked {
		if next[pub] != n {
			t.Fatalf("b has %d messages of %s, a acknowledged %d", next[pub], pub, n)
		}
	}
	eventually(t, 30*time.Second, "b's subscriber receives every message", func() bool {
		rmu.Lock()
		defer rmu.Unlock()
		return len(received) >= total
	})
	rmu.Lock()
	defer rmu.Unlock()
	for p, k := range received {
		if k != 1 {
			t.Fatalf("b's subscriber received %s %d times", p, k)
		}
	}
}
