// Package mesh is membership: who the nodes of the mesh are, which site each belongs to, how to
// reach them, and which are alive now. It runs SWIM gossip (hashicorp/memberlist), encrypted and
// authenticated with a key derived from the mesh secret, and carries small replicated tables
// (buckets, keys) for other packages through the Tables interface. Alive/dead is routing state
// only: a member stays in the layout until it is decommissioned. It moves no object data.
package mesh

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// Member is a node of the mesh as every node records it.
type Member struct {
	ID             string `json:"id"`
	Site           string `json:"site"`
	Mesh           string `json:"mesh"` // gossip address
	RPC            string `json:"rpc"`  // data RPC address (mutual TLS)
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

// Tables is replicated application state that rides on gossip: State is the full local state
// (sent in periodic push/pull exchanges), Merge takes a full or partial state from a peer.
type Tables interface {
	State() []byte
	Merge(state []byte)
}

// Options configures a mesh node.
type Options struct {
	Self    Member   // this node: ID, Site, Mesh (bind address), RPC, S3
	Join    []string // gossip addresses of nodes to join
	Secret  string   // mesh secret
	DataDir string   // where the member list is kept across restarts
	Tables  Tables
	Logger  *slog.Logger
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

	mu      sync.RWMutex
	members map[string]Member
	alive   map[string]bool

	stop chan struct{}
	done chan struct{}
}

type wireState struct {
	Members []Member        `json:"members,omitempty"`
	Tables  json.RawMessage `json:"tables,omitempty"`
}

// Start joins (or founds) the mesh.
func Start(o Options) (*Mesh, error) {
	if o.Secret == "" {
		return nil, errors.New("mesh: a mesh secret is required")
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
		stop: make(chan struct{}), done: make(chan struct{})}
	m.load()
	self := o.Self
	self.TS = time.Now().UnixNano()
	if old, ok := m.members[self.ID]; ok && old.Decommissioned {
		self.Decommissioned = true
	}
	m.members[self.ID] = self
	m.alive[self.ID] = true

	cfg := memberlist.DefaultLANConfig()
	cfg.Name = o.Self.ID
	cfg.BindAddr = host
	cfg.BindPort = port
	if host != "" && host != "0.0.0.0" && host != "::" {
		cfg.AdvertiseAddr = host
		cfg.AdvertisePort = port
	}
	cfg.SecretKey = GossipKey(o.Secret)
	cfg.PushPullInterval = 5 * time.Second
	cfg.Delegate = (*delegate)(m)
	cfg.Events = (*events)(m)
	cfg.Logger = log.New(slogWriter{m.log}, "", 0)
	if o.Memberlist != nil {
		o.Memberlist(cfg)
	}
	m.queue = &memberlist.TransmitLimitedQueue{NumNodes: func() int { return m.ml.NumMembers() }, RetransmitMult: 3}
	if m.ml, err = memberlist.Create(cfg); err != nil {
		return nil, fmt.Errorf("start gossip on %s: %w", o.Self.Mesh, err)
	}
	m.save()
	go m.joinLoop()
	return m, nil
}

// joinLoop keeps trying the --join addresses and the remembered members until one answers, so
// that nodes may start in any order and a restarted node finds its site again.
func (m *Mesh) joinLoop() {
	defer close(m.done)
	for attempt := 0; ; attempt++ {
		addrs := append([]string(nil), m.o.Join...)
		m.mu.RLock()
		for id, mem := range m.members {
			if id != m.o.Self.ID && mem.Mesh != "" {
				addrs = append(addrs, mem.Mesh)
			}
		}
		m.mu.RUnlock()
		if len(addrs) == 0 {
			return
		}
		n, err := m.ml.Join(addrs)
		if n > 0 {
			m.log.Info("joined mesh", "contacted", n)
			return
		}
		if attempt%10 == 0 {
			m.log.Warn("cannot reach any node to join yet; retrying", "addrs", addrs, "err", err)
		}
		select {
		case <-m.stop:
			return
		case <-time.After(time.Second):
		}
	}
}

// Close leaves the gossip.
func (m *Mesh) Close() error {
	close(m.stop)
	<-m.done
	m.ml.Leave(time.Second)
	return m.ml.Shutdown()
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
	mem.TS = time.Now().UnixNano()
	m.members[id] = mem
	m.mu.Unlock()
	m.save()
	m.Broadcast(nil, []Member{mem})
	m.changed()
	return nil
}

// SetBootstrapping changes this node's Bootstrapping flag in its member metadata and spreads it.
func (m *Mesh) SetBootstrapping(on bool) {
	m.mu.Lock()
	m.o.Self.Bootstrapping = on
	self := m.members[m.o.Self.ID]
	self.Bootstrapping = on
	self.TS = time.Now().UnixNano()
	m.members[self.ID] = self
	m.mu.Unlock()
	m.save()
	if err := m.ml.UpdateNode(5 * time.Second); err != nil {
		m.log.Warn("announce member metadata", "err", err)
	}
	m.Broadcast(nil, []Member{self})
}

// Broadcast spreads a partial table state (and member records) to every node.
func (m *Mesh) Broadcast(tables []byte, members []Member) {
	b, err := json.Marshal(wireState{Members: members, Tables: tables})
	if err != nil {
		return
	}
	m.queue.QueueBroadcast(broadcast(b))
}

func (m *Mesh) changed() {
	if m.o.OnChange != nil {
		m.o.OnChange()
	}
}

// mergeMembers applies member records from a peer; the later record of a member wins.
func (m *Mesh) mergeMembers(ms []Member) {
	changed := false
	m.mu.Lock()
	for _, in := range ms {
		if in.ID == "" {
			continue
		}
		if old, ok := m.members[in.ID]; ok && old.TS >= in.TS {
			continue
		}
		if in.ID == m.o.Self.ID && !in.Decommissioned {
			continue // nobody knows better than this node where it is
		}
		m.members[in.ID] = in
		changed = true
	}
	m.mu.Unlock()
	if changed {
		m.save()
		m.changed()
	}
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

func (m *Mesh) save() {
	if m.o.DataDir == "" {
		return
	}
	m.mu.RLock()
	ms := make([]Member, 0, len(m.members))
	for _, mem := range m.members {
		ms = append(ms, mem)
	}
	m.mu.RUnlock()
	b, _ := json.Marshal(ms)
	tmp := m.path() + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err == nil {
		os.Rename(tmp, m.path())
	}
}

type broadcast []byte

func (b broadcast) Invalidates(memberlist.Broadcast) bool { return false }
func (b broadcast) Message() []byte                       { return b }
func (b broadcast) Finished()                             {}

type delegate Mesh

func (d *delegate) NodeMeta(limit int) []byte {
	d.mu.RLock()
	defer d.mu.RUnlock()
	b, _ := json.Marshal(d.o.Self)
	return b
}

func (d *delegate) NotifyMsg(b []byte) {
	var st wireState
	if json.Unmarshal(b, &st) != nil {
		return
	}
	m := (*Mesh)(d)
	if len(st.Members) > 0 {
		m.mergeMembers(st.Members)
	}
	if len(st.Tables) > 0 && m.o.Tables != nil {
		m.o.Tables.Merge(st.Tables)
	}
}

func (d *delegate) GetBroadcasts(overhead, limit int) [][]byte {
	return d.queue.GetBroadcasts(overhead, limit)
}

func (d *delegate) LocalState(join bool) []byte {
	m := (*Mesh)(d)
	st := wireState{}
	m.mu.RLock()
	for _, mem := range m.members {
		st.Members = append(st.Members, mem)
	}
	m.mu.RUnlock()
	if m.o.Tables != nil {
		st.Tables = m.o.Tables.State()
	}
	b, _ := json.Marshal(st)
	return b
}

func (d *delegate) MergeRemoteState(buf []byte, join bool) { d.NotifyMsg(buf) }

type events Mesh

func (e *events) NotifyJoin(n *memberlist.Node)   { e.seen(n, true) }
func (e *events) NotifyUpdate(n *memberlist.Node) { e.seen(n, true) }
func (e *events) NotifyLeave(n *memberlist.Node)  { e.seen(n, false) }

func (e *events) seen(n *memberlist.Node, alive bool) {
	m := (*Mesh)(e)
	var mem Member
	if json.Unmarshal(n.Meta, &mem) != nil || mem.ID == "" {
		return
	}
	m.mu.Lock()
	old, known := m.members[mem.ID]
	if alive && (!known || old.RPC != mem.RPC || old.S3 != mem.S3 || old.Site != mem.Site || old.Mesh != mem.Mesh || old.Bootstrapping != mem.Bootstrapping) {
		mem.Decommissioned = old.Decommissioned
		mem.TS = time.Now().UnixNano()
		m.members[mem.ID] = mem
	}
	was := m.alive[mem.ID]
	m.alive[mem.ID] = alive
	m.mu.Unlock()
	if !known || was != alive {
		m.log.Info("member state", "member", mem.ID, "site", mem.Site, "alive", alive)
		m.save()
		m.changed()
	}
}

// slogWriter routes memberlist's log lines into slog at debug level.
type slogWriter struct{ log *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	w.log.Debug(string(p))
	return len(p), nil
}

var _ io.Writer = slogWriter{}
