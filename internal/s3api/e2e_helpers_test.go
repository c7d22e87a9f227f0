package s3api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/minicloud/minicloud/internal/iam"
	"github.com/minicloud/minicloud/internal/object"
	"github.com/minicloud/minicloud/internal/replicate"
	"github.com/minicloud/minicloud/internal/sigv4"
)

// Test credentials: an admin key and a key granted only read and list on one bucket.
const (
	rootAK, rootSK     = "AKIAROOTTEST", "root-secret-key-for-tests"
	readerAK, readerSK = "AKIAREADERTEST", "reader-secret-key-for-tests"
	testRegion         = "us-east-1"
	testDomain         = "s3.test.local"
	readerBucket       = "reader-bucket"
)

// fixedAuth is a tiny Authorizer: root may do everything; reader may read and list readerBucket.
type fixedAuth struct{}

func (fixedAuth) Allowed(ak, bucket string, a iam.Action) bool {
	switch ak {
	case rootAK:
		return true
	case readerAK:
		return bucket == readerBucket && (a == iam.ActionRead || a == iam.ActionList)
	}
	return false
}

func (fixedAuth) IsAdmin(ak string) bool { return ak == rootAK }

var _ Authorizer = fixedAuth{}

// env is one S3 API server on a real object store, with clients.
type env struct {
	t     *testing.T
	srv   *httptest.Server
	store *object.Store
	reg   *prometheus.Registry
	s3    *s3.Client // root, path-style
	url   string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	st, err := object.Open(t.TempDir(), object.Options{NodeID: "n1"})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	secrets := map[string]string{rootAK: rootSK, readerAK: readerSK}
	v := &sigv4.Verifier{Region: testRegion, Secret: func(ak string) (string, bool) { s, ok := secrets[ak]; return s, ok }}
	level := slog.LevelError + 10 // quiet by default
	if os.Getenv("S3API_TEST_LOG") != "" {
		level = slog.LevelDebug
	}
	reg := prometheus.NewRegistry()
	// S3API_TEST_REPLICATED=1 runs the same tests through the replication layer (as a node does),
	// so its coordinator paths meet every S3 operation and error too.
	var store ObjectStore = st
	if os.Getenv("S3API_TEST_REPLICATED") != "" {
		rs := replicate.New(replicate.Options{Local: st})
		rs.Start()
		t.Cleanup(rs.Close)
		store = rs
	}
	h := New(Options{
		Store: store, Auth: fixedAuth{}, Verifier: v, Region: testRegion, Domain: testDomain,
		Logger:   slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})),
		Registry: reg,
	})
	srv := httptest.NewServer(h)
	e := &env{t: t, srv: srv, store: st, reg: reg, url: srv.URL}
	e.s3 = e.client(rootAK, rootSK)
	t.Cleanup(func() {
		srv.Close()
		if err := st.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	return e
}

// client returns an aws-sdk-go-v2 S3 client with these credentials.
func (e *env) client(ak, sk string, optFns ...func(*s3.Options)) *s3.Client {
	return s3.New(s3.Options{
		Region:       testRegion,
		BaseEndpoint: aws.String(e.url),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(ak, sk, ""),
		HTTPClient:   e.srv.Client(),
		// Fail fast instead of retrying the errors the tests provoke.
		RetryMaxAttempts: 1,
	}, optFns...)
}

func (e *env) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	e.t.Cleanup(cancel)
	return ctx
}

// mkBucket creates a bucket with the root client.
func (e *env) mkBucket(name string) {
	e.t.Helper()
	if _, err := e.s3.CreateBucket(e.ctx(), &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		e.t.Fatalf("create bucket %s: %v", name, err)
	}
}

// put stores an object with the root client.
func (e *env) put(bucket, key, body string) *s3.PutObjectOutput {
	e.t.Helper()
	out, err := e.s3.PutObject(e.ctx(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader(body)})
	if err != nil {
		e.t.Fatalf("put %s/%s: %v", bucket, key, err)
	}
	return out
}

// get reads a whole object with the root client.
func (e *env) get(bucket, key string) string {
	e.t.Helper()
	out, err := e.s3.GetObject(e.ctx(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		e.t.Fatalf("get %s/%s: %v", bucket, key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		e.t.Fatalf("read %s/%s: %v", bucket, key, err)
	}
	return string(b)
}

// wantCode fails unless err is an S3 API error with this code (and, if status is not 0, status).
func wantCode(t *testing.T, err error, code string, status int) {
	t.Helper()
	if err == nil {
		t.Fatalf("got success, want %s", code)
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("got %v, want API error %s", err, code)
	}
	if ae.ErrorCode() != code {
		t.Fatalf("got code %s (%v), want %s", ae.ErrorCode(), err, code)
	}
	if status != 0 {
		var re interface{ HTTPStatusCode() int }
		if errors.As(err, &re) && re.HTTPStatusCode() != status {
			t.Fatalf("got status %d for %s, want %d", re.HTTPStatusCode(), code, status)
		}
	}
}

// raw sends a request signed with root's key (or unsigned with ak == "") and returns the
// response with its body read.
type rawResp struct {
	*http.Response
	body string
}

func (e *env) raw(method, path string, body []byte, hdr map[string]string) rawResp {
	e.t.Helper()
	return e.rawAs(rootAK, rootSK, method, path, body, hdr)
}

func (e *env) rawAs(ak, sk, method, path string, body []byte, hdr map[string]string) rawResp {
	e.t.Helper()
	req, err := http.NewRequest(method, e.url+path, bytes.NewReader(body))
	if err != nil {
		e.t.Fatalf("new request: %v", err)
	}
	if body == nil {
		req.Body = http.NoBody
		req.ContentLength = 0
	}
	for k, v := range hdr {
		if strings.EqualFold(k, "Host") {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	if ak != "" {
		sum := sha256.Sum256(body)
		ph := hex.EncodeToString(sum[:])
		if v := req.Header.Get("X-Amz-Content-Sha256"); v != "" {
			ph = v
		} else {
			req.Header.Set("X-Amz-Content-Sha256", ph)
		}
		creds := aws.Credentials{AccessKeyID: ak, SecretAccessKey: sk}
		if err := s3Signer.SignHTTP(context.Background(), creds, req, ph, "s3", testRegion, time.Now()); err != nil {
			e.t.Fatalf("sign: %v", err)
		}
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatalf("read response of %s %s: %v", method, path, err)
	}
	return rawResp{Response: resp, body: string(b)}
}

// wantRaw fails unless a raw response has this status and (if code is set) this error code.
func wantRaw(t *testing.T, r rawResp, status int, code string) {
	t.Helper()
	if r.StatusCode != status {
		t.Fatalf("%s %s: status %d, want %d; body %s", r.Request.Method, r.Request.URL, r.StatusCode, status, r.body)
	}
	if code != "" && !strings.Contains(r.body, "<Code>"+code+"</Code>") {
		t.Fatalf("%s %s: body %s, want code %s", r.Request.Method, r.Request.URL, r.body, code)
	}
}

// signRoot signs a prepared request with the root key.
func signRoot(t testing.TB, req *http.Request, payloadHash string) {
	t.Helper()
	creds := aws.Credentials{AccessKeyID: rootAK, SecretAccessKey: rootSK}
	if err := s3Signer.SignHTTP(context.Background(), creds, req, payloadHash, "s3", testRegion, time.Now()); err != nil {
		t.Fatalf("sign: %v", err)
	}
}

// s3Signer signs as S3 clients do: the path is escaped once, not twice.
var s3Signer = v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
