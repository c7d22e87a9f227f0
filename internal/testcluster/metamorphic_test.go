package testcluster_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"testing"

	"github.com/minicloud/minicloud/internal/object"
	"github.com/minicloud/minicloud/internal/replicate"
)

// TestMetamorphic runs one random S3 history twice: on a single node (RF=1, no network) and on a
// replicated site with faults, where a client retries a failed request once the faults are over,
// as a real client would. Both must show the same state at the end, and whenever the history
// model says what a read must return, the single node must return exactly that (which checks the
// model against a real implementation, not only the site against the model).
//
// The site has 3 nodes (every node a replica: no sloppy quorum) and is repaired right after a
// disk is lost: otherwise a read may legitimately miss an acknowledged write, and a copy made from
// it would legitimately differ from the single node's.
func TestMetamorphic(t *testing.T) {
	list := seeds(t)
	if *flagSeed == 0 {
		list = list[:max(1, len(list)/3)]
		for i := range list {
			list[i] += 1_000_000 // other schedules than TestSim's
		}
	}
	for _, seed := range list {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			bubble(t, func(t *testing.T) {
				s := newSim(t, seed, simOptions{faults: true, retry: true, nodes: 3})
				s.ref = newReference(t)
				s.run(opsPerRun())
				s.report()
			})
		})
	}
}

// reference is the single-node run: the replication layer with no cluster, RF=1.
type reference struct {
	t  *testing.T
	st *replicate.Store
}

func newReference(t *testing.T) *reference {
	objs, err := object.Open(dataDir(t), object.Options{NodeID: "ref"})
	if err != nil {
		t.Fatal(err)
	}
	st := replicate.New(replicate.Options{Local: objs, RF: 1, W: 1, R: 1})
	t.Cleanup(func() {
		st.Close()
		objs.Close()
	})
	ctx := context.Background()
	for _, b := range buckets {
		if err := st.CreateBucketSites(ctx, b, nil); err != nil {
			t.Fatal(err)
		}
	}
	err = st.UpdateBucket(ctx, "vers", func(b *object.Bucket) error { b.Versioning = object.VersioningEnabled; return nil })
	if err != nil {
		t.Fatal(err)
	}
	return &reference{t: t, st: st}
}

func (r *reference) write(o op) {
	ctx := context.Background()
	var err error
	if o.kind == "put" {
		_, err = r.st.PutObject(ctx, o.bucket, o.key, bytes.NewReader(o.value), int64(len(o.value)), object.PutOptions{})
	} else {
		_, err = r.st.DeleteObject(ctx, o.bucket, o.key, "")
	}
	if err != nil {
		r.t.Fatalf("single node: %s %s/%s: %v", o.kind, o.bucket, o.key, err)
	}
}

func (r *reference) copy(o op) {
	_, err := r.st.CopyObject(context.Background(), o.srcBucket, o.srcKey, "", o.bucket, o.key, object.CopyOptions{})
	if err != nil && !errors.Is(err, object.ErrNoSuchKey) {
		r.t.Fatalf("single node: copy %s/%s to %s/%s: %v", o.srcBucket, o.srcKey, o.bucket, o.key, err)
	}
}

func (r *reference) get(bucket, key string) (observed, []byte) {
	info, rd, err := r.st.GetObject(context.Background(), bucket, key, "", 0, -1)
	if errors.Is(err, object.ErrNoSuchKey) {
		return observed{absent: true}, nil
	}
	if err != nil {
		r.t.Fatalf("single node: get %s/%s: %v", bucket, key, err)
	}
	defer rd.Close()
	body, err := io.ReadAll(rd)
	if err != nil {
		r.t.Fatalf("single node: read %s/%s: %v", bucket, key, err)
	}
	return observed{etag: info.ETag}, body
}

func (r *reference) list(bucket string) map[string]object.ObjectInfo {
	res, err := r.st.ListObjects(context.Background(), bucket, object.ListOptions{})
	if err != nil {
		r.t.Fatalf("single node: list %s: %v", bucket, err)
	}
	out := map[string]object.ObjectInfo{}
	for _, oi := range res.Objects {
		out[oi.Key] = oi
	}
	return out
}

// determined returns the one thing a read may return now, when the model allows only one.
func (r *register) determined() (observed, bool) {
	from := r.anchor
	w := r.writes[from]
	want := observed{absent: w.deleted, etag: w.etag}
	for _, x := range r.writes[from+1:] {
		if !x.matches(want) {
			return observed{}, false
		}
	}
	return want, true
}

// checkRef compares the single node's answer for a key with the model's, where it is determined.
func (s *sim) checkRef(bucket, key string, got observed) {
	reg := s.reg(bucket, key)
	if want, ok := reg.determined(); ok && want != got {
		s.fail(reg, "single node reads %v for %s/%s, the history model says %v", got, bucket, key, want)
	}
}

// compareFinal checks that the converged site shows what the single node shows.
func (s *sim) compareFinal(bucket, key string, site observed, body []byte) {
	obs, rbody := s.ref.get(bucket, key)
	if obs != site || !bytes.Equal(body, rbody) {
		s.fail(s.reg(bucket, key), "after healing, %s/%s is %v on the site and %v on the single node", bucket, key, site, obs)
	}
}

func (s *sim) compareListing(bucket string) {
	got, _, err := s.list(0, bucket, 0, false)
	if err != nil {
		s.fail(nil, "after healing, list %s: %v", bucket, err)
	}
	want := s.ref.list(bucket)
	if !maps.EqualFunc(got, want, func(a, b object.ObjectInfo) bool { return a.ETag == b.ETag && a.Size == b.Size }) {
		s.fail(nil, "after healing, list %s differs: site %v, single node %v", bucket, keysOf(got), keysOf(want))
	}
}

func keysOf(m map[string]object.ObjectInfo) []string {
	var out []string
	for k, v := range m {
		out = append(out, k+":"+v.ETag[:8])
	}
	return out
}
