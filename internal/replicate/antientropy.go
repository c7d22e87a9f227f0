package replicate

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/minicloud/minicloud/internal/object"
	"github.com/minicloud/minicloud/internal/placement"
)

// Anti-entropy compares replicas partition by partition with Merkle trees (object/tree.go: per
// partition, 16 children per node over the hash of bucket and key). Each round, for every live
// peer it shares partitions with, a node asks for the peer's roots of those partitions in one
// request; for each root that differs it walks down both trees level by level, asking the peer
// only for the children of the nodes that differ, until a differing node holds few records
// (rangeMax) on both sides; for those ranges it gets the peer's fingerprints, pushes the records
// the peer lacks and pulls the ones it lacks. What crosses the network grows with the number of
// differences (times the depth of the tree), not with the size of the partition.
//
// Pulling as well as pushing lets a node refill itself in its own rounds (a wiped disk, see
// bootstrap.go), and lets one round bring both sides of a pair to the union of their records.

type fingerprint = object.Fingerprint

func fingerprintOf(m object.RecordMsg) fingerprint { return m.Fingerprint() }

// rangeMax is the largest number of records (on either side) of a differing tree node whose
// fingerprints are exchanged rather than its children's hashes.
const rangeMax = 32

// treeBatch bounds the nodes of one tree request.
const treeBatch = 256

// recordsBudget bounds the record bytes of one answer (the client reads at most maxRPCBody).
const recordsBudget = 4 << 20

// PeerSync is how the last anti-entropy round with one peer went.
type PeerSync struct {
	Compared     int       `json:"partitionsCompared"`
	Equal        int       `json:"partitionsInSync"`
	LastFullSync time.Time `json:"lastFullSync,omitzero"` // last round in which every shared partition was equal
	Error        string    `json:"error,omitempty"`
}

// aeState is anti-entropy's state beyond Stats: per-peer results and the bootstrapping state.
type aeState struct {
	mu     sync.Mutex
	peers  map[string]PeerSync
	pulled atomic.Int64
	boot   bootstrap // bootstrap.go
}

// PeerSyncs returns the last round's result per peer.
func (s *Store) PeerSyncs() map[string]PeerSync {
	s.ae.mu.Lock()
	defer s.ae.mu.Unlock()
	out := make(map[string]PeerSync, len(s.ae.peers))
	for k, v := range s.ae.peers {
		out[k] = v
	}
	return out
}

// Pulled counts records this node fetched from peers in anti-entropy rounds.
func (s *Store) Pulled() int64 { return s.ae.pulled.Load() }

func (s *Store) setPeerSync(peer string, f func(*PeerSync)) {
	s.ae.mu.Lock()
	defer s.ae.mu.Unlock()
	if s.ae.peers == nil {
		s.ae.peers = map[string]PeerSync{}
	}
	ps := s.ae.peers[peer]
	f(&ps)
	s.ae.peers[peer] = ps
}

// sharedPartitions returns, for each live peer of the site, the partitions both it and this
// node replicate.
func (s *Store) sharedPartitions() map[string][]int {
	nodes := s.o.Cluster.SiteNodes(s.o.Site)
	out := map[string][]int{}
	for p := 0; p < placement.Partitions; p++ {
		reps := placement.Replicas(p, nodes, s.o.RF)
		if !contains(reps, s.self()) {
			continue
		}
		for _, n := range reps {
			if n != s.self() && s.o.Cluster.Alive(n) {
				out[n] = append(out[n], p)
			}
		}
	}
	return out
}

func rootHex(n object.TreeNode) string {
	if n.Count == 0 {
		return ""
	}
	return hex.EncodeToString(n.Hash[:]) + "/" + strconv.FormatInt(n.Count, 10)
}

// antiEntropyRound compares partition trees with every live peer and reconciles those that
// differ.
func (s *Store) antiEntropyRound(ctx context.Context) {
	if !s.layoutKnown() && !s.adoptLayout(ctx) {
		return // joining: nothing to compare against yet (layoutjoin.go)
	}
	s.Stats.AERounds.Add(1)
	// Notice a layout change before taking the round's start time: endTransition only trusts a
	// round that began after the change, so a change noticed here must not date the round
	// (otherwise the round a membership change kicks can never end the transition it starts, and
	// under steady load the next all-in-sync round may never come).
	s.sets()
	started := time.Now()
	shared := s.sharedPartitions()
	compared, equal := 0, 0
	peers := make([]string, 0, len(shared))
	for n := range shared {
		peers = append(peers, n)
	}
	sort.Strings(peers)
	for _, peer := range peers {
		pc, pe := s.syncPeer(ctx, peer, shared[peer])
		compared += pc
		equal += pe
	}
	s.forgetPeers(shared)
	s.Stats.AEPartitions.Store(int64(compared))
	s.Stats.AEPartitionsOK.Store(int64(equal))
	if compared == equal {
		s.Stats.AELastSync.Store(time.Now().UnixNano())
		s.endTransition(started)
	}
	s.checkRefilled()
}

// syncPeer compares partitions parts with peer and syncs those that differ; it returns how many
// it compared and how many were equal. Every partition found equal or synced counts for
// bootstrapping (bootstrap.go) and for the lease chain with peer that was current when the sync
// began (lease.go): the peer's digests are asked for after that chain's first grant.
func (s *Store) syncPeer(ctx context.Context, peer string, parts []int) (compared, equal int) {
	epoch := s.leases.epochOf(peer)
	addr := s.o.Cluster.RPCAddr(peer)
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	theirs, err := s.o.Client.Digests(cctx, addr, parts)
	cancel()
	if err != nil {
		s.log.Debug("anti-entropy: peer digests", "peer", peer, "err", err)
		s.setPeerSync(peer, func(ps *PeerSync) { ps.Compared, ps.Equal, ps.Error = len(parts), 0, err.Error() })
		return len(parts), 0
	}
	pc, pe := 0, 0
	var syncErr error
	var synced []int
	for _, p := range parts {
		pc++
		if rootHex(s.local.TreeRoot(p)) == theirs[itoa(p)] {
			pe++
			s.ae.boot.synced(p, peer)
			synced = append(synced, p)
			continue
		}
		if err := s.syncPartition(ctx, peer, addr, p); err != nil {
			s.log.Debug("anti-entropy: sync partition", "peer", peer, "partition", p, "err", err)
			syncErr = err
			continue
		}
		s.ae.boot.synced(p, peer)
		synced = append(synced, p)
	}
	s.leases.synced(peer, synced, epoch)
	s.setPeerSync(peer, func(ps *PeerSync) {
		ps.Compared, ps.Equal, ps.Error = pc, pe, ""
		if syncErr != nil {
			ps.Error = syncErr.Error()
		}
		if pc == pe {
			ps.LastFullSync = time.Now()
		}
	})
	return pc, pe
}

// forgetPeers drops the results of nodes this round did not compare with (down, or no longer
// sharing a partition): status shows the last round's view of live peers.
func (s *Store) forgetPeers(shared map[string][]int) {
	s.ae.mu.Lock()
	defer s.ae.mu.Unlock()
	for n := range s.ae.peers {
		if _, ok := shared[n]; !ok {
			delete(s.ae.peers, n)
		}
	}
}

type nodeRef struct {
	D int    `json:"d"`
	X uint64 `json:"x"`
}

// syncPartition brings this node and peer to the union of their records of partition p: it
// walks down the trees to the differing ranges, then pushes and pulls the records in them.
func (s *Store) syncPartition(ctx context.Context, peer, addr string, p int) error {
	ranges, err := s.differingRanges(ctx, addr, p)
	if err != nil {
		return err
	}
	for len(ranges) > 0 {
		batch := ranges[:min(len(ranges), treeBatch)]
		ranges = ranges[len(batch):]
		if err := s.reconcile(ctx, peer, addr, p, batch); err != nil {
			return err
		}
	}
	return nil
}

// differingRanges walks partition p's tree down, level by level, and returns the nodes that
// differ and are small enough to list.
func (s *Store) differingRanges(ctx context.Context, addr string, p int) ([]nodeRef, error) {
	frontier := []nodeRef{{0, 0}}
	var ranges []nodeRef
	for len(frontier) > 0 {
		var next []nodeRef
		for len(frontier) > 0 {
			batch := frontier[:min(len(frontier), treeBatch)]
			frontier = frontier[len(batch):]
			cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			theirs, err := s.o.Client.TreeChildren(cctx, addr, p, batch)
			cancel()
			if err != nil {
				return nil, err
			}
			if len(theirs) != len(batch) {
				return nil, errors.New("peer answered for other tree nodes than asked")
			}
			for i, n := range batch {
				mine, err := s.local.TreeChildren(p, n.D, n.X)
				if err != nil {
					return nil, err
				}
				for c := range mine {
					if c < len(theirs[i]) && mine[c] == theirs[i][c] {
						continue
					}
					child := nodeRef{n.D + 1, n.X*object.TreeFanout + uint64(c)}
					var tc int64
					if c < len(theirs[i]) {
						tc = theirs[i][c].Count
					}
					if child.D == object.TreeMaxDepth || child.D >= object.TreeLeafDepth && max(mine[c].Count, tc) <= rangeMax {
						ranges = append(ranges, child)
					} else {
						next = append(next, child)
					}
				}
			}
		}
		frontier = next
	}
	return ranges, nil
}

// reconcile pushes to peer the records of the given ranges it lacks and pulls those this node
// lacks.
func (s *Store) reconcile(ctx context.Context, peer, addr string, p int, ranges []nodeRef) error {
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	theirs, err := s.o.Client.NodeFingerprints(cctx, addr, p, ranges)
	cancel()
	if err != nil {
		return err
	}
	if len(theirs) != len(ranges) {
		return errors.New("peer answered for other ranges than asked")
	}
	var push []object.RecordMsg
	var want []fingerprint
	for i, r := range ranges {
		have := make(map[fingerprint]bool, len(theirs[i]))
		for _, f := range theirs[i] {
			have[f] = true
		}
		mine, err := s.local.NodeFingerprints(p, r.D, r.X)
		if err != nil {
			return err
		}
		own := make(map[fingerprint]bool, len(mine))
		for _, f := range mine {
			own[f] = true
		}
		for _, f := range theirs[i] {
			if !own[f] {
				want = append(want, f)
			}
		}
		recs, err := s.local.NodeRecords(p, r.D, r.X, func(f fingerprint) bool { return !have[f] })
		if err != nil {
			return err
		}
		push = append(push, recs...)
	}
	for _, m := range push {
		if err := s.writeOne(ctx, peer, m); err != nil {
			return err
		}
		s.Stats.AEPushed.Add(1)
	}
	for len(want) > 0 {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		got, more, err := s.o.Client.NodeRecords(cctx, addr, p, ranges, want)
		cancel()
		if err != nil {
			return err
		}
		wanted := make(map[fingerprint]bool, len(want))
		for _, f := range want {
			wanted[f] = true
		}
		for _, m := range got {
			f := m.Fingerprint()
			if !wanted[f] {
				continue // not asked for (or changed on the way): never merge what was not checked
			}
			delete(wanted, f)
			if err := s.writeOne(ctx, s.self(), m); err != nil {
				return err
			}
			s.ae.pulled.Add(1)
		}
		if !more {
			break
		}
		want = want[:0]
		for f := range wanted {
			want = append(want, f)
		}
	}
	return nil
}

func itoa(n int) string { return strconv.Itoa(n) }

// The responder side.

// registerAntiEntropy adds anti-entropy's routes to a Server.
func (srv *Server) registerAntiEntropy() {
	srv.Mux.HandleFunc("POST /rpc/digests", srv.digests)
	srv.Mux.HandleFunc("POST /rpc/tree", srv.treeChildren)
	srv.Mux.HandleFunc("POST /rpc/tree/fingerprints", srv.nodeFingerprints)
	srv.Mux.HandleFunc("POST /rpc/tree/records", srv.nodeRecords)
}

type digestReq struct {
	Partitions []int `json:"partitions"`
}

// digests answers the roots of the asked partitions' trees ("" for an empty one).
func (srv *Server) digests(w http.ResponseWriter, r *http.Request) {
	var req digestReq
	if err := readJSON(r, &req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	out := map[string]string{}
	for _, p := range req.Partitions {
		if h := rootHex(srv.local.TreeRoot(p)); h != "" {
			out[itoa(p)] = h
		}
	}
	writeJSON(w, http.StatusOK, out)
}

type treeReq struct {
	P     int       `json:"p"`
	Nodes []nodeRef `json:"n"`
	Want  [][]byte  `json:"w,omitempty"` // tree/records: the fingerprints asked for
}

// wireNode is a tree node on the wire (empty nodes are {}).
type wireNode struct {
	H []byte `json:"h,omitempty"`
	C int64  `json:"c,omitempty"`
}

func (req *treeReq) check() error {
	if len(req.Nodes) > 4*treeBatch {
		return errors.New("too many tree nodes in one request")
	}
	return nil
}

func (srv *Server) treeChildren(w http.ResponseWriter, r *http.Request) {
	var req treeReq
	if err := readJSON(r, &req); err != nil || req.check() != nil {
		http.Error(w, "bad tree request", http.StatusBadRequest)
		return
	}
	out := make([][]wireNode, len(req.Nodes))
	for i, n := range req.Nodes {
		cs, err := srv.local.TreeChildren(req.P, n.D, n.X)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		out[i] = make([]wireNode, len(cs))
		for j, c := range cs {
			if c.Count != 0 {
				out[i][j] = wireNode{H: c.Hash[:], C: c.Count}
			}
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (srv *Server) nodeFingerprints(w http.ResponseWriter, r *http.Request) {
	var req treeReq
	if err := readJSON(r, &req); err != nil || req.check() != nil {
		http.Error(w, "bad tree request", http.StatusBadRequest)
		return
	}
	out := make([][][]byte, len(req.Nodes))
	for i, n := range req.Nodes {
		fps, err := srv.local.NodeFingerprints(req.P, n.D, n.X)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		out[i] = make([][]byte, len(fps))
		for j := range fps {
			out[i][j] = fps[j][:]
		}
	}
	writeJSON(w, http.StatusOK, out)
}

type recordsResp struct {
	Records []object.RecordMsg `json:"r"`
	More    bool               `json:"more,omitempty"`
}

func (srv *Server) nodeRecords(w http.ResponseWriter, r *http.Request) {
	var req treeReq
	if err := readJSON(r, &req); err != nil || req.check() != nil {
		http.Error(w, "bad tree request", http.StatusBadRequest)
		return
	}
	want := make(map[fingerprint]bool, len(req.Want))
	for _, b := range req.Want {
		var f fingerprint
		if len(b) != len(f) {
			http.Error(w, "bad fingerprint", http.StatusBadRequest)
			return
		}
		copy(f[:], b)
		want[f] = true
	}
	var resp recordsResp
	size := 0
	for _, n := range req.Nodes {
		recs, err := srv.local.NodeRecords(req.P, n.D, n.X, func(f fingerprint) bool { return want[f] })
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		for _, m := range recs {
			if size > 0 && size+len(m.Enc) > recordsBudget {
				resp.More = true
				break
			}
			size += len(m.Enc)
			resp.Records = append(resp.Records, m)
		}
		if resp.More {
			break
		}
	}
	writeJSON(w, http.StatusOK, resp)
}

// The client side.

// Digests asks addr for the roots of the given partitions' trees (a missing entry is empty).
func (c *Client) Digests(ctx context.Context, addr string, parts []int) (map[string]string, error) {
	body, _ := json.Marshal(digestReq{Partitions: parts})
	out := map[string]string{}
	err := c.do(ctx, "POST", addr, "/rpc/digests", nil, body, &out)
	return out, err
}

// TreeChildren asks addr for the children of tree nodes of partition p.
func (c *Client) TreeChildren(ctx context.Context, addr string, p int, nodes []nodeRef) ([][]object.TreeNode, error) {
	body, _ := json.Marshal(treeReq{P: p, Nodes: nodes})
	var wire [][]wireNode
	if err := c.do(ctx, "POST", addr, "/rpc/tree", nil, body, &wire); err != nil {
		return nil, err
	}
	out := make([][]object.TreeNode, len(wire))
	for i, cs := range wire {
		out[i] = make([]object.TreeNode, len(cs))
		for j, n := range cs {
			copy(out[i][j].Hash[:], n.H)
			out[i][j].Count = n.C
		}
	}
	return out, nil
}

// NodeFingerprints asks addr for the fingerprints of the records in tree nodes of partition p.
func (c *Client) NodeFingerprints(ctx context.Context, addr string, p int, nodes []nodeRef) ([][]fingerprint, error) {
	body, _ := json.Marshal(treeReq{P: p, Nodes: nodes})
	var wire [][][]byte
	if err := c.do(ctx, "POST", addr, "/rpc/tree/fingerprints", nil, body, &wire); err != nil {
		return nil, err
	}
	out := make([][]fingerprint, len(wire))
	for i, fs := range wire {
		out[i] = make([]fingerprint, len(fs))
		for j, f := range fs {
			copy(out[i][j][:], f)
		}
	}
	return out, nil
}

// NodeRecords asks addr for its records with the given fingerprints in tree nodes of partition
// p; more tells that the answer was cut short (ask again for the rest).
func (c *Client) NodeRecords(ctx context.Context, addr string, p int, nodes []nodeRef, want []fingerprint) ([]object.RecordMsg, bool, error) {
	req := treeReq{P: p, Nodes: nodes, Want: make([][]byte, len(want))}
	for i := range want {
		req.Want[i] = want[i][:]
	}
	body, _ := json.Marshal(req)
	var resp recordsResp
	err := c.do(ctx, "POST", addr, "/rpc/tree/records", nil, body, &resp)
	return resp.Records, resp.More, err
}
