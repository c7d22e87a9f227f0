package sigv4

import (
	"bytes"
	"context"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

func TestParseAuthHeader(t *testing.T) {
	const cred = "AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request"
	const sig = "fe5f80f77d5fa3beca038a248ff027d0445342fe2855ddc963176630326f1024"
	tests := []struct{ name, header, code string }{
		{"spaces after commas", "AWS4-HMAC-SHA256 Credential=" + cred + ", SignedHeaders=host;x-amz-date, Signature=" + sig, ""},
		{"no spaces", "AWS4-HMAC-SHA256 Credential=" + cred + ",SignedHeaders=host,Signature=" + sig, ""},
		{"parts reordered", "AWS4-HMAC-SHA256 Signature=" + sig + ", SignedHeaders=host, Credential=" + cred, ""},
		{"access key with slash", "AWS4-HMAC-SHA256 Credential=a/b/20130524/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=" + sig, ""},

		{"sigv4a", "AWS4-ECDSA-P256-SHA256 Credential=" + cred + ", SignedHeaders=host, Signature=" + sig, "InvalidArgument"},
		{"algorithm only", "AWS4-HMAC-SHA256", "InvalidArgument"},
		{"missing signature", "AWS4-HMAC-SHA256 Credential=" + cred + ", SignedHeaders=host", "AuthorizationHeaderMalformed"},
		{"missing credential", "AWS4-HMAC-SHA256 SignedHeaders=host, Signature=" + sig, "AuthorizationHeaderMalformed"},
		{"repeated part", "AWS4-HMAC-SHA256 Credential=" + cred + ", Credential=" + cred + ", SignedHeaders=host, Signature=" + sig, "AuthorizationHeaderMalformed"},
		{"unknown part", "AWS4-HMAC-SHA256 Credential=" + cred + ", SignedHeaders=host, Signature=" + sig + ", Extra=1", "AuthorizationHeaderMalformed"},
		{"no equals", "AWS4-HMAC-SHA256 Credential=" + cred + ", SignedHeaders, Signature=" + sig, "AuthorizationHeaderMalformed"},
		{"host not signed", "AWS4-HMAC-SHA256 Credential=" + cred + ", SignedHeaders=x-amz-date, Signature=" + sig, "AuthorizationHeaderMalformed"},
		{"upper-case signed header", "AWS4-HMAC-SHA256 Credential=" + cred + ", SignedHeaders=Host, Signature=" + sig, "AuthorizationHeaderMalformed"},
		{"empty signed header", "AWS4-HMAC-SHA256 Credential=" + cred + ", SignedHeaders=host;;x, Signature=" + sig, "AuthorizationHeaderMalformed"},
		{"short credential", "AWS4-HMAC-SHA256 Credential=AKIA/20130524/us-east-1/s3, SignedHeaders=host, Signature=" + sig, "AuthorizationHeaderMalformed"},
		{"wrong service", "AWS4-HMAC-SHA256 Credential=AKIA/20130524/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=" + sig, "AuthorizationHeaderMalformed"},
		{"wrong terminal", "AWS4-HMAC-SHA256 Credential=AKIA/20130524/us-east-1/s3/aws5_request, SignedHeaders=host, Signature=" + sig, "AuthorizationHeaderMalformed"},
		{"empty access key", "AWS4-HMAC-SHA256 Credential=/20130524/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=" + sig, "AuthorizationHeaderMalformed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseAuthHeader(tt.header)
			wantCode(t, err, tt.code)
		})
	}
}

// signedRequest returns a server-side view of a request the SDK's signer signed at at.
func signedRequest(t *testing.T, method, target string, body []byte, h http.Header, at time.Time, region string) *http.Request {
	t.Helper()
	r := httptest.NewRequest(method, target, bytes.NewReader(body))
	for k, v := range h {
		r.Header[k] = v
	}
	hash := r.Header.Get("X-Amz-Content-Sha256")
	if hash == "" {
		hash = hexSHA256(body)
		r.Header.Set("X-Amz-Content-Sha256", hash)
	}
	creds := aws.Credentials{AccessKeyID: testAK, SecretAccessKey: testSecret}
	if err := sdkSigner().SignHTTP(context.Background(), creds, r, hash, "s3", region, at); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestVerifyDispatch(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	v := testVerifier(at, "us-east-1")
	tests := []struct {
		name  string
		req   func() *http.Request
		code  string
		anon  bool
		check func(t *testing.T, o outcome)
	}{
		{name: "listing a prefix that looks like auth", req: func() *http.Request {
			return signedRequest(t, "GET", "http://s3.test/b?prefix=X-Amz-Signature&list-type=2", nil, nil, at, "us-east-1")
		}},
		{name: "header and query auth", req: func() *http.Request {
			r := signedRequest(t, "GET", "http://s3.test/b/k", nil, nil, at, "us-east-1")
			r.URL.RawQuery = "X-Amz-Credential=x"
			return r
		}, code: "InvalidArgument"},
		{name: "two authorization headers", req: func() *http.Request {
			r := signedRequest(t, "GET", "http://s3.test/b/k", nil, nil, at, "us-east-1")
			r.Header.Add("Authorization", r.Header.Get("Authorization"))
			return r
		}, code: "InvalidArgument"},
		{name: "sigv2 presigned", req: func() *http.Request {
			return httptest.NewRequest("GET", "http://s3.test/b/k?AWSAccessKeyId=AKIA&Signature=x&Expires=1", nil)
		}, code: "AccessDenied"}, // expired in 1970
		{name: "bad x-amz-date", req: func() *http.Request {
			r := signedRequest(t, "GET", "http://s3.test/b/k", nil, nil, at, "us-east-1")
			r.Header.Set("X-Amz-Date", "yesterday")
			return r
		}, code: "AccessDenied"},
		{name: "credential date differs from x-amz-date", req: func() *http.Request {
			r := signedRequest(t, "GET", "http://s3.test/b/k", nil, nil, at, "us-east-1")
			r.Header.Set("X-Amz-Date", "20260101T235959Z")
			return r
		}, code: "AuthorizationHeaderMalformed"},
		{name: "date header instead of x-amz-date", req: func() *http.Request {
			// Signed by hand as the SDK always adds X-Amz-Date: the string to sign takes the
			// Date header's time in ISO 8601 form.
			r := httptest.NewRequest("GET", "http://s3.test/b/k", nil)
			r.Header.Set("Date", at.Format(http.TimeFormat))
			r.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
			key := deriveKey(testSecret, "20260102", "us-east-1")
			canon := canonicalRequest(r, nil, false, "date;host;x-amz-content-sha256", "UNSIGNED-PAYLOAD")
			sig := hexSign(&key, "20260102T030405Z", "20260102/us-east-1/s3/aws4_request", &canon)
			r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+testAK+"/20260102/us-east-1/s3/aws4_request, SignedHeaders=date;host;x-amz-content-sha256, Signature="+sig)
			return r
		}},
		{name: "sigv4a payload", req: func() *http.Request {
			return signedRequest(t, "PUT", "http://s3.test/b/k", nil, http.Header{"X-Amz-Content-Sha256": {"STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD"}}, at, "us-east-1")
		}, code: "NotImplemented"},
		{name: "streaming payload with presigned url", req: func() *http.Request {
			r := httptest.NewRequest("GET", "http://s3.test/b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential="+testAK+
				"%2F20260102%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20260102T030405Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host"+
				"&X-Amz-Content-Sha256=STREAMING-UNSIGNED-PAYLOAD-TRAILER&X-Amz-Signature="+strings.Repeat("0", 64), nil)
			return r
		}, code: "InvalidRequest"},
		{name: "anonymous", anon: true, req: func() *http.Request {
			return httptest.NewRequest("PUT", "http://s3.test/b/k", strings.NewReader("public"))
		}, check: func(t *testing.T, o outcome) {
			if string(o.body) != "public" || o.size != 6 {
				t.Fatalf("anonymous body %q size %d", o.body, o.size)
			}
		}},
		{name: "anonymous aws-chunked without a mode", anon: true, req: func() *http.Request {
			r := httptest.NewRequest("PUT", "http://s3.test/b/k", strings.NewReader("3\r\nabc\r\n0\r\n\r\n"))
			r.Header.Set("Content-Encoding", "aws-chunked")
			r.Header.Set("X-Amz-Decoded-Content-Length", "3")
			return r
		}, check: func(t *testing.T, o outcome) {
			if string(o.body) != "abc" || o.size != 3 {
				t.Fatalf("decoded %q size %d", o.body, o.size)
			}
		}},
		{name: "anonymous signed streaming", req: func() *http.Request {
			r := httptest.NewRequest("PUT", "http://s3.test/b/k", strings.NewReader(""))
			r.Header.Set("X-Amz-Content-Sha256", signedPayload)
			return r
		}, code: "AccessDenied"},
		{name: "anonymous bad md5", req: func() *http.Request {
			r := httptest.NewRequest("PUT", "http://s3.test/b/k", strings.NewReader("public"))
			r.Header.Set("Content-Md5", md5b64([]byte("other")))
			return r
		}, code: "BadDigest"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := consume(v, tt.req())
			wantCode(t, o.err, tt.code)
			if tt.code == "" && (o.accessKey == "") != tt.anon {
				t.Fatalf("access key %q", o.accessKey)
			}
			if tt.check != nil {
				tt.check(t, o)
			}
		})
	}
}

// hexSign is the request signature, for tests that sign by hand.
func hexSign(key *[32]byte, amzDate, scope string, canon *[32]byte) string {
	sts := "AWS4-HMAC-SHA256\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(canon[:])
	s := hmacSum(key[:], []byte(sts))
	return hex.EncodeToString(s[:])
}

// One Verifier serves many goroutines; run with -race.
func TestVerifyConcurrent(t *testing.T) {
	at := time.Now().UTC()
	v := testVerifier(at, "")
	type job struct {
		r    *http.Request
		body []byte
	}
	jobs := make([][]job, 8)
	for g := range jobs {
		for i := range 30 {
			region := []string{"us-east-1", "eu-west-1", "ap-south-1"}[(g+i)%3]
			body := testData(i * 100)
			jobs[g] = append(jobs[g], job{signedRequest(t, "PUT", "http://s3.test/b/k", body, nil, at, region), body})
		}
	}
	var wg sync.WaitGroup
	for g := range jobs {
		wg.Go(func() {
			for i, j := range jobs[g] {
				if o := consume(v, j.r); o.err != nil || !bytes.Equal(o.body, j.body) {
					t.Errorf("goroutine %d request %d: %v", g, i, o.err)
					return
				}
			}
		})
	}
	wg.Wait()
}
