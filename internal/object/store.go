package object

import (
	"fmt"
	"hash/fnv"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"github.com/minicloud/minicloud/internal/blobstore"
	"github.com/minicloud/minicloud/internal/clock"
	"github.com/minicloud/minicloud/internal/crdt"
	"github.com/minicloud/minicloud/internal/metastore"
)

// InlineLimit is the largest object kept inside its version record instead of in chunks.
const InlineLimit = 64 << 10

// Store is the object layer of one node. All methods are safe for concurrent use.
type Store struct {
	db    *metastore.DB
	blobs *blobstore.Store
	hlc   *crdt.HLC
	node  uint64
	log   *slog.Logger

	locks [1024]sync.Mutex // striped per-key locks for read-modify-write of a key's versions

	bmu     sync.RWMutex
	buckets map[string]Bucket

	gc    *collector
	ownDB bool
	tree  tree // anti-entropy's hash trees (tree.go)

	// OnBucketChange, if set before use, is called (under the bucket lock) after a local change to
	// a bucket's record, so the mesh can spread it.
	OnBucketChange func(Bucket)

	chunkBufs sync.Pool
}

// Options configures a Store.
type Options struct {
	NodeID string      // stable id of this node, used in version ids and HLC tie-breaks
	Clock  clock.Clock // nil: the wall clock
	Logger *slog.Logger
	// ParallelChunkWrites is how many chunk files one PUT writes and fsyncs at once (default 4).
	ParallelChunkWrites int
	// DB is the node's metadata store, shared with other subsystems; nil opens one in dir/meta
	// that the Store then owns and closes.
	DB *metastore.DB
}

// Open opens (creating if needed) the store kept in dir.
func Open(dir string, opts Options) (*Store, error) {
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.ParallelChunkWrites == 0 {
		opts.ParallelChunkWrites = 4
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create %s: %w", dir, err)
	}
	db, ownDB := opts.DB, false
	if db == nil {
		var err error
		if db, err = metastore.Open(filepath.Join(dir, "meta"), metastore.Options{}, opts.Logger); err != nil {
			return nil, err
		}
		ownDB = true
	}
	closeDB := func() {
		if ownDB {
			db.Close()
		}
	}
	blobs, err := blobstore.Open(filepath.Join(dir, "blobs"))
	if err != nil {
		closeDB()
		return nil, err
	}
	h := fnv.New64a()
	h.Write([]byte(opts.NodeID))
	s := &Store{
		db:      db,
		blobs:   blobs,
		hlc:     crdt.NewHLC(opts.Clock),
		node:    h.Sum64(),
		log:     opts.Logger.With("component", "object"),
		buckets: map[string]Bucket{},
	}
	s.chunkBufs.New = func() any { b := make([]byte, blobstore.ChunkSize); return &b }
	s.ownDB = ownDB
	if err := s.loadBuckets(); err != nil {
		closeDB()
		return nil, err
	}
	if err := s.loadTree(); err != nil {
		closeDB()
		return nil, err
	}
	if n, err := s.sweepOrphans(); err != nil {
		closeDB()
		return nil, fmt.Errorf("sweep orphan chunks: %w", err)
	} else if n > 0 {
		s.log.Info("removed chunks left by an interrupted write", "chunks", n)
	}
	s.gc = newCollector(s)
	return s, nil
}

// Close stops background work and closes the store.
func (s *Store) Close() error {
	s.gc.stop()
	if s.ownDB {
		return s.db.Close()
	}
	return nil
}

// lockKey locks the stripe of bucket/key and returns its unlock.
func (s *Store) lockKey(bucket, key string) func() {
	h := fnv.New32a()
	h.Write([]byte(bucket))
	h.Write([]byte{0})
	h.Write([]byte(key))
	m := &s.locks[h.Sum32()%uint32(len(s.locks))]
	m.Lock()
	return m.Unlock
}

// Corruptions reports how many corrupt chunks reads have found since start.
func (s *Store) Corruptions() uint64 { return s.blobs.Corrupt.Load() }
