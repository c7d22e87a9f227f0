package e2e

import (
	"bytes"
	"crypto/rand"
	"io"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/minicloud/minicloud/internal/testserver"
)

// TestSiteMultipartAnyNode: in a 3-node site, an aws-sdk-go-v2 client begins a multipart upload
// on one node and sends its parts to another; the first node is killed (SIGKILL); the upload is
// listed, its parts listed, and it is completed through the third node; the object then reads
// back byte-identical from every node, and versions list the same everywhere.
func TestSiteMultipartAnyNode(t *testing.T) {
	ctx := testserver.Context(t)
	s := startSite(t, 3)
	t.Cleanup(s.dumpLogs)
	s.createBucket(ctx, "multi")
	c0, c1, c2 := sdkClient(s.nodes[0].Endpoint()), sdkClient(s.nodes[1].Endpoint()), sdkClient(s.nodes[2].Endpoint())

	up, err := c0.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("multi"), Key: aws.String("big")})
	if err != nil {
		t.Fatal(err)
	}
	parts := [][]byte{make([]byte, 5<<20), make([]byte, 1<<20+17)}
	var done []types.CompletedPart
	for i, p := range parts {
		rand.Read(p)
		out, err := c1.UploadPart(ctx, &s3.UploadPartInput{
			Bucket: aws.String("multi"), Key: aws.String("big"), UploadId: up.UploadId,
			PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader(p), ContentLength: aws.Int64(int64(len(p))),
		})
		if err != nil {
			t.Fatalf("part %d through a node other than the upload's first: %v", i+1, err)
		}
		done = append(done, types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(int32(i + 1))})
	}
	s.nodes[0].Kill()
	poll(t, 30*time.Second, "the others see s0 down", func() string {
		for _, n := range s.nodes[1:] {
			st, err := status(ctx, n)
			if err != nil {
				return err.Error()
			}
			if st.state("s0") != "down" {
				return n.ID + " sees s0 as " + st.state("s0")
			}
		}
		return ""
	})
	ups, err := c2.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String("multi")})
	if err != nil || len(ups.Uploads) != 1 || aws.ToString(ups.Uploads[0].UploadId) != aws.ToString(up.UploadId) {
		t.Fatalf("uploads listed through s2: %v", err)
	}
	lp, err := c2.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String("multi"), Key: aws.String("big"), UploadId: up.UploadId})
	if err != nil || len(lp.Parts) != 2 {
		t.Fatalf("parts listed through s2: %v", err)
	}
	if _, err := c2.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: aws.String("multi"), Key: aws.String("big"), UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: done},
	}); err != nil {
		t.Fatalf("complete through s2 with s0 dead: %v", err)
	}
	want := append(append([]byte(nil), parts[0]...), parts[1]...)
	s.nodes[0].Restart()
	s.waitAlive(ctx, 30*time.Second, s.nodes, s.ids(s.nodes))
	for i, c := range []*s3.Client{c0, c1, c2} {
		out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("multi"), Key: aws.String("big")})
		if err != nil {
			t.Fatalf("GET via s%d: %v", i, err)
		}
		got, err := io.ReadAll(out.Body)
		out.Body.Close()
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("GET via s%d: %d bytes (%v), want %d", i, len(got), err, len(want))
		}
		ups, err := c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String("multi")})
		if err != nil || len(ups.Uploads) != 0 {
			t.Errorf("uploads listed via s%d after completion: %d (%v)", i, len(ups.Uploads), err)
		}
		vs, err := c.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: aws.String("multi")})
		if err != nil || len(vs.Versions) != 1 || aws.ToString(vs.Versions[0].Key) != "big" {
			t.Errorf("versions listed via s%d: %v", i, err)
		}
	}
	t.Logf("upload of %d bytes begun on s0, parts through s1, completed through s2 with s0 dead; read back from all", len(want))
}
