package sigv4

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"
)

// The example from AWS's "Signing and authenticating REST requests" (Signature Version 2) guide.
func TestV2HeaderAWSExample(t *testing.T) {
	const secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	at, _ := time.Parse(time.RFC1123Z, "Tue, 27 Mar 2007 19:36:42 +0000")
	v := &Verifier{Region: "us-east-1", Now: func() time.Time { return at },
		Secret: func(ak string) (string, bool) { return secret, ak == "AKIAIOSFODNN7EXAMPLE" }}
	r := httptest.NewRequest("GET", "http://s3.test/awsexamplebucket1/photos/puppy.jpg", nil)
	r.Header.Set("Date", "Tue, 27 Mar 2007 19:36:42 +0000")
	r.Header.Set("Authorization", "AWS AKIAIOSFODNN7EXAMPLE:qgk2+6Sv9/oM7G3qLEjTH1a1l1g=")
	res, err := v.Verify(r)
	if err != nil || res.AccessKey != "AKIAIOSFODNN7EXAMPLE" {
		t.Fatalf("AWS example: %v %+v", err, res)
	}
	r.Header.Set("Authorization", "AWS AKIAIOSFODNN7EXAMPLE:qgk2+6Sv9/oM7G3qLEjTH1a1XXg=")
	if _, err := v.Verify(r); err == nil {
		t.Fatal("a wrong V2 signature was accepted")
	}
}

func TestV2Presigned(t *testing.T) {
	const secret = "s3cr3t"
	now := time.Unix(1_700_000_000, 0)
	v := &Verifier{Region: "us-east-1", Now: func() time.Time { return now },
		Secret: func(ak string) (string, bool) { return secret, ak == "AK" }}
	exp := "1700000600"
	sign := func(path string) string {
		r := httptest.NewRequest("GET", "http://s3.test"+path, nil)
		m := v2StringToSign(r, exp)
		return hmacB64(secret, m)
	}
	sig := sign("/b/k%20x")
	for _, tc := range []struct {
		url  string
		at   time.Time
		want string
	}{
		{"/b/k%20x?AWSAccessKeyId=AK&Expires=" + exp + "&Signature=" + escape(sig), now, ""},
		{"/b/k%20y?AWSAccessKeyId=AK&Expires=" + exp + "&Signature=" + escape(sig), now, "SignatureDoesNotMatch"},
		{"/b/k%20x?AWSAccessKeyId=AK&Expires=" + exp + "&Signature=" + escape(sig), now.Add(time.Hour), "AccessDenied"},
		{"/b/k%20x?AWSAccessKeyId=NOPE&Expires=" + exp + "&Signature=" + escape(sig), now, "InvalidAccessKeyId"},
	} {
		v.Now = func() time.Time { return tc.at }
		_, err := v.Verify(httptest.NewRequest("GET", "http://s3.test"+tc.url, nil))
		if got := codeOf(err); got != tc.want {
			t.Errorf("%s at %v: got %q want %q", tc.url, tc.at, got, tc.want)
		}
	}
}

func hmacB64(secret, s string) string {
	m := hmac.New(sha1.New, []byte(secret))
	m.Write([]byte(s))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func escape(s string) string { return url.QueryEscape(s) }
