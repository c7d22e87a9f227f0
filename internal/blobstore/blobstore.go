// Package blobstore keeps object data as content-addressed chunk files: the file name is the
// SHA-256 of the content, so writing the same chunk twice is idempotent and a replica can tell
// which chunks it already has. Each chunk also carries a CRC32C (kept by the caller in the version
// record) that every read verifies, so a reader never gets corrupt bytes.
//
// A chunk file only ever appears under its final name after its content is fsynced (temp file,
// fsync, rename); the caller fsyncs the touched directories (Writer.Commit) before it records a
// reference. It must not know about objects, buckets or references: garbage collection of
// unreferenced chunks is the caller's job (Remove).
package blobstore

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
)

// ChunkSize is the size of the pieces large objects are cut into.
const ChunkSize = 1 << 20

// ErrCorrupt is returned when a chunk's content does not match its checksum or size.
var ErrCorrupt = errors.New("blobstore: chunk failed its checksum")

// ErrMissing is returned when a chunk file does not exist.
var ErrMissing = errors.New("blobstore: chunk missing")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// CRC32C returns the checksum a chunk or inline value is verified with.
func CRC32C(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

// Ref names a stored chunk and what its content must be.
type Ref struct {
	ID   string `json:"i"` // hex SHA-256 of the content
	Size int64  `json:"s"`
	CRC  uint32 `json:"c"` // CRC32C of the content
}

// Store is a directory of chunk files.
type Store struct {
	dir     string
	tmp     string
	seq     atomic.Uint64
	Corrupt atomic.Uint64 // chunks found corrupt since start, for metrics
}

// Open opens the chunk store in dir, creating it, and removes temporary files left by a crash.
func Open(dir string) (*Store, error) {
	s := &Store{dir: filepath.Join(dir, "chunks"), tmp: filepath.Join(dir, "tmp")}
	if err := os.RemoveAll(s.tmp); err != nil {
		return nil, fmt.Errorf("clean %s: %w", s.tmp, err)
	}
	for _, d := range []string{s.dir, s.tmp} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("create %s: %w", d, err)
		}
	}
	for i := 0; i < 256; i++ {
		if err := os.MkdirAll(filepath.Join(s.dir, fmt.Sprintf("%02x", i)), 0o700); err != nil {
			return nil, fmt.Errorf("create chunk dir: %w", err)
		}
	}
	if err := syncDir(dir); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Store) path(id string) string { return filepath.Join(s.dir, id[:2], id) }

// Has reports whether a chunk file exists.
func (s *Store) Has(id string) bool {
	_, err := os.Stat(s.path(id))
	return err == nil
}

// Put stores data as a chunk unless a chunk with that content exists, and returns its reference.
// The chunk's directory still needs an fsync (see Writer) before a reference to it is durable.
func (s *Store) Put(data []byte) (Ref, error) {
	sum := sha256.Sum256(data)
	ref := Ref{ID: hex.EncodeToString(sum[:]), Size: int64(len(data)), CRC: CRC32C(data)}
	final := s.path(ref.ID)
	if _, err := os.Stat(final); err == nil {
		return ref, nil
	}
	tmp := filepath.Join(s.tmp, fmt.Sprintf("%s.%d", ref.ID[:16], s.seq.Add(1)))
	if err := writeSynced(tmp, data); err != nil {
		return Ref{}, err
	}
	if err := os.Rename(tmp, final); err != nil {
		os.Remove(tmp)
		return Ref{}, fmt.Errorf("place chunk %s: %w", ref.ID, err)
	}
	return ref, nil
}

func writeSynced(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("create chunk: %w", err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("write chunk: %w", err)
	}
	return nil
}

// Read reads a whole chunk into buf (grown if needed) and verifies it.
func (s *Store) Read(ref Ref, buf []byte) ([]byte, error) {
	f, err := os.Open(s.path(ref.ID))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read chunk %s: %w", ref.ID, ErrMissing)
	}
	if err != nil {
		return nil, fmt.Errorf("read chunk %s: %w", ref.ID, err)
	}
	defer f.Close()
	if int64(cap(buf)) < ref.Size {
		buf = make([]byte, ref.Size)
	}
	buf = buf[:ref.Size]
	n, err := io.ReadFull(f, buf)
	if err != nil || n != len(buf) {
		s.Corrupt.Add(1)
		return nil, fmt.Errorf("read chunk %s: short file: %w", ref.ID, ErrCorrupt)
	}
	var extra [1]byte
	if m, _ := f.Read(extra[:]); m != 0 {
		s.Corrupt.Add(1)
		return nil, fmt.Errorf("read chunk %s: file longer than recorded: %w", ref.ID, ErrCorrupt)
	}
	if CRC32C(buf) != ref.CRC {
		s.Corrupt.Add(1)
		return nil, fmt.Errorf("read chunk %s: %w", ref.ID, ErrCorrupt)
	}
	return buf, nil
}

// Remove deletes a chunk file; a missing file is not an error.
func (s *Store) Remove(id string) error {
	if len(id) < 2 {
		return nil
	}
	if err := os.Remove(s.path(id)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove chunk %s: %w", id, err)
	}
	return nil
}

// Walk calls fn with the id of every stored chunk (for scrubbing and orphan collection).
func (s *Store) Walk(fn func(id string) error) error {
	for i := 0; i < 256; i++ {
		d := filepath.Join(s.dir, fmt.Sprintf("%02x", i))
		ents, err := os.ReadDir(d)
		if err != nil {
			return fmt.Errorf("walk %s: %w", d, err)
		}
		for _, e := range ents {
			if err := fn(e.Name()); err != nil {
				return err
			}
		}
	}
	return nil
}

// Writer stores the chunks of one object, several at a time, and makes them durable on Commit.
type Writer struct {
	s    *Store
	sem  chan struct{}
	wg   sync.WaitGroup
	mu   sync.Mutex
	refs []Ref
	err  error
}

// NewWriter starts writing an object's chunks with up to parallel writes in flight.
func (s *Store) NewWriter(parallel int) *Writer {
	if parallel < 1 {
		parallel = 1
	}
	return &Writer{s: s, sem: make(chan struct{}, parallel)}
}

// Add queues data as chunk number len(previous adds); done is called (from another goroutine)
// once data is no longer needed, so the caller can reuse the buffer.
func (w *Writer) Add(data []byte, done func()) {
	w.mu.Lock()
	idx := len(w.refs)
	w.refs = append(w.refs, Ref{})
	w.mu.Unlock()
	w.sem <- struct{}{}
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		defer func() { <-w.sem }()
		ref, err := w.s.Put(data)
		if done != nil {
			done()
		}
		w.mu.Lock()
		defer w.mu.Unlock()
		if err != nil && w.err == nil {
			w.err = err
		}
		w.refs[idx] = ref
	}()
}

// Refs waits for queued writes and returns the chunks in order.
func (w *Writer) Refs() ([]Ref, error) {
	w.wg.Wait()
	return w.refs, w.err
}

// Commit waits for queued writes, then fsyncs every directory a chunk was placed in, so that the
// chunks survive a crash once the caller records references to them.
func (w *Writer) Commit() ([]Ref, error) {
	refs, err := w.Refs()
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, r := range refs {
		d := r.ID[:2]
		if seen[d] {
			continue
		}
		seen[d] = true
		if err := syncDir(filepath.Join(w.s.dir, d)); err != nil {
			return nil, err
		}
	}
	return refs, nil
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open dir %s: %w", dir, err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	return nil
}
