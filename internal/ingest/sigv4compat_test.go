package ingest

import (
	"net/http/httptest"
	"testing"
	"time"
)

// FuzzVerifyUnhashed: any Authorization header is refused or accepted without panicking.
func FuzzVerifyUnhashed(f *testing.F) {
	f.Add("AWS4-HMAC-SHA256 Credential=dev/20260101/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=0000000000000000000000000000000000000000000000000000000000000000", "20260101T000000Z", "/streams/a%2Fb?x=%zz")
	f.Add("AWS4-HMAC-SHA256 ,,,==", "", "/")
	f.Fuzz(func(t *testing.T, auth, date, target string) {
		r := httptest.NewRequest("POST", "http://h/streams/x", nil)
		if u, err := r.URL.Parse(target); err == nil {
			r.URL = u
		}
		r.Header.Set("Authorization", auth)
		r.Header.Set("X-Amz-Date", date)
		now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		ak, err := verifyUnhashed(r, []byte("{}"), "us-east-1", func(string) (string, bool) { return "s", true }, now)
		if err == nil && ak == "" {
			t.Fatal("accepted without an access key")
		}
	})
}
