package object

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func openTest(t *testing.T) (*Store, string) {
	t.Helper()
	dir := t.TempDir()
	s, err := Open(dir, Options{NodeID: "test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, dir
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func readAll(t *testing.T, s *Store, bucket, key, ver string, off, n int64) []byte {
	t.Helper()
	_, r, err := s.GetObject(context.Background(), bucket, key, ver, off, n)
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read %s: %v", key, err)
	}
	return b
}

func TestPutGetSizes(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	if err := s.CreateBucket(ctx, "bkt", ""); err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{0, 1, 4096, InlineLimit, InlineLimit + 1, 3<<20 + 17} {
		data := randBytes(n)
		for _, size := range []int64{int64(n), -1} {
			key := fmt.Sprintf("k%d/%d", n, size)
			info, err := s.PutObject(ctx, "bkt", key, bytes.NewReader(data), size, PutOptions{})
			if err != nil {
				t.Fatalf("put %d: %v", n, err)
			}
			if info.Size != int64(n) {
				t.Fatalf("size %d != %d", info.Size, n)
			}
			if got := readAll(t, s, "bkt", key, "", 0, -1); !bytes.Equal(got, data) {
				t.Fatalf("%s: read back %d bytes, differ", key, len(got))
			}
			if n > 10 {
				got := readAll(t, s, "bkt", key, "", 5, int64(n-7))
				if !bytes.Equal(got, data[5:n-2]) {
					t.Fatalf("%s: range read differs", key)
				}
			}
		}
	}
	if _, err := s.PutObject(ctx, "bkt", "short", bytes.NewReader(make([]byte, 10)), 20, PutOptions{}); !errors.Is(err, ErrIncompleteBody) {
		t.Fatalf("short body: %v", err)
	}
	if _, err := s.HeadObject(ctx, "bkt", "short", ""); !errors.Is(err, ErrNoSuchKey) {
		t.Fatalf("short body left an object: %v", err)
	}
}

func TestCorruptChunkIsDetected(t *testing.T) {
	s, dir := openTest(t)
	ctx := context.Background()
	s.CreateBucket(ctx, "bkt", "")
	data := randBytes(2 << 20)
	if _, err := s.PutObject(ctx, "bkt", "big", bytes.NewReader(data), int64(len(data)), PutOptions{}); err != nil {
		t.Fatal(err)
	}
	// Flip one byte in every chunk file.
	filepath.Walk(filepath.Join(dir, "blobs", "chunks"), func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			b, _ := os.ReadFile(p)
			b[len(b)/2] ^= 0xff
			os.WriteFile(p, b, 0o600)
		}
		return nil
	})
	// The first chunk is verified before GetObject returns, so the request fails before any byte.
	_, _, err := s.GetObject(ctx, "bkt", "big", "", 0, -1)
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("want ErrCorrupt, got %v", err)
	}
	if s.Corruptions() == 0 {
		t.Fatal("corruption not counted")
	}
}

func TestVersioningAndList(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	s.CreateBucket(ctx, "vbk", "")
	s.UpdateBucket(ctx, "vbk", func(b *Bucket) error { b.Versioning = VersioningEnabled; return nil })
	a, _ := s.PutObject(ctx, "vbk", "k", bytes.NewReader([]byte("one")), 3, PutOptions{})
	b, _ := s.PutObject(ctx, "vbk", "k", bytes.NewReader([]byte("two")), 3, PutOptions{})
	if a.VersionID == b.VersionID || a.VersionID == NullVersion {
		t.Fatalf("version ids %q %q", a.VersionID, b.VersionID)
	}
	if got := readAll(t, s, "vbk", "k", a.VersionID, 0, -1); string(got) != "one" {
		t.Fatalf("old version reads %q", got)
	}
	d, err := s.DeleteObject(ctx, "vbk", "k", "")
	if err != nil || !d.DeleteMarker {
		t.Fatalf("delete: %+v %v", d, err)
	}
	if _, err := s.HeadObject(ctx, "vbk", "k", ""); !errors.Is(err, ErrNoSuchKey) {
		t.Fatalf("head after delete: %v", err)
	}
	vl, _ := s.ListObjectVersions(ctx, "vbk", VersionListOptions{})
	if len(vl.Versions) != 3 || !vl.Versions[0].DeleteMarker || !vl.Versions[0].IsLatest || vl.Versions[1].IsLatest {
		t.Fatalf("versions: %+v", vl.Versions)
	}
	l, _ := s.ListObjects(ctx, "vbk", ListOptions{})
	if len(l.Objects) != 0 {
		t.Fatalf("deleted key listed: %+v", l.Objects)
	}
	// Removing the marker brings the object back.
	s.DeleteObject(ctx, "vbk", "k", d.VersionID)
	if got := readAll(t, s, "vbk", "k", "", 0, -1); string(got) != "two" {
		t.Fatalf("after removing marker: %q", got)
	}
}

func TestListPaging(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	s.CreateBucket(ctx, "lbk", "")
	keys := []string{"a", "b/1", "b/2", "c", "d/x/1", "e", "f/gone"}
	for _, k := range keys {
		s.PutObject(ctx, "lbk", k, bytes.NewReader(nil), 0, PutOptions{})
	}
	s.DeleteObject(ctx, "lbk", "c", "")
	s.DeleteObject(ctx, "lbk", "f/gone", "") // a prefix holding only deleted keys is not listed
	var got []string
	marker := ""
	for i := 0; i < 10; i++ {
		r, err := s.ListObjects(ctx, "lbk", ListOptions{Delimiter: "/", Marker: marker, MaxKeys: 1})
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range r.Objects {
			got = append(got, o.Key)
		}
		got = append(got, r.CommonPrefixes...)
		if !r.IsTruncated {
			break
		}
		marker = r.NextMarker
	}
	want := fmt.Sprint([]string{"a", "b/", "d/", "e"})
	if fmt.Sprint(got) != want {
		t.Fatalf("got %v want %v", got, want)
	}
}

func TestMultipart(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	s.CreateBucket(ctx, "mbk", "")
	id, err := s.CreateMultipartUpload(ctx, "mbk", "obj", PutOptions{Meta: Meta{ContentType: "x/y"}})
	if err != nil {
		t.Fatal(err)
	}
	p1 := randBytes(MinPartSize)
	p2 := randBytes(1000)
	i1, err := s.UploadPart(ctx, "mbk", "obj", id, 1, bytes.NewReader(p1), int64(len(p1)), nil)
	if err != nil {
		t.Fatal(err)
	}
	i2, _ := s.UploadPart(ctx, "mbk", "obj", id, 2, bytes.NewReader(p2), int64(len(p2)), nil)
	if _, err := s.CompleteMultipartUpload(ctx, "mbk", "obj", id, []CompletePart{{2, i2.ETag}, {1, i1.ETag}}); !errors.Is(err, ErrInvalidPartOrder) {
		t.Fatalf("order: %v", err)
	}
	info, err := s.CompleteMultipartUpload(ctx, "mbk", "obj", id, []CompletePart{{1, `"` + i1.ETag + `"`}, {2, i2.ETag}})
	if err != nil {
		t.Fatal(err)
	}
	if info.ETag[len(info.ETag)-2:] != "-2" || info.Size != int64(len(p1)+len(p2)) {
		t.Fatalf("info %+v", info)
	}
	if got := readAll(t, s, "mbk", "obj", "", 0, -1); !bytes.Equal(got, append(p1, p2...)) {
		t.Fatal("multipart content differs")
	}
	if _, err := s.ListParts(ctx, "mbk", "obj", id, 0, 0); !errors.Is(err, ErrNoSuchUpload) {
		t.Fatalf("upload still there: %v", err)
	}
}

// A newer state of the same version (new tags) replaces the record instead of deleting it.
func TestMergeSameVersionNewerTags(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	s.CreateBucket(ctx, "tbk", "")
	p, err := s.PreparePut(ctx, "tbk", "k", bytes.NewReader([]byte("data")), 4, PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Release()
	if _, err := s.MergeRecord(p.Msg); err != nil {
		t.Fatal(err)
	}
	tagged, err := s.PrepareTagging(p.Msg, map[string]string{"team": "edge"})
	if err != nil {
		t.Fatal(err)
	}
	if changed, err := s.MergeRecord(tagged.Msg); err != nil || !changed {
		t.Fatalf("merge tags: %v %v", changed, err)
	}
	tags, _, err := s.GetObjectTagging(ctx, "tbk", "k", "")
	if err != nil || tags["team"] != "edge" {
		t.Fatalf("tags after merge: %v %v", tags, err)
	}
	if got := readAll(t, s, "tbk", "k", "", 0, -1); string(got) != "data" {
		t.Fatalf("data after tag merge: %q", got)
	}
}
