// Package testcluster runs a whole site of minicloud nodes in one test process, for tests only:
// each node has its own object store on disk (in t.TempDir), a replication coordinator and the
// replica RPC handler; nodes talk over Memnet, an in-memory network that delays, reorders, drops
// and partitions messages from a seeded random source; membership is a fake that the test
// controls (Crash, Restart, Wipe). The replication background loops are not started: tests run
// hinted handoff and anti-entropy rounds themselves (Settle), so a run follows its schedule rather
// than wall-clock tickers. Run inside testing/synctest to make network delays free and runs
// repeatable; one bubble at a time, with the pools emptied in between (see bubble in the tests:
// Pebble pools objects holding channels, which must not leave their bubble).
//
// It must not be imported by non-test code.
package testcluster

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/minicloud/minicloud/internal/clock"
	"github.com/minicloud/minicloud/internal/object"
	"github.com/minicloud/minicloud/internal/placement"
	"github.com/minicloud/minicloud/internal/replicate"
)

// Site is the one site every simulated node belongs to.
const Site = "sim"

// Options configures a simulated site.
type Options struct {
	Nodes    int        // default 3
	RF, W, R int        // replication factor and quorums (defaults as in replicate: 3, 2, 2)
	Rand     *rand.Rand // the network's random source (default: a fixed seed)
	Net      NetConfig
	// Detection is the chance that a node notices (as gossip would, at once here) that a peer it
	// is cut off from is unreachable, drawn for each node and peer at each cut: at 1 every node
	// sees the peers across a cut as dead, at 0 none does and requests across the cut time out;
	// in between the views disagree, even between the two ends of one link.
	Detection float64
	// ClockSkew spreads the nodes' clocks (which stamp versions) over [0, ClockSkew] ahead of
	// real time: node i is i/(Nodes-1) of it ahead.
	ClockSkew time.Duration
	Logger    *slog.Logger // default: discard
	// Dir is where the nodes keep their data (default t.TempDir()). A tmpfs directory makes
	// fsync free: the simulation checks the protocol, and Crash loses no unsynced data anyway.
	Dir string
	// ReadLeases turns read leases on (internal/replicate/lease.go): each node runs its lease
	// loop (the one background loop a simulated node runs by itself, on the bubble's clock).
	ReadLeases bool
	// LeaseDuration is D (default replicate.DefaultLeaseDuration).
	LeaseDuration time.Duration
	// NoLeaseGate turns off the coordinators' waiting for lease holders (a broken variant the
	// tests use to show the history checker catches what it prevents).
	NoLeaseGate bool
	// NoLeaseCheck makes holders renew grants without checking the records they list (broken
	// too, for the same purpose).
	NoLeaseCheck bool
	// NoRestartWindow makes restarted grantors name no holder in their first D (broken too).
	NoRestartWindow bool
	// NoLeaseSync lets holders read locally on new grants without syncing first (broken too).
	NoLeaseSync bool
}

// Cluster is a simulated site. Its methods are not safe for concurrent use with each other
// (the test's schedule drives them); the nodes' stores are.
type Cluster struct {
	t     testing.TB
	o     Options
	Net   *Memnet
	nodes []*Node

	mu      sync.Mutex // guards crashed and noticed (read by the fake membership from any goroutine)
	crashed map[string]bool
	noticed map[[2]string]bool  // observer, peer: the observer sees the peer across a cut as dead
	detect  *rand.Rand          // draws for noticed (the network's source is used concurrently)
	booting map[string]bool     // nodes in the bootstrapping state, as their member metadata says
	members []string            // the site's member ids as gossip has spread them (sorted)
	views   map[string][]string // a node's own member list where it differs (a join in progress)
	buckets []object.Bucket     // the mesh table: re-applied to a wiped node
}

// Node is one simulated node. Objects and Repl change on Restart and Wipe.
type Node struct {
	ID, Addr string
	Dir      string
	Objects  *object.Store
	Repl     *replicate.Store
	Up       bool
}

// New starts a site; t.Cleanup closes it.
func New(t testing.TB, o Options) *Cluster {
	t.Helper()
	if o.Nodes == 0 {
		o.Nodes = 3
	}
	if o.Rand == nil {
		o.Rand = rand.New(rand.NewPCG(1, 2))
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Cluster{
		t: t, o: o, crashed: map[string]bool{}, noticed: map[[2]string]bool{}, booting: map[string]bool{}, views: map[string][]string{},
		detect: rand.New(rand.NewPCG(o.Rand.Uint64(), o.Rand.Uint64())),
	}
	c.Net = NewMemnet(o.Rand, o.Net)
	root := o.Dir
	if root == "" {
		root = t.TempDir()
	}
	for i := range o.Nodes {
		id := fmt.Sprintf("n%d", i)
		c.nodes = append(c.nodes, &Node{ID: id, Addr: id + ":7001", Dir: filepath.Join(root, id)})
	}
	c.members = c.sortedIDs()
	for i := range c.nodes {
		if err := c.start(i, false); err != nil {
			c.Close()
			t.Fatalf("start node %d: %v", i, err)
		}
	}
	t.Cleanup(c.Close)
	return c
}

// start opens node i's store from its directory and puts it on the network. fresh: the node
// starts with an empty data dir in an existing site (a replaced disk), so it bootstraps, as a
// node does that starts empty with --join.
func (c *Cluster) start(i int, fresh bool) error {
	n := c.nodes[i]
	var clk clock.Clock
	if c.o.ClockSkew > 0 && len(c.nodes) > 1 {
		clk = skewed(c.o.ClockSkew * time.Duration(i) / time.Duration(len(c.nodes)-1))
	}
	objs, err := object.Open(n.Dir, object.Options{NodeID: n.ID, Logger: c.o.Logger, Clock: clk})
	if err != nil {
		return err
	}
	for _, b := range c.buckets {
		if _, err := objs.MergeBucket(b); err != nil {
			objs.Close()
			return err
		}
	}
	n.Objects = objs
	n.Repl = replicate.New(replicate.Options{
		Local: objs, Cluster: view{c, n.ID}, Client: replicate.NewClientTransport(c.Net.Transport(n.Addr)),
		Site: Site, RF: c.o.RF, W: c.o.W, R: c.o.R, Logger: c.o.Logger.With("node", n.ID),
		ReadLeases: c.o.ReadLeases, LeaseDuration: c.o.LeaseDuration, BrokenNoLeaseGate: c.o.NoLeaseGate,
		BrokenNoLeaseCheck: c.o.NoLeaseCheck, BrokenNoRestartWindow: c.o.NoRestartWindow,
		BrokenNoLeaseSync: c.o.NoLeaseSync,
	})
	if fresh {
		n.Repl.Joining()
	}
	booting := fresh || objs.Refilling()
	if booting {
		if err := n.Repl.Bootstrap(func(on bool) { c.setBooting(n.ID, on) }); err != nil {
			objs.Close()
			return err
		}
	}
	c.setBooting(n.ID, booting)
	srv := replicate.NewHandlerServer(objs)
	srv.Apply = n.Repl.ApplyFromSite
	n.Repl.RegisterSiteRoutes(srv.Mux)
	n.Repl.ServeLeases(srv)
	c.Net.Listen(n.Addr, srv.Handler())
	n.Repl.StartLeases()
	c.mu.Lock()
	delete(c.crashed, n.ID)
	c.mu.Unlock()
	n.Up = true
	return nil
}

// kill takes node i off the network: it neither answers nor sends from now on. Its stores stay
// open (a zombie) until closeStores: a coordinator's work may still be finishing on them.
func (c *Cluster) kill(i int) {
	n := c.nodes[i]
	c.mu.Lock()
	c.crashed[n.ID] = true
	c.mu.Unlock()
	c.Net.Down(n.Addr)
	n.Up = false
}

// closeStores closes a killed node's stores, waiting for its background work.
func (c *Cluster) closeStores(i int) {
	n := c.nodes[i]
	if n.Repl != nil {
		n.Repl.Close()
		n.Repl = nil
	}
	if n.Objects != nil {
		if err := n.Objects.Close(); err != nil {
			c.t.Errorf("close %s: %v", n.ID, err)
		}
		n.Objects = nil
	}
}

// N is the number of nodes.
func (c *Cluster) N() int { return len(c.nodes) }

// Node returns node i.
func (c *Cluster) Node(i int) *Node { return c.nodes[i] }

// Store returns node i's S3-facing store (do not use it while the node is down).
func (c *Cluster) Store(i int) *replicate.Store { return c.nodes[i].Repl }

// Crash kills node i: it stops answering and sending at once and every peer sees it dead. What it
// had stored durably stays on its disk for Restart. (Unlike kill -9, work it had in flight may
// still finish writing locally until Restart closes its stores; none of it reaches the network.)
func (c *Cluster) Crash(i int) {
	if c.nodes[i].Up {
		c.kill(i)
	}
}

// Restart brings a crashed node back on its data.
func (c *Cluster) Restart(i int) {
	if c.nodes[i].Up {
		return
	}
	c.closeStores(i)
	if err := c.start(i, false); err != nil {
		c.t.Fatalf("restart %s: %v", c.nodes[i].ID, err)
	}
}

func (c *Cluster) setBooting(id string, on bool) {
	c.mu.Lock()
	c.booting[id] = on
	c.mu.Unlock()
}

// Bootstrapping reports whether node i is being refilled after losing its disk (it then does
// not count towards read quorums).
func (c *Cluster) Bootstrapping(i int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.booting[c.nodes[i].ID]
}

// Wipe crashes node i if needed, loses its disk and restarts it empty (with the same id, and the
// mesh tables that gossip would bring back).
func (c *Cluster) Wipe(i int) {
	c.Crash(i)
	c.closeStores(i)
	if err := os.RemoveAll(c.nodes[i].Dir); err != nil {
		c.t.Fatalf("wipe %s: %v", c.nodes[i].ID, err)
	}
	if err := c.start(i, true); err != nil {
		c.t.Fatalf("restart %s: %v", c.nodes[i].ID, err)
	}
}

// Cut breaks the link between nodes i and j.
func (c *Cluster) Cut(i, j int) {
	c.Net.Cut(c.nodes[i].Addr, c.nodes[j].Addr)
	c.notice(i, j)
	c.notice(j, i)
}

// Isolate cuts node i off from every other node.
func (c *Cluster) Isolate(i int) {
	c.Net.Isolate(c.nodes[i].Addr)
	for j := range c.nodes {
		if j != i {
			c.notice(i, j)
			c.notice(j, i)
		}
	}
}

// notice draws whether node i sees node j, now cut off from it, as dead.
func (c *Cluster) notice(i, j int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.detect.Float64() < c.o.Detection {
		c.noticed[[2]string{c.nodes[i].ID, c.nodes[j].ID}] = true
	}
}

// Heal restores every link (crashed nodes stay down).
func (c *Cluster) Heal() {
	c.Net.Heal()
	c.mu.Lock()
	clear(c.noticed)
	c.mu.Unlock()
}

// Reachable reports whether node from can exchange messages with node to right now (both up,
// no cut); message loss aside.
func (c *Cluster) Reachable(from, to int) bool {
	a, b := c.nodes[from], c.nodes[to]
	return a.Up && b.Up && c.Net.Linked(a.Addr, b.Addr)
}

// CreateBucket creates a bucket through node 0 (which must be up) and gives every node the mesh
// table entry, as gossip would; versioning is "" or object.VersioningEnabled/Suspended.
func (c *Cluster) CreateBucket(name, versioning string) {
	c.t.Helper()
	ctx := context.Background()
	s := c.nodes[0].Repl
	if err := s.CreateBucketSites(ctx, name, nil); err != nil {
		c.t.Fatalf("create bucket %s: %v", name, err)
	}
	if versioning != "" {
		err := s.UpdateBucket(ctx, name, func(b *object.Bucket) error { b.Versioning = versioning; return nil })
		if err != nil {
			c.t.Fatalf("versioning of %s: %v", name, err)
		}
	}
	b, err := s.GetBucket(ctx, name)
	if err != nil {
		c.t.Fatal(err)
	}
	c.buckets = append(c.buckets, b)
	for _, n := range c.nodes[1:] {
		if n.Up {
			if _, err := n.Objects.MergeBucket(b); err != nil {
				c.t.Fatalf("bucket %s on %s: %v", name, n.ID, err)
			}
		}
	}
}

// Replicas returns the indexes of the nodes holding bucket/key, in preference order.
func (c *Cluster) Replicas(bucket, key string) []int {
	ids := c.ids()
	rf := c.o.RF
	if rf == 0 {
		rf = 3
	}
	var out []int
	for _, id := range placement.Replicas(placement.Partition(bucket, key), ids, rf) {
		out = append(out, slices.Index(ids, id))
	}
	return out
}

func (c *Cluster) sortedIDs() []string {
	ids := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		ids[i] = n.ID
	}
	slices.Sort(ids)
	return ids
}

// ids returns the site's members (as gossip has spread them).
func (c *Cluster) ids() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.members)
}

// Join starts a new node with an empty disk that joins the site, as `minicloud serve --join`
// does: until Gossip, its own member list holds only itself and the others do not know it yet.
// It returns the node's index.
func (c *Cluster) Join() int {
	c.t.Helper()
	i := len(c.nodes)
	id := fmt.Sprintf("n%d", i)
	root := filepath.Dir(c.nodes[0].Dir)
	c.mu.Lock()
	for _, n := range c.nodes {
		c.views[n.ID] = slices.Clone(c.members)
	}
	c.views[id] = []string{id}
	c.mu.Unlock()
	c.nodes = append(c.nodes, &Node{ID: id, Addr: id + ":7001", Dir: filepath.Join(root, id)})
	if err := c.start(i, true); err != nil {
		c.t.Fatalf("start %s: %v", id, err)
	}
	return i
}

// Gossip lets membership spread: every node's member list becomes every node's.
func (c *Cluster) Gossip() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.members = c.sortedIDs()
	clear(c.views)
}

// Settle runs rounds of hinted handoff then anti-entropy on every live node, in node order: what
// the background loops would do over time.
func (c *Cluster) Settle(ctx context.Context, rounds int) {
	for range rounds {
		for _, n := range c.nodes {
			if n.Up {
				n.Repl.DeliverHintsNow()
			}
		}
		for _, n := range c.nodes {
			if n.Up {
				n.Repl.AntiEntropyNow(ctx)
			}
		}
	}
}

// PendingHints counts hints waiting on live nodes for other nodes of the site.
func (c *Cluster) PendingHints() int {
	total := 0
	for _, n := range c.nodes {
		if n.Up {
			for _, k := range n.Repl.PendingHints() {
				total += k
			}
		}
	}
	return total
}

// Close stops every node.
func (c *Cluster) Close() {
	c.Net.Close()
	for i := range c.nodes {
		c.kill(i)
	}
	for i := range c.nodes {
		c.closeStores(i)
	}
}

// view is one node's fake membership.
type view struct {
	c    *Cluster
	self string
}

var _ replicate.Cluster = view{}

func (v view) Self() string { return v.self }

func (v view) Alive(id string) bool {
	v.c.mu.Lock()
	defer v.c.mu.Unlock()
	return !v.c.crashed[id] && !v.c.noticed[[2]string{v.self, id}]
}

// skewed is a clock running ahead of real time.
type skewed time.Duration

func (d skewed) Now() time.Time { return time.Now().Add(time.Duration(d)) }

func (v view) SiteNodes(site string) []string {
	if site != Site {
		return nil
	}
	v.c.mu.Lock()
	defer v.c.mu.Unlock()
	if own, ok := v.c.views[v.self]; ok {
		return slices.Clone(own)
	}
	return slices.Clone(v.c.members)
}

func (v view) RPCAddr(id string) string { return id + ":7001" }

func (v view) Bootstrapping(id string) bool {
	v.c.mu.Lock()
	defer v.c.mu.Unlock()
	return v.c.booting[id]
}
