package node

import (
	"context"
	"encoding/json"
	"io/fs"
	"net/http"
	"path/filepath"
	"sync"
	"time"
)

// usage is how much disk a node's data directory takes, measured at most every 30 s (a walk of
// the directory: cheap at edge sizes, not free at millions of files).
type usage struct {
	mu    sync.Mutex
	at    time.Time
	bytes int64
}

func (u *usage) get(dir string) int64 {
	u.mu.Lock()
	defer u.mu.Unlock()
	if time.Since(u.at) < 30*time.Second {
		return u.bytes
	}
	var total int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				total += fi.Size()
			}
		}
		return nil
	})
	u.bytes, u.at = total, time.Now()
	return total
}

type usageResp struct {
	Bytes int64 `json:"bytes"`
}

func (n *Node) serveUsage(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(usageResp{Bytes: n.usage.get(n.cfg.Data)})
}

// peerUsage asks every live member for its data size, in parallel, with a short timeout.
func (n *Node) peerUsage(ctx context.Context) map[string]int64 {
	out := map[string]int64{n.id: n.usage.get(n.cfg.Data)}
	if n.cluster == nil {
		return out
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, m := range n.cluster.mesh.Members() {
		if m.ID == n.id || !m.Alive {
			continue
		}
		wg.Add(1)
		go func(id, addr string) {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			var body []byte
			if err := n.cluster.client.Get(cctx, addr, "/rpc/usage", &body); err != nil {
				return
			}
			var u usageResp
			if json.Unmarshal(body, &u) == nil {
				mu.Lock()
				out[id] = u.Bytes
				mu.Unlock()
			}
		}(m.ID, m.RPC)
	}
	wg.Wait()
	return out
}
