package s3api

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/tags"
)

func (e *env) minio(t *testing.T) *minio.Client {
	t.Helper()
	u, _ := url.Parse(e.url)
	c, err := minio.New(u.Host, &minio.Options{
		Creds:        credentials.NewStaticV4(rootAK, rootSK, ""),
		Secure:       false,
		Region:       testRegion,
		BucketLookup: minio.BucketLookupPath,
		MaxRetries:   1,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestE2EMinio(t *testing.T) {
	e := newEnv(t)
	mc := e.minio(t)
	ctx := context.Background()

	if err := mc.MakeBucket(ctx, "minio-bkt", minio.MakeBucketOptions{}); err != nil {
		t.Fatalf("MakeBucket: %v", err)
	}
	if ok, err := mc.BucketExists(ctx, "minio-bkt"); err != nil || !ok {
		t.Fatalf("BucketExists = %v, %v", ok, err)
	}
	if ok, err := mc.BucketExists(ctx, "missing-bkt"); err != nil || ok {
		t.Fatalf("BucketExists(missing) = %v, %v", ok, err)
	}
	err := mc.MakeBucket(ctx, "minio-bkt", minio.MakeBucketOptions{})
	if minio.ToErrorResponse(err).Code != "BucketAlreadyOwnedByYou" {
		t.Fatalf("MakeBucket twice: %v", err)
	}

	// Small object with metadata, user tags and a content type.
	info, err := mc.PutObject(ctx, "minio-bkt", "small.txt", strings.NewReader("small"), 5, minio.PutObjectOptions{
		ContentType: "text/plain", UserMetadata: map[string]string{"Owner": "team"}, UserTags: map[string]string{"k": "v"}})
	if err != nil {
		t.Fatalf("PutObject: %v", err)
	}
	st, err := mc.StatObject(ctx, "minio-bkt", "small.txt", minio.StatObjectOptions{})
	if err != nil || st.Size != 5 || st.ETag != info.ETag || st.ContentType != "text/plain" || st.UserMetadata["Owner"] != "team" || st.UserTagCount != 1 {
		t.Fatalf("StatObject = %+v, %v", st, err)
	}
	obj, err := mc.GetObject(ctx, "minio-bkt", "small.txt", minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(obj)
	obj.Close()
	if err != nil || string(b) != "small" {
		t.Fatalf("GetObject = %q, %v", b, err)
	}
	// Range through the minio client.
	opts := minio.GetObjectOptions{}
	_ = opts.SetRange(1, 3)
	obj, _ = mc.GetObject(ctx, "minio-bkt", "small.txt", opts)
	b, _ = io.ReadAll(obj)
	obj.Close()
	if string(b) != "mal" {
		t.Fatalf("ranged GetObject = %q", b)
	}

	// Streaming multipart upload of unknown size (minio-go chunks it into 5 MiB+ parts).
	big := pattern(11*mib+17, 9)
	info, err = mc.PutObject(ctx, "minio-bkt", "big.bin", bytes.NewReader(big), -1, minio.PutObjectOptions{PartSize: 5 * mib})
	if err != nil {
		t.Fatalf("multipart PutObject: %v", err)
	}
	if !strings.HasSuffix(info.ETag, "-3") {
		t.Fatalf("multipart ETag %q", info.ETag)
	}
	obj, _ = mc.GetObject(ctx, "minio-bkt", "big.bin", minio.GetObjectOptions{})
	b, err = io.ReadAll(obj)
	obj.Close()
	if err != nil || !bytes.Equal(b, big) {
		t.Fatalf("multipart GetObject: %d bytes, %v", len(b), err)
	}
	// A signed streaming upload of known size (STREAMING-AWS4-HMAC-SHA256-PAYLOAD).
	if _, err := mc.PutObject(ctx, "minio-bkt", "streamed.bin", bytes.NewReader(big[:300000]), 300000, minio.PutObjectOptions{}); err != nil {
		t.Fatalf("streaming signed PutObject: %v", err)
	}

	// Copy, tags, listing, removal.
	if _, err := mc.CopyObject(ctx, minio.CopyDestOptions{Bucket: "minio-bkt", Object: "copy.txt"}, minio.CopySrcOptions{Bucket: "minio-bkt", Object: "small.txt"}); err != nil {
		t.Fatalf("CopyObject: %v", err)
	}
	tg, _ := tags.NewTags(map[string]string{"a": "1", "b": "2"}, true)
	if err := mc.PutObjectTagging(ctx, "minio-bkt", "copy.txt", tg, minio.PutObjectTaggingOptions{}); err != nil {
		t.Fatal(err)
	}
	gt, err := mc.GetObjectTagging(ctx, "minio-bkt", "copy.txt", minio.GetObjectTaggingOptions{})
	if err != nil || len(gt.ToMap()) != 2 {
		t.Fatalf("GetObjectTagging = %v, %v", gt, err)
	}
	var keys []string
	for o := range mc.ListObjects(ctx, "minio-bkt", minio.ListObjectsOptions{Recursive: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		keys = append(keys, o.Key)
	}
	if strings.Join(keys, ",") != "big.bin,copy.txt,small.txt,streamed.bin" {
		t.Fatalf("ListObjects = %v", keys)
	}
	keys = nil
	for o := range mc.ListObjects(ctx, "minio-bkt", minio.ListObjectsOptions{Recursive: true, UseV1: true, MaxKeys: 1}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		keys = append(keys, o.Key)
	}
	if len(keys) != 4 {
		t.Fatalf("ListObjects v1 = %v", keys)
	}

	objs := make(chan minio.ObjectInfo, 4)
	for _, k := range []string{"big.bin", "copy.txt", "small.txt", "streamed.bin"} {
		objs <- minio.ObjectInfo{Key: k}
	}
	close(objs)
	for rerr := range mc.RemoveObjects(ctx, "minio-bkt", objs, minio.RemoveObjectsOptions{}) {
		t.Fatalf("RemoveObjects: %v", rerr)
	}
	if err := mc.RemoveBucket(ctx, "minio-bkt"); err != nil {
		t.Fatalf("RemoveBucket: %v", err)
	}
}

func TestE2EMinioVersioningAndPresign(t *testing.T) {
	e := newEnv(t)
	mc := e.minio(t)
	ctx := context.Background()
	if err := mc.MakeBucket(ctx, "minio-ver", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := mc.EnableVersioning(ctx, "minio-ver"); err != nil {
		t.Fatalf("EnableVersioning: %v", err)
	}
	cfg, err := mc.GetBucketVersioning(ctx, "minio-ver")
	if err != nil || !cfg.Enabled() {
		t.Fatalf("GetBucketVersioning = %+v, %v", cfg, err)
	}
	for i := range 3 {
		if _, err := mc.PutObject(ctx, "minio-ver", "k", strings.NewReader(fmt.Sprint("v", i)), 2, minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := mc.RemoveObject(ctx, "minio-ver", "k", minio.RemoveObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	n, markers := 0, 0
	for o := range mc.ListObjects(ctx, "minio-ver", minio.ListObjectsOptions{WithVersions: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		n++
		if o.IsDeleteMarker {
			markers++
		}
	}
	if n != 4 || markers != 1 {
		t.Fatalf("versions %d markers %d", n, markers)
	}

	if _, err := mc.PutObject(ctx, "minio-ver", "p.txt", strings.NewReader("presigned"), 9, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	u, err := mc.PresignedGetObject(ctx, "minio-ver", "p.txt", time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(u.String())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "presigned" {
		t.Fatalf("minio presigned GET: %d %q", resp.StatusCode, b)
	}
	pu, err := mc.PresignedPutObject(ctx, "minio-ver", "up.txt", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("PUT", pu.String(), strings.NewReader("uploaded"))
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("minio presigned PUT: %d", resp.StatusCode)
	}
	if err := mc.SetBucketPolicy(ctx, "minio-ver", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":["*"]},"Action":["s3:GetObject"],"Resource":["arn:aws:s3:::minio-ver/*"]}]}`); err != nil {
		t.Fatalf("SetBucketPolicy: %v", err)
	}
	resp, err = http.Get(e.url + "/minio-ver/up.txt")
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "uploaded" {
		t.Fatalf("public GET: %d %q", resp.StatusCode, b)
	}
}
