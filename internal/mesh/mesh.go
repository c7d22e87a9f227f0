// Package mesh is membership: who the nodes of the mesh are, which site each belongs to, how to
// reach them, and which are alive now. It runs SWIM gossip (hashicorp/memberlist), encrypted and
// authenticated with a key derived from the mesh secret, and replicates small tables (buckets,
// keys, stream and rule definitions) for other packages (tables.go). Alive/dead is routing state
// only: a member stays in the layout until it is decommissioned. It moves no object data.
//
// One membership for the whole mesh, every site included (DESIGN.md), rather than Consul's two
// tiers (a LAN pool per site and a WAN pool of a few servers): there are no special nodes, one
// --join address of any node of any site is enough, and every node can route to every other.
// What makes one flat SWIM pool fit 1,000 nodes in 100 sites over WAN links (config below, and
// internal/mesh/sim_test.go, which measures it):
//   - Probing costs each node one ping and one ack every 0.8 s whatever the mesh size; a probe
//     waits the whole interval for the target's ack, so any terrestrial WAN round trip passes
//     (config explains the timeouts).
//   - Steady-state traffic is dominated by push/pull (a full exchange of node states), so it runs
//     every 60 s (memberlist stretches that to every 6 min at 1,000 nodes) and carries, on the
//     mesh's side, one digest per table instead of the tables; changes travel by gossip.
//   - Node metadata is a small JSON record (about 70 bytes): it rides in every alive message and
//     every push/pull.
//   - A failed node is declared dead after 2·log10(N) probe intervals (4.8 s at 1,000 nodes), so
//     every node knows within about 8 s; Lifeguard's local-health awareness slows a node that
//     is itself overloaded rather than letting it accuse healthy peers.
//   - Nodes that failed are retried (Serf's reconnect: each node with probability
//     failed/alive every ~10 s), so a partition heals however long it lasted.
package mesh

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
)

// Member is a node of the mesh as every node records it.
type Member struct {
	ID             string `json:"id,omitempty"`
	Site           string `json:"site"`
	Mesh           string `json:"mesh,omitempty"` // gossip address
	RPC            string `json:"rpc"`            // data RPC address (mutual TLS)
	S3             string `json:"s3"`
	TS             int64  `json:"ts"` // last change, unix nanos: the later record wins
	Decommissioned bool   `json:"decommissioned,omitempty"`
	// Bootstrapping: the node lost its data (or is new) and is being refilled; it does not count
	// towards read quorums until it clears this (internal/replicate/bootstrap.go).
	Bootstrapping bool `json:"bootstrapping,omitempty"`
}

// MemberState is a member and whether gossip currently sees it alive.
type MemberState struct {
	Member
	Alive bool `json:"alive"`
}

// Options configures a mesh node.
type Options struct {
	Self    Member   // this node: ID, Site, Mesh (bind address), RPC, S3
	Join    []string // gossip addresses of nodes to join
	Secret  string   // mesh secret
	DataDir string   // where the member list is kept across restarts
	// Tables are the replicated tables this node holds, by name (tables.go); "members" is the
	// mesh's own.
	Tables map[string]Table
	Logger *slog.Logger
	// OnChange is called (not under any lock of the mesh) when membership or liveness changes.
	OnChange func()
	// Memberlist, if set, adjusts the gossip configuration just before it starts. Tests use it
	// to run many nodes in one process on a simulated network (cfg.Transport) with tuned
	// intervals (internal/mesh/sim_test.go). Nil in production.
	Memberlist func(cfg *memberlist.Config)
}

// Mesh is a running membership.
type Mesh struct {
	o     Options
	log   *slog.Logger
	ml    *memberlist.Memberlist
	queue *memberlist.TransmitLimitedQueue

	mu       sync.RWMutex
	members  map[string]Member
	alive    map[string]bool
	fetching map[string]time.Time // hinted entries being fetched, since
	dirty    bool                 // members changed since the last save
	gen      uint64               // members changed this many times
	memVers  map[string]uint64    // versions of the member records at memGen
	memGen   uint64
	learned  map[string]time.Time // when each member's record first arrived

	inbox chan func()   // work for the worker, in order
	sends chan struct{} // semaphore of streamed sends
	stats meshStats

	stop chan struct{}
	wg   sync.WaitGroup
}

type meshStats struct {
	digestMismatch, applied, streamed, dropped atomic.Int64
}

// Stats are counters of the mesh-table machinery, for tests and metrics.
type Stats struct {
	DigestMismatches int64 // push/pulls (and hellos) that found a table differing
	Applied          int64 // entries from peers that changed a local table
	StreamedBytes    int64 // bytes of digests and entries sent over streams
	Dropped          int64 // messages dropped because the worker or the senders were busy
}

// Stats returns the mesh-table counters.
func (m *Mesh) Stats() Stats {
	return Stats{m.stats.digestMismatch.Load(), m.stats.applied.Load(), m.stats.streamed.Load(), m.stats.dropped.Load()}
}

// config is the gossip configuration of a mesh node (see the package comment for why).
//
// How long every node takes to know that a node crashed is about
//
//	(until some node probes it: ~1 probe interval, as N nodes each probe one of N per interval)
//	+ 1 probe interval (the failed probe: direct, then indirect through 3 nodes, and TCP)
//	+ SuspicionMult·log10(N) probe intervals (the suspicion timeout every node runs)
//	+ the spread of the suspect message by gossip (a few gossip intervals plus WAN latency).
//
// At 1,000 nodes that is ~8·ProbeInterval + ~0.7 s: with 0.8 s, about 7 s, under the 10 s of
// issue 4 with margin (internal/mesh/sim_test.go measures it; 1 s gave 10.3 s). The costs:
//   - Probe traffic is 1/ProbeInterval pings and acks per node (1.25/s, about +25% over 1 s, still
//     far under 1 KiB/s per node with push/pull; BENCHMARKS.md "Mesh simulation").
//   - A suspected node has SuspicionMult·log10(N)·ProbeInterval to refute (4.8 s at 1,000 nodes,
//     1.6 s at 10 or fewer) instead of 6 s and 2 s: a node that stalls longer than that (a stopped
//     VM, a starved process) is declared dead and comes back alive when it refutes. SuspicionMult
//     2 is the smallest that leaves time for a refutation to spread across a WAN; with 2,
//     memberlist expects no confirmations, so Lifeguard's SuspicionMaxTimeoutMult never applies.
//   - WAN round trips. A probe counts the target's direct ack until the end of the interval
//     (800 ms), whatever ProbeTimeout says: any terrestrial round trip (< 400 ms) passes.
//     ProbeTimeout (300 ms) is only when the prober stops relying on the direct ack alone and
//     also asks 3 other nodes to ping the target and tries TCP: these safety nets get
//     ProbeInterval-ProbeTimeout = 500 ms, the same as before (1 s - 500 ms), and they are what
//     keeps a lost ping from becoming a suspicion (two round trips each: links up to ~250 ms).
//     That window matters more than ProbeTimeout: in the simulation with 5% loss and WAN latency
//     x4 (80-472 ms round trips), 300 ms (window 500 ms) gave no false suspicion, as 1 s/500 ms
//     did, while 400 ms (window 400 ms) gave 1,443 in 8 min and live nodes declared dead. The
//     price of 300 ms is bytes, not false alarms: between sites more than 300 ms apart every probe
//     also sends the indirect pings (in that x4 simulation 1.1 KiB/s per node instead of 0.4;
//     at 10-59 ms one way it does not happen). A mesh whose sites are mostly that far apart
//     should raise ProbeInterval (to about three round trips) rather than shrink the window.
//     Also, the helpers' nacks (sent ProbeTimeout after their ping) now come back before the
//     deadline over links under ~200 ms, so Lifeguard tells a dead target from a prober that is
//     itself unhealthy; with 500 ms of 1 s they always came too late and every failed probe
//     counted against the prober's own health.
//   - Gossip every 100 ms to 4 nodes (memberlist's LAN default: 200 ms to 3) spreads a suspect or
//     dead message to 1,000 nodes in well under a second; memberlist sends a message a fixed
//     number of times whatever the interval, and an idle mesh sends no gossip packets, so it costs
//     no steady-state bytes.
func config() *memberlist.Config {
	cfg := memberlist.DefaultLANConfig()
	cfg.ProbeInterval = 800 * time.Millisecond
	cfg.ProbeTimeout = 300 * time.Millisecond
	cfg.SuspicionMult = 2
	cfg.GossipInterval = 100 * time.Millisecond
	cfg.GossipNodes = 4
	cfg.PushPullInterval = 60 * time.Second
	cfg.GossipToTheDeadTime = 60 * time.Second
	cfg.TCPTimeout = 10 * time.Second
	return cfg
}

// Start joins (or founds) the mesh.
func Start(o Options) (*Mesh, error) {
	if o.Secret == "" {
		return nil, errors.New("mesh: a mesh secret is required")
	}
	if _, ok := o.Tables[membersTable]; ok {
		return nil, fmt.Errorf("mesh: table name %q is the mesh's own", membersTable)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	host, portStr, err := net.SplitHostPort(o.Self.Mesh)
	if err != nil {
		return nil, fmt.Errorf("mesh address %q: %w", o.Self.Mesh, err)
	}
	port, _ := strconv.Atoi(portStr)
	m := &Mesh{o: o, log: o.Logger.With("component", "mesh"), members: map[string]Member{}, alive: map[string]bool{},
		fetching: map[string]time.Time{}, learned: map[string]time.Time{}, inbox: make(chan func(), 4096), sends: make(chan struct{}, 8),
		stop: make(chan struct{})}
	m.load()
	self := o.Self
	self.TS = time.Now().UnixNano()
	if old, ok := m.members[self.ID]; ok {
		self.Decommissioned = old.Decommissioned
		self.TS = max(self.TS, old.TS+1)
	}
	m.members[self.ID] = self
	m.alive[self.ID] = true
	if meta := encodeMeta(self); len(meta) > memberlist.MetaMaxSize {
		return nil, fmt.Errorf("mesh: this node's record is %d bytes, more than gossip carries (%d): %s", len(meta), memberlist.MetaMaxSize, meta)
	}

	cfg := config()
	cfg.Name = o.Self.ID
	cfg.BindAddr = host
	cfg.BindPort = port
	if host != "" && host != "0.0.0.0" && host != "::" {
		cfg.AdvertiseAddr = host
		cfg.AdvertisePort = port
	}
	cfg.SecretKey = GossipKey(o.Secret)
	cfg.Delegate = (*delegate)(m)
	cfg.Events = (*events)(m)
	cfg.Logger = log.New(slogWriter{m.log}, "", 0)
	if o.Memberlist != nil {
		o.Memberlist(cfg)
	}
	m.queue = &memberlist.TransmitLimitedQueue{NumNodes: func() int { return m.ml.NumMembers() }, RetransmitMult: 4}
	if m.ml, err = memberlist.Create(cfg); err != nil {
		return nil, fmt.Errorf("start gossip on %s: %w", o.Self.Mesh, err)
	}
	// This node's record as every other node decodes it from its gossip metadata (the gossip
	// address memberlist advertises, addresses on its host spelled alike), so that the records
	// agree byte for byte and the member table's digests match.
	if canon, ok := decodeMeta(m.ml.LocalNode()); ok {
		m.mu.Lock()
		m.setMember(canon)
		m.mu.Unlock()
	}
	m.dirty = true
	m.flush()
	m.wg.Add(2)
	go m.work() // what memberlist delivered meanwhile waits in the inbox
	go m.run()
	return m, nil
}

// run joins the mesh (trying the --join addresses and then remembered members until one answers,
// so that nodes may start in any order and a restarted node finds its site again), then keeps
// reconnecting to failed members and saving the member list, until the mesh stops.
func (m *Mesh) run() {
	defer m.wg.Done()
	joined := false
	nextReconnect, nextSync := time.Now(), time.Now().Add(jitter(tableSyncInterval))
	for attempt := 0; ; attempt++ {
		if !joined {
			joined = m.join(attempt)
			nextReconnect = time.Now().Add(jitter(10 * time.Second))
		} else if time.Now().After(nextReconnect) {
			m.reconnect()
			nextReconnect = time.Now().Add(jitter(10 * time.Second))
		}
		if time.Now().After(nextSync) {
			m.syncTables()
			nextSync = time.Now().Add(jitter(tableSyncInterval))
		}
		m.flush()
		select {
		case <-m.stop:
			m.flush()
			return
		case <-time.After(time.Second):
		}
	}
}

// jitter returns d ± 50%, so that nodes started together do not act together.
func jitter(d time.Duration) time.Duration { return d/2 + rand.N(d) }

// join tries the --join addresses, then up to five remembered members, one at a time (each
// successful join is a full state exchange, so not with all of them). It reports whether one
// answered or there is nobody to join.
func (m *Mesh) join(attempt int) bool {
	var remembered []string
	m.mu.RLock()
	for id, mem := range m.members {
		if id != m.o.Self.ID && mem.Mesh != "" && !mem.Decommissioned {
			remembered = append(remembered, mem.Mesh)
		}
	}
	m.mu.RUnlock()
	rand.Shuffle(len(remembered), func(i, j int) { remembered[i], remembered[j] = remembered[j], remembered[i] })
	addrs := append(append([]string(nil), m.o.Join...), remembered[:min(5, len(remembered))]...)
	if len(addrs) == 0 {
		return true
	}
	var err error
	for _, a := range addrs {
		var n int
		if n, err = m.ml.Join([]string{a}); n > 0 {
			m.log.Info("joined mesh", "via", a)
			return true
		}
		select {
		case <-m.stop:
			return true
		default:
		}
	}
	if attempt%10 == 0 {
		m.log.Warn("cannot reach any node to join yet; retrying", "addrs", addrs, "err", err)
	}
	return false
}

// reconnect tries to rejoin one member that gossip does not see alive (Serf's reconnect): after
// a partition heals, memberlist itself never contacts the nodes it declared dead again, and a
// member whose alive message this node missed would otherwise wait for a push/pull. Each
// node tries with probability failed/alive, so a large mesh makes about as many attempts per
// round as it has failed members, and a cut-off half of it rejoins at once.
func (m *Mesh) reconnect() {
	var failed, fresh []string
	m.mu.RLock()
	for id, mem := range m.members {
		alive, seen := m.alive[id]
		if id == m.o.Self.ID || alive || mem.Mesh == "" || mem.Decommissioned {
			continue
		}
		failed = append(failed, mem.Mesh)
		if !seen && time.Since(m.learned[id]) < 2*time.Minute {
			fresh = append(fresh, mem.Mesh)
		}
	}
	m.mu.RUnlock()
	if len(failed) == 0 {
		return
	}
	// A member this node learned of lately but never saw alive is most likely alive and only
	// its alive message was missed here: try it for sure.
	if len(fresh) > 0 {
		failed = fresh
	} else if p := float64(len(failed)) / float64(max(1, m.ml.NumMembers())); rand.Float64() >= p {
		return
	}
	a := failed[rand.IntN(len(failed))]
	if n, _ := m.ml.Join([]string{a}); n > 0 {
		m.log.Info("reconnected to a failed member", "addr", a)
	}
}

// Close leaves the gossip.
func (m *Mesh) Close() error {
	close(m.stop)
	// A node that cannot tell anyone it leaves (cut off, or the last one) still stops; the
	// others will find it dead instead.
	if err := m.ml.Leave(time.Second); err != nil {
		m.log.Debug("leave the mesh", "err", err)
	}
	err := m.ml.Shutdown()
	m.wg.Wait()
	return err
}

// Self returns this node's id.
func (m *Mesh) Self() string { return m.o.Self.ID }

// Members lists every member with its liveness, sorted by id.
func (m *Mesh) Members() []MemberState {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]MemberState, 0, len(m.members))
	for id, mem := range m.members {
		out = append(out, MemberState{Member: mem, Alive: m.alive[id]})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Member returns one member.
func (m *Mesh) Member(id string) (MemberState, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	mem, ok := m.members[id]
	return MemberState{Member: mem, Alive: m.alive[id]}, ok
}

// Alive reports whether gossip sees node id alive.
func (m *Mesh) Alive(id string) bool {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.alive[id]
}

// SiteNodes returns the ids of a site's members in the layout (not decommissioned), sorted.
func (m *Mesh) SiteNodes(site string) []string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var out []string
	for id, mem := range m.members {
		if mem.Site == site && !mem.Decommissioned {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}

// Decommission removes a node from the layout, everywhere, by gossip.
func (m *Mesh) Decommission(id string) error {
	m.mu.Lock()
	mem, ok := m.members[id]
	if !ok {
		m.mu.Unlock()
		return fmt.Errorf("no member %q", id)
	}
	mem.Decommissioned = true
	mem.TS = max(time.Now().UnixNano(), mem.TS+1) // later than the node's own record, whatever the clocks
	m.setMember(mem)
	m.mu.Unlock()
	if id == m.o.Self.ID {
		m.enqueueFunc(m.updateMeta)
	}
	m.gossipEntry(membersTable, id, encodeMember(mem))
	m.changed()
	return nil
}

// UpdateSelf changes this node's own record (not its id or gossip address) and announces it.
// Its gossip metadata must stay under memberlist's 512 bytes.
func (m *Mesh) UpdateSelf(fn func(*Member)) error {
	m.mu.Lock()
	mem := m.members[m.o.Self.ID]
	fn(&mem)
	mem.ID, mem.Mesh = m.o.Self.ID, m.o.Self.Mesh
	mem.TS = max(time.Now().UnixNano(), mem.TS+1)
	if meta := encodeMeta(mem); len(meta) > memberlist.MetaMaxSize {
		m.mu.Unlock()
		return fmt.Errorf("mesh: this node's record would be %d bytes, more than gossip carries (%d)", len(meta), memberlist.MetaMaxSize)
	}
	m.setMember(mem)
	m.mu.Unlock()
	m.flush()
	m.updateMeta()
	m.changed()
	return nil
}

// SetBootstrapping changes this node's Bootstrapping flag in its member record and spreads it.
func (m *Mesh) SetBootstrapping(on bool) {
	if err := m.UpdateSelf(func(self *Member) { self.Bootstrapping = on }); err != nil {
		m.log.Warn("announce member metadata", "err", err)
	}
}

// updateMeta announces this node's record (as gossip metadata in a new alive message).
func (m *Mesh) updateMeta() {
	if err := m.ml.UpdateNode(0); err != nil {
		m.log.Warn("announce this node's record", "err", err)
	}
}

// Broadcast spreads changed table entries and member records to every node. tables is a JSON
// object of table name to an array of entries, e.g. {"buckets": [...]}.
func (m *Mesh) Broadcast(tables []byte, members []Member) {
	if len(tables) > 0 {
		var ts map[string][]json.RawMessage
		if err := json.Unmarshal(tables, &ts); err != nil {
			m.log.Error("broadcast: tables are not a JSON object of arrays", "err", err)
		}
		for name, es := range ts {
			for _, e := range es {
				m.Publish(name, e)
			}
		}
	}
	for _, mem := range members {
		m.gossipEntry(membersTable, mem.ID, encodeMember(mem))
	}
}

func (m *Mesh) changed() {
	if m.o.OnChange != nil {
		m.o.OnChange()
	}
}

// mergeMembers applies member records from a peer. The record with the later TS wins (equal
// TS: the larger encoding), except that decommissioned is sticky (once set, set for good) and
// that this node's own record is its own: a later record of it from elsewhere (a clock that
// went back across a restart) is answered by restamping its own later still.
func (m *Mesh) mergeMembers(ms []Member) {
	changed, refute := false, false
	m.mu.Lock()
	for _, in := range ms {
		if in.ID == "" {
			continue
		}
		old, known := m.members[in.ID]
		next := old
		if in.ID == m.o.Self.ID {
			decom := old.Decommissioned || in.Decommissioned
			if in == old || in.TS < old.TS && decom == old.Decommissioned {
				continue
			}
			next.Decommissioned = decom
			next.TS = max(in.TS+1, old.TS+1, time.Now().UnixNano())
			refute = true
		} else {
			if known && !newer(in, old) {
				if !in.Decommissioned || old.Decommissioned {
					continue
				}
				next.Decommissioned = true
			} else {
				next = in
				next.Decommissioned = in.Decommissioned || old.Decommissioned
			}
		}
		if next == old {
			continue
		}
		m.setMember(next)
		changed = true
	}
	m.mu.Unlock()
	if refute {
		m.enqueueFunc(func() {
			m.updateMeta()
			m.mu.RLock()
			self := m.members[m.o.Self.ID]
			m.mu.RUnlock()
			m.gossipEntry(membersTable, self.ID, encodeMember(self))
		})
	}
	if changed {
		m.changed()
	}
}

// setMember stores a member record; the caller holds m.mu.
func (m *Mesh) setMember(mem Member) {
	if _, ok := m.members[mem.ID]; !ok {
		m.learned[mem.ID] = time.Now()
	}
	m.members[mem.ID] = mem
	m.dirty = true
	m.gen++
}

// newer reports whether member record a wins over b.
func newer(a, b Member) bool {
	if a.TS != b.TS {
		return a.TS > b.TS
	}
	return string(encodeMember(a)) > string(encodeMember(b))
}

// encodeMeta is this node's record as gossip metadata: without the id (memberlist's node name)
// and the gossip address (memberlist's node address), and with addresses on the gossip
// address's host written as ":port".
func encodeMeta(self Member) []byte {
	host, _, _ := net.SplitHostPort(self.Mesh)
	meta := self
	meta.ID, meta.Mesh = "", ""
	meta.RPC, meta.S3 = shortAddr(meta.RPC, host), shortAddr(meta.S3, host)
	return encodeMember(meta)
}

// decodeMeta is the member record a node's gossip metadata carries.
func decodeMeta(n *memberlist.Node) (Member, bool) {
	var mem Member
	if json.Unmarshal(n.Meta, &mem) != nil || mem.TS == 0 {
		return Member{}, false
	}
	host := n.Addr.String()
	mem.ID, mem.Mesh = n.Name, net.JoinHostPort(host, strconv.Itoa(int(n.Port)))
	mem.RPC, mem.S3 = longAddr(mem.RPC, host), longAddr(mem.S3, host)
	return mem, true
}

func shortAddr(addr, host string) string {
	if h, p, err := net.SplitHostPort(addr); err == nil && h == host && host != "" {
		return ":" + p
	}
	return addr
}

func longAddr(addr, host string) string {
	if len(addr) > 1 && addr[0] == ':' {
		return net.JoinHostPort(host, addr[1:])
	}
	return addr
}

func (m *Mesh) path() string { return filepath.Join(m.o.DataDir, "members.json") }

func (m *Mesh) load() {
	b, err := os.ReadFile(m.path())
	if err != nil {
		return
	}
	var ms []Member
	if json.Unmarshal(b, &ms) == nil {
		for _, mem := range ms {
			m.members[mem.ID] = mem
		}
	}
}

// flush saves the member list if it changed (at most once a second from run: a mesh forming
// changes it once per member).
func (m *Mesh) flush() {
	m.mu.Lock()
	if !m.dirty || m.o.DataDir == "" {
		m.dirty = false
		m.mu.Unlock()
		return
	}
	m.dirty = false
	ms := make([]Member, 0, len(m.members))
	for _, mem := range m.members {
		ms = append(ms, mem)
	}
	m.mu.Unlock()
	sort.Slice(ms, func(i, j int) bool { return ms[i].ID < ms[j].ID })
	b, _ := json.Marshal(ms)
	tmp := m.path() + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		m.log.Warn("save member list", "err", err)
		return
	}
	if err := os.Rename(tmp, m.path()); err != nil {
		m.log.Warn("save member list", "err", err)
	}
}

// enqueueFunc hands work to the worker (dropped when it is far behind).
func (m *Mesh) enqueueFunc(f func()) {
	select {
	case m.inbox <- f:
	default:
		m.stats.dropped.Add(1)
	}
}

type delegate Mesh

func (d *delegate) NodeMeta(limit int) []byte {
	m := (*Mesh)(d)
	m.mu.RLock()
	self := m.members[m.o.Self.ID]
	m.mu.RUnlock()
	return encodeMeta(self)
}

func (d *delegate) NotifyMsg(b []byte) { (*Mesh)(d).enqueue(b) }

func (d *delegate) GetBroadcasts(overhead, limit int) [][]byte {
	return d.queue.GetBroadcasts(overhead, limit)
}

// LocalState is the mesh's part of a push/pull: its table digests, not its tables.
func (d *delegate) LocalState(join bool) []byte {
	b, _ := json.Marshal((*Mesh)(d).localState())
	return b
}

func (d *delegate) MergeRemoteState(buf []byte, join bool) {
	m := (*Mesh)(d)
	var st stateMsg
	if json.Unmarshal(buf, &st) != nil {
		return
	}
	m.enqueueFunc(func() { m.compareState(st, false) })
}

type events Mesh

func (e *events) NotifyJoin(n *memberlist.Node)   { e.seen(n, true) }
func (e *events) NotifyUpdate(n *memberlist.Node) { e.seen(n, true) }
func (e *events) NotifyLeave(n *memberlist.Node)  { e.seen(n, false) }

// seen records a member's liveness and its record (from its metadata). memberlist calls it
// under its node lock: nothing here may call back into memberlist.
func (e *events) seen(n *memberlist.Node, alive bool) {
	m := (*Mesh)(e)
	mem, ok := decodeMeta(n)
	if !ok {
		return
	}
	if mem.ID != m.o.Self.ID {
		m.mergeMembers([]Member{mem})
	}
	m.mu.Lock()
	was, seenBefore := m.alive[mem.ID]
	m.alive[mem.ID] = alive
	m.mu.Unlock()
	if was != alive || !seenBefore {
		m.log.Info("member state", "member", mem.ID, "site", mem.Site, "alive", alive)
		m.changed()
	}
	if alive && seenBefore && !was && mem.ID != m.o.Self.ID {
		m.enqueueFunc(func() { m.sayHello(mem.ID, mem.Mesh) })
	}
}

// slogWriter routes memberlist's log lines into slog at debug level.
type slogWriter struct{ log *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	w.log.Debug(string(p))
	return len(p), nil
}

var _ io.Writer = slogWriter{}
