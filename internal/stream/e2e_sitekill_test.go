package stream_test

import (
	"fmt"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/minicloud/minicloud/internal/testserver"
)

// startSiteWithStream starts a 3-node site "s" with a stream "tele" on tele/# that every node
// knows, created through the node of index creator (0 for n1), and waits until each node's
// replication sees the others.
func startSiteWithStream(t *testing.T, creator int) (n1, n2, n3 *proc) {
	t.Helper()
	n1, mesh := startSiteNode(t, "s", "n1", "")
	n2, _ = startSiteNode(t, "s", "n2", mesh)
	n3, _ = startSiteNode(t, "s", "n3", mesh)
	eventually(t, 30*time.Second, "the site forms", func() bool {
		return strings.Count(n1.cli(t, "status"), " alive ") >= 3
	})
	[]*proc{n1, n2, n3}[creator].cli(t, "stream", "create", "tele", "--topics", "tele/#")
	for _, p := range []*proc{n1, n2, n3} {
		eventually(t, 30*time.Second, "the definition spreads", func() bool { return describes(p, "tele") })
	}
	time.Sleep(time.Second) // every node's replication sees the others (it refreshes every 500 ms)
	return n1, n2, n3
}

// startSiteNode starts a node of a multi-node site (RF=3, W=2); join is the gossip address of
// a node to join ("" for the first).
func startSiteNode(t *testing.T, site, id, join string) (*proc, string) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts minicloud processes")
	}
	mesh, mqtt := testserver.FreeAddr(t), testserver.FreeAddr(t)
	args := []string{"--mqtt", mqtt, "--mesh", mesh, "--site", site, "--node-id", id,
		"--replicas", "3", "--write-quorum", "2", "--read-quorum", "2"}
	if join != "" {
		args = append(args, "--join", join)
	}
	n := &testserver.Node{Data: t.TempDir(), Addr: testserver.FreeAddr(t), Args: args, Env: []string{meshSecret}}
	n.Init(t)
	n.Restart()
	t.Cleanup(n.Kill)
	return &proc{n, mqtt}, mesh
}

// pipelinedPublisher publishes "NAME:i" for i = 0, 1, ... at QoS 1 with up to 32 publishes in
// flight, recording i once its PUBACK arrived, until stop or the connection fails.
func pipelinedPublisher(t *testing.T, c paho.Client, name string, stop chan struct{}, acked *[]int, mu *sync.Mutex, wg *sync.WaitGroup) {
	toks := make(chan struct {
		i   int
		tok paho.Token
	}, 32)
	wg.Add(2)
	go func() {
		defer wg.Done()
		defer close(toks)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if !c.IsConnectionOpen() {
				return
			}
			toks <- struct {
				i   int
				tok paho.Token
			}{i, c.Publish("tele/"+name, 1, false, fmt.Sprintf("%s:%d", name, i))}
			time.Sleep(200 * time.Microsecond)
		}
	}()
	go func() {
		defer wg.Done()
		failed := false
		for p := range toks {
			if failed {
				continue
			}
			if !p.tok.WaitTimeout(5*time.Second) || p.tok.Error() != nil {
				failed = true // the connection died: later ones may not be acknowledged
				continue
			}
			mu.Lock()
			*acked = append(*acked, p.i)
			mu.Unlock()
		}
	}()
}

// TestProcessSiteNodeKilledLosesNoAckedMessage: a 3-node site (RF=3, W=2) logs a stream.
// Publishers connected to n1 publish at QoS 1 with many publishes in flight; n1 is SIGKILLed
// in the middle. Every message n1 acknowledged is in the logs of the surviving nodes (stream
// logs are replicated within the site before the PUBACK), and in n1's own log once it is back.
func TestProcessSiteNodeKilledLosesNoAckedMessage(t *testing.T) {
	n1, n2, n3 := startSiteWithStream(t, 1) // created through n2, not the node killed below

	var mu sync.Mutex
	acked := map[string]*[]int{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, name := range []string{"p1", "p2", "p3"} {
		list := &[]int{}
		acked[name] = list
		pipelinedPublisher(t, n1.client(t, name), name, stop, list, &mu, &wg)
	}
	time.Sleep(2 * time.Second)
	n1.Kill()
	close(stop)
	wg.Wait()

	total := 0
	for _, l := range acked {
		total += len(*l)
	}
	if total < 100 {
		t.Fatalf("only %d messages acknowledged before the kill: the test proves nothing", total)
	}
	t.Logf("%d messages acknowledged by n1 before it was killed", total)
	missing := func(procs ...*proc) []string {
		have := map[string]bool{}
		for _, p := range procs {
			for _, m := range p.all(t, "tele") {
				have[m.Payload] = true
			}
		}
		var out []string
		for name, l := range acked {
			for _, i := range *l {
				if k := fmt.Sprintf("%s:%d", name, i); !have[k] {
					out = append(out, k)
				}
			}
		}
		return out
	}
	if m := missing(n2, n3); len(m) > 0 {
		t.Fatalf("%d acknowledged messages are on neither surviving node, e.g. %v", len(m), m[:min(len(m), 10)])
	}
	n1.Restart()
	if m := missing(n1); len(m) > 0 {
		t.Fatalf("%d acknowledged messages are not in n1's log after its restart, e.g. %v", len(m), m[:min(len(m), 10)])
	}
}

// TestProcessSiteAckWaitsForPeerCopy: with both other nodes of the site frozen (SIGSTOP: alive
// to gossip for a while, silent), a QoS 1 publish on n1 gets no PUBACK, because the stream log
// copy on a second node is not there; once n3 thaws, the PUBACK comes and n3's log has it.
func TestProcessSiteAckWaitsForPeerCopy(t *testing.T) {
	n1, n2, n3 := startSiteWithStream(t, 0)
	pub := n1.client(t, "pub")
	if tok := pub.Publish("tele/x", 1, false, "warm-up"); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publish with every node up: %v", tok.Error())
	}
	for _, p := range []*proc{n2, n3} {
		if err := p.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Signal(syscall.SIGCONT) })
	}
	tok := pub.Publish("tele/x", 1, false, "needs-a-copy")
	if tok.WaitTimeout(2 * time.Second) {
		t.Fatalf("PUBACK (err %v) while no other node of the site could hold a copy", tok.Error())
	}
	if err := n3.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("no PUBACK after n3 thawed: %v", tok.Error())
	}
	found := false
	for _, m := range n3.all(t, "tele") {
		found = found || m.Payload == "needs-a-copy"
	}
	if !found {
		t.Fatal("acknowledged, but n3's log does not hold the message")
	}
}
