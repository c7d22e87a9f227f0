package node

import (
	"net/http/httptest"
	"testing"
)

func TestRequestBucket(t *testing.T) {
	for _, c := range []struct {
		host, path, domain, want string
	}{
		{"127.0.0.1:9000", "/photos/a/b.jpg", "", "photos"},
		{"127.0.0.1:9000", "/photos", "s3.example.com", "photos"},
		{"photos.s3.example.com", "/a/b.jpg", "s3.example.com", "photos"},
		{"Photos.s3.example.com:9000", "/a", "s3.example.com", "photos"},
		{"s3.example.com:9000", "/photos/a", "s3.example.com", "photos"}, // the domain itself: path style
		{"xs3.example.com", "/photos/a", "s3.example.com", "photos"},     // not a subdomain
		{"127.0.0.1:9000", "/", "", ""},
	} {
		r := httptest.NewRequest("GET", "http://"+c.host+c.path, nil)
		if got := requestBucket(r, c.domain); got != c.want {
			t.Errorf("%s%s (domain %q): %q, want %q", c.host, c.path, c.domain, got, c.want)
		}
	}
}
