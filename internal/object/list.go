package object

import (
	"context"
	"encoding/binary"
	"strings"

	"github.com/minicloud/minicloud/internal/crdt"
	"github.com/minicloud/minicloud/internal/metastore"
)

// keyWalker walks the version keys of one bucket below a prefix, rolling keys up into common
// prefixes at a delimiter. It is shared by the object and version listings.
type keyWalker struct {
	it        *metastore.Iter
	base      []byte // objPrefix(bucket)
	prefix    string
	delimiter string
}

func (s *Store) newWalker(bucket, prefix, delimiter string) (*keyWalker, error) {
	base := objPrefix(bucket)
	lower := append(append([]byte(nil), base...), prefix...)
	it, err := s.db.NewIter(lower, prefixEnd(lower))
	if err != nil {
		return nil, err
	}
	return &keyWalker{it: it, base: base, prefix: prefix, delimiter: delimiter}, nil
}

func (w *keyWalker) seekKey(key string, after bool) bool {
	k := append(append([]byte(nil), w.base...), key...)
	if after {
		k = append(k, 1) // past every version of key (they continue with 0)
	}
	return w.it.SeekGE(k)
}

// commonPrefix returns the rolled-up prefix of key, or "".
func (w *keyWalker) commonPrefix(key string) string {
	if w.delimiter == "" {
		return ""
	}
	if i := strings.Index(key[len(w.prefix):], w.delimiter); i >= 0 {
		return key[:len(w.prefix)+i+len(w.delimiter)]
	}
	return ""
}

// skipPrefix moves past every key starting with cp.
func (w *keyWalker) skipPrefix(cp string) bool {
	end := prefixEnd(append(append([]byte(nil), w.base...), cp...))
	if end == nil {
		return false
	}
	return w.it.SeekGE(end)
}

func (w *keyWalker) current() (string, crdt.Version, []byte, error) {
	key, ver, _ := splitVersionKey(w.it.Key(), len(w.base))
	v, err := w.it.Value()
	return key, ver, v, err
}

func maxKeys(n int) int {
	if n <= 0 || n > 1000 {
		return 1000
	}
	return n
}

// ListObjects lists the newest, non-deleted versions of a bucket's keys.
func (s *Store) ListObjects(ctx context.Context, bucket string, opts ListOptions) (ListResult, error) {
	if _, err := s.bucket(bucket); err != nil {
		return ListResult{}, err
	}
	limit := maxKeys(opts.MaxKeys)
	w, err := s.newWalker(bucket, opts.Prefix, opts.Delimiter)
	if err != nil {
		return ListResult{}, err
	}
	defer w.it.Close()
	var res ListResult
	count := 0
	ok := w.it.First()
	if opts.Marker != "" && opts.Marker >= opts.Prefix {
		ok = w.seekKey(opts.Marker, true)
	}
	for ok {
		if err := ctx.Err(); err != nil {
			return ListResult{}, err
		}
		key, ver, val, err := w.current()
		if err != nil {
			return ListResult{}, err
		}
		r, err := decodeHeader(val, ver)
		if err != nil {
			return ListResult{}, err
		}
		cp := w.commonPrefix(key)
		switch {
		case cp != "" && opts.Marker != "" && cp <= opts.Marker:
			ok = w.skipPrefix(cp)
			continue
		case cp != "" && (r.Del || r.Tomb):
			// A deleted key does not make its prefix appear; look at the next key.
		case cp != "":
			if count == limit {
				res.IsTruncated = true
				break
			}
			res.CommonPrefixes = append(res.CommonPrefixes, cp)
			res.NextMarker = cp
			count++
			ok = w.skipPrefix(cp)
			continue
		case !r.Del && !r.Tomb:
			if count == limit {
				res.IsTruncated = true
				break
			}
			res.Objects = append(res.Objects, r.info(bucket, key, true))
			res.NextMarker = key
			count++
		}
		if res.IsTruncated {
			break
		}
		ok = w.seekNextKey(key)
	}
	if !res.IsTruncated {
		res.NextMarker = ""
	}
	return res, nil
}

// seekNextKey moves to the first version of the next key; usually that is just Next.
func (w *keyWalker) seekNextKey(key string) bool {
	if !w.it.Next() {
		return false
	}
	k, _, ok := splitVersionKey(w.it.Key(), len(w.base))
	if ok && k != key {
		return true
	}
	return w.seekKey(key, true)
}

// ListObjectVersions lists every version and delete marker.
func (s *Store) ListObjectVersions(ctx context.Context, bucket string, opts VersionListOptions) (VersionListResult, error) {
	if _, err := s.bucket(bucket); err != nil {
		return VersionListResult{}, err
	}
	return PageVersions(ctx, opts, func(from string, incl bool) ([]RecordMsg, bool, error) {
		return s.ListKeyRecords(bucket, opts.Prefix, from, incl, 1000)
	})
}

// listBudget bounds the bytes of record headers one listing page carries.
const listBudget = 4 << 20

// ListKeyRecords returns every record (tombstones and purges included: a coordinator merging
// several replicas' listings needs them) of up to limit keys under prefix from key `from` on
// (incl: from itself included), in key order and newest first within a key, without their
// inline data; truncated tells whether more keys follow.
func (s *Store) ListKeyRecords(bucket, prefix, from string, incl bool, limit int) ([]RecordMsg, bool, error) {
	if _, err := s.bucket(bucket); err != nil {
		return nil, false, err
	}
	w, err := s.newWalker(bucket, prefix, "")
	if err != nil {
		return nil, false, err
	}
	defer w.it.Close()
	ok := w.it.First()
	if from != "" && from >= prefix {
		ok = w.seekKey(from, !incl)
	}
	var out []RecordMsg
	keys, size, last := 0, 0, ""
	for ; ok; ok = w.it.Next() {
		key, ver, val, err := w.current()
		if err != nil {
			return nil, false, err
		}
		if keys == 0 || key != last {
			if keys == limit || size > listBudget {
				return out, true, nil
			}
			keys++
			last = key
		}
		h := headerOnly(val)
		size += len(h) + len(key)
		out = append(out, RecordMsg{Bucket: bucket, Key: key, Version: ver, Enc: h})
	}
	return out, false, nil
}

// headerOnly copies a stored record without its inline data (listings need only the header).
func headerOnly(val []byte) []byte {
	n, w := binary.Uvarint(val)
	if w <= 0 || uint64(len(val)-w) < n {
		return append([]byte(nil), val...)
	}
	return append([]byte(nil), val[:w+int(n)]...)
}

// PageVersions applies ListObjectVersions' prefix, delimiter, markers and paging to a stream of
// records of whole keys in key order (newest first within a key), read in pages from next (from
// a key, included or not).
func PageVersions(ctx context.Context, opts VersionListOptions, next func(from string, incl bool) ([]RecordMsg, bool, error)) (VersionListResult, error) {
	limit := maxKeys(opts.MaxKeys)
	from, incl := opts.Prefix, true
	skipKey, skipping := "", false
	if opts.KeyMarker != "" && opts.KeyMarker >= opts.Prefix {
		from, incl = opts.KeyMarker, opts.VersionIDMarker != ""
		skipKey, skipping = opts.KeyMarker, opts.VersionIDMarker != ""
	}
	var res VersionListResult
	count := 0
	lastCP := ""
	full := func() bool {
		if count == limit {
			res.IsTruncated = true
			return true
		}
		count++
		return false
	}
	for {
		if err := ctx.Err(); err != nil {
			return VersionListResult{}, err
		}
		msgs, more, err := next(from, incl)
		if err != nil {
			return VersionListResult{}, err
		}
		for i := 0; i < len(msgs); {
			key := msgs[i].Key
			j := i
			for j < len(msgs) && msgs[j].Key == key {
				j++
			}
			group := msgs[i:j]
			i = j
			from, incl = key, false
			if lastCP != "" && strings.HasPrefix(key, lastCP) {
				continue
			}
			if opts.Delimiter != "" {
				if k := strings.Index(key[len(opts.Prefix):], opts.Delimiter); k >= 0 {
					cp := key[:len(opts.Prefix)+k+len(opts.Delimiter)]
					if opts.KeyMarker != "" && cp <= opts.KeyMarker {
						continue
					}
					visible := false
					for _, m := range group {
						visible = visible || !m.Hidden()
					}
					if !visible {
						continue // a deleted key does not make its prefix appear
					}
					if full() {
						return res, nil
					}
					res.CommonPrefixes = append(res.CommonPrefixes, cp)
					res.NextKeyMarker, res.NextVersionIDMarker = cp, ""
					lastCP = cp
					continue
				}
			}
			latest := true // the newest record that is not a purge holds the key's latest state
			for _, m := range group {
				info, err := m.Info(false)
				if err != nil {
					return VersionListResult{}, err
				}
				rec, err := decodeHeader(m.Enc, m.Version)
				if err != nil {
					return VersionListResult{}, err
				}
				if rec.Purged {
					continue
				}
				info.IsLatest, latest = latest, false
				if skipping && key == skipKey {
					if info.VersionID == opts.VersionIDMarker {
						skipping = false
						skipKey = "" // the versions after the marker are listed
					}
					continue
				}
				if rec.Tomb {
					continue
				}
				if full() {
					return res, nil
				}
				res.Versions = append(res.Versions, info)
				res.NextKeyMarker, res.NextVersionIDMarker = key, info.VersionID
			}
			skipping = false
		}
		if !more {
			res.NextKeyMarker, res.NextVersionIDMarker = "", ""
			return res, nil
		}
		if lastCP != "" && strings.HasPrefix(from, lastCP) {
			from, incl = lastCP+"\xff", true // no UTF-8 key has a 0xff byte: this skips the prefix
		}
	}
}
