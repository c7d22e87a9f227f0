package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/minicloud/minicloud/internal/mesh"
	"github.com/minicloud/minicloud/internal/replicate"
	"github.com/minicloud/minicloud/internal/testserver"
)

// TestRuleFailoverWindowResults: a windowed rule over a persisted stream runs on one node of a
// 3-node site; that node is SIGKILLed in the middle of a window; another node takes the rule
// over from the replicated checkpoint and the stream log, and the window results a subscriber
// receives, over the whole run, are exactly those of a run without failure: none lost, none
// twice. Event-time windows over a recorded input make the expected output exact.
func TestRuleFailoverWindowResults(t *testing.T) {
	ctx := testserver.Context(t)
	s, mqttAddr := startRulesSite(t, 3)
	defer func() {
		if t.Failed() {
			s.dumpLogs()
			dumpCheckpoints(t, s)
		}
	}()
	first := s.nodes[0]
	if _, err := adminCall(ctx, first, "PUT", "/_minicloud/admin/v1/streams/readings", `{"topics": ["plant/#"]}`); err != nil {
		t.Fatal(err)
	}
	if _, err := adminCall(ctx, first, "POST", "/_minicloud/admin/v1/sql", `{"sql": "CREATE STREAM r (dev string, v bigint, ts bigint) WITH (DATASOURCE=\"plant/+\", TIMESTAMP=\"ts\")"}`); err != nil {
		t.Fatal(err)
	}
	rule := `{"sql": "SELECT dev, sum(v) AS total, count(*) AS n, window_start() AS ws FROM r GROUP BY dev, TUMBLINGWINDOW(ss, 10)",
		"actions": [{"mqtt": {"topic": "results", "qos": 1}}]}`
	if _, err := adminCall(ctx, first, "POST", "/_minicloud/admin/v1/rules?name=win", rule); err != nil {
		t.Fatal(err)
	}

	// Every node knows the stream (so it logs what enters through it) and the rule, and exactly
	// one runs it, reading the stream log.
	var owner *siteNode
	poll(t, 30*time.Second, "the rule running on one node, on standby on the others", func() string {
		owner = nil
		for _, n := range s.nodes {
			if _, err := adminCall(ctx, n, "GET", "/_minicloud/admin/v1/streams/readings", ""); err != nil {
				return err.Error()
			}
			info, err := ruleInfo(ctx, n, "win")
			if err != nil {
				return err.Error()
			}
			switch info.Status {
			case "running":
				if owner != nil {
					return "running on two nodes"
				}
				if info.Input != "stream log readings" {
					return "input " + info.Input
				}
				owner = n
			case "standby":
			default:
				return n.ID + ": " + info.Status + " " + info.Error
			}
		}
		if owner == nil {
			return "running nowhere"
		}
		return ""
	})
	others := s.without(owner)
	pubNode, subNode := others[0], others[1]
	t.Logf("rule runs on %s; publishing through %s, subscribed on %s", owner.ID, pubNode.ID, subNode.ID)

	results := &resultSet{}
	sub := mqttClient(t, mqttAddr[subNode.ID], "sub")
	if tok := sub.Subscribe("results", 1, func(_ paho.Client, m paho.Message) { results.add(t, m.Payload()) }); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	pub := mqttClient(t, mqttAddr[pubNode.ID], "pub")
	publish := func(from, to int) {
		for i := from; i < to; i++ {
			p := fmt.Sprintf(`{"dev": "d%d", "v": %d, "ts": %d}`, i%3, i, 1_700_000_000_000+int64(i)*1000)
			if tok := pub.Publish(fmt.Sprintf("plant/d%d", i%3), 1, false, p); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
				t.Fatalf("publish %d: %v", i, tok.Error())
			}
		}
	}

	// Windows 0-2 close (reading 30 closes window 2); window 3 is half full when the node dies.
	publish(0, 36)
	poll(t, 30*time.Second, "results of windows 0-2, checkpointed", func() string {
		if n := results.len(); n != 9 {
			return fmt.Sprintf("%d results", n)
		}
		info, err := ruleInfo(ctx, owner, "win")
		if err != nil {
			return err.Error()
		}
		if info.Stats.Out != 9 || info.Stats.CheckpointedOut != 9 {
			return fmt.Sprintf("out %d, checkpointed %d", info.Stats.Out, info.Stats.CheckpointedOut)
		}
		return ""
	})
	owner.Kill()
	killed := time.Now()
	publish(36, 71) // while the site notices and moves the rule

	var successor *siteNode
	took := poll(t, 60*time.Second, "the rule running on another node", func() string {
		for _, n := range others {
			if info, err := ruleInfo(ctx, n, "win"); err == nil && info.Status == "running" {
				successor = n
				return ""
			}
		}
		return "not yet"
	})
	t.Logf("rule moved to %s %v after the kill", successor.ID, took+time.Since(killed)-took)
	want := windowResults(0, 71)
	poll(t, 60*time.Second, fmt.Sprintf("%d window results", len(want)), func() string {
		if n := results.len(); n < len(want) {
			return fmt.Sprintf("%d results", n)
		}
		return ""
	})
	if got := results.sorted(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("results with a failover:\n%s\nwant (as without failure):\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	info, err := ruleInfo(ctx, successor, "win")
	if err != nil || info.Stats.Dropped != 0 || info.Stats.Late != 0 {
		t.Fatalf("successor's counters %+v %v", info.Stats, err)
	}

	// The node comes back: the rule moves back to it (its placement order is first), handed
	// over from the successor's last checkpoint, and the results stay exact.
	owner.Restart()
	poll(t, 60*time.Second, "the rule back on "+owner.ID+" alone", func() string {
		for _, n := range s.nodes {
			info, err := ruleInfo(ctx, n, "win")
			if err != nil {
				return err.Error()
			}
			if want := map[bool]string{true: "running", false: "standby"}[n == owner]; info.Status != want {
				return fmt.Sprintf("%s: %s", n.ID, info.Status)
			}
		}
		return ""
	})
	publish(71, 101)
	want = windowResults(0, 101)
	poll(t, 60*time.Second, fmt.Sprintf("%d window results", len(want)), func() string {
		if n := results.len(); n < len(want) {
			return fmt.Sprintf("%d results", n)
		}
		return ""
	})
	if got := results.sorted(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("results after the node returned:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// startRulesSite starts a site whose nodes also serve MQTT; it returns their MQTT addresses.
func startRulesSite(t *testing.T, n int) (*site, map[string]string) {
	t.Helper()
	_, clientTLS, err := mesh.TLSConfigs(siteSecret)
	if err != nil {
		t.Fatal(err)
	}
	s := &site{t: t, rpc: replicate.NewClient(clientTLS)}
	mqttAddr := map[string]string{}
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("s%d", i)
		addr := testserver.FreeAddr(t)
		mqttAddr[id] = testserver.FreeAddr(t)
		args := []string{"--log-level", "info", "--mesh", addr, "--node-id", id, "--mqtt", mqttAddr[id], "--replicas", "3", "--write-quorum", "2", "--read-quorum", "2"}
		if len(s.nodes) > 0 {
			args = append(args, "--join", s.nodes[0].Mesh)
		}
		node := &siteNode{
			Node: &testserver.Node{Data: t.TempDir(), Addr: testserver.FreeAddr(t), Args: args, Env: []string{"MINICLOUD_MESH_SECRET=" + siteSecret}},
			ID:   id, Mesh: addr,
		}
		node.Init(t)
		node.Restart()
		t.Cleanup(node.Kill)
		s.nodes = append(s.nodes, node)
	}
	s.waitAlive(testserver.Context(t), 30*time.Second, s.nodes, s.ids(s.nodes))
	return s, mqttAddr
}

func mqttClient(t *testing.T, addr, id string) paho.Client {
	t.Helper()
	o := paho.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(id).
		SetUsername(testserver.AccessKey).SetPassword(testserver.SecretKey).SetAutoReconnect(false).SetCleanSession(true)
	c := paho.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("mqtt connect to %s: %v", addr, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(0) })
	return c
}

// adminCall sends a SigV4-signed admin API request, as the CLI does; a non-2xx is an error.
func adminCall(ctx context.Context, n *siteNode, method, path, body string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, n.Endpoint()+path, bytes.NewReader([]byte(body)))
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256([]byte(body))
	hash := hex.EncodeToString(sum[:])
	req.Header.Set("X-Amz-Content-Sha256", hash)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	creds := aws.Credentials{AccessKeyID: testserver.AccessKey, SecretAccessKey: testserver.SecretKey}
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hash, "s3", "us-east-1", time.Now()); err != nil {
		return nil, err
	}
	resp, err := adminHTTP.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("%s %s on %s: HTTP %d: %s", method, path, n.ID, resp.StatusCode, out)
	}
	return out, nil
}

type ruleStatus struct {
	Status string `json:"status"`
	Error  string `json:"error"`
	Input  string `json:"input"`
	Stats  struct {
		Out             int64 `json:"out"`
		Late            int64 `json:"late"`
		Dropped         int64 `json:"dropped"`
		CheckpointedOut int64 `json:"checkpointedOut"`
	} `json:"stats"`
}

func ruleInfo(ctx context.Context, n *siteNode, name string) (ruleStatus, error) {
	var info ruleStatus
	b, err := adminCall(ctx, n, "GET", "/_minicloud/admin/v1/rules/"+name, "")
	if err == nil {
		err = json.Unmarshal(b, &info)
	}
	return info, err
}

// resultSet gathers window results (each message a JSON array of rows) as "wN dD sum=S n=C".
type resultSet struct {
	mu  sync.Mutex
	got []string
}

func (r *resultSet) add(t *testing.T, payload []byte) {
	var rows []map[string]any
	if err := json.Unmarshal(payload, &rows); err != nil {
		t.Errorf("result %q: %v", payload, err)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, row := range rows {
		ws, _ := row["ws"].(float64)
		r.got = append(r.got, fmt.Sprintf("w%d %v sum=%v n=%v", (int64(ws)-1_700_000_000_000)/10000, row["dev"], row["total"], row["n"]))
	}
}

func (r *resultSet) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got)
}

func (r *resultSet) sorted() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := append([]string(nil), r.got...)
	sort.Strings(out)
	return out
}

// windowResults is what the rule emits for readings from..to-1 (reading i: device i%3, value
// i, event time i seconds): every 10 s window closed by a later reading, per device.
func windowResults(from, to int) []string {
	type key struct{ w, dev int }
	sum, cnt := map[key]int{}, map[key]int{}
	for i := from; i < to; i++ {
		k := key{i / 10, i % 3}
		sum[k] += i
		cnt[k]++
	}
	var out []string
	for k, s := range sum {
		if (k.w+1)*10 <= to-1 {
			out = append(out, fmt.Sprintf("w%d d%d sum=%d n=%d", k.w, k.dev, s, cnt[k]))
		}
	}
	sort.Strings(out)
	return out
}

// dumpCheckpoints prints the rule checkpoints each live node reads (when the test failed).
func dumpCheckpoints(t *testing.T, s *site) {
	ctx := context.Background()
	for _, n := range s.nodes {
		c := sdkClient(n.Endpoint())
		bs, err := c.ListBuckets(ctx, &s3.ListBucketsInput{})
		if err != nil {
			t.Logf("%s: list buckets: %v", n.ID, err)
			continue
		}
		for _, b := range bs.Buckets {
			if !strings.HasPrefix(*b.Name, "minicloud-rules-") {
				continue
			}
			out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: b.Name, Key: aws.String("checkpoints/win")})
			if err != nil {
				t.Logf("%s: %s: %v", n.ID, *b.Name, err)
				continue
			}
			body, _ := io.ReadAll(out.Body)
			out.Body.Close()
			t.Logf("%s: checkpoint %.400s", n.ID, body)
		}
	}
}
