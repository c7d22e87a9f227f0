package s3api

import (
	"errors"
	"testing"

	"github.com/minicloud/minicloud/internal/s3err"
)

func TestParseRange(t *testing.T) {
	const size = 100
	tests := []struct {
		header    string
		ok        bool // false: header ignored, whole object served
		off, n    int64
		invalid   bool // 416
		wantRange byteRange
	}{
		{header: "bytes=0-9", ok: true, off: 0, n: 10},
		{header: "bytes=10-", ok: true, off: 10, n: 90},
		{header: "bytes=-10", ok: true, off: 90, n: 10},
		{header: "bytes=-1000", ok: true, off: 0, n: 100},
		{header: "bytes=90-1000", ok: true, off: 90, n: 10},
		{header: "bytes=99-99", ok: true, off: 99, n: 1},
		{header: "bytes= 5 - 6 ", ok: true, off: 5, n: 2},
		{header: "BYTES=1-1", ok: true, off: 1, n: 1},
		{header: "bytes=100-", ok: true, invalid: true},
		{header: "bytes=100-200", ok: true, invalid: true},
		{header: "bytes=-0", ok: true, invalid: true},
		{header: "bytes=5-2"},
		{header: "bytes=0-1,3-4"},
		{header: "bytes=a-b"},
		{header: "bytes=+1-2"},
		{header: "bytes=-"},
		{header: "bytes="},
		{header: "items=0-1"},
		{header: "bytes=99999999999999999999-"},
		{header: ""},
	}
	for _, tt := range tests {
		br, ok := parseRange(tt.header)
		if ok != tt.ok {
			t.Errorf("parseRange(%q) ok = %v, want %v", tt.header, ok, tt.ok)
			continue
		}
		if !ok {
			continue
		}
		off, n, err := br.resolve(size)
		if tt.invalid {
			if !errors.Is(err, s3err.InvalidRange) {
				t.Errorf("resolve(%q) err = %v, want InvalidRange", tt.header, err)
			}
			continue
		}
		if err != nil || off != tt.off || n != tt.n {
			t.Errorf("resolve(%q) = %d, %d, %v; want %d, %d", tt.header, off, n, err, tt.off, tt.n)
		}
	}
}

func TestRangeOfEmptyObject(t *testing.T) {
	for _, h := range []string{"bytes=0-", "bytes=0-0", "bytes=-1"} {
		br, ok := parseRange(h)
		if !ok {
			t.Fatalf("parseRange(%q) not ok", h)
		}
		if _, _, err := br.resolve(0); !errors.Is(err, s3err.InvalidRange) {
			t.Errorf("resolve(%q, 0) err = %v, want InvalidRange", h, err)
		}
	}
}

func TestParseCopySourceRange(t *testing.T) {
	tests := []struct {
		in          string
		first, last int64
		ok          bool
	}{
		{"bytes=0-9", 0, 9, true},
		{"bytes=5-5", 5, 5, true},
		{"bytes=5-", 0, 0, false},
		{"bytes=-5", 0, 0, false},
		{"bytes=9-0", 0, 0, false},
		{"0-9", 0, 0, false},
	}
	for _, tt := range tests {
		f, l, err := parseCopySourceRange(tt.in)
		if (err == nil) != tt.ok || (tt.ok && (f != tt.first || l != tt.last)) {
			t.Errorf("parseCopySourceRange(%q) = %d, %d, %v", tt.in, f, l, err)
		}
	}
}

func FuzzRange(f *testing.F) {
	for _, s := range []string{"bytes=0-9", "bytes=-5", "bytes=5-", "bytes=1-0", "bytes=0-1,2-3", "bytes= 1 - 2", "bytes=18446744073709551616-"} {
		f.Add(s, int64(100))
	}
	f.Fuzz(func(t *testing.T, h string, size int64) {
		if size < 0 {
			size = -size
			if size < 0 {
				return
			}
		}
		br, ok := parseRange(h)
		if !ok {
			return
		}
		off, n, err := br.resolve(size)
		if err != nil {
			if !errors.Is(err, s3err.InvalidRange) {
				t.Fatalf("resolve(%q, %d): unexpected error %v", h, size, err)
			}
			return
		}
		if off < 0 || n <= 0 || off+n > size || off+n < off {
			t.Fatalf("resolve(%q, %d) = %d, %d: out of bounds", h, size, off, n)
		}
	})
}
