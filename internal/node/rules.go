package node

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/minicloud/minicloud/internal/object"
	"github.com/minicloud/minicloud/internal/placement"
	"github.com/minicloud/minicloud/internal/rules"
	"github.com/minicloud/minicloud/internal/rulesrt"
)

// Rules on a node (internal/rulesrt) get from the node:
//   - the object store and stream logs for the object and stream actions;
//   - the stream logs to read: this node's in process, the other nodes' of the site over RPC
//     (GET /rpc/rules/log and /rpc/rules/seek);
//   - the rules mesh table (SQL streams and rules) carried over gossip with the other tables;
//   - where each rule runs: on each site its sites option names (default: every site), on the
//     first live node of the site in the placement order of its stream's partition, as objects
//     choose their replicas; when that node dies, the next one takes over at the next
//     reconcile (every second) once gossip declares it dead;
//   - checkpoints any node of the site can read, so that the next node resumes where the dead
//     one stopped: an object per rule in a bucket of the site (minicloud-rules-HASH, hosted on
//     this site only), written through the replicated store (W replicas fsynced, read with R).
//     A checkpoint holds the rule's window and ML state and its offset in each origin node's
//     stream log, in one record, so the successor reads the logs from exactly there. (The stream
//     log's own state is per node and not replicated, so it could not serve.) A node that runs
//     alone keeps checkpoints in its metastore.

// rulesWiring fills the runtime's options. Called from openEdge, after openStreams.
func (n *Node) rulesWiring(o *rulesrt.Options) {
	o.NodeID = n.id
	o.Objects = ruleObjects{n}
	o.Streams = ruleStreams{n}
	logs := &rulesrt.StreamLogs{Manager: n.streams.manager, Self: n.id}
	o.Logs = logs
	if n.cluster == nil {
		return
	}
	logs.Site = func() []string { return n.cluster.mesh.SiteNodes(n.cfg.Site) }
	logs.Remote = ruleRemoteLogs{n}
	o.Owner, o.Alive = n.ruleOwner, n.cluster.mesh.Alive
	o.Checkpoints = &ruleCheckpoints{n: n, bucket: rulesBucket(n.cfg.Site)}
	o.OnChange = n.broadcastRuleRow
	n.cluster.rpc.Mux.HandleFunc("GET /rpc/rules/log", n.serveRuleLog)
	n.cluster.rpc.Mux.HandleFunc("GET /rpc/rules/seek", n.serveRuleSeek)
}

// rulesStarted hands the runtime the rows gossip brought before it opened.
func (n *Node) rulesStarted(rt *rulesrt.Runtime) {
	n.ruleTable.mu.Lock()
	n.ruleTable.rt = rt
	pending := n.ruleTable.pending
	n.ruleTable.pending = nil
	n.ruleTable.mu.Unlock()
	if len(pending) > 0 {
		rt.Merge(pending)
	}
}

func (n *Node) rulesClosed() {
	n.ruleTable.mu.Lock()
	n.ruleTable.rt = nil
	n.ruleTable.mu.Unlock()
}

// ruleTable is the node's side of the rules mesh table (meshTables in cluster.go).
type ruleTable struct {
	mu      sync.Mutex
	rt      *rulesrt.Runtime
	pending []rulesrt.TableRow // rows gossip brought before the runtime opened
}

func (t *ruleTable) table() []rulesrt.TableRow {
	t.mu.Lock()
	rt := t.rt
	if rt == nil {
		defer t.mu.Unlock()
		return append([]rulesrt.TableRow(nil), t.pending...)
	}
	t.mu.Unlock()
	return rt.Table()
}

func (t *ruleTable) merge(rows []rulesrt.TableRow) {
	if len(rows) == 0 {
		return
	}
	t.mu.Lock()
	rt := t.rt
	if rt == nil {
		t.pending = append(t.pending, rows...)
	}
	t.mu.Unlock()
	if rt != nil {
		rt.Merge(rows)
	}
}

func (n *Node) broadcastRuleRow(r rulesrt.TableRow) {
	raw, err := json.Marshal(tablesState{Rules: []rulesrt.TableRow{r}})
	if err != nil {
		n.log.Error("encode rules table row", "err", err)
		return
	}
	n.cluster.mesh.Broadcast(raw, nil)
}

// ruleOwner says which node of this site runs a rule over stream: the first live node in the
// placement order of the stream's partition (so all rules of a stream run together, on a node
// that holds that partition's objects while it lives).
func (n *Node) ruleOwner(spec *rules.RuleSpec, stream string) (string, bool) {
	if sites := spec.Options.Sites; len(sites) > 0 && !slices.Contains(sites, n.cfg.Site) {
		return "", false
	}
	m := n.cluster.mesh
	nodes := m.SiteNodes(n.cfg.Site)
	for _, id := range placement.Replicas(placement.Partition("minicloud-rules", stream), nodes, len(nodes)) {
		if id == n.id || m.Alive(id) {
			return id, id == n.id
		}
	}
	return n.id, true
}

// rulesBucket is the bucket of a site's rule checkpoints.
func rulesBucket(site string) string {
	h := fnv.New64a()
	h.Write([]byte(site))
	return fmt.Sprintf("minicloud-rules-%016x", h.Sum64())
}

// ruleCheckpoints keeps checkpoints as objects of the site's rules bucket.
type ruleCheckpoints struct {
	n      *Node
	bucket string
	mu     sync.Mutex
	ready  bool // the bucket exists
}

func ckptKey(rule string) string { return "checkpoints/" + rule }

func (c *ruleCheckpoints) Load(ctx context.Context, rule string) ([]byte, error) {
	repl := c.n.repl
	if repl == nil {
		return nil, errors.New("node is closing")
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	// The bucket first: a node that has not heard of it yet by gossip would answer NoSuchBucket
	// though the replicas hold the checkpoint, and the rule would start afresh.
	if err := c.ensureBucket(ctx); err != nil {
		return nil, err
	}
	_, r, err := repl.GetObject(ctx, c.bucket, ckptKey(rule), "", 0, -1)
	if errors.Is(err, object.ErrNoSuchKey) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

func (c *ruleCheckpoints) ensureBucket(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ready {
		return nil
	}
	repl := c.n.repl
	if _, err := repl.GetBucket(ctx, c.bucket); err != nil {
		err = repl.CreateBucketSites(ctx, c.bucket, []string{c.n.cfg.Site})
		if err != nil && !errors.Is(err, object.ErrBucketExists) {
			return fmt.Errorf("create bucket %s: %w", c.bucket, err)
		}
	}
	c.ready = true
	return nil
}

func (c *ruleCheckpoints) Save(ctx context.Context, rule string, data []byte, _ bool) error {
	repl := c.n.repl
	if repl == nil {
		return errors.New("node is closing")
	}
	if err := c.ensureBucket(ctx); err != nil {
		return err
	}
	// Every save is durable on W replicas: a successor must find what a window's results were
	// delivered with.
	_, err := repl.PutObject(ctx, c.bucket, ckptKey(rule), bytes.NewReader(data), int64(len(data)),
		object.PutOptions{Meta: object.Meta{ContentType: "application/json"}})
	return err
}

func (c *ruleCheckpoints) Delete(ctx context.Context, rule string) error {
	repl := c.n.repl
	if repl == nil {
		return errors.New("node is closing")
	}
	_, err := repl.DeleteObject(ctx, c.bucket, ckptKey(rule), "")
	if errors.Is(err, object.ErrNoSuchKey) || errors.Is(err, object.ErrNoSuchBucket) {
		return nil
	}
	return err
}

// Remote stream log reads: the node that runs a rule reads the entries that entered the site
// through each other node from that node's log.

type ruleLogResp struct {
	Next    uint64         `json:"next"`
	Entries []ruleLogEntry `json:"entries,omitempty"`
}

type ruleLogEntry struct {
	Offset  uint64 `json:"o"`
	Topic   string `json:"t"`
	Payload []byte `json:"p"`
}

const maxRuleLogWait = 5 * time.Second

func (n *Node) serveRuleLog(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	from, err1 := strconv.ParseUint(q.Get("from"), 10, 64)
	max, err2 := strconv.Atoi(q.Get("max"))
	wait, err3 := time.ParseDuration(q.Get("wait"))
	if err1 != nil || err2 != nil || err3 != nil || max < 1 || max > 10000 || wait < 0 || wait > maxRuleLogWait {
		http.Error(w, "want stream, from, max (1-10000) and wait (at most 5s)", http.StatusBadRequest)
		return
	}
	es, next, err := rulesrt.ReadOrigin(r.Context(), n.streams.manager(), q.Get("stream"), from, max, wait)
	if err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	resp := ruleLogResp{Next: next, Entries: make([]ruleLogEntry, len(es))}
	for i, e := range es {
		resp.Entries[i] = ruleLogEntry{e.Offset, e.Topic, e.Payload}
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(resp)
}

func (n *Node) serveRuleSeek(w http.ResponseWriter, r *http.Request) {
	t, err := strconv.ParseInt(r.URL.Query().Get("t"), 10, 64)
	if err != nil {
		http.Error(w, "want stream and t (unix ns)", http.StatusBadRequest)
		return
	}
	off, err := rulesrt.SeekOrigin(n.streams.manager(), r.URL.Query().Get("stream"), time.Unix(0, t))
	if err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, "{\"offset\":%d}\n", off)
}

type ruleRemoteLogs struct{ n *Node }

func (r ruleRemoteLogs) addr(node string) (string, error) {
	m, ok := r.n.cluster.mesh.Member(node)
	if !ok || !m.Alive {
		return "", fmt.Errorf("node %s is down", node)
	}
	return m.RPC, nil
}

func (r ruleRemoteLogs) Read(ctx context.Context, node, stream string, from uint64, max int, wait time.Duration) ([]rulesrt.LogEntry, uint64, error) {
	addr, err := r.addr(node)
	if err != nil {
		return nil, from, err
	}
	wait = min(wait, maxRuleLogWait)
	ctx, cancel := context.WithTimeout(ctx, wait+10*time.Second)
	defer cancel()
	q := url.Values{"stream": {stream}, "from": {strconv.FormatUint(from, 10)}, "max": {strconv.Itoa(max)}, "wait": {wait.String()}}
	var body []byte
	if err := r.n.cluster.client.Get(ctx, addr, "/rpc/rules/log?"+q.Encode(), &body); err != nil {
		return nil, from, fmt.Errorf("read stream %s on node %s: %w", stream, node, err)
	}
	var resp ruleLogResp
	if err := json.Unmarshal(body, &resp); err != nil {
		return nil, from, fmt.Errorf("read stream %s on node %s: %w", stream, node, err)
	}
	out := make([]rulesrt.LogEntry, len(resp.Entries))
	for i, e := range resp.Entries {
		out[i] = rulesrt.LogEntry{Offset: e.Offset, Topic: e.Topic, Payload: e.Payload}
	}
	return out, resp.Next, nil
}

func (r ruleRemoteLogs) Seek(ctx context.Context, node, stream string, t time.Time) (uint64, error) {
	addr, err := r.addr(node)
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	q := url.Values{"stream": {stream}, "t": {strconv.FormatInt(t.UnixNano(), 10)}}
	var body []byte
	if err := r.n.cluster.client.Get(ctx, addr, "/rpc/rules/seek?"+q.Encode(), &body); err != nil {
		return 0, fmt.Errorf("seek stream %s on node %s: %w", stream, node, err)
	}
	var resp struct {
		Offset uint64 `json:"offset"`
	}
	if err := json.Unmarshal(body, &resp); err != nil {
		return 0, fmt.Errorf("seek stream %s on node %s: %w", stream, node, err)
	}
	return resp.Offset, nil
}

// ruleObjects writes a rule's object batches through the node's S3-facing store, so they
// replicate within the site, to other hosting sites and to the cloud like any client's PUT.
type ruleObjects struct{ n *Node }

func (r ruleObjects) PutObject(ctx context.Context, bucket, key string, body []byte, contentType string) error {
	repl := r.n.repl
	if repl == nil {
		return fmt.Errorf("node is closing")
	}
	_, err := repl.PutObject(ctx, bucket, key, bytes.NewReader(body), int64(len(body)),
		object.PutOptions{Meta: object.Meta{ContentType: contentType}})
	return err
}

// ruleStreams appends a rule's results to a persisted stream's log on this node.
type ruleStreams struct{ n *Node }

func (r ruleStreams) AppendTo(name, topic string, payloads [][]byte) error {
	m := r.n.streams.manager()
	if m == nil {
		return fmt.Errorf("stream %s: this node's stream logs are closed", name)
	}
	return m.AppendTo(name, topic, payloads)
}
