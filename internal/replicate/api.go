package replicate

import (
	"context"
	"io"
	"slices"
	"sort"
	"strings"

	"github.com/minicloud/minicloud/internal/blobstore"
	"github.com/minicloud/minicloud/internal/object"
	"github.com/minicloud/minicloud/internal/placement"
	"github.com/minicloud/minicloud/internal/s3err"
)

// The S3-facing methods: the same contract as *object.Store, over the site's replicas.

// CreateBucket creates a bucket (a mesh-table change: every node learns it by gossip). A location
// constraint that names known sites (comma-separated) makes them the bucket's hosting sites;
// anything else (such as a region) leaves the bucket hosted by this node's site.
func (s *Store) CreateBucket(ctx context.Context, name, location string) error {
	var sites []string
	if sl, ok := s.o.Cluster.(SiteLister); ok && location != "" {
		known := map[string]bool{}
		for _, site := range sl.Sites() {
			known[site] = true
		}
		for _, site := range strings.Split(location, ",") {
			if site = strings.TrimSpace(site); known[site] {
				sites = append(sites, site)
			}
		}
	}
	return s.CreateBucketSites(ctx, name, sites)
}

// DeleteBucket deletes a bucket that holds nothing anywhere in the site.
func (s *Store) DeleteBucket(ctx context.Context, name string) error {
	res, err := s.ListObjects(ctx, name, object.ListOptions{MaxKeys: 1})
	if err != nil {
		return err
	}
	if len(res.Objects) > 0 || len(res.CommonPrefixes) > 0 {
		return object.ErrBucketNotEmpty
	}
	return s.local.DeleteBucket(ctx, name)
}

// GetBucket returns a bucket's configuration.
func (s *Store) GetBucket(ctx context.Context, name string) (object.Bucket, error) {
	return s.local.GetBucket(ctx, name)
}

// ListBuckets lists buckets.
func (s *Store) ListBuckets(ctx context.Context) ([]object.Bucket, error) {
	return s.local.ListBuckets(ctx)
}

// UpdateBucket changes a bucket's configuration.
func (s *Store) UpdateBucket(ctx context.Context, name string, fn func(*object.Bucket) error) error {
	return s.local.UpdateBucket(ctx, name, fn)
}

// PutObject stores the data here, then commits the version on W replicas.
func (s *Store) PutObject(ctx context.Context, bucket, key string, r io.Reader, size int64, opts object.PutOptions) (object.ObjectInfo, error) {
	if err := s.layoutReady(ctx); err != nil {
		return object.ObjectInfo{}, err
	}
	if opts.IfNoneMatchStar || opts.IfMatch != "" {
		if err := s.checkPutConditions(ctx, bucket, key, opts); err != nil {
			return object.ObjectInfo{}, err
		}
	}
	p, err := s.local.PreparePut(ctx, bucket, key, r, size, opts)
	if err != nil {
		return object.ObjectInfo{}, err
	}
	if err := s.write(p.Msg, p.Release); err != nil {
		return object.ObjectInfo{}, err
	}
	return p.Info, nil
}

// checkPutConditions evaluates If-None-Match: * and If-Match against a quorum read. Unlike on a
// single node this is not atomic with the write: two racing conditional PUTs may both pass.
func (s *Store) checkPutConditions(ctx context.Context, bucket, key string, opts object.PutOptions) error {
	msgs, err := s.readHeads(ctx, bucket, key)
	if err != nil {
		return err
	}
	_, info, err := object.Resolve(bucket, key, "", msgs)
	live := err == nil
	if opts.IfNoneMatchStar && live {
		return object.ErrPreconditionFailed
	}
	if opts.IfMatch != "" {
		if !live {
			return object.ErrNoSuchKey
		}
		if !etagListMatches(opts.IfMatch, info.ETag) {
			return object.ErrPreconditionFailed
		}
	}
	return nil
}

func etagListMatches(list, etag string) bool {
	for _, e := range strings.Split(list, ",") {
		e = strings.TrimPrefix(strings.TrimSpace(e), "W/")
		if e == "*" || strings.Trim(e, `"`) == etag {
			return true
		}
	}
	return false
}

// HeadObject returns a version's description.
func (s *Store) HeadObject(ctx context.Context, bucket, key, versionID string) (object.ObjectInfo, error) {
	_, info, _, err := s.resolveHead(ctx, bucket, key, versionID)
	return info, err
}

// GetObject returns a version and a reader of a range of it; chunks not stored here are read
// from the replicas.
func (s *Store) GetObject(ctx context.Context, bucket, key, versionID string, offset, length int64) (object.ObjectInfo, object.Reader, error) {
	m, info, _, err := s.resolve(ctx, bucket, key, versionID)
	if err != nil {
		return info, nil, err
	}
	rd, err := s.local.OpenMsg(*m, offset, length, s.readChunk)
	if err != nil {
		return info, nil, err
	}
	return info, rd, nil
}

// ObjectParts lists the parts of a version.
func (s *Store) ObjectParts(ctx context.Context, bucket, key, versionID string) ([]object.PartInfo, error) {
	m, info, _, err := s.resolveHead(ctx, bucket, key, versionID)
	if err != nil {
		return nil, err
	}
	ends, err := object.MsgParts(*m)
	if err != nil {
		return nil, err
	}
	parts := make([]object.PartInfo, len(ends))
	var start int64
	for i, e := range ends {
		parts[i] = object.PartInfo{Number: i + 1, Size: e - start, LastModified: info.LastModified}
		start = e
	}
	return parts, nil
}

// DeleteObject writes a delete marker, tombstone or purge on the replicas.
func (s *Store) DeleteObject(ctx context.Context, bucket, key, versionID string) (object.DeleteResult, error) {
	if err := s.layoutReady(ctx); err != nil {
		return object.DeleteResult{}, err
	}
	if _, err := s.local.GetBucket(ctx, bucket); err != nil {
		return object.DeleteResult{}, err
	}
	msgs, err := s.readHeads(ctx, bucket, key)
	if err != nil && versionID != "" {
		return object.DeleteResult{}, err
	}
	p, res, err := s.local.PrepareDelete(bucket, key, versionID, msgs)
	if err != nil || p == nil {
		return res, err
	}
	return res, s.write(p.Msg, p.Release)
}

// CopyObject makes a new version of dst that shares the source's data.
func (s *Store) CopyObject(ctx context.Context, srcBucket, srcKey, srcVersion, dstBucket, dstKey string, opts object.CopyOptions) (object.ObjectInfo, error) {
	if _, err := s.local.GetBucket(ctx, dstBucket); err != nil {
		return object.ObjectInfo{}, err
	}
	m, info, _, err := s.resolve(ctx, srcBucket, srcKey, srcVersion)
	if err != nil {
		return object.ObjectInfo{}, err
	}
	if opts.Check != nil {
		if err := opts.Check(info); err != nil {
			return object.ObjectInfo{}, err
		}
	}
	refs, _ := m.Chunks()
	release := s.local.HoldChunks(refs)
	p, err := s.local.PrepareCopy(*m, dstBucket, dstKey, opts)
	if err != nil {
		release()
		return object.ObjectInfo{}, err
	}
	if err := s.write(p.Msg, release); err != nil {
		return object.ObjectInfo{}, err
	}
	return p.Info, nil
}

// GetObjectTagging returns a version's tags.
func (s *Store) GetObjectTagging(ctx context.Context, bucket, key, versionID string) (map[string]string, string, error) {
	m, _, _, err := s.resolveHead(ctx, bucket, key, versionID)
	if err != nil {
		return nil, "", err
	}
	return m.Tags()
}

// PutObjectTagging replaces a version's tags on the replicas.
func (s *Store) PutObjectTagging(ctx context.Context, bucket, key, versionID string, tags map[string]string) (string, error) {
	m, _, _, err := s.resolve(ctx, bucket, key, versionID)
	if err != nil {
		return "", err
	}
	p, err := s.local.PrepareTagging(*m, tags)
	if err != nil {
		return "", err
	}
	if err := s.write(p.Msg, nil); err != nil {
		return "", err
	}
	_, vid, _ := p.Msg.Tags()
	return vid, nil
}

// ListObjects merges the newest-per-key listings of every live node of the site (k-way, by key),
// so that together they cover every partition, then applies prefix, delimiter and paging.
func (s *Store) ListObjects(ctx context.Context, bucket string, opts object.ListOptions) (object.ListResult, error) {
	if err := s.layoutReady(ctx); err != nil {
		return object.ListResult{}, err
	}
	if s.o.Cluster == nil || len(s.o.Cluster.SiteNodes(s.o.Site)) <= 1 {
		return s.local.ListObjects(ctx, bucket, opts)
	}
	if _, err := s.local.GetBucket(ctx, bucket); err != nil {
		return object.ListResult{}, err
	}
	limit := opts.MaxKeys
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	after := ""
	if opts.Marker >= opts.Prefix {
		after = opts.Marker
	}
	var res object.ListResult
	count := 0
	lastCP := ""
	for {
		page, bound, more, err := s.mergedPage(ctx, bucket, opts.Prefix, after)
		if err != nil {
			return object.ListResult{}, err
		}
		for _, m := range page {
			if lastCP != "" && strings.HasPrefix(m.Key, lastCP) {
				continue
			}
			info, hidden, err := m.ListInfo()
			if err != nil {
				return object.ListResult{}, err
			}
			cp := ""
			if opts.Delimiter != "" {
				if i := strings.Index(m.Key[len(opts.Prefix):], opts.Delimiter); i >= 0 {
					cp = m.Key[:len(opts.Prefix)+i+len(opts.Delimiter)]
				}
			}
			if info.DeleteMarker || hidden {
				continue
			}
			if cp != "" && opts.Marker != "" && cp <= opts.Marker {
				continue
			}
			if count == limit {
				res.IsTruncated = true
				return res, nil
			}
			count++
			if cp != "" {
				res.CommonPrefixes = append(res.CommonPrefixes, cp)
				res.NextMarker, lastCP = cp, cp
				continue
			}
			res.Objects = append(res.Objects, info)
			res.NextMarker = m.Key
		}
		if !more {
			res.NextMarker = ""
			return res, nil
		}
		after = bound
		if lastCP != "" && strings.HasPrefix(bound, lastCP) {
			after = lastCP + "\xff" // no UTF-8 key has a 0xff byte: this skips the whole prefix
		}
	}
}

// mergedPage asks every live node for its next keys after `after` and returns the newest record
// per key up to the smallest last key among pages that were cut short (beyond it some node's
// keys are still unknown).
func (s *Store) mergedPage(ctx context.Context, bucket, prefix, after string) ([]object.RecordMsg, string, bool, error) {
	const pageSize = 1000
	type page struct {
		msgs  []object.RecordMsg
		trunc bool
		err   error
	}
	var nodes []string
	for _, n := range s.o.Cluster.SiteNodes(s.o.Site) {
		if n == s.self() || s.o.Cluster.Alive(n) {
			nodes = append(nodes, n)
		}
	}
	pages := make([]page, len(nodes))
	done := make(chan struct{}, len(nodes))
	for i, n := range nodes {
		go func() {
			defer func() { done <- struct{}{} }()
			if n == s.self() {
				pages[i].msgs, pages[i].trunc, pages[i].err = s.local.ListLatest(bucket, prefix, after, pageSize)
				return
			}
			pages[i].msgs, pages[i].trunc, pages[i].err = s.o.Client.List(ctx, s.o.Cluster.RPCAddr(n), bucket, prefix, after, pageSize)
		}()
	}
	for range nodes {
		<-done
	}
	newest := map[string]object.RecordMsg{}
	bound, more, answered := "", false, 0
	var ok []string
	for i, p := range pages {
		if p.err != nil {
			continue // its partitions have other replicas among the answers (see listQuorum)
		}
		answered++
		ok = append(ok, nodes[i])
		for _, m := range p.msgs {
			if old, ok := newest[m.Key]; !ok || m.Newer(old) {
				newest[m.Key] = m
			}
		}
		if p.trunc && len(p.msgs) > 0 {
			last := p.msgs[len(p.msgs)-1].Key
			if !more || last < bound {
				bound = last
			}
			more = true
		}
	}
	if answered == 0 {
		return nil, "", false, pages[0].err
	}
	if err := s.listQuorum(ok); err != nil {
		return nil, "", false, err
	}
	keys := make([]string, 0, len(newest))
	for k := range newest {
		if !more || k <= bound {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	out := make([]object.RecordMsg, len(keys))
	for i, k := range keys {
		out[i] = newest[k]
	}
	return out, bound, more, nil
}

// listQuorum fails unless the nodes that answered a listing hold a read quorum of every
// partition: otherwise a key whose newest versions are only on nodes that did not answer (down,
// cut off, or their answer lost) would be listed stale or missed, where a GET would answer 503
// (found by the simulated cluster: internal/testcluster TestSim seed 1, TestListWithoutQuorumFails).
func (s *Store) listQuorum(answered []string) error {
	cur, prev := s.sets()
	for p := 0; p < placement.Partitions; p++ {
		c := placement.Replicas(p, cur, s.o.RF)
		var pv []string
		if prev != nil {
			if pv = placement.Replicas(p, prev, s.o.RF); slices.Equal(sorted(pv), sorted(c)) {
				pv = nil
			}
		}
		q := s.newQuorumCheck(c, pv, s.o.R)
		for _, n := range answered {
			q.ok(n)
		}
		if !q.readMet() {
			return s3err.ServiceUnavailable.With("Only %d nodes answered the listing, too few replicas of partition %d among them.", len(answered), p)
		}
	}
	return nil
}

var _ = blobstore.ChunkSize
