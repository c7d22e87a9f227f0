package mesh

import (
	"encoding/json"
	"hash/fnv"
	"maps"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"time"

	"github.com/hashicorp/memberlist"
)

// Mesh tables: small tables (buckets, keys and grants, stream and rule definitions, and the
// mesh's own member records) that every node holds whole, each a last-writer-wins map with
// tombstones that any node may change, even cut off from all others.
//
// How they spread, at a cost that does not grow with the mesh in steady state:
//   - A change is gossiped as one entry (piggybacked on memberlist's packets, retransmitted
//     about 3·log10(N) times), and every node that the entry changes relays it the same way,
//     so it reaches every node in O(log N) gossip rounds, as Serf's user events do. An entry too
//     large for a gossip packet is announced by a small hint instead, and each node that lacks
//     it fetches it over a stream from the node the hint came from.
//   - Anti-entropy repairs what gossip missed (lost packets, partitions, restarts): memberlist's
//     periodic push/pull and its join carry only one 64-bit digest per table; when a table's
//     digests differ, the two nodes exchange that table's per-entry versions and then only the
//     entries that differ (delta anti-entropy), over streams. A late joiner thus receives every
//     table right after its join's push/pull. When a node comes back after being dead (a
//     partition heals), a few nodes send it their digests at once instead of waiting for the
//     next push/pull.
//
// An entry's version is a hash of its encoding, so a table needs no version field of its own;
// which of two versions wins is the table's rule (Merge), not the mesh's.

// Table is one replicated mesh table, as a node's store exposes it. Entries are JSON values.
type Table interface {
	// Entries returns every entry, tombstones included, encoded, by key.
	Entries() map[string][]byte
	// Key returns the key of an encoded entry, or "" if it is not a valid entry.
	Key(entry []byte) string
	// Merge applies entries from another node; each wins or loses by the table's own rule.
	Merge(entries [][]byte)
}

// membersTable is the name of the mesh's own table of member records.
const membersTable = "members"

// maxGossipEntry is the largest entry message that goes by gossip; memberlist packets carry
// at most about 1,350 bytes of messages after encryption and framing.
const maxGossipEntry = 1000

// Message kinds: the first byte of every mesh user message.
const (
	msgEntry   = 'e' // gossip: one entry
	msgHint    = 'h' // gossip: an entry too large for a packet is at node From
	msgState   = 's' // packet or stream: table digests (as in push/pull), answered by a digest if they differ
	msgDigest  = 'd' // stream: per-entry versions of some tables; answered by entries (and a request)
	msgEntries = 'r' // stream: entries in answer to a digest
)

// entryMsg is a gossiped entry or, without Entry, a hint.
type entryMsg struct {
	Table string          `json:"t"`
	Key   string          `json:"k"`
	Hash  uint64          `json:"h"`
	Entry json.RawMessage `json:"e,omitempty"`
	From  string          `json:"f,omitempty"` // hint: node id and gossip address to fetch from
	Addr  string          `json:"a,omitempty"`
}

// stateMsg is what push/pull carries: who sent it and one digest per table.
type stateMsg struct {
	From    string            `json:"f"`
	Addr    string            `json:"a"`
	Digests map[string]uint64 `json:"d"`
}

// digestMsg lists the versions of the sender's entries, by table and key. Full: it lists
// every entry of those tables, and the receiver answers with every entry whose version differs
// or that the list lacks, and asks back for the entries only the sender has. Otherwise it
// asks only for the listed keys (a version of 0: the sender lacks that key).
type digestMsg struct {
	From   string                       `json:"f"`
	Addr   string                       `json:"a"`
	Full   bool                         `json:"full,omitempty"`
	Tables map[string]map[string]uint64 `json:"t"`
}

type entriesMsg struct {
	Tables map[string][]json.RawMessage `json:"t"`
}

func entryHash(entry []byte) uint64 {
	h := fnv.New64a()
	h.Write(entry)
	return h.Sum64()
}

// versions returns the version of every entry of t, by key (shared: do not modify).
func versions(t Table) map[string]uint64 {
	if mt, ok := t.(*memberTable); ok {
		return mt.versions()
	}
	es := t.Entries()
	out := make(map[string]uint64, len(es))
	for k, e := range es {
		out[k] = entryHash(e)
	}
	return out
}

// digest folds a table's versions into one order-independent 64-bit digest.
func digest(vs map[string]uint64) uint64 {
	var d uint64
	for k, v := range vs {
		h := fnv.New64a()
		h.Write([]byte(k))
		d += mix(h.Sum64() ^ v)
	}
	return d
}

func mix(x uint64) uint64 { // splitmix64 finaliser
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// tables returns every table this node replicates, its member records included.
func (m *Mesh) tables() map[string]Table {
	out := make(map[string]Table, len(m.o.Tables)+1)
	maps.Copy(out, m.o.Tables)
	out[membersTable] = (*memberTable)(m)
	return out
}

func (m *Mesh) table(name string) Table { return m.tables()[name] }

// localState is this node's side of a push/pull or of a msgState: one digest per table.
func (m *Mesh) localState() stateMsg {
	st := stateMsg{From: m.o.Self.ID, Addr: m.o.Self.Mesh, Digests: map[string]uint64{}}
	for name, t := range m.tables() {
		st.Digests[name] = digest(versions(t))
	}
	return st
}

// compareState handles a peer's digests: for the tables that differ, the node with the smaller
// id (or the receiver of a msgState, answer) sends its per-entry versions, which starts the
// exchange of the differing entries in both directions.
func (m *Mesh) compareState(st stateMsg, answer bool) {
	if st.From == "" || st.From == m.o.Self.ID || (!answer && m.o.Self.ID > st.From) {
		return
	}
	dm := digestMsg{From: m.o.Self.ID, Addr: m.o.Self.Mesh, Full: true, Tables: map[string]map[string]uint64{}}
	for name, t := range m.tables() {
		theirs, ok := st.Digests[name]
		if !ok {
			continue // a table the peer does not replicate (an older version)
		}
		vs := versions(t)
		if digest(vs) != theirs {
			dm.Tables[name] = vs
		}
	}
	if len(dm.Tables) == 0 {
		return
	}
	m.stats.digestMismatch.Add(1)
	m.sendTo(st.From, st.Addr, msgDigest, dm)
}

// answerDigest sends the peer the entries it lacks or holds in another version and, for a
// full digest, asks for those only the peer has.
func (m *Mesh) answerDigest(dm digestMsg) {
	if dm.From == "" || dm.From == m.o.Self.ID {
		return
	}
	reply := entriesMsg{Tables: map[string][]json.RawMessage{}}
	ask := digestMsg{From: m.o.Self.ID, Addr: m.o.Self.Mesh, Tables: map[string]map[string]uint64{}}
	for name, theirs := range dm.Tables {
		t := m.table(name)
		if t == nil {
			continue
		}
		mine := t.Entries()
		for k, e := range mine {
			if v, ok := theirs[k]; (ok || dm.Full) && v != entryHash(e) {
				reply.Tables[name] = append(reply.Tables[name], e)
			}
		}
		if !dm.Full {
			continue
		}
		for k, v := range theirs {
			if e, ok := mine[k]; !ok || entryHash(e) != v {
				if ask.Tables[name] == nil {
					ask.Tables[name] = map[string]uint64{}
				}
				ask.Tables[name][k] = 0
				if ok {
					ask.Tables[name][k] = entryHash(e)
				}
			}
		}
	}
	if len(reply.Tables) > 0 {
		m.sendTo(dm.From, dm.Addr, msgEntries, reply)
	}
	if len(ask.Tables) > 0 {
		m.sendTo(dm.From, dm.Addr, msgDigest, ask)
	}
}

// maxRelayRepair is how many entries an anti-entropy answer may bring for this node to relay
// them by gossip: a few changes from across a healed partition spread at once, while a joiner
// receiving whole tables (or a mesh forming, whose member records all differ) does not flood
// the gossip with them; those spread by the periodic digest exchanges instead.
const maxRelayRepair = 16

// apply merges entries from a peer into table name and relays, by gossip, the entries that
// changed this node's table: so a change reaches every node even if its origin told only a
// few, and a small anti-entropy repair spreads from the node that received it (gossiped: the
// entries came by gossip; otherwise by anti-entropy).
func (m *Mesh) apply(name string, entries []json.RawMessage, gossiped bool) {
	t := m.table(name)
	if t == nil || len(entries) == 0 {
		return
	}
	before := versions(t)
	type in struct {
		key  string
		hash uint64
		raw  []byte
	}
	var fresh []in
	var raws [][]byte
	for _, e := range entries {
		k := t.Key(e)
		h := entryHash(e)
		if k == "" || before[k] == h {
			continue
		}
		fresh = append(fresh, in{k, h, e})
		raws = append(raws, e)
	}
	if len(fresh) == 0 {
		return
	}
	t.Merge(raws)
	if !gossiped && len(fresh) > maxRelayRepair {
		m.stats.applied.Add(int64(len(fresh)))
		return
	}
	after := versions(t)
	for _, f := range fresh {
		if after[f.key] == f.hash {
			m.stats.applied.Add(1)
			m.gossipEntry(name, f.key, f.raw)
		}
	}
}

// Publish spreads a changed entry of table name (which this node has already applied) to every
// node.
func (m *Mesh) Publish(name string, entry []byte) {
	t := m.table(name)
	if t == nil {
		m.log.Error("publish to a table this node does not replicate", "table", name)
		return
	}
	k := t.Key(entry)
	if k == "" {
		m.log.Error("publish an entry without a key", "table", name)
		return
	}
	m.gossipEntry(name, k, entry)
}

// gossipEntry queues an entry for gossip, replacing any queued older version of it; a large
// one goes as a hint that names this node.
func (m *Mesh) gossipEntry(table, key string, entry []byte) {
	msg := entryMsg{Table: table, Key: key, Hash: entryHash(entry), Entry: entry}
	b := encode(msgEntry, msg)
	if len(b) > maxGossipEntry {
		msg.Entry, msg.From, msg.Addr = nil, m.o.Self.ID, m.o.Self.Mesh
		b = encode(msgHint, msg)
	}
	m.queue.QueueBroadcast(&broadcast{name: table + "\x00" + key, msg: b})
}

// hint fetches an entry announced by a hint, unless this node has that version already or is
// fetching it.
func (m *Mesh) hint(h entryMsg) {
	t := m.table(h.Table)
	if t == nil || h.From == "" || h.From == m.o.Self.ID {
		return
	}
	mine := uint64(0)
	if e, ok := t.Entries()[h.Key]; ok {
		mine = entryHash(e)
	}
	if mine == h.Hash {
		return
	}
	id := h.Table + "\x00" + h.Key + "\x00" + strconv.FormatUint(h.Hash, 16)
	m.mu.Lock()
	if at, ok := m.fetching[id]; ok && time.Since(at) < 10*time.Second {
		m.mu.Unlock()
		return
	}
	for k, at := range m.fetching {
		if time.Since(at) >= 10*time.Second {
			delete(m.fetching, k)
		}
	}
	m.fetching[id] = time.Now()
	m.mu.Unlock()
	m.sendTo(h.From, h.Addr, msgDigest, digestMsg{From: m.o.Self.ID, Addr: m.o.Self.Mesh,
		Tables: map[string]map[string]uint64{h.Table: {h.Key: mine}}})
}

// tableSyncInterval is how often a node sends its table digests to one random live node: a
// packet of about 100 bytes, so table anti-entropy can run far more often than memberlist's
// push/pull (a full exchange of node states) and bound how long a change that gossip missed
// takes to arrive, whatever the mesh size.
const tableSyncInterval = 5 * time.Second

// syncTables sends this node's table digests to a random live node; if they differ, the two
// exchange the entries that differ (compareState, answerDigest).
func (m *Mesh) syncTables() {
	var peers []Member
	m.mu.RLock()
	for id, alive := range m.alive {
		if mem, ok := m.members[id]; alive && ok && id != m.o.Self.ID && mem.Mesh != "" {
			peers = append(peers, mem)
		}
	}
	m.mu.RUnlock()
	if len(peers) == 0 {
		return
	}
	p := peers[rand.IntN(len(peers))]
	host, portStr, err := net.SplitHostPort(p.Mesh)
	if err != nil {
		return
	}
	port, _ := strconv.Atoi(portStr)
	to := &memberlist.Node{Name: p.ID, Addr: net.ParseIP(host), Port: uint16(port)}
	if err := m.ml.SendBestEffort(to, encode(msgState, m.localState())); err != nil {
		m.log.Debug("send table digests", "member", p.ID, "err", err)
	}
}

// sayHello sends this node's digests to a member that just came back from dead, so that what
// either side changed while they were apart is exchanged now rather than at the next push/pull.
// In a large mesh only a few nodes do it (each with probability 3/alive): the member then
// relays what it receives.
func (m *Mesh) sayHello(id, addr string) {
	if alive := m.ml.NumMembers(); alive > 3 && rand.Float64() >= 3/float64(alive) {
		return
	}
	m.sendTo(id, addr, msgState, m.localState())
}

func encode(kind byte, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only plain structs of strings, numbers and raw JSON
	}
	return append([]byte{kind}, b...)
}

// handle decodes and applies one mesh user message (gossiped or streamed). It runs on the
// mesh's worker, never on memberlist's packet or stream handlers: merging may write to disk.
func (m *Mesh) handle(b []byte) {
	if len(b) < 2 {
		return
	}
	switch b[0] {
	case msgEntry:
		var e entryMsg
		if json.Unmarshal(b[1:], &e) == nil && len(e.Entry) > 0 {
			m.apply(e.Table, []json.RawMessage{e.Entry}, true)
		}
	case msgHint:
		var e entryMsg
		if json.Unmarshal(b[1:], &e) == nil {
			m.hint(e)
		}
	case msgState:
		var st stateMsg
		if json.Unmarshal(b[1:], &st) == nil {
			m.compareState(st, true)
		}
	case msgDigest:
		var dm digestMsg
		if json.Unmarshal(b[1:], &dm) == nil {
			m.answerDigest(dm)
		}
	case msgEntries:
		var em entriesMsg
		if json.Unmarshal(b[1:], &em) == nil {
			for name, es := range em.Tables {
				m.apply(name, es, false)
			}
		}
	case '{':
		m.handleLegacy(b)
	}
}

// handleLegacy applies a message in the form Broadcast takes: {"tables": {...}, "members": [...]}.
func (m *Mesh) handleLegacy(b []byte) {
	var st struct {
		Members []Member        `json:"members"`
		Tables  json.RawMessage `json:"tables"`
	}
	if json.Unmarshal(b, &st) != nil {
		return
	}
	var ts map[string][]json.RawMessage
	if len(st.Tables) > 0 && json.Unmarshal(st.Tables, &ts) != nil {
		return
	}
	for name, es := range ts {
		m.apply(name, es, true)
	}
	if len(st.Members) > 0 {
		var es []json.RawMessage
		for _, mem := range st.Members {
			es = append(es, encodeMember(mem))
		}
		m.apply(membersTable, es, true)
	}
}

// sendTo sends a message to a node over a stream (memberlist's reliable user message), from a
// goroutine of its own: a peer that went away costs that goroutine a dial timeout, nothing else.
// At most 8 sends run at once; beyond that a send is dropped (anti-entropy will retry).
func (m *Mesh) sendTo(id, addr string, kind byte, v any) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return
	}
	port, _ := strconv.Atoi(portStr)
	b := encode(kind, v)
	select {
	case m.sends <- struct{}{}:
	default:
		m.stats.dropped.Add(1)
		return
	}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		defer func() { <-m.sends }()
		to := &memberlist.Node{Name: id, Addr: net.ParseIP(host), Port: uint16(port)}
		if err := m.ml.SendReliable(to, b); err != nil {
			m.log.Debug("send to member", "member", id, "err", err)
			return
		}
		m.stats.streamed.Add(int64(len(b)))
	}()
}

// enqueue hands a message to the worker; when the worker is far behind, the message is dropped
// (gossip retransmits and anti-entropy repair what is lost).
func (m *Mesh) enqueue(b []byte) {
	b = slices.Clone(b)
	m.enqueueFunc(func() { m.handle(b) })
}

// work applies queued messages in order until the mesh stops.
func (m *Mesh) work() {
	defer m.wg.Done()
	for {
		select {
		case <-m.stop:
			return
		case f := <-m.inbox:
			f()
		}
	}
}

// broadcast is a queued gossip message; a newer one for the same entry replaces it.
type broadcast struct {
	name string
	msg  []byte
}

func (b *broadcast) Invalidates(o memberlist.Broadcast) bool {
	nb, ok := o.(memberlist.NamedBroadcast)
	return ok && nb.Name() == b.name
}
func (b *broadcast) Name() string    { return b.name }
func (b *broadcast) Message() []byte { return b.msg }
func (b *broadcast) Finished()       {}

// memberTable is the mesh's own table: member records by id. A record is written by its node
// (its gossip metadata carries it) except the decommissioned flag, which any node may set.
type memberTable Mesh

func (t *memberTable) Entries() map[string][]byte {
	m := (*Mesh)(t)
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make(map[string][]byte, len(m.members))
	for id, mem := range m.members {
		out[id] = encodeMember(mem)
	}
	return out
}

// versions are the member records' versions, computed again only after a change: every table
// digest exchange needs them, and a large mesh has many records that rarely change.
func (t *memberTable) versions() map[string]uint64 {
	m := (*Mesh)(t)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.memVers == nil || m.memGen != m.gen {
		m.memVers = make(map[string]uint64, len(m.members))
		for id, mem := range m.members {
			m.memVers[id] = entryHash(encodeMember(mem))
		}
		m.memGen = m.gen
	}
	return m.memVers
}

func (t *memberTable) Key(entry []byte) string {
	var mem Member
	if json.Unmarshal(entry, &mem) != nil {
		return ""
	}
	return mem.ID
}

func (t *memberTable) Merge(entries [][]byte) {
	var ms []Member
	for _, e := range entries {
		var mem Member
		if json.Unmarshal(e, &mem) == nil {
			ms = append(ms, mem)
		}
	}
	(*Mesh)(t).mergeMembers(ms)
}

func encodeMember(mem Member) []byte {
	b, err := json.Marshal(mem)
	if err != nil {
		panic(err)
	}
	return b
}
