package replicate

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/minicloud/minicloud/internal/crdt"
	"github.com/minicloud/minicloud/internal/object"
	"github.com/minicloud/minicloud/internal/placement"
)

// Periodic cross-site work, run by every node for the partitions it leads in its site (the first
// live replica of the partition there), so each partition is handled once per site:
//
//   - anti-entropy backing the change feed: for every bucket hosted by this site and others, the
//     digest of each led partition's records of the bucket is compared with the digest held by
//     a replica of that partition in each other hosting site; when they differ, the records the
//     other side lacks are shipped to it. This repairs what the outboxes lost (a coordinator
//     that died for good, a crash before the lazily synced outbox entry reached the disk, a
//     site added to a bucket by a node that had no copy to queue).
//   - drain: a node holding records of a bucket its site no longer hosts hands them to a hosting
//     site (committed there on its write quorum) and only then drops them.
//   - tombstone purge (causal stability): a tombstone is dropped only once no replica of any
//     hosting site holds anything it deletes, no outbox or hint of any node of the mesh still
//     holds a record as old as it, and it is older than a grace period (which bounds writes in
//     flight when the check runs). A node that cannot be asked blocks the purge: a site offline
//     for a month keeps every tombstone its copy might need.
//
// Digests: geoDigests below computes a flat XOR of record fingerprints per (bucket, partition),
// like the site's anti-entropy does per partition. When a per-partition Merkle tree exists,
// bucketDigests is the one function to switch.

// bucketDigests computes the digest of each wanted partition of bucket on this replica, of the
// records older than before (0: all).
var bucketDigests = func(ctx context.Context, local *object.Store, bucket string, want map[int]bool, before crdt.Timestamp) (map[int]fingerprint, error) {
	out := map[int]fingerprint{}
	err := local.ScanBucketHeads(ctx, bucket, func(m object.RecordMsg) error {
		p := placement.Partition(m.Bucket, m.Key)
		if !want[p] || !settled(m, before) {
			return nil
		}
		f := geoFingerprint(m)
		d := out[p]
		for i := range d {
			d[i] ^= f[i]
		}
		out[p] = d
		return nil
	})
	return out, err
}

// drainProgress is what status shows of buckets this node is handing over.
type drainProgress struct {
	mu      sync.Mutex
	left    map[string]int // bucket -> records still held here at the last count
	drained map[string]int64
	minTS   crdt.Timestamp // oldest record still held of a bucket not hosted here (0: none)
	known   bool           // a full drain scan ran since start
}

// GeoStatus is the cross-site state of this node for status.
type GeoStatus struct {
	Draining         map[string]int   `json:"draining,omitempty"` // bucket -> records left to hand over
	Drained          map[string]int64 `json:"drained,omitempty"`
	Repaired         int64            `json:"repaired"` // records shipped by cross-site anti-entropy
	TombstonesPurged int64            `json:"tombstones_purged"`
	LastSync         time.Time        `json:"last_sync,omitzero"` // last cross-site round
}

// GeoStatus reports the drain progress and cross-site counters.
func (s *Store) GeoStatus() GeoStatus {
	d := &s.geo.drain
	d.mu.Lock()
	defer d.mu.Unlock()
	st := GeoStatus{Draining: map[string]int{}, Drained: map[string]int64{}, Repaired: s.geo.stats.repaired.Load(), TombstonesPurged: s.geo.stats.purged.Load()}
	for b, n := range d.left {
		if n > 0 {
			st.Draining[b] = n
		}
	}
	for b, n := range d.drained {
		st.Drained[b] = n
	}
	if t := s.geo.stats.lastSync.Load(); t > 0 {
		st.LastSync = time.Unix(0, t)
	}
	return st
}

func (s *Store) geoSyncLoop() {
	defer s.wg.Done()
	o := s.geoOpts()
	t := time.NewTicker(o.SyncEvery)
	defer t.Stop()
	for {
		s.drainRound(s.ctx)
		s.crossSiteRound(s.ctx)
		s.purgeRound(s.ctx, o)
		s.geo.stats.lastSync.Store(time.Now().UnixNano())
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
	}
}

// ledPartitions returns the partitions of which this node is the first live replica in its site.
func (s *Store) ledPartitions() map[int]bool {
	nodes, _ := s.sets()
	out := map[int]bool{}
	for p := 0; p < placement.Partitions; p++ {
		for _, n := range placement.Replicas(p, nodes, s.o.RF) {
			if n == s.self() {
				out[p] = true
			}
			if n == s.self() || s.o.Cluster.Alive(n) {
				break
			}
		}
	}
	return out
}

// remoteReplicas returns the replicas of partition p in another site (same RF assumed).
func (s *Store) remoteReplicas(site string, p int) []string {
	return placement.Replicas(p, s.o.Cluster.SiteNodes(site), s.o.RF)
}

// remoteLeader returns the first live replica of p in site.
func (s *Store) remoteLeader(site string, p int) (string, bool) {
	for _, n := range s.remoteReplicas(site, p) {
		if s.o.Cluster.Alive(n) {
			return n, true
		}
	}
	return "", false
}

// crossSiteRound compares, for every bucket this site shares with others, the digests of the led
// partitions with each other hosting site and ships what they lack.
func (s *Store) crossSiteRound(ctx context.Context) {
	bs, err := s.local.ListBuckets(ctx)
	if err != nil {
		return
	}
	led := s.ledPartitions()
	if len(led) == 0 {
		return
	}
	before := settleCutoff(time.Now(), s.geoOpts().SyncEvery)
	for _, b := range bs {
		if len(b.Sites) < 2 || !slices.Contains(b.Sites, s.o.Site) {
			continue
		}
		mine, err := bucketDigests(ctx, s.local, b.Name, led, before)
		if err != nil {
			s.log.Warn("cross-site anti-entropy: digests", "bucket", b.Name, "err", err)
			continue
		}
		for _, site := range b.Sites {
			if site != s.o.Site {
				s.syncBucketWith(ctx, b.Name, site, led, mine, before)
			}
		}
	}
}

// settleCutoff is the version timestamp below which a cross-site round compares records: those
// written in the last settle period are still on their way through the outbox, and comparing
// them made nearly every partition with recent writes differ under load, each difference
// costing scans of the whole bucket on both sites. The next round compares them.
func settleCutoff(now time.Time, every time.Duration) crdt.Timestamp {
	settle := min(10*time.Second, every/2)
	return crdt.Timestamp(uint64(now.Add(-settle).UnixMilli()) << 16)
}

// settled reports whether m is old enough for a round comparing records before before.
func settled(m object.RecordMsg, before crdt.Timestamp) bool {
	return before == 0 || m.Version.TS < before
}

func (s *Store) syncBucketWith(ctx context.Context, bucket, site string, led map[int]bool, mine map[int]fingerprint, before crdt.Timestamp) {
	byNode := map[string][]int{}
	for p := range led {
		if n, ok := s.remoteLeader(site, p); ok {
			byNode[n] = append(byNode[n], p)
		}
	}
	for n, parts := range byNode {
		addr := s.o.Cluster.RPCAddr(n)
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		theirs, err := s.o.Client.geoDigests(cctx, addr, bucket, parts, before)
		cancel()
		if err != nil {
			s.log.Debug("cross-site anti-entropy: remote digests", "site", site, "node", n, "err", err)
			continue
		}
		differ := map[int]bool{}
		for _, p := range parts {
			d, ok := mine[p]
			if !ok {
				continue // nothing here to offer; the other side pushes in its own round
			}
			if theirs[strconv.Itoa(p)] != hex.EncodeToString(d[:]) {
				differ[p] = true
			}
		}
		if len(differ) > 0 {
			s.repairPartitions(ctx, bucket, n, addr, differ, before)
		}
	}
}

// repairPartitions ships to node n (of another site) the records of bucket in the given
// partitions that it lacks. One fingerprint request and one scan of the bucket serve all the
// partitions (it was one of each per partition: hundreds of whole-bucket scans on both sites
// in a round under load).
func (s *Store) repairPartitions(ctx context.Context, bucket, n, addr string, parts map[int]bool, before crdt.Timestamp) {
	list := make([]int, 0, len(parts))
	for p := range parts {
		list = append(list, p)
	}
	slices.Sort(list)
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	theirs, err := s.o.Client.geoFingerprints(cctx, addr, bucket, list)
	cancel()
	if err != nil {
		return
	}
	var push []object.RecordMsg
	s.local.ScanBucket(ctx, bucket, func(m object.RecordMsg) error {
		if parts[placement.Partition(m.Bucket, m.Key)] && settled(m, before) {
			f := geoFingerprint(m)
			if !theirs[hex.EncodeToString(f[:])] {
				push = append(push, m)
			}
		}
		return nil
	})
	for len(push) > 0 {
		k := min(len(push), 256)
		cctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		err := s.o.Client.applyBatch(cctx, addr, push[:k], s.readChunk)
		cancel()
		if err != nil {
			s.log.Debug("cross-site anti-entropy: push", "node", n, "err", err)
			return
		}
		s.geo.stats.repaired.Add(int64(k))
		push = push[k:]
	}
}

type geoDigestReq struct {
	Bucket     string         `json:"bucket"`
	Partitions []int          `json:"partitions"`
	Before     crdt.Timestamp `json:"before,omitempty"` // only records older than this (settleCutoff)
}

func (srv *Server) geoDigests(w http.ResponseWriter, r *http.Request) {
	var req geoDigestReq
	if err := readJSON(r, &req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	want := map[int]bool{}
	for _, p := range req.Partitions {
		want[p] = true
	}
	d, err := bucketDigests(r.Context(), srv.local, req.Bucket, want, req.Before)
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

func (srv *Server) geoFingerprints(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	// "parts" lists partitions (comma-separated); "p", one partition, is what nodes before it
	// send, and they are sent it too (they answer for that one only: the asker then pushes the
	// other partitions' records again, which merge to the same state).
	want := map[int]bool{}
	list := q.Get("parts")
	if list == "" {
		list = q.Get("p")
	}
	for _, f := range strings.Split(list, ",") {
		p, err := strconv.Atoi(f)
		if err != nil || p < 0 || p >= placement.Partitions {
			http.Error(w, "bad partition", http.StatusBadRequest)
			return
		}
		want[p] = true
	}
	fps := []string{}
	err := srv.local.ScanBucketHeads(r.Context(), q.Get("bucket"), func(m object.RecordMsg) error {
		if want[placement.Partition(m.Bucket, m.Key)] {
			f := geoFingerprint(m)
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

func (c *Client) geoDigests(ctx context.Context, addr, bucket string, parts []int, before crdt.Timestamp) (map[string]string, error) {
	body, _ := json.Marshal(geoDigestReq{Bucket: bucket, Partitions: parts, Before: before})
	out := map[string]string{}
	err := c.do(ctx, "POST", addr, "/rpc/geo/digests", nil, body, &out)
	return out, err
}

func (c *Client) geoFingerprints(ctx context.Context, addr, bucket string, parts []int) (map[string]bool, error) {
	var fps []string
	fs := make([]string, len(parts))
	for i, p := range parts {
		fs[i] = strconv.Itoa(p)
	}
	q := url.Values{"bucket": {bucket}, "parts": {strings.Join(fs, ",")}, "p": {fs[0]}}
	if err := c.do(ctx, "GET", addr, "/rpc/geo/fingerprints", q, nil, &fps); err != nil {
		return nil, err
	}
	out := make(map[string]bool, len(fps))
	for _, f := range fps {
		out[f] = true
	}
	return out, nil
}

// geoFingerprint identifies a record for the cross-site comparison without hashing its inline
// data: a version's data never changes (its id is its hybrid timestamp and node), while what can
// change under the same version (tags, a purge) is in the record's header. Hashing whole records
// made each round read and hash every byte of small objects.
func geoFingerprint(m object.RecordMsg) fingerprint {
	head := m.Enc
	if n, w := binary.Uvarint(m.Enc); w > 0 && n <= uint64(len(m.Enc)-w) {
		head = m.Enc[:w+int(n)]
	}
	return object.RecordFingerprint(m.Bucket, m.Key, m.Version, head)
}
