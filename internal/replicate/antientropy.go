package replicate

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"time"

	"github.com/minicloud/minicloud/internal/object"
	"github.com/minicloud/minicloud/internal/placement"
)

// Anti-entropy compares replicas partition by partition. A partition's digest is the XOR of the
// fingerprints of its records, so it does not depend on order and changes with any record; two
// replicas with equal digests hold the same records. When digests differ, the peer's list of
// fingerprints tells which of our records it lacks, and we push those; the peer does the same
// in its own rounds, so both converge. (A per-partition Merkle tree would narrow the lists for big
// partitions; the flat list is enough at the scale tested so far.)

type fingerprint [16]byte

func fingerprintOf(m object.RecordMsg) fingerprint {
	h := sha256.New()
	h.Write([]byte(m.Bucket))
	h.Write([]byte{0})
	h.Write([]byte(m.Key))
	var v [16]byte
	binary.BigEndian.PutUint64(v[:8], uint64(m.Version.TS))
	binary.BigEndian.PutUint64(v[8:], m.Version.Node)
	h.Write(v[:])
	h.Write(m.Enc)
	var f fingerprint
	copy(f[:], h.Sum(nil))
	return f
}

// localDigests computes the digest of each wanted partition from the local store.
func localDigests(ctx context.Context, local *object.Store, want map[int]bool) (map[int]fingerprint, error) {
	out := map[int]fingerprint{}
	err := local.ScanRecords(ctx, func(m object.RecordMsg) error {
		p := placement.Partition(m.Bucket, m.Key)
		if !want[p] {
			return nil
		}
		f := fingerprintOf(m)
		d := out[p]
		for i := range d {
			d[i] ^= f[i]
		}
		out[p] = d
		return nil
	})
	return out, err
}

type digestReq struct {
	Partitions []int `json:"partitions"`
}

func (s *Server) digests(w http.ResponseWriter, r *http.Request) {
	var req digestReq
	if err := readJSON(r, &req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	want := map[int]bool{}
	for _, p := range req.Partitions {
		want[p] = true
	}
	d, err := localDigests(r.Context(), s.local, want)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	out := map[string]string{}
	for p, f := range d {
		out[strconv.Itoa(p)] = hex.EncodeToString(f[:])
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) partition(w http.ResponseWriter, r *http.Request) {
	p, err := strconv.Atoi(r.URL.Query().Get("p"))
	if err != nil {
		http.Error(w, "bad partition", http.StatusBadRequest)
		return
	}
	var fps []string
	err = s.local.ScanRecords(r.Context(), func(m object.RecordMsg) error {
		if placement.Partition(m.Bucket, m.Key) == p {
			f := fingerprintOf(m)
			fps = append(fps, hex.EncodeToString(f[:]))
		}
		return nil
	})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	writeJSON(w, http.StatusOK, fps)
}

// Digests asks addr for its digests of the given partitions (hex; a missing entry is empty).
func (c *Client) Digests(ctx context.Context, addr string, parts []int) (map[string]string, error) {
	body, _ := json.Marshal(digestReq{Partitions: parts})
	out := map[string]string{}
	err := c.do(ctx, "POST", addr, "/rpc/digests", nil, body, &out)
	return out, err
}

// PartitionFingerprints asks addr for the fingerprints of every record it holds in partition p.
func (c *Client) PartitionFingerprints(ctx context.Context, addr string, p int) (map[string]bool, error) {
	var fps []string
	if err := c.do(ctx, "GET", addr, "/rpc/partition", url.Values{"p": {strconv.Itoa(p)}}, nil, &fps); err != nil {
		return nil, err
	}
	out := make(map[string]bool, len(fps))
	for _, f := range fps {
		out[f] = true
	}
	return out, nil
}

// sharedPartitions returns, for each live peer of the site, the partitions both it and this
// node replicate.
func (s *Store) sharedPartitions() map[string][]int {
	nodes := s.o.Cluster.SiteNodes(s.o.Site)
	out := map[string][]int{}
	for p := 0; p < placement.Partitions; p++ {
		reps := placement.Replicas(p, nodes, s.o.RF)
		mine := false
		for _, n := range reps {
			if n == s.self() {
				mine = true
			}
		}
		if !mine {
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

// antiEntropyRound compares partition digests with every live peer and pushes what they lack.
func (s *Store) antiEntropyRound(ctx context.Context) {
	s.Stats.AERounds.Add(1)
	// Notice a layout change before taking the round's start time: endTransition only trusts a
	// round that began after the change, so a change noticed here must not date the round
	// (otherwise the round a membership change kicks can never end the transition it starts, and
	// under steady load the next all-in-sync round may never come).
	s.sets()
	started := time.Now()
	shared := s.sharedPartitions()
	want := map[int]bool{}
	for _, ps := range shared {
		for _, p := range ps {
			want[p] = true
		}
	}
	mine, err := localDigests(ctx, s.local, want)
	if err != nil {
		s.log.Warn("anti-entropy: digests", "err", err)
		return
	}
	compared, equal := 0, 0
	peers := make([]string, 0, len(shared))
	for n := range shared {
		peers = append(peers, n)
	}
	sort.Strings(peers)
	for _, peer := range peers {
		addr := s.o.Cluster.RPCAddr(peer)
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		theirs, err := s.o.Client.Digests(cctx, addr, shared[peer])
		cancel()
		if err != nil {
			s.log.Debug("anti-entropy: peer digests", "peer", peer, "err", err)
			continue
		}
		for _, p := range shared[peer] {
			compared++
			d := mine[p]
			my := ""
			if d != (fingerprint{}) {
				my = hex.EncodeToString(d[:])
			}
			if theirs[itoa(p)] == my {
				equal++
				continue
			}
			if my == "" {
				continue // nothing here to push; the peer pushes its records in its own round
			}
			s.syncPartition(ctx, peer, addr, p)
		}
	}
	s.Stats.AEPartitions.Store(int64(compared))
	s.Stats.AEPartitionsOK.Store(int64(equal))
	if compared == equal {
		s.Stats.AELastSync.Store(time.Now().UnixNano())
		s.endTransition(started)
	}
}

// syncPartition pushes to peer every record of partition p that it lacks.
func (s *Store) syncPartition(ctx context.Context, peer, addr string, p int) {
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	theirs, err := s.o.Client.PartitionFingerprints(cctx, addr, p)
	cancel()
	if err != nil {
		return
	}
	var push []object.RecordMsg
	s.local.ScanRecords(ctx, func(m object.RecordMsg) error {
		if placement.Partition(m.Bucket, m.Key) == p {
			f := fingerprintOf(m)
			if !theirs[hex.EncodeToString(f[:])] {
				push = append(push, m)
			}
		}
		return nil
	})
	for _, m := range push {
		if err := s.writeOne(ctx, peer, m); err != nil {
			s.log.Debug("anti-entropy push", "peer", peer, "key", m.Key, "err", err)
			return
		}
		s.Stats.AEPushed.Add(1)
	}
}

func itoa(n int) string {
	const digits = "0123456789"
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = digits[n%10]
		n /= 10
	}
	return string(b[i:])
}
