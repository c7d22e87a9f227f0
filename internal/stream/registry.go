package stream

import (
	"encoding/json"
	"fmt"
	"sort"
	"sync"

	"github.com/minicloud/minicloud/internal/metastore"
)

// Metastore keys of this package (tag 'l' is used by no other package: see object/keys.go,
// object/hints.go, iam/store.go, rulesrt/streams.go):
//
//	'l' 'd' name                  -> Def (JSON), tombstones included
//	'l' 'c' name 0 target         -> a forward or archive cursor on this node (JSON)
//	'l' 'i' name 0 origin         -> what this node imported from a forwarding origin (JSON)
//	'l' 'p' name 0                -> what this node's log holds of its site peers' (JSON, peersync.go)
const (
	tagStream = 'l'
	subDef    = 'd'
	subCursor = 'c'
	subImport = 'i'
	subPeer   = 'p'
)

func defKey(name string) []byte { return append([]byte{tagStream, subDef}, name...) }

// stateKey is the key of a per-stream state record; stream names hold no 0 byte.
func stateKey(sub byte, name, id string) []byte {
	k := append([]byte{tagStream, sub}, name...)
	k = append(k, 0)
	return append(k, id...)
}

// registry holds the stream definitions: in memory, in the metastore, and, through the
// broadcast hook, on every other node.
type registry struct {
	db *metastore.DB

	mu   sync.RWMutex
	defs map[string]Def
}

func loadRegistry(db *metastore.DB) (*registry, error) {
	r := &registry{db: db, defs: map[string]Def{}}
	err := scan(db, []byte{tagStream, subDef}, func(k, v []byte) error {
		var d Def
		if err := json.Unmarshal(v, &d); err != nil {
			return fmt.Errorf("load stream definition %s: %w", k[2:], err)
		}
		r.defs[d.Name] = d
		return nil
	})
	return r, err
}

// merge stores d if it wins over what the registry holds; it reports whether it did.
func (r *registry) merge(d Def) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if cur, ok := r.defs[d.Name]; ok && !d.newer(cur) {
		return false, nil
	}
	v, err := json.Marshal(d)
	if err != nil {
		return false, fmt.Errorf("encode stream definition: %w", err)
	}
	b := r.db.NewBatch()
	defer b.Close()
	b.Set(defKey(d.Name), v)
	if err := b.Commit(true); err != nil {
		return false, fmt.Errorf("store stream definition %s: %w", d.Name, err)
	}
	r.defs[d.Name] = d
	return true, nil
}

// get returns a live definition.
func (r *registry) get(name string) (Def, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	d, ok := r.defs[name]
	return d, ok && !d.Deleted
}

// raw returns a definition, tombstone or not.
func (r *registry) raw(name string) (Def, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	d, ok := r.defs[name]
	return d, ok
}

// table returns every definition, tombstones included, by name.
func (r *registry) table() []Def {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]Def, 0, len(r.defs))
	for _, d := range r.defs {
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// scan calls fn for every key with prefix.
func scan(db *metastore.DB, prefix []byte, fn func(k, v []byte) error) error {
	upper := append(append([]byte(nil), prefix...), 0xff)
	it, err := db.NewIter(prefix, upper)
	if err != nil {
		return fmt.Errorf("scan metastore: %w", err)
	}
	for ok := it.First(); ok; ok = it.Next() {
		v, err := it.Value()
		if err != nil {
			it.Close()
			return fmt.Errorf("scan metastore: %w", err)
		}
		if err := fn(it.Key(), v); err != nil {
			it.Close()
			return err
		}
	}
	return it.Close()
}

// loadState reads a JSON state record into v; false when there is none.
func loadState(db *metastore.DB, key []byte, v any) (bool, error) {
	raw, err := db.Get(key)
	if err == metastore.ErrNotFound {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read stream state: %w", err)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return false, fmt.Errorf("decode stream state %q: %w", key, err)
	}
	return true, nil
}

// saveState writes a JSON state record durably.
func saveState(db *metastore.DB, key []byte, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode stream state: %w", err)
	}
	b := db.NewBatch()
	defer b.Close()
	b.Set(key, raw)
	if err := b.Commit(true); err != nil {
		return fmt.Errorf("store stream state: %w", err)
	}
	return nil
}

// deleteStates removes every state record of a stream.
func deleteStates(db *metastore.DB, name string) error {
	b := db.NewBatch()
	defer b.Close()
	for _, sub := range []byte{subCursor, subImport, subPeer} {
		prefix := stateKey(sub, name, "")
		if err := scan(db, prefix, func(k, _ []byte) error {
			b.Delete(append([]byte(nil), k...))
			return nil
		}); err != nil {
			return err
		}
	}
	if b.Empty() {
		return nil
	}
	if err := b.Commit(true); err != nil {
		return fmt.Errorf("delete stream state: %w", err)
	}
	return nil
}
