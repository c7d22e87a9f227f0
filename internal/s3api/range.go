package s3api

import (
	"strconv"
	"strings"

	"github.com/minicloud/minicloud/internal/s3err"
)

// byteRange is one Range header's byte range before it meets an object's size.
type byteRange struct {
	first, last int64 // last -1: to the end ("a-")
	suffix      bool  // "-n": the last n bytes, n in last
}

// parseRange parses a Range header. ok is false when the header is to be ignored, as AWS does
// (and RFC 9110 asks) for anything but one syntactically valid byte range: the whole object is
// then served with 200. Multiple ranges are ignored the same way, as AWS does not serve them.
func parseRange(h string) (br byteRange, ok bool) {
	const unit = "bytes="
	if len(h) < len(unit) || !strings.EqualFold(h[:len(unit)], unit) {
		return byteRange{}, false
	}
	spec := strings.TrimSpace(h[len(unit):])
	if strings.IndexByte(spec, ',') >= 0 {
		return byteRange{}, false
	}
	i := strings.IndexByte(spec, '-')
	if i < 0 {
		return byteRange{}, false
	}
	a, b := strings.TrimSpace(spec[:i]), strings.TrimSpace(spec[i+1:])
	if a == "" {
		n, ok := parseDigits(b)
		if !ok {
			return byteRange{}, false
		}
		return byteRange{last: n, suffix: true}, true
	}
	first, ok := parseDigits(a)
	if !ok {
		return byteRange{}, false
	}
	if b == "" {
		return byteRange{first: first, last: -1}, true
	}
	last, ok := parseDigits(b)
	if !ok || last < first {
		return byteRange{}, false
	}
	return byteRange{first: first, last: last}, true
}

// parseDigits parses a non-negative decimal without sign, as the Range grammar allows.
func parseDigits(s string) (int64, bool) {
	if s == "" || len(s) > 19 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// resolve applies the range to an object of size bytes: the offset and length to read, or
// InvalidRange when no byte of the object is in the range.
func (br byteRange) resolve(size int64) (offset, length int64, err error) {
	if br.suffix {
		n := br.last
		if n == 0 || size == 0 {
			return 0, 0, s3err.InvalidRange
		}
		n = min(n, size)
		return size - n, n, nil
	}
	if br.first >= size {
		return 0, 0, s3err.InvalidRange
	}
	last := size - 1
	if br.last >= 0 && br.last < last {
		last = br.last
	}
	return br.first, last - br.first + 1, nil
}

// parseCopySourceRange parses x-amz-copy-source-range, which must be "bytes=first-last".
func parseCopySourceRange(h string) (first, last int64, err error) {
	bad := s3err.InvalidArgument.With("The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy")
	br, ok := parseRange(h)
	if !ok || br.suffix || br.last < 0 {
		return 0, 0, bad
	}
	return br.first, br.last, nil
}
