package sigv4

import (
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/minicloud/minicloud/internal/s3err"
)

// The example credentials of AWS's SigV4 documentation.
const (
	testAK     = "AKIAIOSFODNN7EXAMPLE"
	testSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
)

// exampleTime is the request time of every AWS documentation example.
var exampleTime = time.Date(2013, 5, 24, 0, 0, 0, 0, time.UTC)

func testVerifier(now time.Time, region string) *Verifier {
	return &Verifier{
		Region: region,
		Secret: func(ak string) (string, bool) {
			if ak == testAK {
				return testSecret, true
			}
			return "", false
		},
		Now: func() time.Time { return now },
	}
}

// outcome is what a handler saw of one request.
type outcome struct {
	accessKey string
	body      []byte
	size      int64
	alg, sum  string
	mode      string // the x-amz-content-sha256 the client sent
	err       error  // from Verify or from reading the body
}

// consume runs Verify and reads the whole body, as an S3 handler would.
func consume(v *Verifier, r *http.Request) outcome {
	mode := r.Header.Get("X-Amz-Content-Sha256")
	res, err := v.Verify(r)
	if err != nil {
		return outcome{err: err, mode: mode}
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	o := outcome{accessKey: res.AccessKey, body: body, size: res.Size, err: err, mode: mode}
	o.alg, o.sum = res.Checksum()
	return o
}

// codeOf is the S3 error code of err, "" for nil.
func codeOf(err error) string {
	if err == nil {
		return ""
	}
	var e *s3err.Error
	if !errors.As(err, &e) {
		return "non-S3 error: " + err.Error()
	}
	return e.Code
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := codeOf(err); got != code {
		t.Fatalf("error %v: code %q, want %q", err, got, code)
	}
}

func mustDuration(t *testing.T, s string) time.Duration {
	t.Helper()
	d, err := time.ParseDuration(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}
