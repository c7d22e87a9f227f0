package object

import (
	"context"
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
	limit := maxKeys(opts.MaxKeys)
	w, err := s.newWalker(bucket, opts.Prefix, opts.Delimiter)
	if err != nil {
		return VersionListResult{}, err
	}
	defer w.it.Close()
	var res VersionListResult
	count := 0
	ok := w.it.First()
	// skipUntil: versions of the marker key up to and including VersionIDMarker are skipped.
	skipKey, skipping := "", false
	if opts.KeyMarker != "" && opts.KeyMarker >= opts.Prefix {
		if opts.VersionIDMarker == "" {
			ok = w.seekKey(opts.KeyMarker, true)
		} else {
			ok = w.seekKey(opts.KeyMarker, false)
			skipKey, skipping = opts.KeyMarker, true
		}
	}
	lastKey := ""
	for ok {
		if err := ctx.Err(); err != nil {
			return VersionListResult{}, err
		}
		key, ver, val, err := w.current()
		if err != nil {
			return VersionListResult{}, err
		}
		r, err := decodeHeader(val, ver)
		if err != nil {
			return VersionListResult{}, err
		}
		if cp := w.commonPrefix(key); cp != "" {
			if opts.KeyMarker != "" && cp <= opts.KeyMarker {
				ok = w.skipPrefix(cp)
				continue
			}
			if r.Tomb {
				ok = w.it.Next()
				continue
			}
			if count == limit {
				res.IsTruncated = true
				break
			}
			res.CommonPrefixes = append(res.CommonPrefixes, cp)
			res.NextKeyMarker, res.NextVersionIDMarker = cp, ""
			count++
			ok = w.skipPrefix(cp)
			continue
		}
		latest := key != lastKey
		lastKey = key
		if skipping && key == skipKey {
			if r.versionID() == opts.VersionIDMarker {
				skipping = false
			}
			ok = w.it.Next()
			continue
		}
		skipping = false
		if !r.Tomb {
			if count == limit {
				res.IsTruncated = true
				break
			}
			res.Versions = append(res.Versions, r.info(bucket, key, latest))
			res.NextKeyMarker, res.NextVersionIDMarker = key, r.versionID()
			count++
		}
		ok = w.it.Next()
	}
	if !res.IsTruncated {
		res.NextKeyMarker, res.NextVersionIDMarker = "", ""
	}
	return res, nil
}
