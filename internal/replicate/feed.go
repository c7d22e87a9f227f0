package replicate

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/minicloud/minicloud/internal/object"
)

// The change feed to other sites and to the cloud. Every outbox ("site:NAME", "cloud:BUCKET:ID")
// has one shipper goroutine, woken when a change is queued (no polling delay). A site shipper
// reads the outbox in order with a cursor, cuts it into batches (many records per RPC) and keeps
// a few batches in flight at once, each to a live node of the target site, which commits the
// records on its own site's quorum; a batch is removed from the outbox (one durable write) only
// once the other site has acknowledged it. After a failure the shipper starts again from the
// oldest entry still there, so a restart or a cut of any length resumes exactly where delivery
// stopped, and a batch delivered twice merges to the same state (records are CRDT versions).
// A cloud shipper runs a few lanes of S3 PUTs at once; one key always goes to the same lane, so
// two changes of a key never race to the cloud.

// GeoOptions tunes geo-replication (see DefaultGeoOptions).
type GeoOptions struct {
	BatchRecords int // records per shipping RPC at most
	BatchBytes   int // encoded record bytes per shipping RPC at most
	InFlight     int // batches in flight per target site
	CloudLanes   int // concurrent S3 requests per cloud target
	// Linger is how long a site shipper woken by a new change waits for more before it reads
	// the outbox: a batch per change cost both sites an RPC (HTTP, TLS, a commit) per record.
	Linger   time.Duration
	RetryMin time.Duration // first pause after a failed delivery
	RetryMax time.Duration // longest pause between attempts while a target is unreachable
	// SyncEvery is the period of cross-site anti-entropy, of the drain of buckets this site no
	// longer hosts and of the tombstone purge.
	SyncEvery time.Duration
	// TombstoneGrace: a tombstone is purged only once it is older than this, besides being
	// known to every replica of every hosting site (bounds writes still in flight when checked).
	TombstoneGrace time.Duration
}

// DefaultGeoOptions returns the defaults.
func DefaultGeoOptions() GeoOptions {
	return GeoOptions{
		BatchRecords:   256,     // 256 records of 16 KiB inline data: 4 MiB
		BatchBytes:     4 << 20, // well under the RPC body limit (maxBatchBody)
		InFlight:       4,       // enough to hide a WAN round trip behind the receiver's fsyncs
		CloudLanes:     8,
		Linger:         10 * time.Millisecond, // ~5 records per batch at 500 PUT/s; adds at most this to the lag
		RetryMin:       200 * time.Millisecond,
		RetryMax:       10 * time.Second,
		SyncEvery:      60 * time.Second,
		TombstoneGrace: time.Hour, // far beyond any RPC timeout of a write in flight
	}
}

type geoState struct {
	mu      sync.Mutex
	o       GeoOptions
	set     bool
	workers map[string]chan struct{} // outbox target -> wake-up
	drain   drainProgress
	ships   shipStats
	adds    map[int64]int // start (unix ms) -> outbox adds in progress (see oldestAdd)
	stats   struct {
		repaired atomic.Int64 // records shipped by cross-site anti-entropy
		purged   atomic.Int64 // tombstones purged here
		lastSync atomic.Int64 // unix nanos of the last cross-site round
	}
}

// SetGeoOptions replaces the defaults; call before Start.
func (s *Store) SetGeoOptions(o GeoOptions) {
	d := DefaultGeoOptions()
	if o.BatchRecords <= 0 {
		o.BatchRecords = d.BatchRecords
	}
	if o.BatchBytes <= 0 {
		o.BatchBytes = d.BatchBytes
	}
	if o.InFlight <= 0 {
		o.InFlight = d.InFlight
	}
	if o.CloudLanes <= 0 {
		o.CloudLanes = d.CloudLanes
	}
	if o.Linger <= 0 {
		o.Linger = d.Linger
	}
	if o.RetryMin <= 0 {
		o.RetryMin = d.RetryMin
	}
	if o.RetryMax <= 0 {
		o.RetryMax = d.RetryMax
	}
	if o.SyncEvery <= 0 {
		o.SyncEvery = d.SyncEvery
	}
	if o.TombstoneGrace <= 0 {
		o.TombstoneGrace = d.TombstoneGrace
	}
	s.geo.mu.Lock()
	s.geo.o, s.geo.set = o, true
	s.geo.mu.Unlock()
}

func (s *Store) geoOpts() GeoOptions {
	s.geo.mu.Lock()
	defer s.geo.mu.Unlock()
	if !s.geo.set {
		s.geo.o, s.geo.set = DefaultGeoOptions(), true
	}
	return s.geo.o
}

func isOutbox(target string) bool {
	return strings.HasPrefix(target, sitePrefix) || strings.HasPrefix(target, cloudPrefix)
}

// startGeo starts a shipper for every outbox that holds changes, and the periodic cross-site
// work (anti-entropy, drain, tombstone purge).
func (s *Store) startGeo() {
	targets, err := s.local.HintTargets()
	if err != nil {
		s.log.Warn("list outboxes", "err", err)
	}
	for t := range targets {
		if isOutbox(t) {
			s.notifyOutbox(t)
		}
	}
	if s.o.Cluster != nil {
		s.wg.Add(1)
		go s.geoSyncLoop()
	}
}

// notifyOutbox wakes target's shipper (starting it the first time).
func (s *Store) notifyOutbox(target string) {
	s.geo.mu.Lock()
	if s.geo.workers == nil {
		s.geo.workers = map[string]chan struct{}{}
	}
	wake, ok := s.geo.workers[target]
	if !ok {
		if s.ctx.Err() != nil {
			s.geo.mu.Unlock()
			return
		}
		wake = make(chan struct{}, 1)
		s.geo.workers[target] = wake
		s.wg.Add(1)
		go s.shipLoop(target, wake)
	}
	s.geo.mu.Unlock()
	select {
	case wake <- struct{}{}:
	default:
	}
}

// enqueue adds msg to target's outbox and wakes its shipper. Adds in progress are tracked so a
// shipper never moves its reading position past an entry still being written (oldestAdd).
// durable: wait for the disk (see object.Store.AddHintLazy for the lazy kind). The entry names
// the record when this node stores it, and holds it whole otherwise (object.Store.AddOutbox).
func (s *Store) enqueue(target string, msg object.RecordMsg, durable bool) error {
	start := time.Now().UnixMilli()
	s.geo.mu.Lock()
	if s.geo.adds == nil {
		s.geo.adds = map[int64]int{}
	}
	s.geo.adds[start]++
	s.geo.mu.Unlock()
	err := s.local.AddOutbox(target, msg, durable)
	s.geo.mu.Lock()
	if s.geo.adds[start]--; s.geo.adds[start] == 0 {
		delete(s.geo.adds, start)
	}
	s.geo.mu.Unlock()
	if err == nil {
		s.notifyOutbox(target)
	}
	return err
}

// oldestAdd returns when the oldest outbox add still in progress began (zero: none).
func (s *Store) oldestAdd() time.Time {
	s.geo.mu.Lock()
	defer s.geo.mu.Unlock()
	var oldest int64
	for t := range s.geo.adds {
		if oldest == 0 || t < oldest {
			oldest = t
		}
	}
	if oldest == 0 {
		return time.Time{}
	}
	return time.UnixMilli(oldest)
}

// kickOutboxes wakes every shipper (a member came back).
func (s *Store) kickOutboxes() {
	s.geo.mu.Lock()
	targets := make([]string, 0, len(s.geo.workers))
	for t := range s.geo.workers {
		targets = append(targets, t)
	}
	s.geo.mu.Unlock()
	for _, t := range targets {
		s.notifyOutbox(t)
	}
}

// shipLoop drains one outbox whenever woken, retrying with backoff while the target fails.
func (s *Store) shipLoop(target string, wake chan struct{}) {
	defer s.wg.Done()
	o := s.geoOpts()
	backoff := o.RetryMin
	var retry <-chan time.Time
	var floor []byte
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-wake:
		case <-retry:
		}
		retry = nil
		var err error
		if strings.HasPrefix(target, sitePrefix) {
			if !s.linger(o) {
				return
			}
			err = s.drainSiteOutbox(target, o, wake, &floor)
		} else {
			err = s.drainCloudOutbox(target, o)
		}
		if err == nil {
			backoff = o.RetryMin
			continue
		}
		s.log.Debug("outbox delivery failed; will retry", "target", target, "in", backoff, "err", err)
		retry = time.After(backoff)
		backoff = min(2*backoff, o.RetryMax)
	}
}

var errNoTarget = errors.New("no live node of the target")

// drainSiteOutbox ships target's outbox until it is empty or a batch fails. Batches already in
// flight do not hold back the next ones (a request stuck on a link that was cut waits for its
// timeout without stopping the others): new entries are read as soon as a slot is free or the
// outbox is woken.
//
// floor is where the previous successful drain ended (less a margin, see object.HintKeyBefore):
// delivered entries are deleted, and reading from the start of the outbox each time would step
// over every deletion not yet compacted away.
func (s *Store) drainSiteOutbox(target string, o GeoOptions, wake <-chan struct{}, floor *[]byte) error {
	if s.o.Cluster == nil {
		return nil
	}
	sl, ok := s.o.Cluster.(SiteLister)
	if !ok {
		return nil
	}
	site := strings.TrimPrefix(target, sitePrefix)
	type result struct {
		batch []object.Hint
		err   error
	}
	done := make(chan result, o.InFlight)
	sending := map[string]bool{} // keys of the entries in flight
	inFlight, next := 0, 0
	exhausted := false
	cursor := *floor
	// minAdd is the earliest start of an outbox add that may have raced a read since the last
	// rewind: such an add can commit its entry behind the cursor. Under steady load a drain never
	// ends, so on every wake-up it reads again from before minAdd (skipping entries in flight),
	// and the next drain starts there too. Without this, an entry committed just behind the
	// cursor waited for the drain to end: lags of 20 s at 500 PUT/s.
	var minAdd time.Time
	var firstErr error
	fail := func(err error) {
		if firstErr == nil {
			firstErr = err
		}
	}
	for {
		for firstErr == nil && !exhausted && inFlight < o.InFlight && s.ctx.Err() == nil {
			if a := s.oldestAdd(); !a.IsZero() && (minAdd.IsZero() || a.Before(minAdd)) {
				minAdd = a
			} else if now := time.Now(); minAdd.IsZero() || now.Before(minAdd) {
				minAdd = now
			}
			hints, err := s.local.HintsAfter(target, cursor, o.BatchRecords)
			if err != nil {
				fail(err)
				break
			}
			if len(hints) == 0 {
				exhausted = true
				break
			}
			cursor = hints[len(hints)-1].Key
			fresh := hints[:0:0]
			for _, h := range hints {
				if !sending[string(h.Key)] {
					fresh = append(fresh, h)
				}
			}
			fresh, err = s.resolveHints(s.dropUnhosted(site, fresh))
			if err != nil {
				fail(err) // the entries not resolved stay; those resolved ship now
			}
			for _, batch := range cutBatches(fresh, o) {
				alive := s.siteCandidates(sl, site)
				if len(alive) == 0 {
					fail(fmt.Errorf("site %s: %w", site, errNoTarget))
					break
				}
				node := alive[next%len(alive)]
				next++
				inFlight++
				for _, h := range batch {
					sending[string(h.Key)] = true
				}
				s.wg.Add(1)
				go func() {
					defer s.wg.Done()
					err := s.shipBatch(node, batch)
					if err == nil {
						if err = s.local.DropHints(batch); err == nil {
							s.Stats.Shipped.Add(int64(len(batch)))
							s.recordShipped(target, batch)
						}
					}
					done <- result{batch, err}
				}()
			}
		}
		if inFlight == 0 {
			if firstErr != nil {
				*floor = nil // some entries before the cursor may remain: start over next time
			} else if cursor != nil {
				*floor = object.HintKeyBefore(target, cursor, minAdd, rewindMargin)
			}
			return firstErr
		}
		select {
		case r := <-done:
			inFlight--
			for _, h := range r.batch {
				delete(sending, string(h.Key))
			}
			if r.err != nil {
				fail(r.err)
			}
		case <-wake:
			if !s.linger(o) {
				continue // stopping: the batches in flight end with their context
			}
			exhausted = false
			// Rewind only when an add that raced a read began before the cursor's entry.
			if cursor != nil && !minAdd.IsZero() && !minAdd.After(object.HintKeyTime(target, cursor)) {
				cursor = object.HintKeyBefore(target, cursor, minAdd, rewindMargin)
				minAdd = time.Time{}
			}
		}
	}
}

// linger waits o.Linger for more changes to join the next batch; false when the store stops.
func (s *Store) linger(o GeoOptions) bool {
	t := time.NewTimer(o.Linger)
	defer t.Stop()
	select {
	case <-s.ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// rewindMargin: an entry's key is never earlier than the wall-clock millisecond its add began
// (the hybrid clock is never behind the wall clock), so a few milliseconds cover the rounding.
const rewindMargin = 5 * time.Millisecond

// siteCandidates returns the nodes of site to ship to: those gossip sees alive or, when it sees
// none, every known node of the site. After a long cut gossip may take a while to merge again
// (or never, for a site that was declared dead everywhere); the change feed does not wait for
// it: a node that answers the RPC takes the batch.
func (s *Store) siteCandidates(sl SiteLister, site string) []string {
	nodes := sl.SiteAlive(site)
	if len(nodes) == 0 {
		nodes = slices.Clone(s.o.Cluster.SiteNodes(site))
	}
	sort.Strings(nodes)
	return nodes
}

// dropUnhosted removes from the outbox the changes of buckets site no longer hosts (it was
// removed from them after they were queued) and returns the others.
func (s *Store) dropUnhosted(site string, hints []object.Hint) []object.Hint {
	var drop []object.Hint
	keep := hints[:0:0]
	for _, h := range hints {
		if slices.Contains(s.hostingSites(h.Msg.Bucket), site) {
			keep = append(keep, h)
		} else {
			drop = append(drop, h)
		}
	}
	if err := s.local.DropHints(drop); err != nil {
		s.log.Warn("drop changes for a site that no longer hosts their bucket", "site", site, "err", err)
	}
	return keep
}

// resolveHints puts in each reference entry the record it ships (object.Store.ResolveHint):
// read from this node's store or, when that holds neither the version nor what superseded it,
// from the site's replicas. An entry whose record no replica holds any more is dropped (see
// object/outboxref.go: nothing of the change is left to ship). Entries that could not be
// resolved (a read failed) are left out and stay queued; the first error is returned.
func (s *Store) resolveHints(hints []object.Hint) ([]object.Hint, error) {
	out := hints[:0:0]
	var gone []object.Hint
	var firstErr error
	for _, h := range hints {
		m, ok, err := s.local.ResolveHint(h)
		if err == nil && !ok {
			m, ok, err = s.resolveFromSite(h)
		}
		switch {
		case err != nil:
			if firstErr == nil {
				firstErr = err
			}
		case ok:
			h.Msg = m
			out = append(out, h)
		default:
			gone = append(gone, h)
		}
	}
	if len(gone) > 0 {
		s.log.Debug("outbox entries name records no replica holds any more; dropped", "count", len(gone))
		if err := s.local.DropHints(gone); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return out, firstErr
}

// resolveFromSite resolves a reference entry with the records the site's replicas hold of its key.
func (s *Store) resolveFromSite(h object.Hint) (object.RecordMsg, bool, error) {
	ctx, cancel := context.WithTimeout(s.ctx, batchTimeout)
	defer cancel()
	msgs, _, err := s.read(ctx, h.Msg.Bucket, h.Msg.Key)
	if err != nil {
		if errors.Is(err, object.ErrNoSuchKey) {
			return object.RecordMsg{}, false, nil
		}
		return object.RecordMsg{}, false, fmt.Errorf("read %s/%s to ship it: %w", h.Msg.Bucket, h.Msg.Key, err)
	}
	m, ok := object.PickForHint(h, msgs)
	return m, ok, nil
}

// cutBatches splits hints into batches of at most o.BatchRecords records and o.BatchBytes bytes.
func cutBatches(hints []object.Hint, o GeoOptions) [][]object.Hint {
	var out [][]object.Hint
	start, bytes := 0, 0
	for i, h := range hints {
		n := len(h.Msg.Enc) + len(h.Msg.Key) + 64
		if i > start && (i-start >= o.BatchRecords || bytes+n > o.BatchBytes) {
			out = append(out, hints[start:i])
			start, bytes = i, 0
		}
		bytes += n
	}
	if start < len(hints) {
		out = append(out, hints[start:])
	}
	return out
}

// shipBatch hands a batch to node n of another site, shipping the chunks it lacks first.
func (s *Store) shipBatch(n string, batch []object.Hint) error {
	msgs := make([]object.RecordMsg, len(batch))
	for i, h := range batch {
		msgs[i] = h.Msg
	}
	ctx, cancel := context.WithTimeout(s.ctx, batchTimeout)
	defer cancel()
	return s.o.Client.applyBatch(ctx, s.o.Cluster.RPCAddr(n), msgs, s.readChunk)
}

// batchTimeout bounds one shipping RPC. A request sent just before a link is cut gets no answer
// and no reset; until it times out, its records wait (the batches after it do not).
const batchTimeout = 20 * time.Second

// applyToSite commits msgs on a node of another site (used by the cross-site repair and
// the drain of a bucket a site stops hosting).
func (s *Store) applyToSite(ctx context.Context, site string, msgs []object.RecordMsg) error {
	sl, ok := s.o.Cluster.(SiteLister)
	if !ok {
		return errNoTarget
	}
	alive := s.siteCandidates(sl, site)
	if len(alive) == 0 {
		return fmt.Errorf("site %s: %w", site, errNoTarget)
	}
	n := alive[int(time.Now().UnixNano()/int64(time.Millisecond))%len(alive)]
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	return s.o.Client.applyBatch(ctx, s.o.Cluster.RPCAddr(n), msgs, s.readChunk)
}

// The batch RPC: POST /rpc/geo/apply with a batch of records (geowire.go). The answer is 204 once every
// record is committed on the receiving site's write quorum, 409 with the chunk ids the receiving
// node lacks (none of the batch is applied then), or an error for the whole batch.

const maxBatchBody = 32 << 20

func (srv *Server) registerGeo() {
	srv.Mux.HandleFunc("POST /rpc/geo/apply", srv.applyBatch)
	srv.Mux.HandleFunc("POST /rpc/geo/digests", srv.geoDigests)
	srv.Mux.HandleFunc("GET /rpc/geo/fingerprints", srv.geoFingerprints)
	srv.Mux.HandleFunc("POST /rpc/geo/covers", srv.geoCovers)
	srv.Mux.HandleFunc("POST /rpc/geo/purge", srv.geoPurge)
}

func (srv *Server) applyBatch(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(r, maxBatchBody)
	if err != nil {
		http.Error(w, "read batch: "+err.Error(), http.StatusBadRequest)
		return
	}
	if len(body) > maxBatchBody {
		http.Error(w, "record batch too large", http.StatusRequestEntityTooLarge)
		return
	}
	msgs, err := decodeBatch(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var miss []string
	seen := map[string]bool{}
	for _, m := range msgs {
		refs, err := m.Chunks()
		if err != nil {
			http.Error(w, fmt.Sprintf("record %s/%s: %v", m.Bucket, m.Key, err), http.StatusBadRequest)
			return
		}
		for _, c := range refs {
			if !seen[c.ID] && !srv.local.HasChunk(c.ID) {
				miss = append(miss, c.ID)
			}
			seen[c.ID] = true
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
	// The records are independent CRDT versions: commit them concurrently, so that the site's
	// replicas group their fsyncs, and answer once all are durable.
	sem := make(chan struct{}, 32)
	errs := make(chan error, len(msgs))
	for _, m := range msgs {
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			errs <- srv.Apply(m)
		}()
	}
	var firstErr error
	for range msgs {
		if err := <-errs; err != nil && firstErr == nil {
			firstErr = err
		}
	}
	if firstErr != nil {
		status := http.StatusInternalServerError
		if errors.Is(firstErr, object.ErrNoSuchBucket) {
			status = http.StatusNotFound // the bucket's creation has not reached this site yet
		}
		http.Error(w, firstErr.Error(), status)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// readBody reads a request body of at most limit bytes (limit+1 read: too large). A body of
// known length is read into one buffer of that size, not grown by doubling (a 4 MiB batch was
// copied ~10 times).
func readBody(r *http.Request, limit int64) ([]byte, error) {
	if n := r.ContentLength; n > 0 && n <= limit {
		body := make([]byte, n)
		if _, err := io.ReadFull(r.Body, body); err != nil {
			return nil, err
		}
		return body, nil
	}
	return io.ReadAll(io.LimitReader(r.Body, limit+1))
}

// applyBatch sends msgs to addr's /rpc/geo/apply, shipping the chunks it lacks first.
func (c *Client) applyBatch(ctx context.Context, addr string, msgs []object.RecordMsg, getChunk func(chunkRef) ([]byte, error)) error {
	body := encodeBatch(msgs)
	byID := map[string]chunkRef{}
	for _, m := range msgs {
		refs, _ := m.Chunks()
		for _, r := range refs {
			byID[r.ID] = r
		}
	}
	for attempt := 0; ; attempt++ {
		var miss missingResp
		err := c.do(ctx, "POST", addr, "/rpc/geo/apply", nil, body, &miss)
		var es *errStatus
		if err == nil || !errors.As(err, &es) || es.code != http.StatusConflict || attempt == 2 {
			return err
		}
		if err := c.shipChunks(ctx, addr, miss.Missing, byID, getChunk); err != nil {
			return err
		}
	}
}

// shipChunks sends the named chunks to addr, a few at once.
func (c *Client) shipChunks(ctx context.Context, addr string, ids []string, byID map[string]chunkRef, getChunk func(chunkRef) ([]byte, error)) error {
	sem := make(chan struct{}, 4)
	errs := make(chan error, len(ids))
	for _, id := range ids {
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			ref, ok := byID[id]
			if !ok {
				errs <- fmt.Errorf("peer asked for chunk %s, which the batch does not reference", id)
				return
			}
			data, err := getChunk(ref)
			if err != nil {
				errs <- fmt.Errorf("read chunk %s to ship: %w", id, err)
				return
			}
			if err := c.do(ctx, "PUT", addr, "/rpc/chunk/"+id, nil, data, nil); err != nil {
				errs <- fmt.Errorf("ship chunk %s: %w", id, err)
				return
			}
			errs <- nil
		}()
	}
	var first error
	for range ids {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// drainCloudOutbox ships target's outbox to its S3 endpoint until empty or a change fails.
func (s *Store) drainCloudOutbox(target string, o GeoOptions) error {
	deliver, ok := s.cloudDeliverer(target)
	if !ok {
		return nil // the target was removed; its outbox stays until dropped (see status)
	}
	lanes := make([]chan object.Hint, o.CloudLanes)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	failed := func() error { mu.Lock(); defer mu.Unlock(); return firstErr }
	for i := range lanes {
		lanes[i] = make(chan object.Hint, 64)
		wg.Add(1)
		go func(in chan object.Hint) {
			defer wg.Done()
			for h := range in {
				if failed() != nil {
					continue // drain the lane; these stay in the outbox
				}
				err := deliver(h.Msg)
				if err == nil {
					if err = s.local.DropHint(h); err == nil {
						s.recordShipped(target, []object.Hint{h})
					}
				}
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
			}
		}(lanes[i])
	}
	var cursor []byte
	for s.ctx.Err() == nil && failed() == nil {
		hints, err := s.local.HintsAfter(target, cursor, 512)
		if err != nil {
			mu.Lock()
			firstErr = err
			mu.Unlock()
			break
		}
		if len(hints) == 0 {
			break
		}
		cursor = hints[len(hints)-1].Key
		for _, h := range hints {
			f := fnv.New32a()
			f.Write([]byte(h.Msg.Key))
			lanes[f.Sum32()%uint32(len(lanes))] <- h
		}
	}
	for _, l := range lanes {
		close(l)
	}
	wg.Wait()
	return failed()
}
