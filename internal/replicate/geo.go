package replicate

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/minicloud/minicloud/internal/object"
)

// Across sites: a write is acknowledged by the local site's quorum; for every other site that
// hosts the bucket it is also put in a durable outbox (a hint addressed to the site) that a
// background loop ships to any live node of that site, which commits it on its own site's
// replicas. The outbox survives restarts and outages of any length, so a site cut off for a day
// still gets every change when it returns; versions merge there by the same CRDT rules.

const sitePrefix = "site:"

// SiteLister is the part of the cluster view geo-replication needs.
type SiteLister interface {
	Sites() []string
	SiteAlive(site string) []string // live node ids of a site
}

// hostingSites returns the sites hosting bucket (the local site when none is recorded).
func (s *Store) hostingSites(bucket string) []string {
	b, err := s.local.GetBucket(context.Background(), bucket)
	if err != nil || len(b.Sites) == 0 {
		return []string{s.o.Site}
	}
	return b.Sites
}

// queueForSites puts msg in the outbox of every other site hosting its bucket.
func (s *Store) queueForSites(msg object.RecordMsg) {
	if s.o.Cluster == nil {
		return
	}
	for _, site := range s.hostingSites(msg.Bucket) {
		if site == s.o.Site {
			continue
		}
		if err := s.enqueue(sitePrefix+site, msg, false); err != nil {
			s.log.Error("queue change for site", "site", site, "err", err)
			continue
		}
		s.Stats.Outboxed.Add(1)
	}
}

// siteTarget returns a live node of the site an outbox is addressed to.
func (s *Store) siteTarget(target string) (string, bool) {
	sl, ok := s.o.Cluster.(SiteLister)
	if !ok {
		return "", false
	}
	alive := sl.SiteAlive(strings.TrimPrefix(target, sitePrefix))
	if len(alive) == 0 {
		return "", false
	}
	sort.Strings(alive)
	return alive[int(time.Now().UnixNano()/int64(time.Second))%len(alive)], true
}

// shipToSite hands msg to node n of another site, which commits it there.
func (s *Store) shipToSite(ctx context.Context, n string, msg object.RecordMsg) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return s.o.Client.apply(ctx, s.o.Cluster.RPCAddr(n), msg, s.readChunk)
}

// ApplyFromSite commits a change shipped from another site on this site's replicas. It is not
// shipped on again: every site ships its own writes to every other.
func (s *Store) ApplyFromSite(msg object.RecordMsg) error {
	return s.writeLocal(msg, nil)
}

// CreateBucketSites creates a bucket hosted by the given sites (none: this node's site).
func (s *Store) CreateBucketSites(ctx context.Context, name string, sites []string) error {
	if len(sites) == 0 {
		sites = []string{s.o.Site}
	}
	if err := s.local.CreateBucket(ctx, name, strings.Join(sites, ",")); err != nil {
		return err
	}
	return s.local.UpdateBucket(ctx, name, func(b *object.Bucket) error { b.Sites = sites; return nil })
}

func (srv *Server) apply(w http.ResponseWriter, r *http.Request) {
	var m object.RecordMsg
	if err := readJSON(r, &m); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	refs, _ := m.Chunks()
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
	if srv.Apply == nil {
		http.Error(w, "this node does not take changes from other sites", http.StatusServiceUnavailable)
		return
	}
	if err := srv.Apply(m); err != nil {
		status := http.StatusInternalServerError
		if errors.Is(err, object.ErrNoSuchBucket) {
			status = http.StatusNotFound // the bucket's creation has not reached this site yet
		}
		http.Error(w, err.Error(), status)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// apply sends msg to addr's /rpc/apply, shipping chunks it lacks first.
func (c *Client) apply(ctx context.Context, addr string, m object.RecordMsg, getChunk func(ref chunkRef) ([]byte, error)) error {
	body, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return c.sendWithChunks(ctx, addr, "/rpc/apply", body, m, getChunk)
}

// SetBucketSites changes the sites hosting a bucket. A site added receives every current object
// through its outbox (the backlog in status shows the copy's progress); a site removed stops
// receiving changes and its nodes forward the bucket's requests to the remaining sites. The
// removed site's copy is left in place (not yet reclaimed).
func (s *Store) SetBucketSites(ctx context.Context, bucket string, sites []string) (added []string, err error) {
	if len(sites) == 0 {
		return nil, object.ErrInvalidArgument.With("A bucket must be hosted by at least one site.")
	}
	var old []string
	err = s.local.UpdateBucket(ctx, bucket, func(b *object.Bucket) error {
		old = b.Sites
		if len(old) == 0 {
			old = []string{s.o.Site}
		}
		b.Sites = sites
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, site := range sites {
		if !contains(old, site) && site != s.o.Site {
			added = append(added, site)
		}
	}
	if len(added) == 0 {
		return nil, nil
	}
	marker := ""
	for {
		res, err := s.ListObjects(ctx, bucket, object.ListOptions{Marker: marker, MaxKeys: 1000})
		if err != nil {
			return added, err
		}
		for _, o := range res.Objects {
			msgs, _, err := s.read(ctx, bucket, o.Key)
			if err != nil {
				return added, err
			}
			for _, m := range msgs { // every version, so a versioned bucket arrives whole
				for _, site := range added {
					if err := s.enqueue(sitePrefix+site, m, true); err != nil {
						return added, err
					}
				}
			}
		}
		if !res.IsTruncated {
			return added, nil
		}
		marker = res.NextMarker
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
