package sigv4

import (
	"crypto/md5"
	"encoding/base64"
	"hash"
	"io"

	"github.com/minicloud/minicloud/internal/s3err"
)

// bodyReader is Result.Body: it passes the payload through, feeding only the hashes this
// request needs, and at the end of the payload checks every digest the client declared. A
// mismatch replaces io.EOF, so a caller that commits on io.EOF never commits a bad payload.
type bodyReader struct {
	src     io.Reader
	closer  io.Closer
	chunked *chunkedReader // set for aws-chunked bodies: it holds the trailer values
	size    int64          // expected payload length, -1 if unknown
	n       int64

	digests     digests
	checkSHA256 bool // x-amz-content-sha256 named a hash
	wantSHA256  [32]byte

	md5, sha, ck hash.Hash // ck may be sha when both want SHA-256: it is computed once
	err          error     // sticky: io.EOF after success, else the failure
	gotAlg       checksumAlg
	gotValue     string
	shaSum       [32]byte // scratch space for the sums: arrays in the (heap) struct
	sum          digest   // cost no allocation when a hash.Hash appends to them
}

func (b *bodyReader) init() {
	if b.digests.md5 {
		b.md5 = md5.New()
	}
	if b.checkSHA256 {
		b.sha = ckSHA256.newHash()
	}
	switch alg := b.alg(); {
	case alg == ckSHA256 && b.sha != nil:
		b.ck = b.sha
	case alg != ckNone:
		b.ck = alg.newHash()
	}
}

// alg is the checksum algorithm the client declared, by header or by trailer.
func (b *bodyReader) alg() checksumAlg {
	if b.digests.alg != ckNone {
		return b.digests.alg
	}
	return b.digests.trailer
}

func (b *bodyReader) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	n, err := b.src.Read(p)
	if n > 0 {
		b.n += int64(n)
		if b.md5 != nil {
			b.md5.Write(p[:n])
		}
		if b.sha != nil {
			b.sha.Write(p[:n])
		}
		if b.ck != nil && b.ck != b.sha {
			b.ck.Write(p[:n])
		}
	}
	switch err {
	case nil:
		return n, nil
	case io.EOF:
		if err = b.finish(); err == nil {
			err = io.EOF
		}
	case io.ErrUnexpectedEOF:
		err = s3err.IncompleteBody
	}
	b.err = err
	return n, err
}

func (b *bodyReader) Close() error { return b.closer.Close() }

// checksum is Result.Checksum.
func (b *bodyReader) checksum() (algorithm, value string) {
	if b.gotAlg == ckNone {
		return "", ""
	}
	return b.gotAlg.name(), b.gotValue
}

// finish runs the end-of-payload checks, in AWS's order: length, payload hash, MD5, checksum.
func (b *bodyReader) finish() error {
	if b.size >= 0 && b.n != b.size {
		return s3err.IncompleteBody.With("The payload has %d bytes; %d were declared.", b.n, b.size)
	}
	if b.sha != nil {
		if b.sha.Sum(b.shaSum[:0]); b.checkSHA256 && b.shaSum != b.wantSHA256 {
			return s3err.XAmzContentSHA256Mismatch
		}
	}
	if b.md5 != nil {
		if b.md5.Sum(b.sum.b[:0]); [md5.Size]byte(b.sum.b[:md5.Size]) != b.digests.wantMD5 {
			return s3err.BadDigest.With("The Content-MD5 you specified did not match what we received.")
		}
	}
	alg := b.alg()
	if alg == ckNone {
		return nil
	}
	want := b.digests.want
	if b.digests.alg == ckNone {
		var ok bool
		if want, ok = decodeDigest(alg, b.chunked.trailerValue); !ok {
			return s3err.InvalidRequest.With("Value for %s trailing header is invalid.", alg.header())
		}
	}
	got := &b.sum
	*got = digest{}
	if b.ck == b.sha {
		got.n = copy(got.b[:], b.shaSum[:])
	} else {
		got.n = len(b.ck.Sum(got.b[:0]))
	}
	if *got != want {
		return s3err.BadDigest.With("The %s you specified did not match the calculated checksum.", alg.header())
	}
	b.gotAlg, b.gotValue = alg, base64.StdEncoding.EncodeToString(got.bytes())
	return nil
}
