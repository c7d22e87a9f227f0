package sigv4

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"hash"
	"hash/crc32"
	"net/http"
	"strings"

	"github.com/minicloud/minicloud/internal/s3err"
)

// checksumAlg is one of the x-amz-checksum-* algorithms S3 accepts.
type checksumAlg uint8

const (
	ckNone checksumAlg = iota
	ckCRC32
	ckCRC32C
	ckSHA1
	ckSHA256
	ckCRC64NVME
)

var checksumAlgs = [...]struct {
	name   string // as Result.Checksum reports it
	header string // lower case, as in x-amz-trailer and trailer lines
	key    string // canonical http.Header key
	size   int    // digest bytes
}{
	ckNone:      {},
	ckCRC32:     {"CRC32", "x-amz-checksum-crc32", "X-Amz-Checksum-Crc32", 4},
	ckCRC32C:    {"CRC32C", "x-amz-checksum-crc32c", "X-Amz-Checksum-Crc32c", 4},
	ckSHA1:      {"SHA1", "x-amz-checksum-sha1", "X-Amz-Checksum-Sha1", 20},
	ckSHA256:    {"SHA256", "x-amz-checksum-sha256", "X-Amz-Checksum-Sha256", 32},
	ckCRC64NVME: {"CRC64NVME", "x-amz-checksum-crc64nvme", "X-Amz-Checksum-Crc64nvme", 8},
}

func (a checksumAlg) name() string   { return checksumAlgs[a].name }
func (a checksumAlg) header() string { return checksumAlgs[a].header }
func (a checksumAlg) size() int      { return checksumAlgs[a].size }

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func (a checksumAlg) newHash() hash.Hash {
	switch a {
	case ckCRC32:
		return crc32.NewIEEE()
	case ckCRC32C:
		return crc32.New(castagnoli)
	case ckSHA1:
		return sha1.New()
	case ckSHA256:
		return sha256.New()
	case ckCRC64NVME:
		return newCRC64NVME()
	}
	return nil
}

// checksumByHeader maps a header or trailer name, any case, to its algorithm.
func checksumByHeader(name string) checksumAlg {
	for a := ckCRC32; a <= ckCRC64NVME; a++ {
		if strings.EqualFold(name, checksumAlgs[a].header) {
			return a
		}
	}
	return ckNone
}

// digest is a decoded checksum value.
type digest struct {
	b [32]byte
	n int
}

func (d *digest) bytes() []byte { return d.b[:d.n] }

// decodeDigest decodes a base64 value that must be exactly one digest of a long.
func decodeDigest(a checksumAlg, value string) (digest, bool) {
	var d digest
	var buf [48]byte
	if len(value) != base64.StdEncoding.EncodedLen(a.size()) {
		return d, false
	}
	n, err := base64.StdEncoding.Decode(buf[:], []byte(value))
	if err != nil || n != a.size() {
		return d, false
	}
	d.n = copy(d.b[:], buf[:n])
	return d, true
}

// digests is what a request declares about its payload, besides x-amz-content-sha256.
type digests struct {
	md5     bool
	wantMD5 [16]byte
	alg     checksumAlg // from an x-amz-checksum-* header
	want    digest      // that header's value
	trailer checksumAlg // named by x-amz-trailer; its value comes at the end of the body
}

// parseDigests reads Content-MD5, the x-amz-checksum-* headers and, for aws-chunked bodies with
// trailers, x-amz-trailer. Malformed values are refused before any byte is read.
func parseDigests(h http.Header, trailers bool) (digests, error) {
	var d digests
	if v := h.Values("Content-Md5"); len(v) > 0 {
		if len(v) > 1 {
			return d, s3err.InvalidDigest.With("Only one Content-MD5 header is allowed.")
		}
		var buf [18]byte // base64.DecodedLen(24)
		n, err := 0, error(nil)
		if len(v[0]) == 24 {
			n, err = base64.StdEncoding.Decode(buf[:], []byte(v[0]))
		}
		if err != nil || n != md5.Size {
			return d, s3err.InvalidDigest.With("The Content-MD5 you specified is not valid.")
		}
		copy(d.wantMD5[:], buf[:n])
		d.md5 = true
	}
	for a := ckCRC32; a <= ckCRC64NVME; a++ {
		v, ok := h[checksumAlgs[a].key]
		if !ok {
			continue
		}
		if d.alg != ckNone || len(v) != 1 {
			return d, multipleChecksums
		}
		want, ok := decodeDigest(a, v[0])
		if !ok {
			return d, s3err.InvalidRequest.With("Value for %s header is invalid.", a.header())
		}
		d.alg, d.want = a, want
	}
	if !trailers {
		return d, nil
	}
	for name := range strings.SplitSeq(strings.Join(h.Values("X-Amz-Trailer"), ","), ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		a := checksumByHeader(name)
		if a == ckNone {
			return d, s3err.InvalidRequest.With("The trailer %q is not supported; only x-amz-checksum-* trailers are.", name)
		}
		if d.alg != ckNone || d.trailer != ckNone {
			return d, multipleChecksums
		}
		d.trailer = a
	}
	return d, nil
}

var multipleChecksums = s3err.InvalidRequest.With("Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.")
