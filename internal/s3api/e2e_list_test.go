package s3api

import (
	"context"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

func TestE2EListObjects(t *testing.T) {
	e := newEnv(t)
	ctx := e.ctx()
	e.mkBucket("lst")
	keys := []string{"a/1", "a/2", "a/b/3", "b/4", "c", "d e", "d+e", "é/f", "z/9"}
	for _, k := range keys {
		e.put("lst", k, "x")
	}

	// V2, all keys, paged by 2 with the paginator (continuation tokens).
	var got []string
	p := s3.NewListObjectsV2Paginator(e.s3, &s3.ListObjectsV2Input{Bucket: aws.String("lst"), MaxKeys: aws.Int32(2)})
	pages := 0
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if aws.ToInt32(page.KeyCount) != int32(len(page.Contents)) {
			t.Errorf("KeyCount %d for %d keys", aws.ToInt32(page.KeyCount), len(page.Contents))
		}
		for _, o := range page.Contents {
			got = append(got, aws.ToString(o.Key))
			if o.Owner != nil {
				t.Errorf("Owner without fetch-owner")
			}
			if aws.ToInt64(o.Size) != 1 || aws.ToString(o.ETag) == "" || o.LastModified == nil || o.StorageClass != types.ObjectStorageClassStandard {
				t.Errorf("entry %+v", o)
			}
		}
	}
	sorted := append([]string(nil), keys...)
	sort.Strings(sorted)
	if strings.Join(got, "|") != strings.Join(sorted, "|") || pages != 5 {
		t.Fatalf("V2 pages=%d keys %v, want %v", pages, got, sorted)
	}

	// Delimiter and prefix: common prefixes, paged through them.
	got = nil
	var prefixes []string
	p = s3.NewListObjectsV2Paginator(e.s3, &s3.ListObjectsV2Input{Bucket: aws.String("lst"), Delimiter: aws.String("/"), MaxKeys: aws.Int32(1)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Contents {
			got = append(got, aws.ToString(o.Key))
		}
		for _, cp := range page.CommonPrefixes {
			prefixes = append(prefixes, aws.ToString(cp.Prefix))
		}
	}
	if strings.Join(got, "|") != "c|d e|d+e" || strings.Join(prefixes, "|") != "a/|b/|z/|é/" {
		t.Fatalf("delimiter listing: keys %v prefixes %v", got, prefixes)
	}
	out, err := e.s3.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("lst"), Prefix: aws.String("a/"), Delimiter: aws.String("/"), FetchOwner: aws.Bool(true)})
	if err != nil || len(out.Contents) != 2 || len(out.CommonPrefixes) != 1 || aws.ToString(out.CommonPrefixes[0].Prefix) != "a/b/" || out.Contents[0].Owner == nil {
		t.Fatalf("prefix a/: %+v %v", out, err)
	}
	out, err = e.s3.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("lst"), StartAfter: aws.String("c")})
	if err != nil || len(out.Contents) != 4 || aws.ToString(out.Contents[0].Key) != "d e" || aws.ToString(out.StartAfter) != "c" {
		t.Fatalf("start-after: %+v %v", out, err)
	}
	out, err = e.s3.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("lst"), MaxKeys: aws.Int32(0)})
	if err != nil || len(out.Contents) != 0 || aws.ToBool(out.IsTruncated) {
		t.Fatalf("max-keys 0: %+v %v", out, err)
	}

	// V1 with markers; NextMarker only with a delimiter.
	v1, err := e.s3.ListObjects(ctx, &s3.ListObjectsInput{Bucket: aws.String("lst"), MaxKeys: aws.Int32(3)})
	if err != nil || len(v1.Contents) != 3 || !aws.ToBool(v1.IsTruncated) || v1.NextMarker != nil || v1.Contents[0].Owner == nil {
		t.Fatalf("v1 page 1: %+v %v", v1, err)
	}
	v1, err = e.s3.ListObjects(ctx, &s3.ListObjectsInput{Bucket: aws.String("lst"), Marker: v1.Contents[2].Key})
	if err != nil || len(v1.Contents) != 6 || aws.ToString(v1.Contents[0].Key) != "b/4" {
		t.Fatalf("v1 page 2: %+v %v", v1, err)
	}
	v1, err = e.s3.ListObjects(ctx, &s3.ListObjectsInput{Bucket: aws.String("lst"), Delimiter: aws.String("/"), MaxKeys: aws.Int32(2)})
	if err != nil || !aws.ToBool(v1.IsTruncated) || aws.ToString(v1.NextMarker) != "b/" {
		t.Fatalf("v1 delimiter page: %+v %v", v1, err)
	}

	// encoding-type=url, checked on the wire.
	r := e.raw("GET", "/lst?list-type=2&encoding-type=url&prefix=d", nil, nil)
	wantRaw(t, r, 200, "")
	if !strings.Contains(r.body, "<Key>d+e</Key>") || !strings.Contains(r.body, "<Key>d%2Be</Key>") || !strings.Contains(r.body, "<EncodingType>url</EncodingType>") {
		t.Fatalf("encoded listing: %s", r.body)
	}
	r = e.raw("GET", "/lst?encoding-type=url&delimiter=/", nil, nil)
	if !strings.Contains(r.body, "<Prefix>%C3%A9/</Prefix>") {
		t.Fatalf("encoded v1 prefixes: %s", r.body)
	}
	// The SDK decodes url-encoded listings itself.
	out, err = e.s3.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("lst"), EncodingType: types.EncodingTypeUrl, Prefix: aws.String("é")})
	if err != nil || len(out.Contents) != 1 {
		t.Fatalf("SDK encoded listing: %+v %v", out, err)
	}
	if k, _ := url.QueryUnescape(aws.ToString(out.Contents[0].Key)); k != "é/f" {
		t.Fatalf("SDK encoded key = %q", aws.ToString(out.Contents[0].Key))
	}

	// Bad parameters.
	wantRaw(t, e.raw("GET", "/lst?max-keys=-1", nil, nil), 400, "InvalidArgument")
	wantRaw(t, e.raw("GET", "/lst?max-keys=abc", nil, nil), 400, "InvalidArgument")
	wantRaw(t, e.raw("GET", "/lst?encoding-type=base64", nil, nil), 400, "InvalidArgument")
	wantRaw(t, e.raw("GET", "/lst?list-type=2&continuation-token=%25%25", nil, nil), 400, "InvalidArgument")
	wantRaw(t, e.raw("GET", "/lst?list-type=3", nil, nil), 400, "InvalidArgument")
}

func TestE2EListMany(t *testing.T) {
	e := newEnv(t)
	ctx := e.ctx()
	e.mkBucket("many")
	const n = 1203
	for i := range n {
		if _, err := e.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("many"), Key: aws.String(fmt.Sprintf("k%05d", i)), Body: strings.NewReader("")}); err != nil {
			t.Fatal(err)
		}
	}
	out, err := e.s3.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("many"), MaxKeys: aws.Int32(5000)})
	if err != nil || len(out.Contents) != 1000 || !aws.ToBool(out.IsTruncated) || aws.ToInt32(out.MaxKeys) != 5000 {
		t.Fatalf("first page: %d keys truncated=%v %v", len(out.Contents), aws.ToBool(out.IsTruncated), err)
	}
	total := 0
	p := s3.NewListObjectsV2Paginator(e.s3, &s3.ListObjectsV2Input{Bucket: aws.String("many")})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		total += len(page.Contents)
	}
	if total != n {
		t.Fatalf("paginated %d keys, want %d", total, n)
	}
}

func TestE2EVersioning(t *testing.T) {
	e := newEnv(t)
	ctx := e.ctx()
	e.mkBucket("ver")
	b := aws.String("ver")
	e.put("ver", "k", "v0 (null version)")
	if _, err := e.s3.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: b, VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}}); err != nil {
		t.Fatal(err)
	}
	p1 := e.put("ver", "k", "v1")
	p2 := e.put("ver", "k", "v2")
	v1, v2 := aws.ToString(p1.VersionId), aws.ToString(p2.VersionId)
	if v1 == "" || v2 == "" || v1 == v2 || v1 == "null" {
		t.Fatalf("version ids %q %q", v1, v2)
	}
	if got := e.get("ver", "k"); got != "v2" {
		t.Fatalf("latest = %q", got)
	}
	g, err := e.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: aws.String("k"), VersionId: aws.String(v1)})
	if err != nil {
		t.Fatal(err)
	}
	g.Body.Close()
	if aws.ToString(g.VersionId) != v1 {
		t.Fatalf("GET by version: version %q", aws.ToString(g.VersionId))
	}
	gn, err := e.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: aws.String("k"), VersionId: aws.String("null")})
	if err != nil {
		t.Fatalf("GET null version: %v", err)
	}
	gn.Body.Close()
	_, err = e.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: aws.String("k"), VersionId: aws.String("nonexistentversion")})
	if err == nil {
		t.Fatal("GET of a missing version succeeded")
	}

	// Delete without a version: a delete marker.
	d, err := e.s3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: b, Key: aws.String("k")})
	if err != nil || !aws.ToBool(d.DeleteMarker) || aws.ToString(d.VersionId) == "" {
		t.Fatalf("DeleteObject = %+v, %v", d, err)
	}
	marker := aws.ToString(d.VersionId)
	_, err = e.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: aws.String("k")})
	wantCode(t, err, "NoSuchKey", 404)
	r := e.raw("HEAD", "/ver/k", nil, nil)
	if r.StatusCode != 404 || r.Header.Get("X-Amz-Delete-Marker") != "true" || r.Header.Get("X-Amz-Version-Id") != marker {
		t.Fatalf("HEAD after delete: %d %v", r.StatusCode, r.Header)
	}
	r = e.raw("GET", "/ver/k?versionId="+url.QueryEscape(marker), nil, nil)
	wantRaw(t, r, 405, "MethodNotAllowed")
	if r.Header.Get("X-Amz-Delete-Marker") != "true" {
		t.Fatalf("GET of a marker lacks x-amz-delete-marker: %v", r.Header)
	}

	lv, err := e.s3.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: b})
	if err != nil {
		t.Fatal(err)
	}
	if len(lv.Versions) != 3 || len(lv.DeleteMarkers) != 1 || !aws.ToBool(lv.DeleteMarkers[0].IsLatest) || aws.ToString(lv.DeleteMarkers[0].VersionId) != marker {
		t.Fatalf("ListObjectVersions: %d versions %d markers %+v", len(lv.Versions), len(lv.DeleteMarkers), lv.DeleteMarkers)
	}
	if aws.ToString(lv.Versions[0].VersionId) != v2 || aws.ToString(lv.Versions[2].VersionId) != "null" {
		t.Fatalf("version order: %s %s %s", aws.ToString(lv.Versions[0].VersionId), aws.ToString(lv.Versions[1].VersionId), aws.ToString(lv.Versions[2].VersionId))
	}
	// Page by one through versions.
	count := 0
	in := &s3.ListObjectVersionsInput{Bucket: b, MaxKeys: aws.Int32(1)}
	for {
		page, err := e.s3.ListObjectVersions(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		count += len(page.Versions) + len(page.DeleteMarkers)
		if !aws.ToBool(page.IsTruncated) {
			break
		}
		in.KeyMarker, in.VersionIdMarker = page.NextKeyMarker, page.NextVersionIdMarker
		if count > 10 {
			t.Fatal("version paging does not end")
		}
	}
	if count != 4 {
		t.Fatalf("paged %d versions and markers, want 4", count)
	}

	// Deleting the marker by version brings v2 back; deleting v2 by version removes it.
	d, err = e.s3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: b, Key: aws.String("k"), VersionId: aws.String(marker)})
	if err != nil || !aws.ToBool(d.DeleteMarker) || aws.ToString(d.VersionId) != marker {
		t.Fatalf("delete marker by version: %+v %v", d, err)
	}
	if got := e.get("ver", "k"); got != "v2" {
		t.Fatalf("after removing the marker: %q", got)
	}
	if _, err := e.s3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: b, Key: aws.String("k"), VersionId: aws.String(v2)}); err != nil {
		t.Fatal(err)
	}
	if got := e.get("ver", "k"); got != "v1" {
		t.Fatalf("after removing v2: %q", got)
	}

	// DeleteObjects with versions, and tagging by version.
	if _, err := e.s3.PutObjectTagging(ctx, &s3.PutObjectTaggingInput{Bucket: b, Key: aws.String("k"), VersionId: aws.String(v1),
		Tagging: &types.Tagging{TagSet: []types.Tag{{Key: aws.String("a"), Value: aws.String("b")}}}}); err != nil {
		t.Fatal(err)
	}
	tg, err := e.s3.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: b, Key: aws.String("k"), VersionId: aws.String(v1)})
	if err != nil || len(tg.TagSet) != 1 || aws.ToString(tg.VersionId) != v1 {
		t.Fatalf("tagging by version: %+v %v", tg, err)
	}
	do, err := e.s3.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: b, Delete: &types.Delete{Objects: []types.ObjectIdentifier{
		{Key: aws.String("k"), VersionId: aws.String(v1)}, {Key: aws.String("other")}}}})
	if err != nil || len(do.Deleted) != 2 {
		t.Fatalf("DeleteObjects with versions: %+v %v", do, err)
	}
	var sawMarker bool
	for _, d := range do.Deleted {
		if aws.ToString(d.Key) == "other" && aws.ToBool(d.DeleteMarker) && aws.ToString(d.DeleteMarkerVersionId) != "" {
			sawMarker = true
		}
	}
	if !sawMarker {
		t.Errorf("DeleteObjects in a versioned bucket made no delete marker: %+v", do.Deleted)
	}

	// Suspend.
	if _, err := e.s3.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: b, VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusSuspended}}); err != nil {
		t.Fatal(err)
	}
	gv, _ := e.s3.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: b})
	if gv.Status != types.BucketVersioningStatusSuspended {
		t.Fatalf("status %q", gv.Status)
	}
}

func TestE2EEncodedVersionAndUploadLists(t *testing.T) {
	e := newEnv(t)
	ctx := e.ctx()
	e.mkBucket("enc")
	e.put("enc", "a b/é", "x")
	if _, err := e.s3.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("enc"), Key: aws.String("up load+1")}); err != nil {
		t.Fatal(err)
	}
	r := e.raw("GET", "/enc?versions&encoding-type=url", nil, nil)
	wantRaw(t, r, 200, "")
	if !strings.Contains(r.body, "<Key>a+b/%C3%A9</Key>") || !strings.Contains(r.body, "<EncodingType>url</EncodingType>") {
		t.Fatalf("encoded versions: %s", r.body)
	}
	r = e.raw("GET", "/enc?versions&encoding-type=url&delimiter=/", nil, nil)
	if !strings.Contains(r.body, "<Prefix>a+b/</Prefix>") {
		t.Fatalf("encoded version prefixes: %s", r.body)
	}
	r = e.raw("GET", "/enc?uploads&encoding-type=url", nil, nil)
	wantRaw(t, r, 200, "")
	if !strings.Contains(r.body, "<Key>up+load%2B1</Key>") {
		t.Fatalf("encoded uploads: %s", r.body)
	}
	lu, err := e.s3.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String("enc"), Prefix: aws.String("up")})
	if err != nil || len(lu.Uploads) != 1 {
		t.Fatalf("ListMultipartUploads with prefix: %+v %v", lu, err)
	}
	lu, err = e.s3.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String("enc"), Prefix: aws.String("zz")})
	if err != nil || len(lu.Uploads) != 0 {
		t.Fatalf("ListMultipartUploads with another prefix: %+v %v", lu, err)
	}
	wantRaw(t, e.raw("GET", "/enc?versions&version-id-marker=x", nil, nil), 400, "InvalidArgument")
}
