package replicate

import (
	"context"
	"net/http"
	"slices"
	"time"

	"github.com/minicloud/minicloud/internal/s3err"
)

// Joining: a node that starts with an empty data dir and --join has no member list of its own.
// Until gossip has brought it the site's, its view of the site is partial (itself, then the nodes
// it has heard of), and a layout derived from it is wrong twice over: requests it coordinated
// would be committed on the wrong replicas (all on itself at first), and when the full list
// arrives the partial one would be taken for the previous layout, so the transition it starts
// would write to and read from replica sets that never held the data.
//
// So a joining node serves nothing until it has adopted the site's layout from a peer that knows
// it: GET /rpc/layout answers a node's current set, its previous one during a transition, and
// whether it is itself still joining. The joining node adopts once its own view holds every node
// the peer knows: the peer's sets as they are if the peer already counts it in, else the peer's
// layout (its previous set if it is in a transition: that is where the data is) as the previous
// one of a transition to its own view. When every live peer is joining too (a new site whose
// nodes all started with --join), nobody holds data and the view is adopted with no transition.

// Joining marks this node as joining its site (before Start): see above.
func (s *Store) Joining() {
	s.layout.mu.Lock()
	s.layout.joining = true
	s.layout.mu.Unlock()
}

// layoutKnown reports whether this node knows the site's layout.
func (s *Store) layoutKnown() bool {
	s.layout.mu.Lock()
	defer s.layout.mu.Unlock()
	return !s.layout.joining
}

// Layout returns this node's current node set and, during a transition, the previous one.
func (s *Store) Layout() (cur, prev []string) {
	if s.o.Cluster == nil {
		return nil, nil
	}
	return s.sets()
}

type layoutResp struct {
	Cur     []string `json:"cur"`
	Prev    []string `json:"prev,omitempty"`
	Joining bool     `json:"joining,omitempty"`
}

// RegisterSiteRoutes adds the routes of the site's replication that need more than the local
// store (the layout) to a Server's mux.
func (s *Store) RegisterSiteRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /rpc/layout", func(w http.ResponseWriter, r *http.Request) {
		if s.o.Cluster == nil {
			http.Error(w, "not in a site", http.StatusNotFound)
			return
		}
		if !s.layoutKnown() {
			writeJSON(w, http.StatusOK, layoutResp{Joining: true})
			return
		}
		cur, prev := s.sets()
		writeJSON(w, http.StatusOK, layoutResp{Cur: cur, Prev: prev})
	})
	s.registerListRoutes(mux)
}

// layoutReady returns nil once this node knows the site's layout, adopting it now if it can;
// otherwise the error for a client (try another node).
func (s *Store) layoutReady(ctx context.Context) error {
	if s.o.Cluster == nil || s.layoutKnown() {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if s.adoptLayout(ctx) {
		return nil
	}
	return s3err.ServiceUnavailable.With("This node is joining its site and does not know the site's layout yet; retry, or use another node.")
}

// adoptLayout takes the site's layout from a peer (see above); it reports whether this node now
// knows it.
func (s *Store) adoptLayout(ctx context.Context) bool {
	l := &s.layout
	select {
	case l.adopt <- struct{}{}:
	case <-ctx.Done():
		return s.layoutKnown()
	}
	defer func() { <-l.adopt }()
	if s.layoutKnown() {
		return true
	}
	view := s.o.Cluster.SiteNodes(s.o.Site)
	var peers []string
	for _, n := range view {
		if n != s.self() && s.o.Cluster.Alive(n) {
			peers = append(peers, n)
		}
	}
	if len(peers) == 0 {
		// Alone in its site: a new site of one node once the mesh has answered (a push/pull from
		// the node joined brings the whole member list, other sites' nodes included); not joined
		// yet otherwise. (A one-node site joining another site's node stayed "joining" for ever:
		// e2e TestGeoOutboxSurvivesSiteOutage and every two-site test.)
		if slices.Equal(view, []string{s.self()}) && s.otherSitesAlive() {
			s.setAdopted(view, nil, "peer", "none: this node is its site's only one")
			return true
		}
		return false
	}
	allJoining := true
	for _, peer := range peers {
		var resp layoutResp
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := s.o.Client.getJSON(cctx, s.o.Cluster.RPCAddr(peer), "/rpc/layout", &resp)
		cancel()
		if err != nil {
			allJoining = false // it may know the layout: do not conclude the site is new
			s.log.Debug("joining: ask a peer for the layout", "peer", peer, "err", err)
			continue
		}
		if resp.Joining {
			continue
		}
		allJoining = false
		cur, prev, ok := adoptFrom(s.self(), view, resp)
		if !ok {
			continue // the peer knows nodes this node has not heard of yet: wait for gossip
		}
		s.setAdopted(cur, prev, "peer", peer)
		return true
	}
	if allJoining {
		s.setAdopted(view, nil, "peer", "none: every live peer is joining too (a new site)")
		return true
	}
	return false
}

// adoptFrom derives a joining node's layout from its own view and a peer's answer.
func adoptFrom(self string, view []string, peer layoutResp) (cur, prev []string, ok bool) {
	for _, n := range peer.Cur {
		if !slices.Contains(view, n) {
			return nil, nil, false
		}
	}
	if !slices.Contains(view, self) {
		return nil, nil, false
	}
	if slices.Equal(peer.Cur, view) {
		return view, peer.Prev, true
	}
	if peer.Prev != nil {
		return view, peer.Prev, true
	}
	return view, peer.Cur, true
}

func (s *Store) setAdopted(cur, prev []string, args ...any) {
	l := &s.layout
	l.mu.Lock()
	l.cur, l.prev, l.since, l.joining = slices.Clone(cur), slices.Clone(prev), time.Now(), false
	l.gen.Add(1)
	l.mu.Unlock()
	s.log.Info("joined: adopted the site's layout", append([]any{"nodes", cur, "previous", prev}, args...)...)
}

// getJSON reads path on addr into out.
func (c *Client) getJSON(ctx context.Context, addr, path string, out any) error {
	return c.do(ctx, "GET", addr, path, nil, nil, out)
}

// otherSitesAlive reports whether gossip sees a live node of another site (this node has joined
// the mesh).
func (s *Store) otherSitesAlive() bool {
	sl, ok := s.o.Cluster.(SiteLister)
	if !ok {
		return false
	}
	for _, site := range sl.Sites() {
		if site != s.o.Site && len(sl.SiteAlive(site)) > 0 {
			return true
		}
	}
	return false
}
