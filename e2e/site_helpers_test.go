package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/minicloud/minicloud/internal/mesh"
	"github.com/minicloud/minicloud/internal/object"
	"github.com/minicloud/minicloud/internal/placement"
	"github.com/minicloud/minicloud/internal/replicate"
	"github.com/minicloud/minicloud/internal/testserver"
)

// siteSecret keys the gossip and the data RPC of the sites these tests start.
const siteSecret = "site-test-mesh-secret-7f3a9c0e21d84b56"

const siteRF = 3

// siteNode is one `minicloud serve` process of a test site.
type siteNode struct {
	*testserver.Node
	ID   string
	Mesh string // gossip address
}

// site is a set of real processes forming one site with RF=3, W=2, R=2.
type site struct {
	t     *testing.T
	nodes []*siteNode
	// rpc carries the mesh identity, so the test can ask one replica directly what it holds
	// (no quorum, no coordinator), the way another node would.
	rpc *replicate.Client
}

func startSite(t *testing.T, n int) *site {
	t.Helper()
	_, clientTLS, err := mesh.TLSConfigs(siteSecret)
	if err != nil {
		t.Fatal(err)
	}
	s := &site{t: t, rpc: replicate.NewClient(clientTLS)}
	for i := 0; i < n; i++ {
		s.add(fmt.Sprintf("s%d", i))
	}
	s.waitAlive(testserver.Context(t), 30*time.Second, s.nodes, s.ids(s.nodes))
	return s
}

// add starts a node that joins the site through its first node. Every node gets a fixed id so
// that placement, and so the figures a run prints, are the same from run to run.
func (s *site) add(id string) *siteNode {
	s.t.Helper()
	addr := testserver.FreeAddr(s.t)
	args := []string{"--mesh", addr, "--node-id", id, "--replicas", "3", "--write-quorum", "2", "--read-quorum", "2"}
	if len(s.nodes) > 0 {
		args = append(args, "--join", s.nodes[0].Mesh)
	}
	n := &siteNode{
		Node: &testserver.Node{Data: s.t.TempDir(), Addr: testserver.FreeAddr(s.t), Args: args, Env: []string{"MINICLOUD_MESH_SECRET=" + siteSecret}},
		ID:   id, Mesh: addr,
	}
	n.Init(s.t)
	n.Restart()
	s.t.Cleanup(n.Kill)
	s.nodes = append(s.nodes, n)
	return n
}

func (s *site) ids(nodes []*siteNode) []string {
	out := make([]string, len(nodes))
	for i, n := range nodes {
		out[i] = n.ID
	}
	return out
}

func (s *site) without(skip ...*siteNode) []*siteNode {
	var out []*siteNode
	for _, n := range s.nodes {
		keep := true
		for _, x := range skip {
			keep = keep && n != x
		}
		if keep {
			out = append(out, n)
		}
	}
	return out
}

// dumpLogs prints the tail of every node's log when the test failed.
func (s *site) dumpLogs() {
	if !s.t.Failed() {
		return
	}
	for _, n := range s.nodes {
		// NoSuchKey answers are part of the load, not news.
		var lines []string
		for _, line := range strings.Split(n.Log(), "\n") {
			if line != "" && !strings.Contains(line, `"code":"NoSuchKey"`) {
				lines = append(lines, line)
			}
		}
		if len(lines) > 30 {
			lines = append([]string{"..."}, lines[len(lines)-30:]...)
		}
		s.t.Logf("log of %s:\n%s", n.ID, strings.Join(lines, "\n"))
	}
}

// siteStatus is the part of GET /_minicloud/admin/v1/status these tests read.
type siteStatus struct {
	Node    string `json:"node"`
	Buckets int    `json:"buckets"`
	Nodes   []struct {
		ID         string `json:"id"`
		State      string `json:"state"`
		Partitions int    `json:"partitions"`
		DataBytes  int64  `json:"dataBytes"`
		Booting    bool   `json:"bootstrapping"`
	} `json:"nodes"`
	Hints  map[string]int `json:"hintsPending"`
	Repair struct {
		Rounds         int64     `json:"antiEntropyRounds"`
		InSync         int64     `json:"partitionsInSync"`
		Compared       int64     `json:"partitionsCompared"`
		LastFullSync   time.Time `json:"lastFullSync"`
		Pushed         int64     `json:"recordsPushed"`
		HintsDelivered int64     `json:"hintsDelivered"`
		ReadRepairs    int64     `json:"readRepairs"`
		Pulled         int64     `json:"recordsPulled"`
	} `json:"repair"`
}

func (st siteStatus) state(id string) string {
	for _, n := range st.Nodes {
		if n.ID == id {
			return n.State
		}
	}
	return ""
}

// booting reports whether node id is bootstrapping (being refilled) as this node sees it.
func (st siteStatus) booting(id string) bool {
	for _, n := range st.Nodes {
		if n.ID == id {
			return n.Booting
		}
	}
	return false
}

func (st siteStatus) hints() int {
	total := 0
	for _, n := range st.Hints {
		total += n
	}
	return total
}

var adminHTTP = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil}}

// status reads a node's admin status, signed with SigV4 as `minicloud status` does (calling
// the API directly keeps polling cheap: no process per poll on a 2-core machine).
func status(ctx context.Context, n *siteNode) (siteStatus, error) {
	var st siteStatus
	req, err := http.NewRequestWithContext(ctx, "GET", n.Endpoint()+"/_minicloud/admin/v1/status", nil)
	if err != nil {
		return st, err
	}
	sum := sha256.Sum256(nil)
	hash := hex.EncodeToString(sum[:])
	req.Header.Set("X-Amz-Content-Sha256", hash)
	creds := aws.Credentials{AccessKeyID: testserver.AccessKey, SecretAccessKey: testserver.SecretKey}
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hash, "s3", "us-east-1", time.Now()); err != nil {
		return st, err
	}
	resp, err := adminHTTP.Do(req)
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return st, fmt.Errorf("status of %s: HTTP %d: %s", n.ID, resp.StatusCode, body)
	}
	return st, json.Unmarshal(body, &st)
}

// poll calls ok every 200 ms until it returns "" (done) or d passes; it then fails the test
// with the last reason ok gave.
func poll(t *testing.T, d time.Duration, what string, ok func() string) time.Duration {
	t.Helper()
	start := time.Now()
	why := "never checked"
	for time.Since(start) < d {
		if why = ok(); why == "" {
			return time.Since(start)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s: not within %v: %s", what, d, why)
	return 0
}

// waitAlive waits until every node of `on` sees exactly `alive` alive (among layout members)
// and done bootstrapping (nodes that joined with an empty data dir count towards read quorums
// only once anti-entropy has found them in sync).
func (s *site) waitAlive(ctx context.Context, d time.Duration, on []*siteNode, alive []string) {
	s.t.Helper()
	poll(s.t, d, fmt.Sprintf("nodes %v alive everywhere", alive), func() string {
		for _, n := range on {
			st, err := status(ctx, n)
			if err != nil {
				return err.Error()
			}
			for _, id := range alive {
				if st.state(id) != "alive" {
					return fmt.Sprintf("%s sees %s as %q", n.ID, id, st.state(id))
				}
				if st.booting(id) {
					return fmt.Sprintf("%s sees %s bootstrapping", n.ID, id)
				}
			}
		}
		return ""
	})
}

// sdkClient is an aws-sdk-go-v2 S3 client for one node. It is built from explicit options, not
// config.LoadDefaultConfig, so no AWS_* variable of this machine (AWS_CA_BUNDLE is set here)
// changes it. It never retries: every failure a client could see is counted.
func sdkClient(endpoint string) *s3.Client {
	return s3.New(s3.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(endpoint),
		UsePathStyle:     true,
		Credentials:      credentials.NewStaticCredentialsProvider(testserver.AccessKey, testserver.SecretKey, ""),
		HTTPClient:       &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 16}},
		RetryMaxAttempts: 1,
	})
}

// createBucket creates a bucket through the first node and waits until every node knows it.
func (s *site) createBucket(ctx context.Context, name string) {
	s.t.Helper()
	if _, err := sdkClient(s.nodes[0].Endpoint()).CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		s.t.Fatalf("create bucket %s: %v", name, err)
	}
	poll(s.t, 20*time.Second, "bucket "+name+" known on every node", func() string {
		for _, n := range s.nodes {
			if _, err := sdkClient(n.Endpoint()).HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(name)}); err != nil {
				return n.ID + ": " + err.Error()
			}
		}
		return ""
	})
}

// rpcAddr is the node's current data RPC address, from the member list it keeps in its data
// dir (the RPC port is picked at each start and announced by gossip).
func (s *site) rpcAddr(n *siteNode) (string, error) {
	b, err := os.ReadFile(filepath.Join(n.Data, "members.json"))
	if err != nil {
		return "", err
	}
	var ms []mesh.Member
	if err := json.Unmarshal(b, &ms); err != nil {
		return "", err
	}
	for _, m := range ms {
		if m.ID == n.ID {
			return m.RPC, nil
		}
	}
	return "", fmt.Errorf("%s is not in its own member list", n.ID)
}

// partitionsOf lists the partitions id replicates in a layout.
func partitionsOf(id string, layout []string) []int {
	var out []int
	for p := 0; p < placement.Partitions; p++ {
		for _, r := range placement.Replicas(p, layout, siteRF) {
			if r == id {
				out = append(out, p)
			}
		}
	}
	return out
}

// comparisons is how many (partition, peer) pairs a node's anti-entropy round compares when
// every node of the layout is alive: what status reports as partitionsCompared.
func comparisons(id string, layout []string) int64 {
	return int64(len(partitionsOf(id, layout)) * (min(siteRF, len(layout)) - 1))
}

// diverged asks every replica directly for its partition digests and returns the partitions
// whose replicas in the layout do not all hold the same records.
func (s *site) diverged(ctx context.Context, layout []*siteNode) ([]int, error) {
	ids := s.ids(layout)
	digests := map[string]map[string]string{}
	for _, n := range layout {
		addr, err := s.rpcAddr(n)
		if err != nil {
			return nil, err
		}
		d, err := s.rpc.Digests(ctx, addr, partitionsOf(n.ID, ids))
		if err != nil {
			return nil, fmt.Errorf("digests of %s: %w", n.ID, err)
		}
		digests[n.ID] = d
	}
	var out []int
	for p := 0; p < placement.Partitions; p++ {
		reps := placement.Replicas(p, ids, siteRF)
		for _, r := range reps[1:] {
			if digests[r][itoa(p)] != digests[reps[0]][itoa(p)] {
				out = append(out, p)
				break
			}
		}
	}
	return out, nil
}

func itoa(n int) string { return fmt.Sprint(n) }

// waitInSync waits until the site has caught up: no node bootstrapping (a wiped or new node has
// been refilled), no hint pending anywhere, every replica of every partition holds the same
// records (asked directly), and every node's own anti-entropy reports a round after
// `roundsAfter` that found every partition it shares in sync.
// roundsAfter maps node id to its round counter at some earlier time (nil: any round).
func (s *site) waitInSync(ctx context.Context, d time.Duration, layout []*siteNode, roundsAfter map[string]int64) time.Duration {
	s.t.Helper()
	ids := s.ids(layout)
	return poll(s.t, d, "site in sync", func() string {
		for _, n := range layout {
			st, err := status(ctx, n)
			if err != nil {
				return err.Error()
			}
			if h := st.hints(); h > 0 {
				return fmt.Sprintf("%s has %d hints pending %v", n.ID, h, st.Hints)
			}
			for _, id := range ids {
				if st.booting(id) {
					return fmt.Sprintf("%s sees %s still refilling (bootstrapping)", n.ID, id)
				}
			}
			want := comparisons(n.ID, ids)
			r := st.Repair
			if r.Rounds <= roundsAfter[n.ID] || r.Compared != want || r.InSync != r.Compared {
				return fmt.Sprintf("%s: round %d (after %d): %d/%d partitions in sync, want %d compared", n.ID, r.Rounds, roundsAfter[n.ID], r.InSync, r.Compared, want)
			}
		}
		ps, err := s.diverged(ctx, layout)
		if err != nil {
			return err.Error()
		}
		if len(ps) > 0 {
			return fmt.Sprintf("%d partitions differ between replicas, e.g. %d", len(ps), ps[0])
		}
		return ""
	})
}

// rounds returns each node's anti-entropy round counter now.
func (s *site) rounds(ctx context.Context, nodes []*siteNode) map[string]int64 {
	s.t.Helper()
	out := map[string]int64{}
	for _, n := range nodes {
		st, err := status(ctx, n)
		if err != nil {
			s.t.Fatal(err)
		}
		out[n.ID] = st.Repair.Rounds
	}
	return out
}

// ownCopy checks that node n itself (its data dir, not a quorum) holds the newest version of
// bucket/key and that its bytes are want (nil: the key is deleted): the record comes from n's
// replica RPC and every chunk is read from n alone, checksummed by n's store.
func (s *site) ownCopy(ctx context.Context, n *siteNode, bucket, key string, want []byte) error {
	addr, err := s.rpcAddr(n)
	if err != nil {
		return err
	}
	msgs, err := s.rpc.Key(ctx, addr, bucket, key)
	if err != nil {
		return err
	}
	m, info, err := object.Resolve(bucket, key, "", msgs)
	if want == nil {
		if errors.Is(err, object.ErrNoSuchKey) {
			return nil
		}
		return fmt.Errorf("%s holds %s as live (%v), want deleted", n.ID, key, err)
	}
	if err != nil {
		return fmt.Errorf("%s: %s: %w (%d records)", n.ID, key, err, len(msgs))
	}
	if info.Size != int64(len(want)) {
		return fmt.Errorf("%s holds %s with %d bytes, want %d", n.ID, key, info.Size, len(want))
	}
	refs, err := m.Chunks()
	if err != nil {
		return err
	}
	if len(refs) == 0 {
		// Small objects are inline: the record's encoding ends with the data.
		if !bytes.HasSuffix(m.Enc, want) {
			return fmt.Errorf("%s: inline data of %s differs", n.ID, key)
		}
		return nil
	}
	var got []byte
	for _, r := range refs {
		c, err := s.rpc.Chunk(ctx, addr, r)
		if err != nil {
			return fmt.Errorf("%s: chunk of %s: %w", n.ID, key, err)
		}
		got = append(got, c...)
	}
	if !bytes.Equal(got, want) {
		return fmt.Errorf("%s: data of %s differs", n.ID, key)
	}
	return nil
}

// blobBytes is the size of a node's chunk store on disk.
func blobBytes(n *siteNode) int64 {
	var total int64
	root := filepath.Join(n.Data, "blobs")
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if rel, _ := filepath.Rel(root, p); err == nil && !d.IsDir() && !strings.HasPrefix(rel, "tmp"+string(filepath.Separator)) {
			if fi, err := d.Info(); err == nil {
				total += fi.Size()
			}
		}
		return nil
	})
	return total
}

// wipe deletes everything in a (stopped) node's data dir: a replaced disk.
func wipe(t *testing.T, n *siteNode) {
	t.Helper()
	ents, err := os.ReadDir(n.Data)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if err := os.RemoveAll(filepath.Join(n.Data, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
}
