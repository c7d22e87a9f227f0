package replicate

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/minicloud/minicloud/internal/object"
	"github.com/minicloud/minicloud/internal/placement"
)

// Sloppy quorum: a replica that is down is replaced for one write by the next healthy node in the
// partition's preference list (beyond the RF replicas), which stores the write durably as a hint
// for the missing replica and hands it over when that replica is back. The hint holder's ack
// counts towards W, so a site stays writable while more than RF-W replicas of a partition are
// down, as long as enough nodes are alive; reads may then miss the write until the hint is
// delivered (Dynamo's trade-off), which read repair and anti-entropy also close.

type hintReq struct {
	Target string           `json:"t"`
	Msg    object.RecordMsg `json:"m"`
}

// fallbacks returns, for each replica position, the healthy node that stands in for it when it is
// down: live site nodes outside reps, in the partition's preference order.
func (s *Store) fallbacks(bucket, key string, reps []string) []string {
	if s.o.Cluster == nil {
		return nil
	}
	nodes := s.o.Cluster.SiteNodes(s.o.Site)
	pref := placement.Replicas(placement.Partition(bucket, key), nodes, len(nodes))
	var out []string
	for _, n := range pref {
		if contains(reps, n) || (n != s.self() && !s.o.Cluster.Alive(n)) {
			continue
		}
		out = append(out, n)
	}
	return out
}

// handOff stores msg as a hint for target on node f.
func (s *Store) handOff(ctx context.Context, f, target string, msg object.RecordMsg) error {
	if f == s.self() {
		return s.local.AddHint(target, msg)
	}
	body, err := json.Marshal(hintReq{Target: target, Msg: msg})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return s.o.Client.sendWithChunks(ctx, s.o.Cluster.RPCAddr(f), "/rpc/hint", body, msg, s.readChunk)
}

func (srv *Server) hint(w http.ResponseWriter, r *http.Request) {
	var req hintReq
	if err := readJSON(r, &req); err != nil || req.Target == "" {
		http.Error(w, "bad hint", http.StatusBadRequest)
		return
	}
	refs, _ := req.Msg.Chunks()
	var miss []string
	for _, c := range refs {
		if !srv.local.HasChunk(c.ID) {
			miss = append(miss, c.ID)
		}
	}
	if len(miss) > 0 {
		writeJSON(w, http.StatusConflict, missingResp{Missing: miss})
		return
	}
	if err := srv.local.AddHint(req.Target, req.Msg); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
