// Package metastore is the node's ordered key-value store for metadata (version records, buckets,
// keys, upload state), Pebble behind a small interface. It knows nothing of what the keys mean.
//
// Durability: Commit(sync=true) returns only after the write-ahead log is fsynced. Pebble's commit
// pipeline folds concurrent synced commits into one fsync (group commit), which is what makes
// thousands of small durable PUTs per second possible on one disk.
package metastore

import (
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/cockroachdb/pebble/v2"
)

// ErrNotFound is returned by Get for a missing key.
var ErrNotFound = errors.New("metastore: not found")

// Options tunes the store. Defaults keep memory modest: the edge boxes we target are small.
type Options struct {
	CacheBytes    int64 // block cache; default 32 MiB
	MemTableBytes int   // memtable size; default 16 MiB
}

// DB is an open metadata store.
type DB struct {
	db *pebble.DB
}

// Open opens or creates the store in dir.
func Open(dir string, o Options, log *slog.Logger) (*DB, error) {
	if o.CacheBytes == 0 {
		o.CacheBytes = 32 << 20
	}
	if o.MemTableBytes == 0 {
		o.MemTableBytes = 16 << 20
	}
	cache := pebble.NewCache(o.CacheBytes)
	defer cache.Unref()
	opts := &pebble.Options{
		Cache:        cache,
		MemTableSize: uint64(o.MemTableBytes),
		Logger:       pebbleLogger{log},
	}
	db, err := pebble.Open(dir, opts)
	if err != nil {
		return nil, fmt.Errorf("open metastore %s: %w", dir, err)
	}
	return &DB{db: db}, nil
}

// Close closes the store.
func (d *DB) Close() error { return d.db.Close() }

// Get returns a copy of the value of key, or ErrNotFound.
func (d *DB) Get(key []byte) ([]byte, error) {
	v, closer, err := d.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("get: %w", err)
	}
	out := append([]byte(nil), v...)
	return out, closer.Close()
}

// Has reports whether key is present, without copying its value.
func (d *DB) Has(key []byte) (bool, error) {
	_, closer, err := d.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("get: %w", err)
	}
	return true, closer.Close()
}

// Batch collects writes that commit atomically.
type Batch struct {
	b *pebble.Batch
}

// NewBatch starts a batch.
func (d *DB) NewBatch() *Batch { return &Batch{b: d.db.NewBatch()} }

// Set adds a put to the batch.
func (b *Batch) Set(key, value []byte) { _ = b.b.Set(key, value, nil) }

// Delete adds a delete to the batch.
func (b *Batch) Delete(key []byte) { _ = b.b.Delete(key, nil) }

// Empty reports whether the batch holds no writes.
func (b *Batch) Empty() bool { return b.b.Empty() }

// Commit applies the batch; with sync it returns only once the batch is on stable storage.
func (b *Batch) Commit(sync bool) error {
	opt := pebble.NoSync
	if sync {
		opt = pebble.Sync
	}
	if err := b.b.Commit(opt); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// Close releases the batch; call it after Commit or to abandon the batch.
func (b *Batch) Close() { _ = b.b.Close() }

// Iter walks keys in [lower, upper) in order. upper nil means no bound.
type Iter struct {
	it *pebble.Iterator
}

// NewIter opens an iterator; the caller must Close it.
func (d *DB) NewIter(lower, upper []byte) (*Iter, error) {
	it, err := d.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return nil, fmt.Errorf("new iterator: %w", err)
	}
	return &Iter{it: it}, nil
}

// First positions at the first key; false when there is none.
func (i *Iter) First() bool { return i.it.First() }

// SeekGE positions at the first key >= k.
func (i *Iter) SeekGE(k []byte) bool { return i.it.SeekGE(k) }

// Next advances; false at the end.
func (i *Iter) Next() bool { return i.it.Next() }

// Valid reports whether the iterator is at a key.
func (i *Iter) Valid() bool { return i.it.Valid() }

// Key is the current key; valid until the next move.
func (i *Iter) Key() []byte { return i.it.Key() }

// Value is the current value; valid until the next move.
func (i *Iter) Value() ([]byte, error) { return i.it.ValueAndErr() }

// Close releases the iterator and reports any error met while iterating.
func (i *Iter) Close() error { return i.it.Close() }

var _ io.Closer = (*Iter)(nil)

// pebbleLogger routes Pebble's logs into slog.
type pebbleLogger struct{ log *slog.Logger }

func (l pebbleLogger) Infof(format string, args ...any) {
	if l.log != nil {
		l.log.Debug(fmt.Sprintf(format, args...))
	}
}
func (l pebbleLogger) Errorf(format string, args ...any) {
	if l.log != nil {
		l.log.Error(fmt.Sprintf(format, args...))
	}
}
func (l pebbleLogger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if l.log != nil {
		l.log.Error(msg)
	}
	panic(msg)
}
