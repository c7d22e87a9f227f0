package replicate

import (
	"context"
	"net/http"
	"net/url"
	"sort"

	"github.com/minicloud/minicloud/internal/object"
)

// Listings of versions and of multipart uploads merge, like ListObjects, the sorted streams of
// the site's live nodes, which together hold every partition (listQuorum checks a read quorum of
// each): every node answers a page of whole keys (or uploads) in order; the coordinator keeps
// what lies up to the smallest last entry of the pages that were cut short (beyond it some node's
// entries are still unknown), merges each key's records from all answers by the replicas' CRDT
// rules, and applies S3's prefix, delimiter, markers and paging to the merged stream
// (object.PageVersions, object.PageUploads), asking for the next pages from there.

const listPage = 1000

func (s *Store) registerListRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /rpc/upload", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		msgs, err := s.local.UploadRecords(q.Get("bucket"), q.Get("key"), q.Get("upload"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		writeJSON(w, http.StatusOK, msgs)
	})
	mux.HandleFunc("GET /rpc/list/versions", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		msgs, trunc, err := s.local.ListKeyRecords(q.Get("bucket"), q.Get("prefix"), q.Get("from"), q.Get("incl") == "1", listPage)
		if err != nil {
			writeObjErr(w, err)
			return
		}
		writeJSON(w, http.StatusOK, listResp{Entries: msgs, Truncated: trunc})
	})
	mux.HandleFunc("GET /rpc/list/uploads", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		msgs, trunc, err := s.local.ListUploadRecords(q.Get("bucket"), q.Get("prefix"), q.Get("key"), q.Get("upload"), listPage)
		if err != nil {
			writeObjErr(w, err)
			return
		}
		writeJSON(w, http.StatusOK, listResp{Entries: msgs, Truncated: trunc})
	})
}

// multiNode reports whether listings must merge other nodes' answers.
func (s *Store) multiNode() bool {
	return s.o.Cluster != nil && len(s.o.Cluster.SiteNodes(s.o.Site)) > 1
}

// ListObjectVersions lists every version and delete marker of the site.
func (s *Store) ListObjectVersions(ctx context.Context, bucket string, opts object.VersionListOptions) (object.VersionListResult, error) {
	if !s.multiNode() {
		return s.local.ListObjectVersions(ctx, bucket, opts)
	}
	if err := s.layoutReady(ctx); err != nil {
		return object.VersionListResult{}, err
	}
	if _, err := s.local.GetBucket(ctx, bucket); err != nil {
		return object.VersionListResult{}, err
	}
	return object.PageVersions(ctx, opts, func(from string, incl bool) ([]object.RecordMsg, bool, error) {
		q := url.Values{"bucket": {bucket}, "prefix": {opts.Prefix}, "from": {from}}
		if incl {
			q.Set("incl", "1")
		}
		pages, err := s.listPages(ctx, "/rpc/list/versions", q, func() ([]object.RecordMsg, bool, error) {
			return s.local.ListKeyRecords(bucket, opts.Prefix, from, incl, listPage)
		})
		if err != nil {
			return nil, false, err
		}
		byKey := map[string][]object.RecordMsg{}
		bound, more := cutPages(pages, func(m object.RecordMsg) string { return m.Key }, func(m object.RecordMsg) {
			byKey[m.Key] = append(byKey[m.Key], m)
		})
		keys := make([]string, 0, len(byKey))
		for k := range byKey {
			if !more || k <= bound {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		var out []object.RecordMsg
		for _, k := range keys {
			merged, err := object.MergeVersions(byKey[k])
			if err != nil {
				return nil, false, err
			}
			out = append(out, merged...)
		}
		return out, more, nil
	})
}

// ListMultipartUploads lists the site's uploads in progress.
func (s *Store) ListMultipartUploads(ctx context.Context, bucket string, opts object.UploadListOptions) (object.UploadListResult, error) {
	if !s.multiNode() {
		return s.local.ListMultipartUploads(ctx, bucket, opts)
	}
	if err := s.layoutReady(ctx); err != nil {
		return object.UploadListResult{}, err
	}
	if _, err := s.local.GetBucket(ctx, bucket); err != nil {
		return object.UploadListResult{}, err
	}
	afterKey, afterID := "", ""
	if opts.KeyMarker != "" {
		afterKey, afterID = opts.KeyMarker, opts.UploadIDMarker
	}
	return object.PageUploads(opts, afterKey, afterID, func(afterKey, afterID string) ([]object.RecordMsg, bool, error) {
		q := url.Values{"bucket": {bucket}, "prefix": {opts.Prefix}, "key": {afterKey}, "upload": {afterID}}
		pages, err := s.listPages(ctx, "/rpc/list/uploads", q, func() ([]object.RecordMsg, bool, error) {
			return s.local.ListUploadRecords(bucket, opts.Prefix, afterKey, afterID, listPage)
		})
		if err != nil {
			return nil, false, err
		}
		byID := map[[2]string]object.RecordMsg{}
		bound, more := cutPages(pages, func(m object.RecordMsg) string { return m.Key + "\x00" + m.Sub }, func(m object.RecordMsg) {
			id := [2]string{m.Key, m.Sub}
			if old, ok := byID[id]; !ok || m.UploadEnded() && !old.UploadEnded() {
				byID[id] = m // an ended upload stays ended
			}
		})
		out := make([]object.RecordMsg, 0, len(byID))
		for id, m := range byID {
			if !more || id[0]+"\x00"+id[1] <= bound {
				out = append(out, m)
			}
		}
		sort.Slice(out, func(i, j int) bool {
			if out[i].Key != out[j].Key {
				return out[i].Key < out[j].Key
			}
			return out[i].Sub < out[j].Sub
		})
		return out, more, nil
	})
}

type listPageResult struct {
	msgs  []object.RecordMsg
	trunc bool
	err   error
}

// listPages asks every live node of the site for a listing page (this node through local) and
// fails unless those that answered hold a read quorum of every partition.
func (s *Store) listPages(ctx context.Context, path string, q url.Values, local func() ([]object.RecordMsg, bool, error)) ([]listPageResult, error) {
	var nodes []string
	for _, n := range s.o.Cluster.SiteNodes(s.o.Site) {
		if n == s.self() || s.o.Cluster.Alive(n) {
			nodes = append(nodes, n)
		}
	}
	pages := make([]listPageResult, len(nodes))
	done := make(chan struct{}, len(nodes))
	for i, n := range nodes {
		go func() {
			defer func() { done <- struct{}{} }()
			if n == s.self() {
				pages[i].msgs, pages[i].trunc, pages[i].err = local()
				return
			}
			var resp listResp
			pages[i].err = s.o.Client.do(ctx, "GET", s.o.Cluster.RPCAddr(n), path, q, nil, &resp)
			pages[i].msgs, pages[i].trunc = resp.Entries, resp.Truncated
		}()
	}
	for range nodes {
		<-done
	}
	var ok []string
	var out []listPageResult
	var firstErr error
	for i, p := range pages {
		if p.err != nil {
			if firstErr == nil {
				firstErr = p.err
			}
			continue // its partitions have other replicas among the answers (see listQuorum)
		}
		ok = append(ok, nodes[i])
		out = append(out, p)
	}
	if len(ok) == 0 {
		return nil, firstErr
	}
	if err := s.listQuorum(ok); err != nil {
		return nil, err
	}
	return out, nil
}

// cutPages feeds every entry of the pages to add and returns the bound up to which the merged
// stream is complete (the smallest last position among pages cut short) and whether any was.
func cutPages(pages []listPageResult, pos func(object.RecordMsg) string, add func(object.RecordMsg)) (string, bool) {
	bound, more := "", false
	for _, p := range pages {
		for _, m := range p.msgs {
			add(m)
		}
		if p.trunc && len(p.msgs) > 0 {
			last := pos(p.msgs[len(p.msgs)-1])
			if !more || last < bound {
				bound = last
			}
			more = true
		}
	}
	return bound, more
}
