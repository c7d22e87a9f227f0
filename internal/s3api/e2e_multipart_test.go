package s3api

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

const mib = 1 << 20

func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i%251)
	}
	return b
}

func TestE2EMultipart(t *testing.T) {
	e := newEnv(t)
	ctx := e.ctx()
	e.mkBucket("mpu")
	b, k := aws.String("mpu"), aws.String("big/object.bin")

	cr, err := e.s3.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: b, Key: k, ContentType: aws.String("application/x-big"), Metadata: map[string]string{"m": "1"}})
	if err != nil {
		t.Fatal(err)
	}
	id := cr.UploadId
	p1, p2, p3 := pattern(5*mib, 1), pattern(5*mib, 2), pattern(1234, 3)
	var etags []string
	var md5s []byte
	for i, data := range [][]byte{p1, p2, p3} {
		up, err := e.s3.UploadPart(ctx, &s3.UploadPartInput{Bucket: b, Key: k, UploadId: id, PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader(data)})
		if err != nil {
			t.Fatalf("UploadPart %d: %v", i+1, err)
		}
		sum := md5.Sum(data)
		if aws.ToString(up.ETag) != `"`+hex.EncodeToString(sum[:])+`"` {
			t.Fatalf("part %d ETag %s", i+1, aws.ToString(up.ETag))
		}
		etags = append(etags, aws.ToString(up.ETag))
		md5s = append(md5s, sum[:]...)
	}
	// Part number bounds.
	for _, n := range []string{"0", "10001", "x"} {
		wantRaw(t, e.raw("PUT", "/mpu/big/object.bin?uploadId="+aws.ToString(id)+"&partNumber="+n, []byte("x"), nil), 400, "InvalidArgument")
	}
	_, err = e.s3.UploadPart(ctx, &s3.UploadPartInput{Bucket: b, Key: k, UploadId: aws.String("no-such-upload"), PartNumber: aws.Int32(1), Body: strings.NewReader("x")})
	wantCode(t, err, "NoSuchUpload", 404)

	lp, err := e.s3.ListParts(ctx, &s3.ListPartsInput{Bucket: b, Key: k, UploadId: id})
	if err != nil || len(lp.Parts) != 3 || aws.ToInt64(lp.Parts[0].Size) != 5*mib || aws.ToString(lp.Parts[2].ETag) != etags[2] {
		t.Fatalf("ListParts = %+v, %v", lp, err)
	}
	lp, err = e.s3.ListParts(ctx, &s3.ListPartsInput{Bucket: b, Key: k, UploadId: id, MaxParts: aws.Int32(2)})
	if err != nil || len(lp.Parts) != 2 || !aws.ToBool(lp.IsTruncated) || aws.ToString(lp.NextPartNumberMarker) != "2" {
		t.Fatalf("ListParts page = %+v, %v", lp, err)
	}
	lu, err := e.s3.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: b})
	if err != nil || len(lu.Uploads) != 1 || aws.ToString(lu.Uploads[0].UploadId) != aws.ToString(id) || aws.ToString(lu.Uploads[0].Key) != *k {
		t.Fatalf("ListMultipartUploads = %+v, %v", lu, err)
	}

	// Completion errors change nothing.
	parts := func(nums ...int) *types.CompletedMultipartUpload {
		c := &types.CompletedMultipartUpload{}
		for _, n := range nums {
			c.Parts = append(c.Parts, types.CompletedPart{PartNumber: aws.Int32(int32(n)), ETag: aws.String(etags[(n-1)%3])})
		}
		return c
	}
	_, err = e.s3.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: b, Key: k, UploadId: id, MultipartUpload: parts(2, 1)})
	wantCode(t, err, "InvalidPartOrder", 400)
	_, err = e.s3.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: b, Key: k, UploadId: id, MultipartUpload: &types.CompletedMultipartUpload{
		Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: aws.String(`"00000000000000000000000000000000"`)}}}})
	wantCode(t, err, "InvalidPart", 400)
	_, err = e.s3.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: b, Key: k, UploadId: id, MultipartUpload: &types.CompletedMultipartUpload{
		Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: aws.String(etags[0])}, {PartNumber: aws.Int32(4), ETag: aws.String(etags[0])}}}})
	wantCode(t, err, "InvalidPart", 400)
	wantRaw(t, e.raw("POST", "/mpu/big/object.bin?uploadId="+aws.ToString(id), []byte("<CompleteMultipartUpload></CompleteMultipartUpload>"), nil), 400, "MalformedXML")
	wantRaw(t, e.raw("POST", "/mpu/big/object.bin?uploadId="+aws.ToString(id), []byte("<Complete"), nil), 400, "MalformedXML")
	_, err = e.s3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: b, Key: k})
	wantCode(t, err, "NotFound", 404)

	done, err := e.s3.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: b, Key: k, UploadId: id, MultipartUpload: parts(1, 2, 3)})
	if err != nil {
		t.Fatalf("CompleteMultipartUpload: %v", err)
	}
	all := md5.Sum(md5s)
	wantETag := fmt.Sprintf(`"%s-3"`, hex.EncodeToString(all[:]))
	if aws.ToString(done.ETag) != wantETag || aws.ToString(done.Key) != *k || aws.ToString(done.Bucket) != *b || !strings.Contains(aws.ToString(done.Location), "/mpu/big/object.bin") {
		t.Fatalf("Complete = %+v, want ETag %s", done, wantETag)
	}
	whole := append(append(append([]byte(nil), p1...), p2...), p3...)
	got, err := e.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: k})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(got.Body)
	got.Body.Close()
	if !bytes.Equal(body, whole) || aws.ToString(got.ETag) != wantETag || aws.ToString(got.ContentType) != "application/x-big" || got.Metadata["m"] != "1" {
		t.Fatalf("multipart object: %d bytes (want %d), etag %s, type %s", len(body), len(whole), aws.ToString(got.ETag), aws.ToString(got.ContentType))
	}
	// GET and HEAD by part number.
	for n, want := range map[int][]byte{1: p1, 2: p2, 3: p3} {
		pg, err := e.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: k, PartNumber: aws.Int32(int32(n))})
		if err != nil {
			t.Fatalf("GET partNumber=%d: %v", n, err)
		}
		pb, _ := io.ReadAll(pg.Body)
		pg.Body.Close()
		if !bytes.Equal(pb, want) || aws.ToInt32(pg.PartsCount) != 3 {
			t.Fatalf("GET partNumber=%d: %d bytes, parts count %d", n, len(pb), aws.ToInt32(pg.PartsCount))
		}
	}
	hp, err := e.s3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: b, Key: k, PartNumber: aws.Int32(2)})
	if err != nil || aws.ToInt64(hp.ContentLength) != 5*mib || aws.ToInt32(hp.PartsCount) != 3 {
		t.Fatalf("HEAD partNumber=2: %+v %v", hp, err)
	}
	wantRaw(t, e.raw("GET", "/mpu/big/object.bin?partNumber=4", nil, nil), 416, "InvalidPartNumber")
	// The upload is gone.
	_, err = e.s3.ListParts(ctx, &s3.ListPartsInput{Bucket: b, Key: k, UploadId: id})
	wantCode(t, err, "NoSuchUpload", 404)

	// EntityTooSmall: a small part that is not the last.
	cr2, _ := e.s3.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: b, Key: aws.String("small")})
	var small []types.CompletedPart
	for i := 1; i <= 2; i++ {
		up, err := e.s3.UploadPart(ctx, &s3.UploadPartInput{Bucket: b, Key: aws.String("small"), UploadId: cr2.UploadId, PartNumber: aws.Int32(int32(i)), Body: strings.NewReader("tiny")})
		if err != nil {
			t.Fatal(err)
		}
		small = append(small, types.CompletedPart{PartNumber: aws.Int32(int32(i)), ETag: up.ETag})
	}
	_, err = e.s3.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: b, Key: aws.String("small"), UploadId: cr2.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: small}})
	wantCode(t, err, "EntityTooSmall", 400)
	// Abort.
	if _, err := e.s3.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: b, Key: aws.String("small"), UploadId: cr2.UploadId}); err != nil {
		t.Fatal(err)
	}
	_, err = e.s3.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: b, Key: aws.String("small"), UploadId: cr2.UploadId})
	wantCode(t, err, "NoSuchUpload", 404)
	lu, _ = e.s3.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: b})
	if len(lu.Uploads) != 0 {
		t.Fatalf("uploads left: %+v", lu.Uploads)
	}
}

func TestE2EUploadPartCopy(t *testing.T) {
	e := newEnv(t)
	ctx := e.ctx()
	e.mkBucket("upc")
	b := aws.String("upc")
	src := pattern(6*mib, 7)
	if _, err := e.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("src"), Body: bytes.NewReader(src)}); err != nil {
		t.Fatal(err)
	}
	cr, err := e.s3.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: b, Key: aws.String("dst")})
	if err != nil {
		t.Fatal(err)
	}
	c1, err := e.s3.UploadPartCopy(ctx, &s3.UploadPartCopyInput{Bucket: b, Key: aws.String("dst"), UploadId: cr.UploadId, PartNumber: aws.Int32(1),
		CopySource: aws.String("upc/src"), CopySourceRange: aws.String(fmt.Sprintf("bytes=0-%d", 5*mib-1))})
	if err != nil {
		t.Fatalf("UploadPartCopy 1: %v", err)
	}
	c2, err := e.s3.UploadPartCopy(ctx, &s3.UploadPartCopyInput{Bucket: b, Key: aws.String("dst"), UploadId: cr.UploadId, PartNumber: aws.Int32(2),
		CopySource: aws.String("upc/src"), CopySourceRange: aws.String(fmt.Sprintf("bytes=%d-%d", 5*mib, 6*mib-1))})
	if err != nil {
		t.Fatalf("UploadPartCopy 2: %v", err)
	}
	_, err = e.s3.UploadPartCopy(ctx, &s3.UploadPartCopyInput{Bucket: b, Key: aws.String("dst"), UploadId: cr.UploadId, PartNumber: aws.Int32(3),
		CopySource: aws.String("upc/src"), CopySourceRange: aws.String(fmt.Sprintf("bytes=0-%d", 6*mib))})
	wantCode(t, err, "InvalidRange", 416)
	_, err = e.s3.UploadPartCopy(ctx, &s3.UploadPartCopyInput{Bucket: b, Key: aws.String("dst"), UploadId: cr.UploadId, PartNumber: aws.Int32(3),
		CopySource: aws.String("upc/src"), CopySourceRange: aws.String("bytes=5-")})
	wantCode(t, err, "InvalidArgument", 400)
	_, err = e.s3.UploadPartCopy(ctx, &s3.UploadPartCopyInput{Bucket: b, Key: aws.String("dst"), UploadId: cr.UploadId, PartNumber: aws.Int32(3),
		CopySource: aws.String("upc/src"), CopySourceIfMatch: aws.String(`"nope"`)})
	wantCode(t, err, "PreconditionFailed", 412)
	_, err = e.s3.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: b, Key: aws.String("dst"), UploadId: cr.UploadId, MultipartUpload: &types.CompletedMultipartUpload{
		Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: c1.CopyPartResult.ETag}, {PartNumber: aws.Int32(2), ETag: c2.CopyPartResult.ETag}}}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := e.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: aws.String("dst")})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(got.Body)
	got.Body.Close()
	if !bytes.Equal(body, src) {
		t.Fatalf("UploadPartCopy result differs: %d bytes", len(body))
	}
}
