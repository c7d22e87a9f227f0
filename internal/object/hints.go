package object

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/minicloud/minicloud/internal/crdt"
)

// Hints are writes meant for a replica that was down: kept durably here, with references that
// keep their chunks, until the replica is back and takes them (hinted handoff).
//
//	'h' target 0 seq(16 hex) -> RecordMsg JSON
const tagHint = 'h'

var hintSeq atomic.Uint64

func hintPrefix(target string) []byte {
	k := []byte{tagHint}
	k = append(k, target...)
	return append(k, 0)
}

// Hint is one stored hint.
type Hint struct {
	Key []byte
	Msg RecordMsg
}

// AddHint stores msg for target durably. The record's chunks must be stored here.
func (s *Store) AddHint(target string, msg RecordMsg) error {
	return s.addHint(target, msg, true)
}

// Hints returns up to limit hints for target, oldest first.
func (s *Store) Hints(target string, limit int) ([]Hint, error) {
	var out []Hint
	err := s.scan(hintPrefix(target), func(k, v []byte) (bool, error) {
		var m RecordMsg
		if err := json.Unmarshal(v, &m); err != nil {
			return false, fmt.Errorf("decode hint: %w", err)
		}
		out = append(out, Hint{Key: append([]byte(nil), k...), Msg: m})
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
	refs, _ := h.Msg.Chunks()
	b := s.db.NewBatch()
	defer b.Close()
	b.Delete(h.Key)
	ids := make([]string, 0, len(refs))
	for _, c := range refs {
		b.Delete(refKey(c.ID, h.Key))
		ids = append(ids, c.ID)
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
