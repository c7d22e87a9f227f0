package rulesrt

import (
	"context"
	"errors"

	"github.com/minicloud/minicloud/internal/metastore"
)

func put(db *metastore.DB, k, v []byte, sync bool) error {
	b := db.NewBatch()
	defer b.Close()
	b.Set(k, v)
	return b.Commit(sync)
}

func del(db *metastore.DB, k []byte, sync bool) error {
	b := db.NewBatch()
	defer b.Close()
	b.Delete(k)
	return b.Commit(sync)
}

// delPrefix deletes every key that starts with prefix.
func delPrefix(db *metastore.DB, prefix []byte, sync bool) error {
	b := db.NewBatch()
	defer b.Close()
	err := scan(db, prefix, func(k, _ []byte) error {
		b.Delete(append([]byte(nil), k...))
		return nil
	})
	if err != nil {
		return err
	}
	return b.Commit(sync)
}

// scan calls fn for every key with prefix, in order; k and v are valid during the call only.
func scan(db *metastore.DB, prefix []byte, fn func(k, v []byte) error) error {
	it, err := db.NewIter(prefix, prefixEnd(prefix))
	if err != nil {
		return err
	}
	for ok := it.First(); ok; ok = it.Next() {
		v, err := it.Value()
		if err == nil {
			err = fn(it.Key(), v)
		}
		if err != nil {
			it.Close()
			return err
		}
	}
	return it.Close()
}

// prefixEnd is the first key after all keys with prefix p (nil: no bound).
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// get returns the value of k, or nil when there is none.
func get(db *metastore.DB, k []byte) ([]byte, error) {
	v, err := db.Get(k)
	if errors.Is(err, metastore.ErrNotFound) {
		return nil, nil
	}
	return v, err
}

// localCheckpoints keeps checkpoints in the node's metastore (a node that runs alone).
type localCheckpoints struct{ db *metastore.DB }

func (c localCheckpoints) Load(_ context.Context, rule string) ([]byte, error) {
	return get(c.db, ruleKey(subCkpt, rule))
}

func (c localCheckpoints) Save(_ context.Context, rule string, data []byte, final bool) error {
	return put(c.db, ruleKey(subCkpt, rule), data, final)
}

func (c localCheckpoints) Delete(_ context.Context, rule string) error {
	return del(c.db, ruleKey(subCkpt, rule), syncWrites)
}
