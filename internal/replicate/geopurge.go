package replicate

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"time"

	"github.com/minicloud/minicloud/internal/crdt"
	"github.com/minicloud/minicloud/internal/object"
	"github.com/minicloud/minicloud/internal/placement"
)

// Tombstone purge by causal stability (see geosync.go). The checks run in this order, which
// matters: first every node's oldest pending record (a record still in an outbox or hint there),
// then every replica's contents. A record moves from pending to a replica, never back, so a
// record older than the tombstone either fails the first check or, delivered since, the second.

const maxPurgePerRound = 2000

// pendingInfo is a node's answer to "what older records could still reach a replica from you?"
type pendingInfo struct {
	Ready bool           `json:"ready"` // false until this node has counted what it drains
	Any   bool           `json:"any"`
	TS    crdt.Timestamp `json:"ts"` // oldest version pending (outboxes, hints, drain)
}

func (s *Store) pending() (pendingInfo, error) {
	ts, any, err := s.local.OldestPending()
	if err != nil {
		return pendingInfo{}, err
	}
	d := &s.geo.drain
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.minTS != 0 && (!any || d.minTS < ts) {
		ts, any = d.minTS, true
	}
	return pendingInfo{Ready: d.known, Any: any, TS: ts}, nil
}

// RegisterRoutes adds the routes that need the replication layer itself (not only the local
// store) to a Server's mux.
func (s *Store) RegisterRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /rpc/geo/pending", func(w http.ResponseWriter, r *http.Request) {
		p, err := s.pending()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		writeJSON(w, http.StatusOK, p)
	})
}

// meshWatermark asks every node of the mesh for its oldest pending record; ok is false when any
// node cannot answer or is not ready. A tombstone older than the watermark cannot be overtaken
// by an older record still on its way.
func (s *Store) meshWatermark(ctx context.Context) (wm crdt.Timestamp, any, ok bool) {
	sl, isSL := s.o.Cluster.(SiteLister)
	if !isSL {
		return 0, false, false
	}
	for _, site := range sl.Sites() {
		for _, n := range s.o.Cluster.SiteNodes(site) {
			var p pendingInfo
			var err error
			if n == s.self() {
				p, err = s.pending()
			} else {
				cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				var raw []byte
				err = s.o.Client.Get(cctx, s.o.Cluster.RPCAddr(n), "/rpc/geo/pending", &raw)
				cancel()
				if err == nil {
					err = json.Unmarshal(raw, &p)
				}
			}
			if err != nil || !p.Ready {
				s.log.Debug("tombstone purge: node not ready", "node", n, "err", err)
				return 0, false, false
			}
			if p.Any && (!any || p.TS < wm) {
				wm, any = p.TS, true
			}
		}
	}
	return wm, any, true
}

// purgeRound purges the tombstones of the led partitions that are causally stable.
func (s *Store) purgeRound(ctx context.Context, o GeoOptions) {
	bs, err := s.local.ListBuckets(ctx)
	if err != nil {
		return
	}
	led := s.ledPartitions()
	cutoff := time.Now().Add(-o.TombstoneGrace)
	// Heads only: a tombstone has no inline data, so its head is its whole encoding (DropRecord
	// compares it with what is stored).
	type group struct {
		sites []string
		msgs  []object.RecordMsg
	}
	groups := map[[2]any]*group{} // (bucket, partition)
	total := 0
	for _, b := range bs {
		sites := b.Sites
		if len(sites) == 0 {
			sites = []string{s.o.Site}
		}
		if !slices.Contains(sites, s.o.Site) {
			continue
		}
		s.local.ScanBucketHeads(ctx, b.Name, func(m object.RecordMsg) error {
			p := placement.Partition(m.Bucket, m.Key)
			if total >= maxPurgePerRound || !led[p] || !m.Version.TS.Physical().Before(cutoff) || !m.IsTombstone() {
				return nil
			}
			k := [2]any{b.Name, p}
			g := groups[k]
			if g == nil {
				g = &group{sites: sites}
				groups[k] = g
			}
			g.msgs = append(g.msgs, m)
			total++
			return nil
		})
	}
	if total == 0 {
		return
	}
	wm, any, ok := s.meshWatermark(ctx)
	if !ok {
		return
	}
	for k, g := range groups {
		p := k[1].(int)
		var cands []object.RecordMsg
		for _, m := range g.msgs {
			if !any || m.Version.TS < wm {
				cands = append(cands, m)
			}
		}
		if len(cands) == 0 {
			continue
		}
		cands = s.stableEverywhere(ctx, p, g.sites, cands)
		if len(cands) == 0 {
			continue
		}
		s.purgeOnSite(ctx, p, cands)
	}
}

// stableEverywhere keeps the tombstones no replica of any hosting site holds anything deleted by.
func (s *Store) stableEverywhere(ctx context.Context, p int, sites []string, cands []object.RecordMsg) []object.RecordMsg {
	keep := make([]bool, len(cands))
	for i := range keep {
		keep[i] = true
	}
	for _, site := range sites {
		var reps []string
		if site == s.o.Site {
			cur, prev := s.sets()
			reps = placement.Replicas(p, cur, s.o.RF)
			if prev != nil {
				reps = union(reps, placement.Replicas(p, prev, s.o.RF))
			}
		} else {
			reps = s.remoteReplicas(site, p)
			if len(reps) == 0 {
				return nil // a hosting site nobody has heard of: nothing is known to be stable
			}
		}
		for _, n := range reps {
			held, err := s.holdsDeleted(ctx, n, cands)
			if err != nil {
				s.log.Debug("tombstone purge: replica not asked", "node", n, "err", err)
				return nil
			}
			for i, h := range held {
				if h {
					keep[i] = false
				}
			}
		}
	}
	var out []object.RecordMsg
	for i, m := range cands {
		if keep[i] {
			out = append(out, m)
		}
	}
	return out
}

// holdsDeleted asks node n, for each tombstone, whether it holds something the tombstone deletes.
func (s *Store) holdsDeleted(ctx context.Context, n string, msgs []object.RecordMsg) ([]bool, error) {
	if n == s.self() {
		return holdsDeletedLocal(s.local, msgs)
	}
	body, err := json.Marshal(msgs)
	if err != nil {
		return nil, err
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var out []bool
	if err := s.o.Client.do(cctx, "POST", s.o.Cluster.RPCAddr(n), "/rpc/geo/covers", nil, body, &out); err != nil {
		return nil, err
	}
	if len(out) != len(msgs) {
		return nil, errShortAnswer
	}
	return out, nil
}

var errShortAnswer = &errStatus{code: http.StatusBadGateway, body: "answer does not match the request"}

func holdsDeletedLocal(local *object.Store, msgs []object.RecordMsg) ([]bool, error) {
	out := make([]bool, len(msgs))
	for i, m := range msgs {
		h, err := local.HoldsDeletedBy(m)
		if err != nil {
			return nil, err
		}
		out[i] = h
	}
	return out, nil
}

// purgeOnSite drops the tombstones on every replica of partition p in this site.
func (s *Store) purgeOnSite(ctx context.Context, p int, msgs []object.RecordMsg) {
	cur, prev := s.sets()
	reps := union(placement.Replicas(p, cur, s.o.RF), placement.Replicas(p, prev, s.o.RF))
	body, _ := json.Marshal(msgs)
	for _, n := range reps {
		if n == s.self() {
			k, err := dropRecords(s.local, msgs)
			if err != nil {
				s.log.Warn("tombstone purge", "err", err)
			}
			s.geo.stats.purged.Add(int64(k))
			continue
		}
		if !s.o.Cluster.Alive(n) {
			continue // it is purged there by a later round, once this node sees it again
		}
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		if err := s.o.Client.do(cctx, "POST", s.o.Cluster.RPCAddr(n), "/rpc/geo/purge", nil, body, nil); err != nil {
			s.log.Debug("tombstone purge on replica", "node", n, "err", err)
		}
		cancel()
	}
}

func dropRecords(local *object.Store, msgs []object.RecordMsg) (int, error) {
	k := 0
	for _, m := range msgs {
		ok, err := local.DropRecord(m)
		if err != nil {
			return k, err
		}
		if ok {
			k++
		}
	}
	return k, nil
}

func (srv *Server) geoCovers(w http.ResponseWriter, r *http.Request) {
	var msgs []object.RecordMsg
	if err := readJSON(r, &msgs); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	out, err := holdsDeletedLocal(srv.local, msgs)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (srv *Server) geoPurge(w http.ResponseWriter, r *http.Request) {
	var msgs []object.RecordMsg
	if err := readJSON(r, &msgs); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	for _, m := range msgs {
		if !m.IsTombstone() {
			http.Error(w, "only tombstones can be purged", http.StatusBadRequest)
			return
		}
	}
	if _, err := dropRecords(srv.local, msgs); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
