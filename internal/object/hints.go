package object

import (
	"bytes"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/minicloud/minicloud/internal/crdt"
)

// Hints are writes meant for a replica that was down: kept durably here, with references that
// keep their chunks, until the replica is back and takes them (hinted handoff).
//
//	'h' target 0 seq(16 hex) -> entry (outboxentry.go)
const tagHint = 'h'

var hintSeq atomic.Uint64

func hintPrefix(target string) []byte {
	k := []byte{tagHint}
	k = append(k, target...)
	return append(k, 0)
}

// Hint is one stored hint or outbox entry.
type Hint struct {
	Key []byte
	// Msg is the record of a whole entry. Of a reference entry (ByRef) it holds the bucket, key
	// and version only, until the shipper puts there the record it resolved (ResolveHint).
	Msg RecordMsg
	ref *hintRef // nil: a whole entry
}

// ByRef reports whether the entry names its record instead of holding it (see AddOutbox).
func (h Hint) ByRef() bool { return h.ref != nil }

// held returns the ids of the chunks the entry keeps from collection (dropped with it).
func (h Hint) held() []string {
	if h.ref != nil {
		return h.ref.chunks
	}
	refs, _ := h.Msg.Chunks()
	ids := make([]string, 0, len(refs))
	for _, c := range refs {
		ids = append(ids, c.ID)
	}
	return ids
}

// AddHint stores msg for target durably, whole. The record's chunks must be stored here.
func (s *Store) AddHint(target string, msg RecordMsg) error {
	return s.addHint(target, msg, true, entryWhole)
}

// Hints returns up to limit hints for target, oldest first.
func (s *Store) Hints(target string, limit int) ([]Hint, error) {
	var out []Hint
	err := s.scan(hintPrefix(target), func(k, v []byte) (bool, error) {
		m, ref, err := decodeEntry(v, true)
		if err != nil {
			return false, err
		}
		out = append(out, Hint{Key: append([]byte(nil), k...), Msg: m, ref: ref})
		return len(out) < limit, nil
	})
	return out, err
}

// HintTargets counts pending hints per target node.
func (s *Store) HintTargets() (map[string]int, error) {
	out := map[string]int{}
	err := s.scan([]byte{tagHint}, func(k, v []byte) (bool, error) {
		rest := k[1:]
		for i, c := range rest {
			if c == 0 {
				out[string(rest[:i])]++
				break
			}
		}
		return true, nil
	})
	return out, err
}

// DropHint removes a delivered hint and releases its chunks.
func (s *Store) DropHint(h Hint) error {
	b := s.db.NewBatch()
	defer b.Close()
	b.Delete(h.Key)
	ids := h.held()
	for _, id := range ids {
		b.Delete(refKey(id, h.Key))
	}
	if err := b.Commit(true); err != nil {
		return fmt.Errorf("drop hint: %w", err)
	}
	s.gc.maybeRemove(ids)
	return nil
}

// ListLatest returns, in key order after `after`, the newest record of up to limit keys under
// prefix, deletes included (a coordinator merging several replicas' listings needs them to hide
// older versions elsewhere). truncated tells whether more keys follow.
func (s *Store) ListLatest(bucket, prefix, after string, limit int) ([]RecordMsg, bool, error) {
	if _, err := s.bucket(bucket); err != nil {
		return nil, false, err
	}
	w, err := s.newWalker(bucket, prefix, "")
	if err != nil {
		return nil, false, err
	}
	defer w.it.Close()
	ok := w.it.First()
	if after != "" && after >= prefix {
		ok = w.seekKey(after, true)
	}
	var out []RecordMsg
	last := ""
	for ; ok; ok = w.it.Next() {
		key, ver, val, err := w.current()
		if err != nil {
			return nil, false, err
		}
		if key == last && len(out) > 0 && out[len(out)-1].Key == key {
			continue // an older version of a key already answered (versions sort newest first)
		}
		r, err := decodeHeader(val, ver)
		if err != nil {
			return nil, false, err
		}
		if r.Purged {
			continue
		}
		if len(out) == limit {
			return out, true, nil
		}
		last = key
		// Without inline data: a page of 64 KiB objects would not fit in one RPC answer, and a
		// listing needs only the header.
		out = append(out, RecordMsg{Bucket: bucket, Key: key, Version: ver, Enc: headerOnly(val)})
	}
	return out, false, nil
}

// HintStat summarises the hints waiting for one target.
type HintStat struct {
	Count  int
	Oldest time.Time // when the oldest waiting change was queued
}

// HintStats returns, per target, how many hints wait and since when.
func (s *Store) HintStats() (map[string]HintStat, error) {
	out := map[string]HintStat{}
	err := s.scan([]byte{tagHint}, func(k, v []byte) (bool, error) {
		rest := k[1:]
		i := bytes.IndexByte(rest, 0)
		if i < 0 {
			return true, nil
		}
		target := string(rest[:i])
		st := out[target]
		st.Count++
		if st.Count == 1 && len(rest) >= i+1+16 {
			if ts, err := strconv.ParseUint(string(rest[i+1:i+17]), 16, 64); err == nil {
				st.Oldest = crdt.Timestamp(ts).Physical()
			}
		}
		out[target] = st
		return true, nil
	})
	return out, err
}
