package iam

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/minicloud/minicloud/internal/metastore"
)

// Permissions a grant can give on a bucket (or on "*", every bucket).
const (
	PermRead      = "read"      // GET/HEAD objects, list
	PermWrite     = "write"     // PUT/DELETE objects, multipart; no reads
	PermReadWrite = "readwrite" // both
	PermOwner     = "owner"     // readwrite plus the bucket's configuration and deletion
)

// Errors callers test.
var (
	ErrNoSuchKey  = errors.New("no such access key")
	ErrBadPerm    = errors.New("permission must be read, write, readwrite or owner")
	ErrRootKey    = errors.New("the root key is set by the server's configuration and cannot be changed here")
	ErrKeyExists  = errors.New("access key already exists")
	ErrBadKeyName = errors.New("access key ids are 3-128 letters, digits, '-', '_' or '.'")
)

// Key is an access key with its grants. The root key may do everything.
type Key struct {
	AccessKey string            `json:"accessKey"`
	Secret    string            `json:"secret,omitempty"`
	Name      string            `json:"name,omitempty"`
	Root      bool              `json:"root,omitempty"`
	Created   time.Time         `json:"created"`
	Grants    map[string]string `json:"grants,omitempty"` // bucket or "*" -> permission
	// TS orders changes to the key across nodes (unix nanos, last writer wins); Deleted is the
	// tombstone that keeps a deleted key deleted on nodes that missed the delete.
	TS      int64 `json:"ts,omitempty"`
	Deleted bool  `json:"deleted,omitempty"`
}

// Store holds the access keys. Keys are few and read on every request, so they live in memory
// and are written through to the metastore.
type Store struct {
	db   *metastore.DB
	mu   sync.RWMutex
	keys map[string]Key
	root Key
	// OnChange, if set before use, is called after a local change to a key, so the mesh can
	// spread it.
	OnChange func(Key)
}

const tagKey = 'k'

func keyKey(ak string) []byte { return append([]byte{tagKey}, ak...) }

// Open loads the keys stored in db; root is the configured root key.
func Open(db *metastore.DB, rootAccess, rootSecret string) (*Store, error) {
	s := &Store{db: db, keys: map[string]Key{}, root: Key{AccessKey: rootAccess, Secret: rootSecret, Root: true, Name: "root"}}
	it, err := db.NewIter([]byte{tagKey}, []byte{tagKey + 1})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		v, err := it.Value()
		if err != nil {
			return nil, fmt.Errorf("load keys: %w", err)
		}
		var k Key
		if err := json.Unmarshal(v, &k); err != nil {
			return nil, fmt.Errorf("load key %q: %w", it.Key()[1:], err)
		}
		s.keys[k.AccessKey] = k
	}
	return s, nil
}

func (s *Store) get(ak string) (Key, bool) {
	if ak == s.root.AccessKey {
		return s.root, true
	}
	s.mu.RLock()
	k, ok := s.keys[ak]
	s.mu.RUnlock()
	return k, ok && !k.Deleted
}

// Secret returns the secret of an access key, for signature checks.
func (s *Store) Secret(ak string) (string, bool) {
	k, ok := s.get(ak)
	return k.Secret, ok
}

// IsAdmin reports whether ak may administer the whole node (the root key).
func (s *Store) IsAdmin(ak string) bool {
	k, ok := s.get(ak)
	return ok && k.Root
}

// Allowed reports whether ak may do a on bucket.
func (s *Store) Allowed(ak, bucket string, a Action) bool {
	k, ok := s.get(ak)
	if !ok {
		return false
	}
	if k.Root {
		return true
	}
	return permits(k.Grants[bucket], a) || permits(k.Grants["*"], a)
}

func permits(perm string, a Action) bool {
	switch perm {
	case PermOwner:
		return true
	case PermReadWrite:
		return a != ActionAdmin
	case PermRead:
		return a == ActionRead || a == ActionList
	case PermWrite:
		return a == ActionWrite
	}
	return false
}

func validPerm(p string) bool {
	return p == PermRead || p == PermWrite || p == PermReadWrite || p == PermOwner
}

func (s *Store) save(k Key) error {
	if k.TS == 0 {
		k.TS = time.Now().UnixNano()
	}
	if err := s.write(k); err != nil {
		return err
	}
	if s.OnChange != nil {
		s.OnChange(k)
	}
	return nil
}

func (s *Store) write(k Key) error {
	v, err := json.Marshal(k)
	if err != nil {
		return err
	}
	b := s.db.NewBatch()
	defer b.Close()
	b.Set(keyKey(k.AccessKey), v)
	if err := b.Commit(true); err != nil {
		return fmt.Errorf("save key %s: %w", k.AccessKey, err)
	}
	s.keys[k.AccessKey] = k
	return nil
}

// CreateKey makes a new access key with a random secret. An empty accessKey picks a random one.
func (s *Store) CreateKey(accessKey, name string, now time.Time) (Key, error) {
	if accessKey == "" {
		accessKey = "MC" + strings.ToUpper(randomString(12))
	}
	if !validKeyName(accessKey) {
		return Key{}, ErrBadKeyName
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.keys[accessKey]; ok && !old.Deleted || accessKey == s.root.AccessKey {
		return Key{}, ErrKeyExists
	}
	k := Key{AccessKey: accessKey, Secret: randomString(30), Name: name, Created: now.UTC()}
	return k, s.save(k)
}

func validKeyName(ak string) bool {
	if len(ak) < 3 || len(ak) > 128 {
		return false
	}
	for _, c := range ak {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// DeleteKey removes an access key.
func (s *Store) DeleteKey(ak string) error {
	if ak == s.root.AccessKey {
		return ErrRootKey
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if k, ok := s.keys[ak]; !ok || k.Deleted {
		return ErrNoSuchKey
	}
	return s.save(Key{AccessKey: ak, Deleted: true})
}

// Grant sets ak's permission on bucket ("*" for all); perm "" revokes.
func (s *Store) Grant(ak, bucket, perm string) error {
	if ak == s.root.AccessKey {
		return ErrRootKey
	}
	if perm != "" && !validPerm(perm) {
		return ErrBadPerm
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.keys[ak]
	if !ok || k.Deleted {
		return ErrNoSuchKey
	}
	k.TS = 0
	g := map[string]string{}
	for b, p := range k.Grants {
		g[b] = p
	}
	if perm == "" {
		delete(g, bucket)
	} else {
		g[bucket] = perm
	}
	k.Grants = g
	return s.save(k)
}

// List returns every key, root first, without secrets.
func (s *Store) List() []Key {
	s.mu.RLock()
	out := make([]Key, 0, len(s.keys)+1)
	for _, k := range s.keys {
		if k.Deleted {
			continue
		}
		k.Secret = ""
		out = append(out, k)
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].AccessKey < out[j].AccessKey })
	root := s.root
	root.Secret = ""
	return append([]Key{root}, out...)
}

func randomString(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	return base64.RawURLEncoding.EncodeToString(b)[:n]
}

// Table returns every key record, deleted ones included, for mesh-table sync.
func (s *Store) Table() []Key {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]Key, 0, len(s.keys))
	for _, k := range s.keys {
		out = append(out, k)
	}
	return out
}

// Merge applies a key record from another node: the later change wins.
func (s *Store) Merge(k Key) error {
	if !validKeyName(k.AccessKey) || k.AccessKey == s.root.AccessKey || k.TS == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.keys[k.AccessKey]; ok && old.TS >= k.TS {
		return nil
	}
	return s.write(k)
}
