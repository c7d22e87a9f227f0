package s3api

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

func TestE2EAuth(t *testing.T) {
	e := newEnv(t)
	ctx := e.ctx()
	e.mkBucket("private")
	e.mkBucket(readerBucket)
	e.put("private", "k", "secret")
	e.put(readerBucket, "k", "readable")

	_, err := e.client(rootAK, "wrong-secret").GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("private"), Key: aws.String("k")})
	wantCode(t, err, "SignatureDoesNotMatch", 403)
	_, err = e.client("AKIANOBODY", "x").GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("private"), Key: aws.String("k")})
	wantCode(t, err, "InvalidAccessKeyId", 403)

	// The reader key: read and list its bucket, nothing else.
	rd := e.client(readerAK, readerSK)
	if _, err := rd.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(readerBucket), Key: aws.String("k")}); err != nil {
		t.Fatalf("reader GET: %v", err)
	}
	if _, err := rd.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(readerBucket)}); err != nil {
		t.Fatalf("reader LIST: %v", err)
	}
	_, err = rd.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(readerBucket), Key: aws.String("new"), Body: strings.NewReader("x")})
	wantCode(t, err, "AccessDenied", 403)
	_, err = rd.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(readerBucket), Key: aws.String("k")})
	wantCode(t, err, "AccessDenied", 403)
	_, err = rd.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("private"), Key: aws.String("k")})
	wantCode(t, err, "AccessDenied", 403)
	_, err = rd.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("reader-new")})
	wantCode(t, err, "AccessDenied", 403)
	_, err = rd.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: aws.String(readerBucket), VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}})
	wantCode(t, err, "AccessDenied", 403)
	// Copying needs read on the source too.
	_, err = e.s3.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String(readerBucket), Key: aws.String("c"), CopySource: aws.String("private/k")})
	if err != nil {
		t.Fatalf("root copy: %v", err)
	}
	lb, err := rd.ListBuckets(ctx, &s3.ListBucketsInput{})
	if err != nil || len(lb.Buckets) != 1 || aws.ToString(lb.Buckets[0].Name) != readerBucket {
		t.Fatalf("reader ListBuckets = %+v, %v", lb, err)
	}

	// Anonymous: denied everywhere without a policy.
	for _, p := range []string{"/private/k", "/private", "/private?list-type=2", "/"} {
		wantRaw(t, e.rawAs("", "", "GET", p, nil, nil), 403, "AccessDenied")
	}
	wantRaw(t, e.rawAs("", "", "PUT", "/private/anon", []byte("x"), nil), 403, "AccessDenied")
	r := e.rawAs("", "", "HEAD", "/private/k", nil, nil)
	if r.StatusCode != 403 || r.body != "" {
		t.Fatalf("anonymous HEAD: %d %q", r.StatusCode, r.body)
	}
}

func TestE2EPublicReadPolicy(t *testing.T) {
	e := newEnv(t)
	ctx := e.ctx()
	e.mkBucket("public")
	e.put("public", "index.html", "<h1>hi</h1>")
	b := aws.String("public")

	_, err := e.s3.GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: b})
	wantCode(t, err, "NoSuchBucketPolicy", 404)

	for _, bad := range []struct{ doc, code string }{
		{`{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:PutObject","Resource":"arn:aws:s3:::public/*"}]}`, "NotImplemented"},
		{`{"Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::public/*"}]}`, "NotImplemented"},
		{`{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::other/*"}]}`, "MalformedPolicy"},
		{`not json`, "MalformedPolicy"},
	} {
		_, err := e.s3.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: b, Policy: aws.String(bad.doc)})
		wantCode(t, err, bad.code, 0)
	}
	_, err = e.s3.GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: b})
	wantCode(t, err, "NoSuchBucketPolicy", 404)
	wantRaw(t, e.rawAs("", "", "GET", "/public/index.html", nil, nil), 403, "AccessDenied")

	policy := `{"Version":"2012-10-17","Statement":[{"Sid":"PublicRead","Effect":"Allow","Principal":"*","Action":["s3:GetObject"],"Resource":["arn:aws:s3:::public/*"]}]}`
	if _, err := e.s3.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: b, Policy: aws.String(policy)}); err != nil {
		t.Fatalf("PutBucketPolicy: %v", err)
	}
	gp, err := e.s3.GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: b})
	if err != nil || aws.ToString(gp.Policy) != policy {
		t.Fatalf("GetBucketPolicy = %v, %v", aws.ToString(gp.Policy), err)
	}
	ps, err := e.s3.GetBucketPolicyStatus(ctx, &s3.GetBucketPolicyStatusInput{Bucket: b})
	if err != nil || !aws.ToBool(ps.PolicyStatus.IsPublic) {
		t.Fatalf("GetBucketPolicyStatus = %+v, %v", ps, err)
	}

	// Anonymous GET and HEAD work, with plain net/http; listing and writing do not.
	resp, err := http.Get(e.url + "/public/index.html")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "<h1>hi</h1>" {
		t.Fatalf("anonymous GET: %d %q", resp.StatusCode, body)
	}
	wantRaw(t, e.rawAs("", "", "HEAD", "/public/index.html", nil, nil), 200, "")
	wantRaw(t, e.rawAs("", "", "GET", "/public/index.html", nil, map[string]string{"Range": "bytes=0-3"}), 206, "")
	wantRaw(t, e.rawAs("", "", "GET", "/public/missing", nil, nil), 404, "NoSuchKey")
	wantRaw(t, e.rawAs("", "", "GET", "/public?list-type=2", nil, nil), 403, "AccessDenied")
	wantRaw(t, e.rawAs("", "", "PUT", "/public/x", []byte("x"), nil), 403, "AccessDenied")
	wantRaw(t, e.rawAs("", "", "DELETE", "/public/index.html", nil, nil), 403, "AccessDenied")
	wantRaw(t, e.rawAs("", "", "GET", "/public/index.html?tagging", nil, nil), 403, "AccessDenied")
	wantRaw(t, e.rawAs("", "", "GET", "/public/index.html?versionId=null", nil, nil), 403, "AccessDenied")
	wantRaw(t, e.rawAs("", "", "GET", "/public/index.html?response-content-type=text/evil", nil, nil), 400, "InvalidRequest")
	wantRaw(t, e.rawAs("", "", "GET", "/nobucket/x", nil, nil), 404, "NoSuchBucket")

	// Add public listing.
	both := `{"Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":["s3:GetObject","s3:ListBucket"],"Resource":["arn:aws:s3:::public","arn:aws:s3:::public/*"]}]}`
	if _, err := e.s3.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: b, Policy: aws.String(both)}); err != nil {
		t.Fatal(err)
	}
	r := e.rawAs("", "", "GET", "/public?list-type=2", nil, nil)
	wantRaw(t, r, 200, "")
	if !strings.Contains(r.body, "<Key>index.html</Key>") {
		t.Fatalf("anonymous list: %s", r.body)
	}
	wantRaw(t, e.rawAs("", "", "GET", "/public?versions", nil, nil), 403, "AccessDenied")

	if _, err := e.s3.DeleteBucketPolicy(ctx, &s3.DeleteBucketPolicyInput{Bucket: b}); err != nil {
		t.Fatal(err)
	}
	wantRaw(t, e.rawAs("", "", "GET", "/public/index.html", nil, nil), 403, "AccessDenied")
	wantRaw(t, e.rawAs("", "", "GET", "/public", nil, nil), 403, "AccessDenied")
}

func TestE2ECORS(t *testing.T) {
	e := newEnv(t)
	ctx := e.ctx()
	e.mkBucket("web")
	e.put("web", "app.js", "js")
	b := aws.String("web")

	preflight := func(origin, method, headers string) *http.Response {
		req, _ := http.NewRequest("OPTIONS", e.url+"/web/app.js", nil)
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		if method != "" {
			req.Header.Set("Access-Control-Request-Method", method)
		}
		if headers != "" {
			req.Header.Set("Access-Control-Request-Headers", headers)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if r := preflight("https://app.example.com", "GET", ""); r.StatusCode != 403 {
		t.Fatalf("preflight without CORS config: %d", r.StatusCode)
	}
	_, err := e.s3.GetBucketCors(ctx, &s3.GetBucketCorsInput{Bucket: b})
	wantCode(t, err, "NoSuchCORSConfiguration", 404)

	_, err = e.s3.PutBucketCors(ctx, &s3.PutBucketCorsInput{Bucket: b, CORSConfiguration: &types.CORSConfiguration{CORSRules: []types.CORSRule{{
		AllowedOrigins: []string{"https://app.example.com"}, AllowedMethods: []string{"PATCH"}}}}})
	wantCode(t, err, "InvalidRequest", 400)

	if _, err := e.s3.PutBucketCors(ctx, &s3.PutBucketCorsInput{Bucket: b, CORSConfiguration: &types.CORSConfiguration{CORSRules: []types.CORSRule{
		{AllowedOrigins: []string{"https://*.example.com"}, AllowedMethods: []string{"GET", "PUT"}, AllowedHeaders: []string{"*"},
			ExposeHeaders: []string{"ETag"}, MaxAgeSeconds: aws.Int32(600)},
	}}}); err != nil {
		t.Fatalf("PutBucketCors: %v", err)
	}
	gc, err := e.s3.GetBucketCors(ctx, &s3.GetBucketCorsInput{Bucket: b})
	if err != nil || len(gc.CORSRules) != 1 || aws.ToInt32(gc.CORSRules[0].MaxAgeSeconds) != 600 {
		t.Fatalf("GetBucketCors = %+v, %v", gc, err)
	}

	r := preflight("https://app.example.com", "PUT", "content-type, x-amz-date")
	if r.StatusCode != 200 || r.Header.Get("Access-Control-Allow-Origin") != "https://app.example.com" ||
		!strings.Contains(r.Header.Get("Access-Control-Allow-Methods"), "PUT") || r.Header.Get("Access-Control-Max-Age") != "600" ||
		!strings.Contains(r.Header.Get("Access-Control-Allow-Headers"), "x-amz-date") {
		t.Fatalf("preflight: %d %v", r.StatusCode, r.Header)
	}
	if r := preflight("https://evil.test", "GET", ""); r.StatusCode != 403 {
		t.Fatalf("preflight from another origin: %d", r.StatusCode)
	}
	if r := preflight("https://app.example.com", "DELETE", ""); r.StatusCode != 403 {
		t.Fatalf("preflight for a method not allowed: %d", r.StatusCode)
	}
	if r := preflight("", "GET", ""); r.StatusCode != 400 {
		t.Fatalf("preflight without Origin: %d", r.StatusCode)
	}

	// Actual requests carry the headers, on success and error alike.
	rr := e.raw("GET", "/web/app.js", nil, map[string]string{"Origin": "https://app.example.com"})
	if rr.StatusCode != 200 || rr.Header.Get("Access-Control-Allow-Origin") != "https://app.example.com" || rr.Header.Get("Access-Control-Expose-Headers") != "ETag" {
		t.Fatalf("actual request CORS headers: %v", rr.Header)
	}
	rr = e.rawAs("", "", "GET", "/web/app.js", nil, map[string]string{"Origin": "https://app.example.com"})
	if rr.StatusCode != 403 || rr.Header.Get("Access-Control-Allow-Origin") == "" {
		t.Fatalf("refused request lacks CORS headers: %d %v", rr.StatusCode, rr.Header)
	}
	rr = e.raw("GET", "/web/app.js", nil, map[string]string{"Origin": "https://evil.test"})
	if rr.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("CORS headers for a foreign origin: %v", rr.Header)
	}

	// A browser uploading through a presigned URL.
	ps := s3.NewPresignClient(e.s3)
	pr, err := ps.PresignPutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("upload.txt")}, s3.WithPresignExpires(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("PUT", pr.URL, bytes.NewReader([]byte("from the browser")))
	req.Header.Set("Origin", "https://app.example.com")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example.com" {
		t.Fatalf("presigned PUT with Origin: %d %v", resp.StatusCode, resp.Header)
	}

	if _, err := e.s3.DeleteBucketCors(ctx, &s3.DeleteBucketCorsInput{Bucket: b}); err != nil {
		t.Fatal(err)
	}
	if r := preflight("https://app.example.com", "GET", ""); r.StatusCode != 403 {
		t.Fatalf("preflight after DeleteBucketCors: %d", r.StatusCode)
	}
}

func TestE2EPresigned(t *testing.T) {
	e := newEnv(t)
	ctx := e.ctx()
	e.mkBucket("pre")
	ps := s3.NewPresignClient(e.s3)

	put, err := ps.PresignPutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("pre"), Key: aws.String("dir/file name.txt")}, s3.WithPresignExpires(5*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(put.Method, put.URL, strings.NewReader("presigned body"))
	for k, v := range put.SignedHeader {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("presigned PUT: %d %s", resp.StatusCode, b)
	}

	get, err := ps.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("pre"), Key: aws.String("dir/file name.txt"),
		ResponseContentDisposition: aws.String("attachment")}, s3.WithPresignExpires(5*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	resp, err = http.Get(get.URL)
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "presigned body" || resp.Header.Get("Content-Disposition") != "attachment" {
		t.Fatalf("presigned GET: %d %q %v", resp.StatusCode, b, resp.Header)
	}

	head, err := ps.PresignHeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("pre"), Key: aws.String("dir/file name.txt")})
	if err != nil {
		t.Fatal(err)
	}
	resp, err = http.Head(head.URL)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("presigned HEAD: %v %v", resp, err)
	}

	// A tampered or expired URL is refused.
	resp, err = http.Get(strings.Replace(get.URL, "file%20name", "other", 1))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Fatalf("tampered presigned URL: %d", resp.StatusCode)
	}
	old, err := ps.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("pre"), Key: aws.String("dir/file name.txt")}, func(o *s3.PresignOptions) {
		o.Expires = time.Second
		o.ClientOptions = append(o.ClientOptions, func(so *s3.Options) {})
	})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(2100 * time.Millisecond)
	resp, err = http.Get(old.URL)
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 403 || !strings.Contains(string(b), "AccessDenied") {
		t.Fatalf("expired presigned URL: %d %s", resp.StatusCode, b)
	}
}
