package testcluster_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/minicloud/minicloud/internal/object"
	"github.com/minicloud/minicloud/internal/testcluster"
)

// An upload's parts are replicated like objects: an upload begun on one node takes parts through
// others, and lists and completes through a third after the first died.
func TestMultipartThroughAnyNode(t *testing.T) {
	bubble(t, func(t *testing.T) {
		ctx := context.Background()
		c := testcluster.New(t, testcluster.Options{
			Nodes: 3, Rand: rand.New(rand.NewPCG(15, 15)), Detection: 1, Dir: dataDir(t),
		})
		c.CreateBucket("plain", "")
		id, err := c.Store(0).CreateMultipartUpload(ctx, "plain", "big", object.PutOptions{})
		if err != nil {
			t.Fatal(err)
		}
		p1 := value(1, 0, object.MinPartSize)
		p2 := []byte("the last part")
		i1, err := c.Store(0).UploadPart(ctx, "plain", "big", id, 1, bytes.NewReader(p1), int64(len(p1)), nil)
		if err != nil {
			t.Fatal(err)
		}
		i2, err := c.Store(1).UploadPart(ctx, "plain", "big", id, 2, bytes.NewReader(p2), int64(len(p2)), nil)
		if err != nil {
			t.Fatalf("part 2 through another node than the upload's first: %v", err)
		}
		c.Crash(0)
		parts, err := c.Store(2).ListParts(ctx, "plain", "big", id, 0, 0)
		if err != nil {
			t.Fatalf("list parts through a third node, the first dead: %v", err)
		}
		if len(parts.Parts) != 2 || parts.Parts[0].ETag != i1.ETag || parts.Parts[1].ETag != i2.ETag {
			t.Fatalf("parts listed: %+v", parts.Parts)
		}
		ups, err := c.Store(1).ListMultipartUploads(ctx, "plain", object.UploadListOptions{})
		if err != nil || len(ups.Uploads) != 1 || ups.Uploads[0].UploadID != id {
			t.Fatalf("uploads listed: %+v, %v", ups.Uploads, err)
		}
		info, err := c.Store(2).CompleteMultipartUpload(ctx, "plain", "big", id, []object.CompletePart{{Number: 1, ETag: i1.ETag}, {Number: 2, ETag: i2.ETag}})
		if err != nil {
			t.Fatalf("complete through a third node, the first dead: %v", err)
		}
		if info.Size != int64(len(p1)+len(p2)) {
			t.Fatalf("completed size %d", info.Size)
		}
		c.Restart(0)
		c.Settle(ctx, 2)
		want := append(slices.Clone(p1), p2...)
		for i := range c.N() {
			_, rd, err := c.Store(i).GetObject(ctx, "plain", "big", "", 0, -1)
			if err != nil {
				t.Fatalf("GET via n%d: %v", i, err)
			}
			got, err := io.ReadAll(rd)
			rd.Close()
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("GET via n%d: %d bytes (%v), want %d", i, len(got), err, len(want))
			}
			ups, err := c.Store(i).ListMultipartUploads(ctx, "plain", object.UploadListOptions{})
			if err != nil || len(ups.Uploads) != 0 {
				t.Errorf("uploads listed via n%d after completion: %+v, %v", i, ups.Uploads, err)
			}
			if _, err := c.Store(i).ListParts(ctx, "plain", "big", id, 0, 0); !errors.Is(err, object.ErrNoSuchUpload) {
				t.Errorf("list parts via n%d after completion: %v", i, err)
			}
		}
	})
}

// In a site larger than RF no node holds every partition: listings of versions and of uploads
// merge the nodes' answers, page after page, and agree whichever node answers (one of them down).
func TestListingsMergeReplicas(t *testing.T) {
	bubble(t, func(t *testing.T) {
		ctx := context.Background()
		c := testcluster.New(t, testcluster.Options{
			Nodes: 5, Rand: rand.New(rand.NewPCG(16, 16)), Detection: 1, Dir: dataDir(t),
		})
		c.CreateBucket("vers", object.VersioningEnabled)
		var want []string // key/version, in listing order
		var uploads []string
		for k := range 12 {
			key := fmt.Sprintf("d%d/k%02d", k%3, k)
			var ids []string
			for v := range 1 + k%3 {
				body := []byte(fmt.Sprintf("%s v%d", key, v))
				info, err := c.Store((k+v)%5).PutObject(ctx, "vers", key, bytes.NewReader(body), int64(len(body)), object.PutOptions{})
				if err != nil {
					t.Fatal(err)
				}
				ids = append([]string{info.VersionID}, ids...)
			}
			if k%4 == 0 {
				res, err := c.Store(k%5).DeleteObject(ctx, "vers", key, "")
				if err != nil {
					t.Fatal(err)
				}
				ids = append([]string{res.VersionID}, ids...)
			}
			for _, id := range ids {
				want = append(want, key+"@"+id)
			}
			if k%2 == 0 {
				id, err := c.Store(k%5).CreateMultipartUpload(ctx, "vers", key, object.PutOptions{})
				if err != nil {
					t.Fatal(err)
				}
				uploads = append(uploads, key+"@"+id)
			}
		}
		slices.SortFunc(want, cmpKey)
		slices.Sort(uploads)
		c.Crash(4)
		for i := range 4 {
			for _, max := range []int{0, 3} {
				var got []string
				opts := object.VersionListOptions{MaxKeys: max}
				latest := map[string]int{}
				for pages := 0; ; pages++ {
					res, err := c.Store(i).ListObjectVersions(ctx, "vers", opts)
					if err != nil {
						t.Fatalf("list versions via n%d: %v", i, err)
					}
					for _, v := range res.Versions {
						got = append(got, v.Key+"@"+v.VersionID)
						if v.IsLatest {
							latest[v.Key]++
						}
					}
					if !res.IsTruncated {
						break
					}
					if pages > 100 {
						t.Fatal("listing does not end")
					}
					opts.KeyMarker, opts.VersionIDMarker = res.NextKeyMarker, res.NextVersionIDMarker
				}
				if !slices.Equal(got, want) {
					t.Fatalf("versions via n%d (max-keys %d):\n got %v\nwant %v", i, max, got, want)
				}
				if len(latest) != 12 {
					t.Errorf("via n%d: %d keys with a latest version, want 12: %v", i, len(latest), latest)
				}
			}
			res, err := c.Store(i).ListObjectVersions(ctx, "vers", object.VersionListOptions{Delimiter: "/"})
			if err != nil || !slices.Equal(res.CommonPrefixes, []string{"d0/", "d1/", "d2/"}) {
				t.Errorf("versions with a delimiter via n%d: %v, %v", i, res.CommonPrefixes, err)
			}
			var got []string
			opts := object.UploadListOptions{MaxUploads: 2}
			for {
				res, err := c.Store(i).ListMultipartUploads(ctx, "vers", opts)
				if err != nil {
					t.Fatalf("list uploads via n%d: %v", i, err)
				}
				for _, u := range res.Uploads {
					got = append(got, u.Key+"@"+u.UploadID)
				}
				if !res.IsTruncated {
					break
				}
				opts.KeyMarker, opts.UploadIDMarker = res.NextKeyMarker, res.NextUploadIDMarker
			}
			if !slices.Equal(got, uploads) {
				t.Fatalf("uploads via n%d:\n got %v\nwant %v", i, got, uploads)
			}
		}
	})
}

// cmpKey orders "key@version" entries by key, then newest version first (version ids are
// fixed-width hex of the version's timestamp and node, so they sort as the versions do).
func cmpKey(a, b string) int {
	ka, va, _ := cut(a)
	kb, vb, _ := cut(b)
	switch {
	case ka < kb:
		return -1
	case ka > kb:
		return 1
	case va > vb:
		return -1
	case va < vb:
		return 1
	}
	return 0
}

func cut(s string) (string, string, bool) {
	for i := range s {
		if s[i] == '@' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}
