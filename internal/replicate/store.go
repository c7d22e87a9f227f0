// Package replicate is the leaderless replication layer: any node coordinates any request. A
// write is stored by the local object layer first (data and a new version record), then merged
// on the RF replicas of its partition in the local site and acknowledged after W of them have it
// on stable storage; a replica that cannot be reached gets a hint, kept durably here and handed
// over when it is back. Reads ask the replicas, wait for R answers, merge them (the newest version
// wins) and repair stale replicas in the background. Anti-entropy compares partition digests
// with every peer on a schedule and when a peer comes back. There is no master, no index and no
// placement service: placement is a pure function of the member list.
package replicate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/minicloud/minicloud/internal/blobstore"
	"github.com/minicloud/minicloud/internal/object"
	"github.com/minicloud/minicloud/internal/s3err"
)

// Cluster is the membership view replication needs.
type Cluster interface {
	Self() string
	Alive(id string) bool
	SiteNodes(site string) []string
	RPCAddr(id string) string
}

// Options configures the replication layer.
type Options struct {
	Local   *object.Store
	Cluster Cluster // nil: a single node
	Client  *Client
	Site    string
	RF      int // replicas per partition in the site (default 3)
	W       int // write quorum (default 2)
	R       int // read quorum (default 2)
	// AntiEntropyEvery is the period of anti-entropy rounds (default 15s).
	AntiEntropyEvery time.Duration
	// ReadLeases lets this node read a key from its own replica alone while it holds a lease on
	// the key's partition from every other replica, and grant such leases (lease.go).
	ReadLeases bool
	// LeaseDuration is D, the length of a lease grant (default DefaultLeaseDuration). Writes to
	// a partition whose holder died wait up to D.
	LeaseDuration time.Duration
	// BrokenNoLeaseGate makes coordinators acknowledge writes without waiting for lease
	// holders: unsafe, for tests that show the history checker catches the stale reads it allows.
	BrokenNoLeaseGate bool
	// BrokenNoLeaseCheck makes holders renew grants without checking the records listed:
	// unsafe, for the same tests.
	BrokenNoLeaseCheck bool
	// BrokenNoRestartWindow makes a restarted grantor's notes name nobody during its first D:
	// unsafe, for the same tests.
	BrokenNoRestartWindow bool
	// BrokenNoLeaseSync makes a holder read locally on a new chain of grants without syncing
	// first: unsafe, for the same tests.
	BrokenNoLeaseSync bool
	Logger            *slog.Logger
}

// Store is the object API of a node as the S3 API sees it: the site's replicated state.
type Store struct {
	o      Options
	local  *object.Store
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	kick   chan struct{}
	clouds cloudClients
	queues mergeQueues // queue.go
	// delivering holds the hint targets being delivered to (loops.go).
	delivering sync.Map
	// readLatency tracks peer read latency for the read path's hedge delay (read.go).
	readLatency latencyMean
	layout      layout
	geo         geoState // geo*.go, feed.go: shippers of the site and cloud outboxes
	ae          aeState  // antientropy.go, bootstrap.go
	// Read leases (lease.go): the RPC server's grantor once attached (ServeLeases), this node's
	// leases as a holder, and the lease view of the current layout.
	grants    *grantor
	leases    *holder
	leaseView atomic.Pointer[leaseLayout]
	leaseSync atomic.Bool // a post-grant sync is running

	Stats Stats
}

// Stats are counters for status and metrics.
type Stats struct {
	HintsStored    atomic.Int64
	HintsDelivered atomic.Int64
	ReadRepairs    atomic.Int64
	AERounds       atomic.Int64
	AEPushed       atomic.Int64
	AELastSync     atomic.Int64 // unix nanos of the last round in which every peer was in sync
	AEPartitionsOK atomic.Int64 // partitions found equal in the last round
	AEPartitions   atomic.Int64 // partitions compared in the last round
	Outboxed       atomic.Int64 // changes queued for other sites
	Shipped        atomic.Int64 // changes delivered to other sites
	LeaseReads     atomic.Int64 // reads answered from this node's replica alone under a lease
	LeaseWaits     atomic.Int64 // writes whose acknowledgement waited for a lease to end
	LeaseFetched   atomic.Int64 // records a grantor listed that this node fetched to keep a lease
	LeaseLapses    atomic.Int64 // grants that could not be renewed or checked (chain broken)
}

// New builds the layer; Start runs its background work.
func New(o Options) *Store {
	if o.RF == 0 {
		o.RF = 3
	}
	if o.W == 0 {
		o.W = 2
	}
	if o.R == 0 {
		o.R = 2
	}
	if o.AntiEntropyEvery == 0 {
		o.AntiEntropyEvery = 15 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.LeaseDuration <= 0 {
		o.LeaseDuration = DefaultLeaseDuration
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Store{
		o: o, local: o.Local, log: o.Logger.With("component", "replicate"), ctx: ctx, cancel: cancel, kick: make(chan struct{}, 1),
		leases: newHolder(o.LeaseDuration, time.Now()),
	}
	s.layout.adopt = make(chan struct{}, 1)
	return s
}

// Start runs hinted handoff and anti-entropy until Close.
func (s *Store) Start() {
	s.wg.Add(1)
	go s.hintLoop()
	s.startGeo()
	if s.o.Cluster == nil {
		return
	}
	s.wg.Add(1)
	go s.antiEntropyLoop()
	s.StartLeases()
}

// Kick asks for an anti-entropy round and hint delivery now (a peer came back).
func (s *Store) Kick() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// Close stops background work and waits for writes still draining to replicas.
func (s *Store) Close() {
	s.cancel()
	s.wg.Wait()
}

func (s *Store) self() string {
	if s.o.Cluster == nil {
		return ""
	}
	return s.o.Cluster.Self()
}

func (s *Store) quorum(q, n int) int {
	if q > n {
		return n
	}
	return q
}

var errDown = errors.New("replica is down")

// writeOne merges msg on node n.
func (s *Store) writeOne(ctx context.Context, n string, msg object.RecordMsg) error {
	_, err := s.writeOneNote(ctx, n, msg)
	return err
}

// writeOneNote merges msg on node n and returns n's lease note with its acknowledgement.
func (s *Store) writeOneNote(ctx context.Context, n string, msg object.RecordMsg) (leaseNote, error) {
	if n == s.self() {
		changed, err := s.local.MergeRecord(msg)
		if errors.Is(err, object.ErrMissingChunks) {
			// The data lives on other replicas: a copy of a version this node missed, or read
			// repair of this node's own stale replica. Fetch it first, as a peer would be sent it
			// (found by internal/testcluster's random copies; TestCopyOfVersionCoordinatorMissed).
			if err = s.fetchChunks(msg); err == nil {
				changed, err = s.local.MergeRecord(msg)
			}
		}
		if err != nil || s.grants == nil {
			return leaseNote{}, err
		}
		return s.grants.merged(msg, changed), nil
	}
	if !s.o.Cluster.Alive(n) {
		return leaseNote{}, errDown
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return s.queueMerge(ctx, n, msg)
}

// write commits msg in this site (see writeLocal) and queues it for the other sites hosting
// the bucket.
func (s *Store) write(msg object.RecordMsg, release func()) error {
	if err := s.writeLocal(msg, release); err != nil {
		return err
	}
	s.queueForSites(msg)
	s.queueForCloud(msg)
	return nil
}

// writeLocal commits msg on the key's replicas in this site and returns once W have it durably.
// Replicas still answering are waited for in the background; those that fail get a hint. release
// is called when no replica needs this node's copy of the data any more.
func (s *Store) writeLocal(msg object.RecordMsg, release func()) error {
	cur, prev := s.replicaSets(msg.Bucket, msg.Key)
	reps := union(cur, prev)
	q := s.newQuorumCheck(cur, prev, s.o.W)
	type result struct {
		node   string
		err    error
		handed bool // a fallback node keeps the write as a hint for node
		note   leaseNote
	}
	results := make(chan result, len(reps))
	fallbacks := s.fallbacks(msg.Bucket, msg.Key, reps)
	for i, n := range reps {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			note, err := s.writeOneNote(s.ctx, n, msg)
			if err != nil && n != s.self() && i < len(fallbacks) {
				if herr := s.handOff(s.ctx, fallbacks[i], n, msg); herr == nil {
					results <- result{node: n, handed: true}
					return
				}
			}
			results <- result{node: n, err: err, note: note}
		}()
	}
	acks, done := 0, 0
	var firstErr error
	// Read leases (lease.go): the acknowledgement also waits for every lease holder a replica
	// named, until the holder acknowledges itself or the named grant ends.
	gate := newLeaseGate(reps)
	settle := func(r result) {
		done++
		if r.err == nil {
			acks++
			q.ok(r.node)
			if r.handed {
				s.Stats.HintsStored.Add(1)
			} else {
				gate.ack(r.node)
				gate.note(r.note, time.Now())
			}
			return
		}
		if firstErr == nil {
			firstErr = r.err
		}
		if r.node != s.self() {
			if err := s.local.AddHint(r.node, msg); err != nil {
				s.log.Error("store hint", "target", r.node, "err", err)
			} else {
				s.Stats.HintsStored.Add(1)
			}
		}
	}
	var timer *time.Timer
	waited := false
	for done < len(reps) || q.met() {
		var timeout <-chan time.Time
		if q.met() {
			next, waiting := gate.wait(time.Now())
			if !waiting || s.o.BrokenNoLeaseGate {
				break
			}
			if timer == nil {
				timer = time.NewTimer(time.Until(next))
				defer timer.Stop()
			} else {
				timer.Reset(time.Until(next))
			}
			timeout = timer.C
		}
		select {
		case r := <-results:
			settle(r)
		case <-timeout:
			waited = true
		}
	}
	if waited {
		s.Stats.LeaseWaits.Add(1)
	}
	// Decide before the remaining answers settle in the background: settle keeps changing q,
	// acks and firstErr from there (a data race that internal/testcluster found under -race).
	var err error
	if !q.met() {
		err = s3err.ServiceUnavailable.With("Only %d replicas acknowledged the write, %d needed (%v); it will be retried in the background.", acks, q.needCur, firstErr)
	}
	rest := len(reps) - done
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for i := 0; i < rest; i++ {
			settle(<-results)
		}
		if release != nil {
			release()
		}
	}()
	return err
}

// fetchChunks stores here the chunks of msg this node lacks, read from the site's replicas.
func (s *Store) fetchChunks(msg object.RecordMsg) error {
	refs, err := msg.Chunks()
	if err != nil {
		return err
	}
	for _, ref := range refs {
		if s.local.HasChunk(ref.ID) {
			continue
		}
		data, err := s.readChunk(ref)
		if err != nil {
			return err
		}
		if _, err := s.local.PutChunk(data); err != nil {
			return err
		}
	}
	return nil
}

// readChunk reads a chunk here or, failing that, from any live node of the site.
func (s *Store) readChunk(ref blobstore.Ref) ([]byte, error) {
	data, err := s.local.ReadChunk(ref)
	if err == nil || s.o.Cluster == nil {
		return data, err
	}
	for _, n := range s.o.Cluster.SiteNodes(s.o.Site) {
		if n == s.self() || !s.o.Cluster.Alive(n) {
			continue
		}
		ctx, cancel := context.WithTimeout(s.ctx, 30*time.Second)
		d, ferr := s.o.Client.Chunk(ctx, s.o.Cluster.RPCAddr(n), ref)
		cancel()
		if ferr == nil && int64(len(d)) == ref.Size && blobstore.CRC32C(d) == ref.CRC {
			return d, nil
		}
	}
	return nil, fmt.Errorf("chunk %s: no replica has a good copy: %w", ref.ID, err)
}

var _ = io.EOF
