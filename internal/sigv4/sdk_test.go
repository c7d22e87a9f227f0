package sigv4

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/smithy-go/encoding/httpbinding"
)

// recorder is an httptest server whose handler verifies each request, reads its body and keeps
// what it saw, as minicloud's S3 handler will.
type recorder struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []outcome
}

func newRecorder(t *testing.T, v *Verifier, tls bool) *recorder {
	rec := &recorder{}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o := consume(v, r)
		rec.mu.Lock()
		rec.got = append(rec.got, o)
		rec.mu.Unlock()
		if o.err != nil {
			w.WriteHeader(http.StatusForbidden)
			io.WriteString(w, codeOf(o.err))
			return
		}
		w.Header().Set("ETag", `"etag"`)
	})
	if tls {
		rec.srv = httptest.NewTLSServer(h)
	} else {
		rec.srv = httptest.NewServer(h)
	}
	t.Cleanup(rec.srv.Close)
	return rec
}

// last returns what the handler saw of the latest request.
func (rec *recorder) last(t *testing.T) outcome {
	t.Helper()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.got) == 0 {
		t.Fatal("the handler saw no request")
	}
	return rec.got[len(rec.got)-1]
}

func (rec *recorder) send(t *testing.T, r *http.Request) {
	t.Helper()
	resp, err := rec.srv.Client().Do(r)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}

// sdkSigner signs like the S3 client: the path is signed as sent, never escaped again. Each
// call gets a new signer, because the SDK caches signing keys by access key alone and a test
// with a wrong secret would otherwise reuse the right key.
func sdkSigner() *v4.Signer {
	return v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
}

func hexSHA256(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func TestSDKHeaderRoundTrip(t *testing.T) {
	const region = "eu-central-1"
	v := testVerifier(time.Time{}, region)
	v.Now = nil // real time: the server's clock
	rec := newRecorder(t, v, false)
	type req struct {
		method, key, query string
		body               []byte
		header             http.Header
		unsigned           bool // UNSIGNED-PAYLOAD instead of the body's hash
	}
	tests := []struct {
		name   string
		req    req
		secret string
		region string
		skew   time.Duration
		mutate func(*http.Request)
		code   string
	}{
		{name: "plain key", req: req{method: "GET", key: "photos/cat.jpg"}},
		{name: "list buckets", req: req{method: "GET", key: "\x00"}},
		{name: "bucket root", req: req{method: "GET", key: ""}},
		{name: "spaces", req: req{method: "GET", key: "my key with  spaces.txt"}},
		{name: "unicode", req: req{method: "GET", key: "ünïcödé/文件/😀.bin"}},
		{name: "plus equals tilde", req: req{method: "GET", key: "a+b=c~d"}},
		{name: "specials", req: req{method: "GET", key: "s !\"#$%&'()*,:;<=>?@[\\]^`{|}"}},
		{name: "dot segments kept", req: req{method: "GET", key: "dir/./x/../y"}},
		{name: "double slashes", req: req{method: "GET", key: "//a//b//"}},
		{name: "query", req: req{method: "GET", key: "", query: "list-type=2&prefix=a%20b&delimiter=%2F&max-keys=10"}},
		{name: "query flags and repeats", req: req{method: "GET", key: "k", query: "uploads&a=2&a=1&b=&tagging"}},
		{name: "query specials", req: req{method: "GET", key: "k", query: "versionId=3%2FL4kq%2Bry%3D%3D&x=%F0%9F%98%80&y=a~b_c.d-e"}},
		{name: "put with hash", req: req{method: "PUT", key: "obj", body: []byte("hello, world")}},
		{name: "put unsigned", req: req{method: "PUT", key: "obj", body: []byte("hello"), unsigned: true}},
		{name: "header spaces and repeats", req: req{method: "PUT", key: "obj", body: []byte("x"), header: http.Header{
			"X-Amz-Meta-Note":  {"  a   b  c  "},
			"X-Amz-Meta-Multi": {"one", "two"},
			"Content-Type":     {"text/plain;  charset=utf-8"},
		}}},
		{name: "wrong secret", req: req{method: "GET", key: "k"}, secret: "not-the-secret", code: "SignatureDoesNotMatch"},
		{name: "wrong region", req: req{method: "GET", key: "k"}, region: "us-east-1", code: "AuthorizationHeaderMalformed"},
		{name: "skew ahead", req: req{method: "GET", key: "k"}, skew: 16 * time.Minute, code: "RequestTimeTooSkewed"},
		{name: "skew behind", req: req{method: "GET", key: "k"}, skew: -16 * time.Minute, code: "RequestTimeTooSkewed"},
		{name: "small skew", req: req{method: "GET", key: "k"}, skew: 14 * time.Minute},
		{name: "unknown key", req: req{method: "GET", key: "k"}, mutate: func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), testAK, "AKIANOBODY", 1))
		}, code: "InvalidAccessKeyId"},
		{name: "body changed", req: req{method: "PUT", key: "obj", body: []byte("hello")}, mutate: func(r *http.Request) {
			r.Body = io.NopCloser(bytes.NewReader([]byte("jello")))
		}, code: "XAmzContentSHA256Mismatch"},
		{name: "unsigned x-amz header added", req: req{method: "PUT", key: "obj", body: []byte("x")}, mutate: func(r *http.Request) {
			r.Header.Set("X-Amz-Acl", "public-read")
		}, code: "AccessDenied"},
		{name: "signed header changed", req: req{method: "PUT", key: "obj", body: []byte("x"), header: http.Header{"Content-Type": {"text/plain"}}},
			mutate: func(r *http.Request) { r.Header.Set("Content-Type", "text/html") }, code: "SignatureDoesNotMatch"},
		{name: "path changed", req: req{method: "GET", key: "k"}, mutate: func(r *http.Request) {
			r.URL.Path, r.URL.RawPath = "/bucket/other", ""
		}, code: "SignatureDoesNotMatch"},
		{name: "query added", req: req{method: "GET", key: "k"}, mutate: func(r *http.Request) {
			r.URL.RawQuery += "&acl"
		}, code: "SignatureDoesNotMatch"},
		{name: "no date", req: req{method: "GET", key: "k"}, mutate: func(r *http.Request) {
			r.Header.Del("X-Amz-Date")
		}, code: "AccessDenied"},
		{name: "no payload hash", req: req{method: "GET", key: "k"}, mutate: func(r *http.Request) {
			r.Header.Del("X-Amz-Content-Sha256")
		}, code: "InvalidRequest"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := "/bucket/" + httpbinding.EscapePath(tt.req.key, false)
			if tt.req.key == "\x00" {
				path = "/"
			}
			u := rec.srv.URL + path
			if tt.req.query != "" {
				u += "?" + tt.req.query
			}
			r, err := http.NewRequest(tt.req.method, u, bytes.NewReader(tt.req.body))
			if err != nil {
				t.Fatal(err)
			}
			for k, vs := range tt.req.header {
				r.Header[k] = vs
			}
			hash := hexSHA256(tt.req.body)
			if tt.req.unsigned {
				hash = "UNSIGNED-PAYLOAD"
			}
			r.Header.Set("X-Amz-Content-Sha256", hash)
			secret, signRegion := testSecret, region
			if tt.secret != "" {
				secret = tt.secret
			}
			if tt.region != "" {
				signRegion = tt.region
			}
			creds := aws.Credentials{AccessKeyID: testAK, SecretAccessKey: secret}
			if err := sdkSigner().SignHTTP(context.Background(), creds, r, hash, "s3", signRegion, time.Now().Add(tt.skew)); err != nil {
				t.Fatal(err)
			}
			if tt.mutate != nil {
				tt.mutate(r)
			}
			rec.send(t, r)
			o := rec.last(t)
			wantCode(t, o.err, tt.code)
			if tt.code == "" && (o.accessKey != testAK || !bytes.Equal(o.body, tt.req.body)) {
				t.Fatalf("got key %q body %q", o.accessKey, o.body)
			}
		})
	}
}

func TestSDKPresignRoundTrip(t *testing.T) {
	const region = "us-west-2"
	v := testVerifier(time.Time{}, region)
	v.Now = nil
	rec := newRecorder(t, v, false)
	tests := []struct {
		name    string
		method  string
		key     string
		expires string
		body    []byte
		header  http.Header // set before presigning: signed or hoisted into the query
		secret  string
		region  string
		age     time.Duration // how long ago the URL was signed
		mutate  func(*http.Request)
		code    string
	}{
		{name: "get", method: "GET", key: "a b/ü+c.txt", expires: "900"},
		{name: "put", method: "PUT", key: "upload.bin", expires: "900", body: []byte("presigned body")},
		{name: "hoisted metadata", method: "PUT", key: "m", expires: "60", body: []byte("x"),
			header: http.Header{"X-Amz-Meta-Owner": {"me"}, "Content-Type": {"text/plain"}}},
		{name: "week", method: "GET", key: "k", expires: "604800", age: 6 * 24 * time.Hour},
		{name: "expired", method: "GET", key: "k", expires: "3600", age: 61 * time.Minute, code: "AccessDenied"},
		{name: "not yet valid", method: "GET", key: "k", expires: "3600", age: -20 * time.Minute, code: "AccessDenied"},
		{name: "expires too long", method: "GET", key: "k", expires: "604801", code: "AuthorizationQueryParametersError"},
		{name: "expires zero", method: "GET", key: "k", expires: "0", code: "AuthorizationQueryParametersError"},
		{name: "expires junk", method: "GET", key: "k", expires: "soon", code: "AuthorizationQueryParametersError"},
		{name: "wrong region", method: "GET", key: "k", expires: "60", region: "eu-west-1", code: "AuthorizationQueryParametersError"},
		{name: "wrong secret", method: "GET", key: "k", expires: "60", secret: "nope", code: "SignatureDoesNotMatch"},
		{name: "unsigned x-amz header", method: "PUT", key: "k", expires: "60", body: []byte("x"),
			mutate: func(r *http.Request) { r.Header.Set("X-Amz-Acl", "public-read") }, code: "AccessDenied"},
		{name: "signed header dropped", method: "PUT", key: "k", expires: "60", body: []byte("x"),
			header: http.Header{"Content-Type": {"text/plain"}},
			mutate: func(r *http.Request) { r.Header.Del("Content-Type") }, code: "SignatureDoesNotMatch"},
		{name: "signature repeated", method: "GET", key: "k", expires: "60",
			mutate: func(r *http.Request) { r.URL.RawQuery += "&X-Amz-Signature=00" }, code: "AuthorizationQueryParametersError"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := rec.srv.URL + "/bucket/" + httpbinding.EscapePath(tt.key, false) + "?X-Amz-Expires=" + tt.expires
			r, err := http.NewRequest(tt.method, u, nil)
			if err != nil {
				t.Fatal(err)
			}
			for k, vs := range tt.header {
				r.Header[k] = vs
			}
			secret, signRegion := testSecret, region
			if tt.secret != "" {
				secret = tt.secret
			}
			if tt.region != "" {
				signRegion = tt.region
			}
			creds := aws.Credentials{AccessKeyID: testAK, SecretAccessKey: secret}
			signed, hdr, err := sdkSigner().PresignHTTP(context.Background(), creds, r, "UNSIGNED-PAYLOAD", "s3", signRegion, time.Now().Add(-tt.age))
			if err != nil {
				t.Fatal(err)
			}
			// What a browser or curl would send: the URL, the signed headers, the body.
			r2, err := http.NewRequest(tt.method, signed, bytes.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			for k, vs := range hdr {
				if k != "Host" && k != "host" {
					r2.Header[http.CanonicalHeaderKey(k)] = vs
				}
			}
			if tt.mutate != nil {
				tt.mutate(r2)
			}
			rec.send(t, r2)
			o := rec.last(t)
			wantCode(t, o.err, tt.code)
			if tt.code == "" && (o.accessKey != testAK || !bytes.Equal(o.body, tt.body)) {
				t.Fatalf("got key %q body %q", o.accessKey, o.body)
			}
		})
	}
}
