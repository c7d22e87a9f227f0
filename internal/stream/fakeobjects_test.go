package stream

import (
	"bytes"
	"context"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/minicloud/minicloud/internal/object"
)

// fakeObjects is an in-memory object layer shared by the managers of a test: what the
// replication layer gives the sites of a mesh once it has shipped everything (one namespace).
// down makes every call fail, as an unreachable site's would.
type fakeObjects struct {
	mu      sync.Mutex
	buckets map[string]object.Bucket
	objs    map[string]map[string]fakeObj
	down    bool
	puts    int
}

type fakeObj struct {
	data []byte
	meta object.Meta
}

var _ Objects = (*fakeObjects)(nil)

func newFakeObjects() *fakeObjects {
	return &fakeObjects{buckets: map[string]object.Bucket{}, objs: map[string]map[string]fakeObj{}}
}

var errDown = object.ErrInvalidArgument.With("fake object layer is down")

func (f *fakeObjects) setDown(down bool) { f.mu.Lock(); f.down = down; f.mu.Unlock() }

func (f *fakeObjects) CreateBucketSites(_ context.Context, name string, sites []string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return errDown
	}
	if _, ok := f.buckets[name]; ok {
		return object.ErrBucketExists
	}
	f.buckets[name] = object.Bucket{Name: name, Sites: sites, Created: time.Now()}
	f.objs[name] = map[string]fakeObj{}
	return nil
}

func (f *fakeObjects) GetBucket(_ context.Context, name string) (object.Bucket, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return object.Bucket{}, errDown
	}
	b, ok := f.buckets[name]
	if !ok {
		return b, object.ErrNoSuchBucket
	}
	return b, nil
}

func (f *fakeObjects) AddSyncTarget(_ context.Context, bucket string, t object.SyncTarget) (object.SyncTarget, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	b := f.buckets[bucket]
	b.Sync = append(b.Sync, t)
	f.buckets[bucket] = b
	return t, nil
}

func (f *fakeObjects) PutObject(_ context.Context, bucket, key string, r io.Reader, size int64, opts object.PutOptions) (object.ObjectInfo, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return object.ObjectInfo{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return object.ObjectInfo{}, errDown
	}
	objs, ok := f.objs[bucket]
	if !ok {
		return object.ObjectInfo{}, object.ErrNoSuchBucket
	}
	objs[key] = fakeObj{data, opts.Meta}
	f.puts++
	return object.ObjectInfo{Bucket: bucket, Key: key, Size: int64(len(data))}, nil
}

func (f *fakeObjects) get(bucket, key string) (fakeObj, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return fakeObj{}, errDown
	}
	o, ok := f.objs[bucket][key]
	if !ok {
		return o, object.ErrNoSuchKey
	}
	return o, nil
}

func (f *fakeObjects) GetObject(_ context.Context, bucket, key, _ string, _, _ int64) (object.ObjectInfo, object.Reader, error) {
	o, err := f.get(bucket, key)
	if err != nil {
		return object.ObjectInfo{}, nil, err
	}
	return object.ObjectInfo{Key: key, Size: int64(len(o.data)), Meta: o.meta}, io.NopCloser(bytes.NewReader(o.data)), nil
}

func (f *fakeObjects) HeadObject(_ context.Context, bucket, key, _ string) (object.ObjectInfo, error) {
	o, err := f.get(bucket, key)
	if err != nil {
		return object.ObjectInfo{}, err
	}
	return object.ObjectInfo{Key: key, Size: int64(len(o.data)), Meta: o.meta}, nil
}

func (f *fakeObjects) ListObjects(_ context.Context, bucket string, opts object.ListOptions) (object.ListResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return object.ListResult{}, errDown
	}
	var keys []string
	for k := range f.objs[bucket] {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var res object.ListResult
	seen := map[string]bool{}
	for _, k := range keys {
		if !strings.HasPrefix(k, opts.Prefix) || k <= opts.Marker {
			continue
		}
		if opts.Delimiter != "" {
			if i := strings.Index(k[len(opts.Prefix):], opts.Delimiter); i >= 0 {
				p := k[:len(opts.Prefix)+i+1]
				if !seen[p] {
					seen[p] = true
					res.CommonPrefixes = append(res.CommonPrefixes, p)
				}
				continue
			}
		}
		res.Objects = append(res.Objects, object.ObjectInfo{Key: k, Size: int64(len(f.objs[bucket][k].data))})
	}
	return res, nil
}

// keys lists a bucket's keys with a prefix.
func (f *fakeObjects) keys(bucket, prefix string) []string {
	res, _ := f.ListObjects(context.Background(), bucket, object.ListOptions{Prefix: prefix})
	var out []string
	for _, o := range res.Objects {
		out = append(out, o.Key)
	}
	return out
}
