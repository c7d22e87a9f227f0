package s3api

import (
	"bufio"
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

func TestE2EPutGetHead(t *testing.T) {
	e := newEnv(t)
	ctx := e.ctx()
	e.mkBucket("obj")
	body := "hello, minicloud"
	put, err := e.s3.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String("obj"), Key: aws.String("dir/a b+c.txt"), Body: strings.NewReader(body),
		ContentType: aws.String("text/plain"), ContentEncoding: aws.String("identity"),
		ContentDisposition: aws.String(`attachment; filename="x.txt"`), ContentLanguage: aws.String("en"),
		CacheControl: aws.String("max-age=60"), Expires: aws.Time(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)),
		Metadata: map[string]string{"Color": "blue", "x-Mixed": "Case"},
		Tagging:  aws.String("a=1&b=2"),
	})
	if err != nil {
		t.Fatalf("PutObject: %v", err)
	}
	sum := md5.Sum([]byte(body))
	wantETag := fmt.Sprintf(`"%x"`, sum)
	if aws.ToString(put.ETag) != wantETag {
		t.Fatalf("PUT ETag = %s, want %s", aws.ToString(put.ETag), wantETag)
	}

	get, err := e.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("obj"), Key: aws.String("dir/a b+c.txt")})
	if err != nil {
		t.Fatalf("GetObject: %v", err)
	}
	got, _ := io.ReadAll(get.Body)
	get.Body.Close()
	if string(got) != body || aws.ToString(get.ETag) != wantETag || aws.ToInt64(get.ContentLength) != int64(len(body)) {
		t.Fatalf("GetObject = %q etag %s len %d", got, aws.ToString(get.ETag), aws.ToInt64(get.ContentLength))
	}
	if aws.ToString(get.ContentType) != "text/plain" || aws.ToString(get.ContentEncoding) != "identity" ||
		aws.ToString(get.ContentDisposition) != `attachment; filename="x.txt"` || aws.ToString(get.ContentLanguage) != "en" ||
		aws.ToString(get.CacheControl) != "max-age=60" || aws.ToString(get.ExpiresString) == "" {
		t.Fatalf("content headers not returned: %+v", get)
	}
	if get.Metadata["color"] != "blue" || get.Metadata["x-mixed"] != "Case" {
		t.Fatalf("metadata = %v", get.Metadata)
	}
	if aws.ToInt32(get.TagCount) != 2 {
		t.Fatalf("tag count = %d", aws.ToInt32(get.TagCount))
	}
	if get.LastModified == nil || time.Since(*get.LastModified) > time.Minute {
		t.Fatalf("LastModified = %v", get.LastModified)
	}

	head, err := e.s3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("obj"), Key: aws.String("dir/a b+c.txt")})
	if err != nil || aws.ToString(head.ETag) != wantETag || aws.ToInt64(head.ContentLength) != int64(len(body)) || head.Metadata["color"] != "blue" {
		t.Fatalf("HeadObject = %+v, %v", head, err)
	}
	r := e.raw("HEAD", "/obj/dir/a%20b%2Bc.txt", nil, nil)
	if r.Header.Get("Last-Modified") == "" || !strings.HasSuffix(r.Header.Get("Last-Modified"), "GMT") || r.Header.Get("x-amz-meta-color") != "blue" || r.Header.Get("Accept-Ranges") != "bytes" {
		t.Fatalf("HEAD headers = %d %v", r.StatusCode, r.Header)
	}

	// Missing objects.
	_, err = e.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("obj"), Key: aws.String("nope")})
	wantCode(t, err, "NoSuchKey", 404)
	_, err = e.s3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("obj"), Key: aws.String("nope")})
	wantCode(t, err, "NotFound", 404)
	r = e.raw("HEAD", "/obj/nope", nil, nil)
	if r.StatusCode != 404 || r.body != "" {
		t.Fatalf("HEAD of missing key: %d %q", r.StatusCode, r.body)
	}
	_, err = e.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("nobucket"), Key: aws.String("k")})
	wantCode(t, err, "NoSuchBucket", 404)

	// An object without a type reports S3's default; an empty object works.
	r = e.raw("PUT", "/obj/empty", nil, nil)
	wantRaw(t, r, 200, "")
	r = e.raw("GET", "/obj/empty", nil, nil)
	wantRaw(t, r, 200, "")
	if r.body != "" || r.Header.Get("Content-Type") != "binary/octet-stream" || r.Header.Get("Etag") != `"d41d8cd98f00b204e9800998ecf8427e"` {
		t.Fatalf("empty object: %q %v", r.body, r.Header)
	}

	// Overwrite.
	e.put("obj", "dir/a b+c.txt", "second")
	if got := e.get("obj", "dir/a b+c.txt"); got != "second" {
		t.Fatalf("after overwrite: %q", got)
	}
}

func TestE2EPutLimits(t *testing.T) {
	e := newEnv(t)
	ctx := e.ctx()
	e.mkBucket("lim")

	long := strings.Repeat("k", 1025)
	_, err := e.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("lim"), Key: aws.String(long), Body: strings.NewReader("x")})
	wantCode(t, err, "KeyTooLongError", 400)
	e.put("lim", strings.Repeat("k", 1024), "max key") // exactly at the limit

	meta := map[string]string{"big": strings.Repeat("v", 2100)}
	_, err = e.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("lim"), Key: aws.String("meta"), Body: strings.NewReader("x"), Metadata: meta})
	wantCode(t, err, "MetadataTooLarge", 400)

	_, err = e.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("lim"), Key: aws.String("tags"), Body: strings.NewReader("x"), Tagging: aws.String("k=" + strings.Repeat("v", 257))})
	wantCode(t, err, "InvalidTag", 400)

	_, err = e.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("lim"), Key: aws.String("sc"), Body: strings.NewReader("x"), StorageClass: types.StorageClassGlacier})
	wantCode(t, err, "NotImplemented", 501)
	_, err = e.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("lim"), Key: aws.String("sse"), Body: strings.NewReader("x"), ServerSideEncryption: types.ServerSideEncryptionAes256})
	wantCode(t, err, "NotImplemented", 501)

	// Content-MD5 is verified; a bad one stores nothing.
	good := md5.Sum([]byte("payload"))
	wantRaw(t, e.raw("PUT", "/lim/md5", []byte("payload"), map[string]string{"Content-MD5": base64.StdEncoding.EncodeToString(good[:])}), 200, "")
	bad := md5.Sum([]byte("other"))
	wantRaw(t, e.raw("PUT", "/lim/md5bad", []byte("payload"), map[string]string{"Content-MD5": base64.StdEncoding.EncodeToString(bad[:])}), 400, "BadDigest")
	wantRaw(t, e.raw("PUT", "/lim/md5bad", []byte("payload"), map[string]string{"Content-MD5": "not-base64!"}), 400, "InvalidDigest")
	wantRaw(t, e.raw("HEAD", "/lim/md5bad", nil, nil), 404, "")

	// A declared size over 5 GiB is refused before the body is read.
	r := e.raw("PUT", "/lim/huge", nil, map[string]string{"X-Amz-Content-Sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
		"Content-Encoding": "aws-chunked", "X-Amz-Decoded-Content-Length": "5368709121", "X-Amz-Trailer": "x-amz-checksum-crc32"})
	wantRaw(t, r, 400, "EntityTooLarge")
	wantRaw(t, e.raw("HEAD", "/lim/huge", nil, nil), 404, "")
}

func TestE2EMissingContentLength(t *testing.T) {
	e := newEnv(t)
	e.mkBucket("mcl")
	req, _ := http.NewRequest("PUT", e.url+"/mcl/k", io.NopCloser(strings.NewReader("abc")))
	req.ContentLength = -1 // chunked transfer encoding, no length
	req.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
	signRoot(t, req, "UNSIGNED-PAYLOAD")
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 411 || !strings.Contains(string(b), "MissingContentLength") {
		t.Fatalf("PUT without length: %d %s", resp.StatusCode, b)
	}
}

func TestE2ERangeAndConditionals(t *testing.T) {
	e := newEnv(t)
	ctx := e.ctx()
	e.mkBucket("rng")
	data := "0123456789abcdefghij" // 20 bytes
	put := e.put("rng", "k", data)
	etag := aws.ToString(put.ETag)

	tests := []struct {
		rng, body, cr string
		status        int
	}{
		{"bytes=0-4", "01234", "bytes 0-4/20", 206},
		{"bytes=15-", "fghij", "bytes 15-19/20", 206},
		{"bytes=-3", "hij", "bytes 17-19/20", 206},
		{"bytes=18-100", "ij", "bytes 18-19/20", 206},
		{"bytes=0-1,5-6", data, "", 200}, // multiple ranges: whole object
		{"bytes=9-3", data, "", 200},     // invalid syntax: ignored
		{"bytes=20-", "", "bytes */20", 416},
		{"bytes=-0", "", "bytes */20", 416},
	}
	for _, tt := range tests {
		r := e.raw("GET", "/rng/k", nil, map[string]string{"Range": tt.rng})
		if r.StatusCode != tt.status || r.Header.Get("Content-Range") != tt.cr {
			t.Errorf("Range %s: %d %q, want %d %q (%s)", tt.rng, r.StatusCode, r.Header.Get("Content-Range"), tt.status, tt.cr, r.body)
			continue
		}
		if tt.status == 416 {
			if !strings.Contains(r.body, "InvalidRange") {
				t.Errorf("Range %s: body %s", tt.rng, r.body)
			}
			continue
		}
		if r.body != tt.body {
			t.Errorf("Range %s: body %q, want %q", tt.rng, r.body, tt.body)
		}
	}
	// SDK ranged GET and HEAD.
	out, err := e.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("rng"), Key: aws.String("k"), Range: aws.String("bytes=2-5")})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(out.Body)
	out.Body.Close()
	if string(b) != "2345" || aws.ToString(out.ContentRange) != "bytes 2-5/20" {
		t.Fatalf("SDK range = %q %s", b, aws.ToString(out.ContentRange))
	}
	r := e.raw("HEAD", "/rng/k", nil, map[string]string{"Range": "bytes=0-9"})
	if r.StatusCode != 206 || r.Header.Get("Content-Length") != "10" {
		t.Fatalf("HEAD range: %d %v", r.StatusCode, r.Header)
	}

	past := time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat)
	future := time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)
	conds := []struct {
		name   string
		hdr    map[string]string
		status int
	}{
		{"if-match", map[string]string{"If-Match": etag}, 200},
		{"if-match fail", map[string]string{"If-Match": `"nope"`}, 412},
		{"if-none-match", map[string]string{"If-None-Match": etag}, 304},
		{"if-none-match other", map[string]string{"If-None-Match": `"nope"`}, 200},
		{"ims future", map[string]string{"If-Modified-Since": future}, 304},
		{"ims past", map[string]string{"If-Modified-Since": past}, 200},
		{"ius past", map[string]string{"If-Unmodified-Since": past}, 412},
		{"ius future", map[string]string{"If-Unmodified-Since": future}, 200},
		{"match beats ius", map[string]string{"If-Match": etag, "If-Unmodified-Since": past}, 200},
		{"inm beats ims", map[string]string{"If-None-Match": etag, "If-Modified-Since": past}, 304},
		{"conditional range", map[string]string{"If-Match": etag, "Range": "bytes=0-0"}, 206},
		{"conditional range fail", map[string]string{"If-Match": `"x"`, "Range": "bytes=0-0"}, 412},
	}
	for _, c := range conds {
		for _, m := range []string{"GET", "HEAD"} {
			r := e.raw(m, "/rng/k", nil, c.hdr)
			if r.StatusCode != c.status {
				t.Errorf("%s %s: status %d, want %d", m, c.name, r.StatusCode, c.status)
			}
			if c.status == 304 && (r.body != "" || r.Header.Get("Etag") != etag) {
				t.Errorf("%s %s: 304 with body %q etag %q", m, c.name, r.body, r.Header.Get("Etag"))
			}
			if c.status == 412 && m == "GET" && !strings.Contains(r.body, "PreconditionFailed") {
				t.Errorf("%s %s: body %s", m, c.name, r.body)
			}
			if m == "HEAD" && r.body != "" {
				t.Errorf("HEAD %s has a body", c.name)
			}
		}
	}
	_, err = e.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("rng"), Key: aws.String("k"), IfMatch: aws.String(`"zzz"`)})
	wantCode(t, err, "PreconditionFailed", 412)

	// response-* overrides on a signed request.
	ov, err := e.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("rng"), Key: aws.String("k"),
		ResponseContentType: aws.String("application/x-test"), ResponseContentDisposition: aws.String("inline"),
		ResponseCacheControl: aws.String("no-cache"), ResponseContentLanguage: aws.String("fr"),
		ResponseContentEncoding: aws.String("identity"), ResponseExpires: aws.Time(time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC))})
	if err != nil {
		t.Fatal(err)
	}
	ov.Body.Close()
	if aws.ToString(ov.ContentType) != "application/x-test" || aws.ToString(ov.ContentDisposition) != "inline" ||
		aws.ToString(ov.CacheControl) != "no-cache" || aws.ToString(ov.ContentLanguage) != "fr" || aws.ToString(ov.ContentEncoding) != "identity" {
		t.Fatalf("overrides not applied: %+v", ov)
	}

	// partNumber on a single-part object.
	r = e.raw("GET", "/rng/k?partNumber=1", nil, nil)
	if r.StatusCode != 206 || r.body != data {
		t.Fatalf("partNumber=1: %d %q", r.StatusCode, r.body)
	}
	wantRaw(t, e.raw("GET", "/rng/k?partNumber=2", nil, nil), 416, "InvalidPartNumber")
	wantRaw(t, e.raw("GET", "/rng/k?partNumber=0", nil, nil), 400, "InvalidArgument")
	wantRaw(t, e.raw("GET", "/rng/k?partNumber=1", nil, map[string]string{"Range": "bytes=0-1"}), 400, "InvalidRequest")
	wantRaw(t, e.raw("GET", "/rng/k?versionId=", nil, nil), 400, "InvalidArgument")
}

func TestE2ECopyObject(t *testing.T) {
	e := newEnv(t)
	ctx := e.ctx()
	e.mkBucket("src")
	e.mkBucket("dst")
	_, err := e.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("src"), Key: aws.String("a/ü b.txt"), Body: strings.NewReader("copy me"),
		ContentType: aws.String("text/x-orig"), Metadata: map[string]string{"m": "orig"}, Tagging: aws.String("t=1")})
	if err != nil {
		t.Fatal(err)
	}
	src := aws.String("src/a/%C3%BC%20b.txt")

	out, err := e.s3.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("dst"), Key: aws.String("copy1"), CopySource: src})
	if err != nil {
		t.Fatalf("CopyObject: %v", err)
	}
	if out.CopyObjectResult == nil || aws.ToString(out.CopyObjectResult.ETag) == "" || out.CopyObjectResult.LastModified == nil {
		t.Fatalf("CopyObjectResult = %+v", out.CopyObjectResult)
	}
	h, err := e.s3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("dst"), Key: aws.String("copy1")})
	if err != nil || aws.ToString(h.ContentType) != "text/x-orig" || h.Metadata["m"] != "orig" || aws.ToInt32(h.TagCount) != 1 {
		t.Fatalf("COPY directive lost metadata: %+v %v", h, err)
	}
	if got := e.get("dst", "copy1"); got != "copy me" {
		t.Fatalf("copy body = %q", got)
	}

	_, err = e.s3.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("dst"), Key: aws.String("copy2"), CopySource: src,
		MetadataDirective: types.MetadataDirectiveReplace, ContentType: aws.String("text/x-new"), Metadata: map[string]string{"n": "new"},
		TaggingDirective: types.TaggingDirectiveReplace, Tagging: aws.String("x=1&y=2")})
	if err != nil {
		t.Fatal(err)
	}
	h, err = e.s3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("dst"), Key: aws.String("copy2")})
	if err != nil || aws.ToString(h.ContentType) != "text/x-new" || h.Metadata["n"] != "new" || h.Metadata["m"] != "" || aws.ToInt32(h.TagCount) != 2 {
		t.Fatalf("REPLACE directive: %+v %v", h, err)
	}

	// Copying onto itself needs REPLACE.
	_, err = e.s3.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("src"), Key: aws.String("a/ü b.txt"), CopySource: src})
	wantCode(t, err, "InvalidRequest", 400)
	_, err = e.s3.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("src"), Key: aws.String("a/ü b.txt"), CopySource: src,
		MetadataDirective: types.MetadataDirectiveReplace, Metadata: map[string]string{"m": "changed"}})
	if err != nil {
		t.Fatalf("self-copy with REPLACE: %v", err)
	}

	// Conditional copy.
	_, err = e.s3.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("dst"), Key: aws.String("c3"), CopySource: src, CopySourceIfMatch: aws.String(`"nope"`)})
	wantCode(t, err, "PreconditionFailed", 412)
	_, err = e.s3.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("dst"), Key: aws.String("c3"), CopySource: src, CopySourceIfModifiedSince: aws.Time(time.Now().Add(time.Hour))})
	wantCode(t, err, "PreconditionFailed", 412)
	_, err = e.s3.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("dst"), Key: aws.String("c3"), CopySource: src, CopySourceIfUnmodifiedSince: aws.Time(time.Now().Add(-time.Hour))})
	wantCode(t, err, "PreconditionFailed", 412)
	_, err = e.s3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("dst"), Key: aws.String("c3")})
	wantCode(t, err, "NotFound", 404)
	if _, err := e.s3.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("dst"), Key: aws.String("c4"), CopySource: src, CopySourceIfNoneMatch: aws.String(`"nope"`)}); err != nil {
		t.Fatalf("copy-source-if-none-match other: %v", err)
	}

	// Errors.
	_, err = e.s3.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("dst"), Key: aws.String("x"), CopySource: aws.String("src/missing")})
	wantCode(t, err, "NoSuchKey", 404)
	_, err = e.s3.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("dst"), Key: aws.String("x"), CopySource: aws.String("nobucket/k")})
	wantCode(t, err, "NoSuchBucket", 404)
	wantRaw(t, e.raw("PUT", "/dst/x", nil, map[string]string{"X-Amz-Copy-Source": "src"}), 400, "InvalidArgument")
	wantRaw(t, e.raw("PUT", "/dst/x", nil, map[string]string{"X-Amz-Copy-Source": "src/a", "X-Amz-Metadata-Directive": "MERGE"}), 400, "InvalidArgument")
}

func TestE2EObjectTagging(t *testing.T) {
	e := newEnv(t)
	ctx := e.ctx()
	e.mkBucket("tags")
	e.put("tags", "k", "v")
	b, k := aws.String("tags"), aws.String("k")

	tg, err := e.s3.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: b, Key: k})
	if err != nil || len(tg.TagSet) != 0 {
		t.Fatalf("GetObjectTagging of untagged = %+v, %v", tg, err)
	}
	if _, err := e.s3.PutObjectTagging(ctx, &s3.PutObjectTaggingInput{Bucket: b, Key: k, Tagging: &types.Tagging{TagSet: []types.Tag{
		{Key: aws.String("env"), Value: aws.String("prod")}, {Key: aws.String("empty"), Value: aws.String("")}}}}); err != nil {
		t.Fatal(err)
	}
	tg, err = e.s3.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: b, Key: k})
	if err != nil || len(tg.TagSet) != 2 {
		t.Fatalf("GetObjectTagging = %+v, %v", tg, err)
	}
	h, _ := e.s3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: b, Key: k})
	if aws.ToInt32(h.TagCount) != 2 {
		t.Fatalf("x-amz-tagging-count = %d", aws.ToInt32(h.TagCount))
	}
	var eleven []types.Tag
	for i := range 11 {
		eleven = append(eleven, types.Tag{Key: aws.String(fmt.Sprint("k", i)), Value: aws.String("v")})
	}
	_, err = e.s3.PutObjectTagging(ctx, &s3.PutObjectTaggingInput{Bucket: b, Key: k, Tagging: &types.Tagging{TagSet: eleven}})
	wantCode(t, err, "InvalidTag", 400)
	_, err = e.s3.PutObjectTagging(ctx, &s3.PutObjectTaggingInput{Bucket: b, Key: k, Tagging: &types.Tagging{TagSet: []types.Tag{{Key: aws.String(strings.Repeat("k", 129)), Value: aws.String("v")}}}})
	wantCode(t, err, "InvalidTag", 400)
	wantRaw(t, e.raw("PUT", "/tags/k?tagging", []byte("<Tagging><TagSet><Tag>"), nil), 400, "MalformedXML")
	tg, _ = e.s3.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: b, Key: k})
	if len(tg.TagSet) != 2 {
		t.Fatalf("bad tagging changed the tags: %+v", tg.TagSet)
	}
	if _, err := e.s3.DeleteObjectTagging(ctx, &s3.DeleteObjectTaggingInput{Bucket: b, Key: k}); err != nil {
		t.Fatal(err)
	}
	tg, _ = e.s3.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: b, Key: k})
	if len(tg.TagSet) != 0 {
		t.Fatalf("after delete: %+v", tg.TagSet)
	}
	_, err = e.s3.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: b, Key: aws.String("missing")})
	wantCode(t, err, "NoSuchKey", 404)

	acl, err := e.s3.GetObjectAcl(ctx, &s3.GetObjectAclInput{Bucket: b, Key: k})
	if err != nil || len(acl.Grants) != 1 {
		t.Fatalf("GetObjectAcl = %+v, %v", acl, err)
	}
	attrs, err := e.s3.GetObjectAttributes(ctx, &s3.GetObjectAttributesInput{Bucket: b, Key: k,
		ObjectAttributes: []types.ObjectAttributes{types.ObjectAttributesEtag, types.ObjectAttributesObjectSize, types.ObjectAttributesStorageClass}})
	if err != nil || aws.ToInt64(attrs.ObjectSize) != 1 || aws.ToString(attrs.ETag) == "" {
		t.Fatalf("GetObjectAttributes = %+v, %v", attrs, err)
	}
}

func TestE2EDeleteObjects(t *testing.T) {
	e := newEnv(t)
	ctx := e.ctx()
	e.mkBucket("del")
	for i := range 5 {
		e.put("del", fmt.Sprint("k", i), "v")
	}
	if _, err := e.s3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("del"), Key: aws.String("k0")}); err != nil {
		t.Fatal(err)
	}
	// Deleting a missing key succeeds.
	if _, err := e.s3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("del"), Key: aws.String("never")}); err != nil {
		t.Fatal(err)
	}
	out, err := e.s3.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String("del"), Delete: &types.Delete{Objects: []types.ObjectIdentifier{
		{Key: aws.String("k1")}, {Key: aws.String("k2")}, {Key: aws.String("missing")}, {Key: aws.String(strings.Repeat("x", 1025))}}}})
	if err != nil {
		t.Fatalf("DeleteObjects: %v", err)
	}
	if len(out.Deleted) != 3 || len(out.Errors) != 1 || aws.ToString(out.Errors[0].Code) != "KeyTooLongError" {
		t.Fatalf("DeleteObjects = deleted %d errors %+v", len(out.Deleted), out.Errors)
	}
	out, err = e.s3.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String("del"), Delete: &types.Delete{Quiet: aws.Bool(true), Objects: []types.ObjectIdentifier{{Key: aws.String("k3")}}}})
	if err != nil || len(out.Deleted) != 0 || len(out.Errors) != 0 {
		t.Fatalf("quiet DeleteObjects = %+v, %v", out, err)
	}
	list, _ := e.s3.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("del")})
	if len(list.Contents) != 1 || aws.ToString(list.Contents[0].Key) != "k4" {
		t.Fatalf("left after deletes: %+v", list.Contents)
	}

	doc := []byte("<Delete><Object><Key>k4</Key></Object></Delete>")
	sum := md5.Sum(doc)
	md5h := base64.StdEncoding.EncodeToString(sum[:])
	wantRaw(t, e.raw("POST", "/del?delete", doc, nil), 400, "InvalidRequest")
	wantRaw(t, e.raw("POST", "/del?delete", []byte("<Delete><Object>"), map[string]string{"Content-MD5": md5h}), 400, "")
	var many bytes.Buffer
	many.WriteString("<Delete>")
	for i := range 1001 {
		fmt.Fprintf(&many, "<Object><Key>k%d</Key></Object>", i)
	}
	many.WriteString("</Delete>")
	ms := md5.Sum(many.Bytes())
	wantRaw(t, e.raw("POST", "/del?delete", many.Bytes(), map[string]string{"Content-MD5": base64.StdEncoding.EncodeToString(ms[:])}), 400, "MalformedXML")
	wantRaw(t, e.raw("POST", "/nobucket?delete", doc, map[string]string{"Content-MD5": md5h}), 404, "NoSuchBucket")
	wantRaw(t, e.raw("POST", "/del?delete", doc, map[string]string{"Content-MD5": md5h}), 200, "")
	if _, err := e.s3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("del"), Key: aws.String("k4")}); err == nil {
		t.Fatal("k4 still there")
	}
}

func TestE2EChecksums(t *testing.T) {
	e := newEnv(t)
	ctx := e.ctx()
	e.mkBucket("cksum")
	for _, alg := range []types.ChecksumAlgorithm{types.ChecksumAlgorithmCrc32, types.ChecksumAlgorithmCrc32c, types.ChecksumAlgorithmSha1, types.ChecksumAlgorithmSha256} {
		key := aws.String("obj-" + string(alg))
		put, err := e.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("cksum"), Key: key, Body: strings.NewReader("checksummed"), ChecksumAlgorithm: alg})
		if err != nil {
			t.Fatalf("%s PutObject: %v", alg, err)
		}
		sent := firstNonEmpty(put.ChecksumCRC32, put.ChecksumCRC32C, put.ChecksumSHA1, put.ChecksumSHA256)
		if sent == "" {
			t.Errorf("%s: PUT returned no checksum", alg)
		}
		get, err := e.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("cksum"), Key: key, ChecksumMode: types.ChecksumModeEnabled})
		if err != nil {
			t.Fatalf("%s GetObject: %v", alg, err)
		}
		b, err := io.ReadAll(get.Body) // the SDK validates the checksum while reading
		get.Body.Close()
		if err != nil || string(b) != "checksummed" {
			t.Fatalf("%s: GET = %q, %v", alg, b, err)
		}
		if got := firstNonEmpty(get.ChecksumCRC32, get.ChecksumCRC32C, get.ChecksumSHA1, get.ChecksumSHA256); got != sent {
			t.Errorf("%s: GET checksum %q, PUT %q", alg, got, sent)
		}
		head, err := e.s3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("cksum"), Key: key, ChecksumMode: types.ChecksumModeEnabled})
		if err != nil || firstNonEmpty(head.ChecksumCRC32, head.ChecksumCRC32C, head.ChecksumSHA1, head.ChecksumSHA256) != sent {
			t.Errorf("%s: HEAD checksum = %+v, %v", alg, head, err)
		}
	}
	// A wrong checksum header stores nothing.
	r := e.raw("PUT", "/cksum/bad", []byte("data"), map[string]string{"x-amz-checksum-crc32": "AAAAAA=="})
	wantRaw(t, r, 400, "BadDigest")
	wantRaw(t, e.raw("HEAD", "/cksum/bad", nil, nil), 404, "")
}

func firstNonEmpty(vals ...*string) string {
	for _, v := range vals {
		if aws.ToString(v) != "" {
			return *v
		}
	}
	return ""
}

func TestE2EConditionalPut(t *testing.T) {
	e := newEnv(t)
	ctx := e.ctx()
	e.mkBucket("cput")
	_, err := e.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("cput"), Key: aws.String("k"), Body: strings.NewReader("1"), IfNoneMatch: aws.String("*")})
	if err != nil {
		t.Fatalf("If-None-Match * on a new key: %v", err)
	}
	_, err = e.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("cput"), Key: aws.String("k"), Body: strings.NewReader("2"), IfNoneMatch: aws.String("*")})
	wantCode(t, err, "PreconditionFailed", 412)
	if got := e.get("cput", "k"); got != "1" {
		t.Fatalf("refused PUT changed the object: %q", got)
	}
	_, err = e.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("cput"), Key: aws.String("k"), Body: strings.NewReader("3"), IfMatch: aws.String(`"00000000000000000000000000000000"`)})
	wantCode(t, err, "PreconditionFailed", 412)
	h, err := e.s3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("cput"), Key: aws.String("k")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("cput"), Key: aws.String("k"), Body: strings.NewReader("4"), IfMatch: h.ETag}); err != nil {
		t.Fatalf("If-Match with the current ETag: %v", err)
	}
	if got := e.get("cput", "k"); got != "4" {
		t.Fatalf("after If-Match PUT: %q", got)
	}
}

// TestE2EKeysAreNotPaths checks that keys are stored as given: no path cleaning of "//", "." or
// "..", and no trouble with characters that need escaping.
func TestE2EKeysAreNotPaths(t *testing.T) {
	e := newEnv(t)
	ctx := e.ctx()
	e.mkBucket("keys")
	keys := []string{"a//b", "./c", "d/../e", "f/", "sp ace", "q?x=1&y", "hash#tag", "pct%20", "uni/ü/日本", "plus+minus", "semi;colon", "tab\tnot"}
	for _, k := range keys {
		e.put("keys", k, "body of "+k)
	}
	for _, k := range keys {
		if got := e.get("keys", k); got != "body of "+k {
			t.Errorf("key %q read back %q", k, got)
		}
	}
	out, err := e.s3.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("keys")})
	if err != nil || len(out.Contents) != len(keys) {
		t.Fatalf("listed %d keys of %d: %v", len(out.Contents), len(keys), err)
	}
}

// TestE2EEntityTooLarge declares a 5 GiB + 1 body and sends none of it: the refusal must come
// from the headers alone.
func TestE2EEntityTooLarge(t *testing.T) {
	e := newEnv(t)
	e.mkBucket("huge")
	req, _ := http.NewRequest("PUT", e.url+"/huge/k", nil)
	req.ContentLength = 5<<30 + 1
	req.Header.Set("Content-Length", fmt.Sprint(req.ContentLength))
	req.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
	signRoot(t, req, "UNSIGNED-PAYLOAD")
	resp, b := sendHeadersOnly(t, e, req)
	if resp.StatusCode != 400 || !strings.Contains(string(b), "EntityTooLarge") {
		t.Fatalf("5 GiB + 1 PUT: %d %s", resp.StatusCode, b)
	}
}

// TestE2EExpectContinueRefused checks that a refused upload that waits for 100 Continue gets its
// error at once, without the server asking for the body.
func TestE2EExpectContinueRefused(t *testing.T) {
	e := newEnv(t)
	e.mkBucket("expect")
	req, _ := http.NewRequest("PUT", e.url+"/expect/k", nil)
	req.ContentLength = 10 << 20
	req.Header.Set("Content-Length", fmt.Sprint(req.ContentLength))
	req.Header.Set("Expect", "100-continue")
	req.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
	creds := aws.Credentials{AccessKeyID: rootAK, SecretAccessKey: "wrong"}
	// A fresh signer: the SDK's caches derived keys by access key, not by secret.
	signer := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
	if err := signer.SignHTTP(context.Background(), creds, req, "UNSIGNED-PAYLOAD", "s3", testRegion, time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, b := sendHeadersOnly(t, e, req)
	if resp.StatusCode != 403 || !strings.Contains(string(b), "SignatureDoesNotMatch") {
		t.Fatalf("refused Expect: 100-continue PUT: %d %s", resp.StatusCode, b)
	}
}

// sendHeadersOnly writes a request's head on a fresh connection, sends no body, and reads the
// response: the server must answer from the headers alone.
func sendHeadersOnly(t *testing.T, e *env, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	conn, err := net.Dial("tcp", e.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	var head strings.Builder
	fmt.Fprintf(&head, "%s %s HTTP/1.1\r\nHost: %s\r\n", req.Method, req.URL.RequestURI(), req.Host)
	for k, vs := range req.Header {
		for _, v := range vs {
			fmt.Fprintf(&head, "%s: %s\r\n", k, v)
		}
	}
	head.WriteString("\r\n")
	if _, err := io.WriteString(conn, head.String()); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return resp, b
}
