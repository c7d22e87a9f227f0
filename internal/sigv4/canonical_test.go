package sigv4

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestCanonicalURI(t *testing.T) {
	tests := []struct{ raw, want string }{
		{"/", "/"},
		{"/test$file.text", "/test%24file.text"},
		{"/a%2fb", "/a%2Fb"}, // an encoded slash stays encoded, in upper case
		{"/%41%7e%5F", "/A~_"},
		{"/a b", "/a%20b"},
		{"/a+b=c", "/a%2Bb%3Dc"},
		{"/ü", "/%C3%BC"},
		{"/%c3%bc", "/%C3%BC"},
		{"/dir/./x/../y//z/", "/dir/./x/../y//z/"}, // S3 keeps dot segments and empty ones
		{"/100%", "/100%25"},
		{"/%zz", "/%25zz"},
	}
	for _, tt := range tests {
		if got := string(appendCanonicalURI(nil, tt.raw)); got != tt.want {
			t.Errorf("%q: %q, want %q", tt.raw, got, tt.want)
		}
	}
}

func TestRawPath(t *testing.T) {
	tests := []struct {
		requestURI, want string
	}{
		{"/bucket/a%2Fb?x=1", "/bucket/a%2Fb"},
		{"http://host:9000/bucket/k%20?x", "/bucket/k%20"},
		{"https://host", "/"},
		{"https://host?x=1", "/"},
		{"/", "/"},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", "http://host/", nil)
		r.RequestURI = tt.requestURI
		if got := rawPath(r); got != tt.want {
			t.Errorf("%q: %q, want %q", tt.requestURI, got, tt.want)
		}
	}
	r := httptest.NewRequest("GET", "http://host/a%2Fb", nil)
	r.RequestURI = "" // a request built by a client: its URL is all there is
	if got := rawPath(r); got != "/a%2Fb" {
		t.Errorf("client request: %q", got)
	}
}

func TestCanonicalQuery(t *testing.T) {
	tests := []struct{ raw, want string }{
		{"", ""},
		{"acl", "acl="},
		{"b=2&a=1&a=0", "a=0&a=1&b=2"},
		{"prefix=a+b&delimiter=%2f", "delimiter=%2F&prefix=a%20b"},
		{"x=%41%7E&y=!*'()", "x=A~&y=%21%2A%27%28%29"},
		{"&&k=v&&", "k=v"},
		{"k==v", "k=%3Dv"},
		{"a%20b=1&a=2", "a=2&a%20b=1"}, // sorted on the encoded keys
		{"X-Amz-Signature=s&b=1", "X-Amz-Signature=s&b=1"},
	}
	for _, tt := range tests {
		got := string(appendCanonicalQuery(nil, parseQuery(tt.raw, nil), false))
		if got != tt.want {
			t.Errorf("%q: %q, want %q", tt.raw, got, tt.want)
		}
	}
	if got := string(appendCanonicalQuery(nil, parseQuery("b=1&X-Amz-Signature=s&a", nil), true)); got != "a=&b=1" {
		t.Errorf("presigned query keeps the signature: %q", got)
	}
}

func TestCanonicalHeaders(t *testing.T) {
	r := httptest.NewRequest("PUT", "http://Example.COM:9000/x", nil)
	r.Header.Set("X-Amz-Meta-A", "  one   two \t")
	r.Header.Add("X-Amz-Meta-B", "1")
	r.Header.Add("X-Amz-Meta-B", " 2 ")
	r.ContentLength = 42
	r.TransferEncoding = []string{"chunked"}
	got := string(appendCanonicalHeaders(nil, r, "content-length;host;transfer-encoding;x-amz-meta-a;x-amz-meta-b;x-amz-missing"))
	want := "content-length:42\nhost:Example.COM:9000\ntransfer-encoding:chunked\nx-amz-meta-a:one two\nx-amz-meta-b:1,2\nx-amz-missing:\n"
	if got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
	if v := headerValues(http.Header{"X-Amz-Meta-Long-Name": {"v"}}, "x-amz-meta-long-name"); len(v) != 1 {
		t.Fatal("canonical lookup failed")
	}
}

func TestKeyCacheIsBounded(t *testing.T) {
	var c keyCache
	for i := range maxCachedKeys + 100 {
		c.get("secret", "20260101", string(rune('a'+i%26))+string(rune(i)))
	}
	if len(c.m) > maxCachedKeys {
		t.Fatalf("cache holds %d keys", len(c.m))
	}
	if c.get(testSecret, "20130524", "us-east-1") != deriveKey(testSecret, "20130524", "us-east-1") {
		t.Fatal("cached key differs from the derived one")
	}
}
