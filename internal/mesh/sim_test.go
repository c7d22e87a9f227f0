package mesh_test

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"log"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/minicloud/minicloud/internal/mesh"
)

// The mesh simulation runs many mesh nodes (mesh.Start with real memberlist, encryption and
// delegate) in one process on simNet, inside a testing/synctest bubble: every timer, sleep and
// timeout runs on simulated time, which advances only when every goroutine waits. So figures are
// in simulated seconds and do not depend on how loaded the machine is; CPU time is not
// simulated (processing is instantaneous), network latency and loss are (simNet).
//
// The default run is small (40 nodes, 4 sites) and short. The full run of issue 4:
//
//	go test ./internal/mesh -run TestMeshSim -v -timeout 2h -meshsim.full
//
// 1,000 nodes in 100 sites of 10. -meshsim.nodes, -meshsim.sites, -meshsim.profile, -meshsim.loss,
// -meshsim.wan, -meshsim.probeinterval, -meshsim.probetimeout and -meshsim.seed change it. The seed drives simNet (loss); memberlist draws its own random
// numbers, so a run is not replayed exactly.
var (
	simFull    = flag.Bool("meshsim.full", false, "run the mesh simulation with 1,000 nodes in 100 sites (takes many minutes)")
	simNodesF  = flag.Int("meshsim.nodes", 0, "nodes in the mesh simulation (default 40, 1000 with -meshsim.full)")
	simSitesF  = flag.Int("meshsim.sites", 0, "sites in the mesh simulation (default nodes/10, at least 2)")
	simProfile = flag.String("meshsim.profile", "", "gossip settings to simulate, comma-separated: "+strings.Join(profileNames(), ", ")+" (default current)")
	simLoss    = flag.Float64("meshsim.loss", 0, "probability that a packet is lost")
	simWAN     = flag.Float64("meshsim.wan", 1, "multiply the latency between sites by this (1: 10-59 ms one way)")
	simProbeI  = flag.Duration("meshsim.probeinterval", 0, "override the profile's probe interval")
	simProbeT  = flag.Duration("meshsim.probetimeout", 0, "override the profile's probe timeout")
	simEvents  = flag.Int("meshsim.events", 0, "joins and failures to measure, one at a time (default 1, 3 with -meshsim.full)")
	simSeed    = flag.Uint64("meshsim.seed", 0, "seed of the simulated network (0: random)")
)

// simProfiles are the gossip settings the simulation compares. "current" is what mesh.Start
// configures (mesh.go explains the choices); the others are what-ifs.
var simProfiles = map[string]func(*memberlist.Config){
	"current": func(*memberlist.Config) {},
	// wan: memberlist's DefaultWANConfig timings (probe every 5 s with a 3 s timeout, suspicion
	// 6·log10(N) probe intervals, push/pull every 60 s): a fraction of the probe traffic, but a
	// failure takes minutes to be known at 1,000 nodes.
	"wan": func(c *memberlist.Config) {
		w := memberlist.DefaultWANConfig()
		c.TCPTimeout, c.SuspicionMult, c.PushPullInterval = w.TCPTimeout, w.SuspicionMult, w.PushPullInterval
		c.ProbeTimeout, c.ProbeInterval, c.GossipNodes = w.ProbeTimeout, w.ProbeInterval, w.GossipNodes
		c.GossipInterval, c.GossipToTheDeadTime = w.GossipInterval, w.GossipToTheDeadTime
	},
	// lan: memberlist's DefaultLANConfig timings (probe every 1 s with a 500 ms timeout,
	// suspicion 4·log10(N) probe intervals, push/pull every 30 s, gossip every 200 ms to 3
	// nodes): what minicloud ran before it was tuned for 1,000 nodes.
	"lan": func(c *memberlist.Config) {
		l := memberlist.DefaultLANConfig()
		c.SuspicionMult, c.PushPullInterval, c.GossipToTheDeadTime = l.SuspicionMult, l.PushPullInterval, l.GossipToTheDeadTime
		c.ProbeInterval, c.ProbeTimeout, c.GossipInterval, c.GossipNodes = l.ProbeInterval, l.ProbeTimeout, l.GossipInterval, l.GossipNodes
	},
	// probe1s: the first tuning for 1,000 nodes (current but for probing every 1 s with a 500 ms
	// timeout and gossip every 200 ms to 3 nodes): a failure took 10.3 s to reach every node.
	"probe1s": func(c *memberlist.Config) {
		c.ProbeInterval, c.ProbeTimeout = time.Second, 500*time.Millisecond
		c.GossipInterval, c.GossipNodes = 200*time.Millisecond, 3
	},
}

func profileNames() []string {
	var out []string
	for name := range simProfiles {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// simLatency is the one-way delay between sites: 0.5 ms inside a site, 10 to 59 ms between two
// sites (a fixed figure per pair, the same both ways), times -meshsim.wan.
func simLatency(a, b int) time.Duration {
	if a == b {
		return 500 * time.Microsecond
	}
	if a > b {
		a, b = b, a
	}
	return time.Duration(*simWAN * float64(time.Duration(10+(a*131+b*71)%50)*time.Millisecond))
}

// raceBuild is set by race_test.go in -race builds.
var raceBuild bool

func TestMeshSim(t *testing.T) {
	nodes, sites := 40, 0
	if raceBuild {
		nodes = 20 // the race detector's own memory (race_test.go); the checks are the same
	}
	if *simFull {
		nodes = 1000
	}
	if *simNodesF > 0 {
		nodes = *simNodesF
	}
	if sites = *simSitesF; sites <= 0 {
		sites = max(2, nodes/10)
	}
	profiles := []string{"current"} // what mesh.Start runs; -meshsim.profile picks what-ifs
	if *simProfile != "" {
		profiles = strings.Split(*simProfile, ",")
	}
	events := 1
	if *simFull {
		events = 3
	}
	if *simEvents > 0 {
		events = *simEvents
	}
	seed := *simSeed
	if seed == 0 {
		seed = rand.Uint64()
	}
	for _, name := range profiles {
		tune, ok := simProfiles[name]
		if !ok {
			t.Fatalf("no profile %q; have %v", name, profileNames())
		}
		if *simProbeI > 0 || *simProbeT > 0 {
			profile := tune
			tune = func(c *memberlist.Config) {
				profile(c)
				if *simProbeI > 0 {
					c.ProbeInterval = *simProbeI
				}
				if *simProbeT > 0 {
					c.ProbeTimeout = *simProbeT
				}
			}
		}
		t.Run(name, func(t *testing.T) {
			cfg := simConfig(simParams{tune: tune})
			t.Logf("seed %d (-meshsim.seed to reuse), loss %g, WAN latency x%g, probe every %v (timeout %v), gossip every %v to %d",
				seed, *simLoss, *simWAN, cfg.ProbeInterval, cfg.ProbeTimeout, cfg.GossipInterval, cfg.GossipNodes)
			wall := time.Now()
			var r simResult
			synctest.Test(t, func(t *testing.T) {
				r = runSim(t, simParams{nodes: nodes, sites: sites, seed: seed, loss: *simLoss, events: events, tune: tune})
			})
			t.Logf("profile=%s %s wall_s=%.0f", name, r, time.Since(wall).Seconds())
			// Convergence bounds every run must meet (regressions, not the goals).
			if r.joinAll() > 30*time.Second {
				t.Errorf("a join took %v (simulated) to reach every node", r.joinAll())
			}
			if r.failAll() > 3*time.Minute {
				t.Errorf("a failure took %v (simulated) to be known by every node", r.failAll())
			}
			// Without loss nothing but a crash makes a probe fail: a live node declared dead is a
			// failure detector that is too hasty for the WAN latencies simulated.
			if *simLoss == 0 && r.falseDead > 0 {
				t.Errorf("live nodes were declared dead by live nodes %d times without packet loss", r.falseDead)
			}
			t.Logf("goals: join < 10s: %v; failure < 10s: %v; gossip < 1 KiB/s per node: %v",
				r.joinAll() < 10*time.Second, r.failAll() < 10*time.Second, r.bytesPerNodeSec < 1024)
		})
	}
}

type simParams struct {
	nodes, sites int
	seed         uint64
	loss         float64
	events       int // joins, then failures, measured one at a time
	tune         func(*memberlist.Config)
}

type simResult struct {
	nodes, sites     int
	form             time.Duration // cold start: every node sees every node alive
	settle           time.Duration // then until the cold start's broadcasts have drained
	window           time.Duration // steady-state window the bytes are measured over
	bytesPerNodeSec  float64       // packets and streams, payload only
	packetsPerNodeS  float64
	packetBytesNodeS float64
	streamBytesNodeS float64
	headersPerNodeS  float64 // IP+UDP headers the packets would add (28 bytes each)
	lost             int64
	// In the steady-state window, where no node fails: probes that failed and made their prober
	// suspect a live node, refutations, and (observer, node) pairs where a live node was declared
	// dead by a live one. falseDead counts the whole run, cold start and events included.
	suspected, refuted, deadWindow, falseDead int64
	// For each join and each failure: when every node (and half of them, and the first) knew.
	joins, joinsP50         []time.Duration
	fails, failsP50, fails0 []time.Duration
}

func (r simResult) joinAll() time.Duration { return slices.Max(append([]time.Duration{0}, r.joins...)) }
func (r simResult) failAll() time.Duration { return slices.Max(append([]time.Duration{0}, r.fails...)) }

func secs(ds []time.Duration) string {
	var out []string
	for _, d := range ds {
		out = append(out, fmt.Sprintf("%.2f", d.Seconds()))
	}
	return strings.Join(out, ",")
}

func (r simResult) String() string {
	return fmt.Sprintf("nodes=%d sites=%d form_s=%.1f settle_s=%.0f join_all_s=%s (p50 %s) fail_all_s=%s (p50 %s) "+
		"(first %s) window_s=%.0f gossip_B_per_node_s=%.0f (packets %.0f B/s in %.1f pkt/s, +%.0f B/s IP/UDP headers; streams %.0f B/s) "+
		"lost_pkts=%d window_false_suspicions=%d refutations=%d false_dead=%d false_dead_run=%d",
		r.nodes, r.sites, r.form.Seconds(), r.settle.Seconds(), secs(r.joins), secs(r.joinsP50), secs(r.fails), secs(r.failsP50),
		secs(r.fails0), r.window.Seconds(), r.bytesPerNodeSec, r.packetBytesNodeS, r.packetsPerNodeS, r.headersPerNodeS,
		r.streamBytesNodeS, r.lost, r.suspected, r.refuted, r.deadWindow, r.falseDead)
}

type simNode struct {
	id   string
	addr string
	host *simHost
	m    *mesh.Mesh
}

type simCluster struct {
	t     *testing.T
	p     simParams
	net   *simNet
	nodes []*simNode
	slots map[int]int // hosts started per site
	// tables, if set, gives node i its replicated tables (tables_test.go).
	tables func(i int) map[string]mesh.Table
	watch  simWatch
}

// simWatch counts failure-detector events across all nodes: from memberlist's log, probes that
// failed (the prober suspects the node) and refutations (a node learnt it is suspected or dead
// and announced itself alive); from its events, nodes declared dead while their host was up.
type simWatch struct {
	net                           *simNet
	suspected, refuted, falseDead atomic.Int64
}

func (w *simWatch) Write(p []byte) (int, error) {
	switch {
	case bytes.Contains(p, []byte("memberlist: Suspect ")) && bytes.Contains(p, []byte("has failed, no acks")):
		w.suspected.Add(1)
	case bytes.Contains(p, []byte("memberlist: Refuting a suspect")) || bytes.Contains(p, []byte("memberlist: Refuting a dead")):
		w.refuted.Add(1)
	}
	return len(p), nil
}

// watchEvents passes memberlist's events on to the mesh, counting false deaths on the way (not
// those a crashed host's node, cut off from all, declares).
type watchEvents struct {
	memberlist.EventDelegate
	w    *simWatch
	host *simHost // the observer's
}

func (e watchEvents) NotifyLeave(n *memberlist.Node) {
	if h := e.w.net.lookup(n.Address()); h != nil && !h.down.Load() && !e.host.down.Load() {
		e.w.falseDead.Add(1)
	}
	e.EventDelegate.NotifyLeave(n)
}

// start starts node i of site on the simulated network, joining join.
func (c *simCluster) start(i, site int, join []string) *simNode {
	c.t.Helper()
	if c.slots == nil {
		c.slots = map[int]int{}
	}
	c.slots[site]++ // hosts of a site are 10.S.S.1, .2, ...
	addr := fmt.Sprintf("10.%d.%d.%d:7946", 1+site/200, site%200, c.slots[site])
	host := c.net.host(addr, site)
	ip := strings.TrimSuffix(addr, ":7946")
	n := &simNode{id: fmt.Sprintf("n%016x", uint64(i+1)*0x9e3779b97f4a7c15), addr: addr, host: host}
	var tables map[string]mesh.Table
	if c.tables != nil {
		tables = c.tables(i)
	}
	m, err := mesh.Start(mesh.Options{
		Tables: tables,
		Self:   mesh.Member{ID: n.id, Site: fmt.Sprintf("site%03d", site), Mesh: addr, RPC: ip + ":7947", S3: ip + ":9000"},
		Join:   join,
		Secret: "simulated mesh secret",
		Memberlist: func(cfg *memberlist.Config) {
			cfg.Transport = host
			c.p.tune(cfg)
			c.watch.net = c.net
			cfg.Logger = log.New(io.MultiWriter(cfg.Logger.Writer(), &c.watch), "", 0)
			cfg.Events = watchEvents{cfg.Events, &c.watch, host}
		},
	})
	if err != nil {
		c.t.Fatalf("start node %d: %v", i, err)
	}
	n.m = m
	c.nodes = append(c.nodes, n)
	return n
}

// waitAll polls every step until ok holds for every node in among, at most limit; it returns
// when each node first passed (-1 for those that never did) and whether all did.
func waitAll(among []*simNode, step, limit time.Duration, ok func(*simNode) bool) ([]time.Duration, bool) {
	start := time.Now()
	seen := make([]time.Duration, len(among))
	for i := range seen {
		seen[i] = -1
	}
	for left := len(among); ; {
		for i, n := range among {
			if seen[i] < 0 && ok(n) {
				seen[i] = time.Since(start)
				left--
			}
		}
		if left == 0 {
			return seen, true
		}
		if time.Since(start) > limit {
			return seen, false
		}
		time.Sleep(step)
	}
}

func quantile(ds []time.Duration, q float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[int(math.Ceil(q*float64(len(s))))-1]
}

// simConfig is the memberlist configuration a simulated node runs (what mesh.Start sets that
// matters here, then the profile's changes).
func simConfig(p simParams) *memberlist.Config {
	cfg := mesh.GossipConfig()
	p.tune(cfg)
	return cfg
}

// pushPullPeriod is memberlist's push/pull period at n nodes (its pushPullScale).
func pushPullPeriod(p simParams, n int) time.Duration {
	cfg := simConfig(p)
	if n <= 32 {
		return cfg.PushPullInterval
	}
	return time.Duration(math.Ceil(math.Log2(float64(n))-5)+1) * cfg.PushPullInterval
}

func runSim(t *testing.T, p simParams) (r simResult) {
	r.nodes, r.sites = p.nodes, p.sites
	c := &simCluster{t: t, p: p, net: newSimNet(p.seed, p.loss, simLatency)}
	rng := rand.New(rand.NewPCG(p.seed, 2))
	defer c.stop()

	// Cold start: one site every 100 ms; the first site's nodes join its first node, every
	// other node joins a random node of an earlier site.
	perSite := (p.nodes + p.sites - 1) / p.sites
	start := time.Now()
	for i := 0; i < p.nodes; i++ {
		site := i / perSite
		var join []string
		switch {
		case site == 0 && i > 0:
			join = []string{c.nodes[0].addr}
		case site > 0:
			join = []string{c.nodes[rng.IntN(site*perSite)].addr}
		}
		if i > 0 && i%perSite == 0 {
			time.Sleep(100 * time.Millisecond)
		}
		c.start(i, site, join)
	}
	all := slices.Clone(c.nodes)
	progress := time.Now()
	formed := func(n *simNode) bool {
		if time.Since(progress) >= 10*time.Second {
			progress = time.Now()
			low := p.nodes
			for _, o := range all {
				low = min(low, aliveCount(o.m))
			}
			t.Logf("forming: %v (simulated): the node that sees fewest sees %d of %d alive", time.Since(start).Round(time.Second), low, p.nodes)
		}
		return aliveCount(n.m) == p.nodes
	}
	if _, ok := waitAll(all, time.Second, 15*time.Minute, formed); !ok {
		t.Fatalf("%d nodes did not all see each other alive within 15 min (simulated)", p.nodes)
	}
	r.form = time.Since(start)
	t.Logf("formed: %d nodes see each other alive after %v (simulated)", p.nodes, r.form.Round(time.Millisecond))

	// Steady state: let the cold start's broadcasts drain, then count bytes over two push/pull
	// periods (every node starts about two exchanges and answers about two). memberlist sends
	// each of the N alive messages about 4·log10(N) times, a few per gossip packet: at 1,000
	// nodes that takes minutes. Settled is when a 10 s slice shows no more packets than probing
	// sends (a ping and an ack per node and probe interval, plus slack); at most 20 min.
	cfg := simConfig(p)
	settle := time.Now()
	for {
		pk0, _, _, _, _ := c.net.totals()
		time.Sleep(10 * time.Second)
		pk1, _, _, _, _ := c.net.totals()
		rate := float64(pk1-pk0) / float64(p.nodes) / 10
		if rate < 2.5/cfg.ProbeInterval.Seconds() || time.Since(settle) > 20*time.Minute {
			r.settle = time.Since(settle)
			t.Logf("settled %v after forming: %.1f packets/s per node", r.settle, rate)
			break
		}
	}
	r.window = max(20*time.Second, 2*pushPullPeriod(p, p.nodes))
	pk0, pb0, sb0, _, lost0 := c.net.totals()
	sus0, ref0, dead0 := c.watch.suspected.Load(), c.watch.refuted.Load(), c.watch.falseDead.Load()
	time.Sleep(r.window)
	pk1, pb1, sb1, _, lost1 := c.net.totals()
	r.suspected, r.refuted, r.deadWindow = c.watch.suspected.Load()-sus0, c.watch.refuted.Load()-ref0, c.watch.falseDead.Load()-dead0
	per := float64(p.nodes) * r.window.Seconds()
	r.packetsPerNodeS = float64(pk1-pk0) / per
	r.packetBytesNodeS = float64(pb1-pb0) / per
	r.streamBytesNodeS = float64(sb1-sb0) / per
	r.headersPerNodeS = 28 * r.packetsPerNodeS
	r.bytesPerNodeSec = r.packetBytesNodeS + r.streamBytesNodeS
	r.lost = lost1 - lost0
	t.Logf("steady state over %v: %.0f B/s per node", r.window, r.bytesPerNodeSec)

	// Joins: new nodes, each of another site, join through a random node of another site. Then
	// failures: nodes of different sites crash (all their traffic is lost from then on). One at a
	// time, each measured until every node agrees, then some quiet.
	quiet := 10 * time.Second
	if p.nodes > 100 {
		quiet = 30 * time.Second
	}
	others := slices.Clone(all)
	for k := 0; k < p.events; k++ {
		site := k * p.sites / p.events
		via := all[(site*perSite+perSite+rng.IntN(p.nodes-perSite))%p.nodes]
		n := c.start(p.nodes+k, site, []string{via.addr})
		seen, ok := waitAll(others, 50*time.Millisecond, 10*time.Minute, func(o *simNode) bool { return o.m.Alive(n.id) })
		if !ok {
			t.Fatalf("the new node %s is not seen alive by every node after 10 min (simulated)", n.id)
		}
		r.joins = append(r.joins, quantile(seen, 1))
		r.joinsP50 = append(r.joinsP50, quantile(seen, 0.5))
		t.Logf("join %d: every node sees %s alive after %v (half after %v)", k+1, n.id, quantile(seen, 1), quantile(seen, 0.5))
		others = append(others, n)
		time.Sleep(quiet)
	}
	for k := 0; k < p.events; k++ {
		victim := all[(k*p.sites/p.events)*perSite+perSite/2]
		victim.host.down.Store(true)
		others = slices.DeleteFunc(others, func(n *simNode) bool { return n == victim })
		seen, ok := waitAll(others, 100*time.Millisecond, 10*time.Minute, func(n *simNode) bool { return !n.m.Alive(victim.id) })
		if !ok {
			t.Fatalf("the crashed node %s is still alive for some node after 10 min (simulated)", victim.id)
		}
		r.fails = append(r.fails, quantile(seen, 1))
		r.failsP50 = append(r.failsP50, quantile(seen, 0.5))
		r.fails0 = append(r.fails0, slices.Min(seen))
		t.Logf("failure %d: every node sees %s dead after %v (half after %v, the first after %v)", k+1, victim.id,
			quantile(seen, 1), quantile(seen, 0.5), slices.Min(seen))
		time.Sleep(quiet)
	}
	r.falseDead = c.watch.falseDead.Load()
	return r
}

func aliveCount(m *mesh.Mesh) int {
	n := 0
	for _, s := range m.Members() {
		if s.Alive {
			n++
		}
	}
	return n
}

// stop cuts every host off (so that leave messages go nowhere) and closes every node at once.
func (c *simCluster) stop() {
	for _, n := range c.nodes {
		n.host.down.Store(true)
	}
	var wg sync.WaitGroup
	for _, n := range c.nodes {
		wg.Go(func() {
			if err := n.m.Close(); err != nil {
				c.t.Errorf("close %s: %v", n.id, err)
			}
		})
	}
	wg.Wait()
	// Let what is still in flight run out: dials and stream reads end at their timeouts, and
	// delayed packets find their hosts shut.
	time.Sleep(time.Minute)
	synctest.Wait()
}
