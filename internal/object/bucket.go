package object

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"sort"
	"strings"

	"github.com/minicloud/minicloud/internal/crdt"
	"github.com/minicloud/minicloud/internal/metastore"
)

// ValidBucketName reports whether name follows S3's bucket naming rules.
func ValidBucketName(name string) bool {
	if len(name) < 3 || len(name) > 63 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	first, last := name[0], name[len(name)-1]
	if first == '-' || first == '.' || last == '-' || last == '.' {
		return false
	}
	if strings.Contains(name, "..") || strings.Contains(name, ".-") || strings.Contains(name, "-.") {
		return false
	}
	if net.ParseIP(name) != nil {
		return false
	}
	for _, p := range []string{"xn--", "sthree-", "amzn-s3-demo-"} {
		if strings.HasPrefix(name, p) {
			return false
		}
	}
	for _, s := range []string{"-s3alias", "--ol-s3", "--x-s3", ".mrap"} {
		if strings.HasSuffix(name, s) {
			return false
		}
	}
	return true
}

func (s *Store) loadBuckets() error {
	it, err := s.db.NewIter([]byte{tagBucket}, []byte{tagBucket + 1})
	if err != nil {
		return err
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		v, err := it.Value()
		if err != nil {
			return fmt.Errorf("load buckets: %w", err)
		}
		var b Bucket
		if err := json.Unmarshal(v, &b); err != nil {
			return fmt.Errorf("load bucket %q: %w", it.Key()[1:], err)
		}
		s.buckets[b.Name] = b
	}
	return nil
}

func (s *Store) bucket(name string) (Bucket, error) {
	s.bmu.RLock()
	b, ok := s.buckets[name]
	s.bmu.RUnlock()
	if !ok || b.Deleted {
		return Bucket{}, ErrNoSuchBucket
	}
	return b, nil
}

func (s *Store) saveBucket(b Bucket) error {
	if b.TS == 0 {
		b.TS = uint64(s.hlc.Now())
	}
	v, err := json.Marshal(b)
	if err != nil {
		return fmt.Errorf("encode bucket %s: %w", b.Name, err)
	}
	batch := s.db.NewBatch()
	defer batch.Close()
	batch.Set(bucketKey(b.Name), v)
	if err := batch.Commit(true); err != nil {
		return fmt.Errorf("save bucket %s: %w", b.Name, err)
	}
	s.buckets[b.Name] = b
	if s.OnBucketChange != nil {
		s.OnBucketChange(b)
	}
	return nil
}

// BucketTable returns every bucket record, deleted ones included, for mesh-table sync.
func (s *Store) BucketTable() []Bucket {
	s.bmu.RLock()
	defer s.bmu.RUnlock()
	out := make([]Bucket, 0, len(s.buckets))
	for _, b := range s.buckets {
		out = append(out, b)
	}
	return out
}

// MergeBucket merges a bucket record from another node: the later change wins.
func (s *Store) MergeBucket(b Bucket) (bool, error) {
	if !ValidBucketName(b.Name) || b.TS == 0 {
		return false, nil
	}
	s.hlc.Observe(crdt.Timestamp(b.TS))
	s.bmu.Lock()
	defer s.bmu.Unlock()
	if old, ok := s.buckets[b.Name]; ok && old.TS >= b.TS {
		return false, nil
	}
	v, err := json.Marshal(b)
	if err != nil {
		return false, err
	}
	batch := s.db.NewBatch()
	defer batch.Close()
	batch.Set(bucketKey(b.Name), v)
	if err := batch.Commit(true); err != nil {
		return false, fmt.Errorf("merge bucket %s: %w", b.Name, err)
	}
	s.buckets[b.Name] = b
	return true, nil
}

// CreateBucket creates a bucket; ErrBucketExists if it exists, ErrInvalidBucketName if the name breaks S3's rules.
func (s *Store) CreateBucket(ctx context.Context, name, location string) error {
	if !ValidBucketName(name) {
		return ErrInvalidBucketName.With("The specified bucket is not valid: %q.", name)
	}
	s.bmu.Lock()
	defer s.bmu.Unlock()
	if b, ok := s.buckets[name]; ok && !b.Deleted {
		return ErrBucketExists
	}
	return s.saveBucket(Bucket{Name: name, Created: s.hlc.Now().Physical().UTC(), Location: location})
}

// DeleteBucket removes an empty bucket; ErrBucketNotEmpty if it holds any version or upload.
func (s *Store) DeleteBucket(ctx context.Context, name string) error {
	s.bmu.Lock()
	defer s.bmu.Unlock()
	if b, ok := s.buckets[name]; !ok || b.Deleted {
		return ErrNoSuchBucket
	}
	batch := s.db.NewBatch()
	defer batch.Close()
	// Tombstones do not make a bucket non-empty; they go with it.
	var ds []treeDelta
	err := s.scan(objPrefix(name), func(k, v []byte) (bool, error) {
		key, ver, ok := splitVersionKey(k, len(objPrefix(name)))
		if !ok {
			return false, fmt.Errorf("bad version key %q", k)
		}
		r, err := decodeRecord(v, ver)
		if err != nil {
			return false, err
		}
		if !r.Tomb {
			return false, ErrBucketNotEmpty.With("The bucket you tried to delete is not empty (it holds %q).", key)
		}
		batch.Delete(k)
		return true, s.indexRemove(batch, name, key, append([]byte(nil), k...), &ds)
	})
	if err != nil {
		return err
	}
	empty := true
	err = s.scan(uploadPrefix(name), func(k, v []byte) (bool, error) {
		m, err := recordAtKind(k, v)
		if err != nil {
			return false, err
		}
		if !m.UploadEnded() {
			empty = false
			return false, nil
		}
		// Ended uploads are tombstones, like deleted keys' ones: they go with the bucket.
		batch.Delete(append([]byte(nil), k...))
		return true, s.indexRemove(batch, name, m.Key, append([]byte(nil), k...), &ds)
	})
	if err != nil {
		return err
	}
	if !empty {
		return ErrBucketNotEmpty.With("The bucket you tried to delete has multipart uploads in progress.")
	}
	if err := batch.Commit(true); err != nil {
		return fmt.Errorf("delete bucket %s: %w", name, err)
	}
	s.tree.apply(ds)
	// Keep a tombstone so that nodes which missed the delete learn of it.
	b := s.buckets[name]
	return s.saveBucket(Bucket{Name: name, Created: b.Created, Deleted: true})
}

// GetBucket returns a bucket's configuration; ErrNoSuchBucket if missing.
func (s *Store) GetBucket(ctx context.Context, name string) (Bucket, error) { return s.bucket(name) }

// ListBuckets returns all buckets sorted by name.
func (s *Store) ListBuckets(ctx context.Context) ([]Bucket, error) {
	s.bmu.RLock()
	out := make([]Bucket, 0, len(s.buckets))
	for _, b := range s.buckets {
		if !b.Deleted {
			out = append(out, b)
		}
	}
	s.bmu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// UpdateBucket applies fn to a bucket's configuration and stores the result (versioning, CORS,
// policy, tags). fn must not change Name or Created.
func (s *Store) UpdateBucket(ctx context.Context, name string, fn func(*Bucket) error) error {
	s.bmu.Lock()
	defer s.bmu.Unlock()
	b, ok := s.buckets[name]
	if !ok || b.Deleted {
		return ErrNoSuchBucket
	}
	b.TS = 0
	b.CORS = append([]CORSRule(nil), b.CORS...)
	if err := fn(&b); err != nil {
		return err
	}
	b.Name = name
	b.Created = s.buckets[name].Created
	return s.saveBucket(b)
}

// scan calls fn for each key with prefix p until fn returns false or an error.
func (s *Store) scan(p []byte, fn func(k, v []byte) (bool, error)) error {
	it, err := s.db.NewIter(p, prefixEnd(p))
	if err != nil {
		return err
	}
	for ok := it.First(); ok; ok = it.Next() {
		v, err := it.Value()
		if err != nil {
			it.Close()
			return err
		}
		more, err := fn(it.Key(), v)
		if err != nil || !more {
			it.Close()
			return err
		}
	}
	return it.Close()
}

var _ = metastore.ErrNotFound
