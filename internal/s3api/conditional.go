package s3api

import (
	"net/http"
	"strings"
	"time"

	"github.com/minicloud/minicloud/internal/s3err"
)

// conditions are the four conditional request headers (or their x-amz-copy-source-if-* twins).
type conditions struct {
	ifMatch, ifNoneMatch, ifModifiedSince, ifUnmodifiedSince string
}

func (c conditions) empty() bool {
	return c.ifMatch == "" && c.ifNoneMatch == "" && c.ifModifiedSince == "" && c.ifUnmodifiedSince == ""
}

func requestConditions(h http.Header) conditions {
	return conditions{
		ifMatch:           h.Get("If-Match"),
		ifNoneMatch:       h.Get("If-None-Match"),
		ifModifiedSince:   h.Get("If-Modified-Since"),
		ifUnmodifiedSince: h.Get("If-Unmodified-Since"),
	}
}

func copySourceConditions(h http.Header) conditions {
	return conditions{
		ifMatch:           h.Get("X-Amz-Copy-Source-If-Match"),
		ifNoneMatch:       h.Get("X-Amz-Copy-Source-If-None-Match"),
		ifModifiedSince:   h.Get("X-Amz-Copy-Source-If-Modified-Since"),
		ifUnmodifiedSince: h.Get("X-Amz-Copy-Source-If-Unmodified-Since"),
	}
}

// condResult is what the conditions say about a version.
type condResult uint8

const (
	condPass        condResult = iota
	condNotModified            // 304 for GET/HEAD
	condFailed                 // 412
)

// eval evaluates the conditions against a version's ETag and modification time, with AWS's
// precedence (that of RFC 9110): If-Match decides alone when present, otherwise
// If-Unmodified-Since; then If-None-Match decides alone when present, otherwise If-Modified-Since.
// So If-Match true with If-Unmodified-Since false passes, and If-None-Match false with
// If-Modified-Since true is 304, as AWS documents. Dates that do not parse are ignored.
func (c conditions) eval(etag string, modified time.Time) condResult {
	// Headers carry whole seconds; the stored time has more.
	modified = modified.Truncate(time.Second)
	if c.ifMatch != "" {
		if !etagListMatches(c.ifMatch, etag) {
			return condFailed
		}
	} else if t, ok := parseHTTPDate(c.ifUnmodifiedSince); ok && modified.After(t) {
		return condFailed
	}
	if c.ifNoneMatch != "" {
		if etagListMatches(c.ifNoneMatch, etag) {
			return condNotModified
		}
	} else if t, ok := parseHTTPDate(c.ifModifiedSince); ok && !modified.After(t) {
		return condNotModified
	}
	return condPass
}

// check maps the result for GET/HEAD: 304 NotModified or 412 PreconditionFailed.
func (c conditions) check(etag string, modified time.Time) error {
	switch c.eval(etag, modified) {
	case condNotModified:
		return s3err.NotModified
	case condFailed:
		return s3err.PreconditionFailed
	}
	return nil
}

// checkCopySource maps the result for a copy source, where every failure is 412.
func (c conditions) checkCopySource(etag string, modified time.Time) error {
	if c.eval(etag, modified) != condPass {
		return s3err.PreconditionFailed
	}
	return nil
}

// etagListMatches reports whether a comma-separated list of entity tags (quoted or not, weak or
// not, or "*") names etag.
func etagListMatches(list, etag string) bool {
	etag = strings.Trim(etag, `"`)
	for list != "" {
		var item string
		item, list, _ = strings.Cut(list, ",")
		item = strings.TrimSpace(item)
		if item == "*" {
			return true
		}
		item = strings.TrimPrefix(item, "W/")
		if strings.Trim(item, `"`) == etag && etag != "" {
			return true
		}
	}
	return false
}

// parseHTTPDate parses a conditional header's date: the HTTP forms, and ISO 8601, which S3 also
// accepts.
func parseHTTPDate(s string) (time.Time, bool) {
	if s == "" {
		return time.Time{}, false
	}
	if t, err := http.ParseTime(s); err == nil {
		return t, true
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, true
	}
	return time.Time{}, false
}
