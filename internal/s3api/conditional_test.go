package s3api

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/minicloud/minicloud/internal/s3err"
)

func TestConditions(t *testing.T) {
	mod := time.Date(2024, 5, 1, 12, 0, 0, 500e6, time.UTC)
	before := mod.Add(-time.Hour).Format(http.TimeFormat)
	at := mod.Format(http.TimeFormat) // whole seconds: equal to mod for the comparison
	after := mod.Add(time.Hour).Format(http.TimeFormat)
	const etag = "abc"
	tests := []struct {
		name string
		c    conditions
		want error
	}{
		{"none", conditions{}, nil},
		{"if-match ok", conditions{ifMatch: `"abc"`}, nil},
		{"if-match list", conditions{ifMatch: `"x", "abc"`}, nil},
		{"if-match star", conditions{ifMatch: `*`}, nil},
		{"if-match weak", conditions{ifMatch: `W/"abc"`}, nil},
		{"if-match fail", conditions{ifMatch: `"x"`}, s3err.PreconditionFailed},
		{"if-none-match match", conditions{ifNoneMatch: `"abc"`}, s3err.NotModified},
		{"if-none-match star", conditions{ifNoneMatch: `*`}, s3err.NotModified},
		{"if-none-match other", conditions{ifNoneMatch: `"x"`}, nil},
		{"ims not modified", conditions{ifModifiedSince: after}, s3err.NotModified},
		{"ims equal", conditions{ifModifiedSince: at}, s3err.NotModified},
		{"ims modified", conditions{ifModifiedSince: before}, nil},
		{"ius ok", conditions{ifUnmodifiedSince: after}, nil},
		{"ius equal", conditions{ifUnmodifiedSince: at}, nil},
		{"ius fail", conditions{ifUnmodifiedSince: before}, s3err.PreconditionFailed},
		{"bad date ignored", conditions{ifUnmodifiedSince: "yesterday"}, nil},
		// AWS: If-Match true and If-Unmodified-Since false -> 200.
		{"if-match beats ius", conditions{ifMatch: `"abc"`, ifUnmodifiedSince: before}, nil},
		// AWS: If-None-Match false and If-Modified-Since true -> 304.
		{"inm beats ims", conditions{ifNoneMatch: `"abc"`, ifModifiedSince: before}, s3err.NotModified},
		// If-None-Match true (no match) decides alone: 200 although not modified since.
		{"inm true ignores ims", conditions{ifNoneMatch: `"x"`, ifModifiedSince: after}, nil},
		// 412 wins over 304.
		{"412 before 304", conditions{ifMatch: `"x"`, ifNoneMatch: `"abc"`}, s3err.PreconditionFailed},
		{"iso date", conditions{ifModifiedSince: mod.Add(time.Hour).Format(time.RFC3339)}, s3err.NotModified},
	}
	for _, tt := range tests {
		err := tt.c.check(etag, mod)
		if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
			t.Errorf("%s: check = %v, want %v", tt.name, err, tt.want)
		}
	}
}

func TestCopySourceConditionsAreAll412(t *testing.T) {
	mod := time.Now()
	c := conditions{ifNoneMatch: `"abc"`}
	if err := c.checkCopySource("abc", mod); !errors.Is(err, s3err.PreconditionFailed) {
		t.Fatalf("copy-source if-none-match match: %v, want PreconditionFailed", err)
	}
}
