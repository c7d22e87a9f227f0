package sigv4

import (
	"encoding/hex"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/minicloud/minicloud/internal/s3err"
)

type payloadMode uint8

const (
	payloadUnsigned                 payloadMode = iota // UNSIGNED-PAYLOAD
	payloadSHA256                                      // hex SHA-256 of the body
	payloadStreamingSigned                             // STREAMING-AWS4-HMAC-SHA256-PAYLOAD
	payloadStreamingSignedTrailer                      // STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER
	payloadStreamingUnsignedTrailer                    // STREAMING-UNSIGNED-PAYLOAD-TRAILER
)

// payload is the parsed x-amz-content-sha256.
type payload struct {
	mode payloadMode
	raw  string   // the value as sent; it is the last line of the canonical request
	sum  [32]byte // for payloadSHA256
}

func (p payload) chunked() bool { return p.mode >= payloadStreamingSigned }

// parsePayloadHash reads x-amz-content-sha256. Header-signed S3 requests must send it;
// anonymous ones may.
func parsePayloadHash(v string, required bool) (payload, error) {
	p := payload{raw: v}
	switch v {
	case "":
		if required {
			return payload{}, s3err.InvalidRequest.With("Missing required header for this request: x-amz-content-sha256")
		}
		p.mode = payloadUnsigned
	case "UNSIGNED-PAYLOAD":
		p.mode = payloadUnsigned
	case "STREAMING-AWS4-HMAC-SHA256-PAYLOAD":
		p.mode = payloadStreamingSigned
	case "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER":
		p.mode = payloadStreamingSignedTrailer
	case "STREAMING-UNSIGNED-PAYLOAD-TRAILER":
		p.mode = payloadStreamingUnsignedTrailer
	case "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD", "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER":
		return payload{}, s3err.NotImplemented.With("Signature Version 4A (ECDSA) is not supported; sign with AWS4-HMAC-SHA256.")
	default:
		if len(v) != 64 {
			return payload{}, badPayloadHash
		}
		if _, err := hex.Decode(p.sum[:], []byte(v)); err != nil {
			return payload{}, badPayloadHash
		}
		p.mode = payloadSHA256
	}
	return p, nil
}

var badPayloadHash = s3err.InvalidArgument.With("x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER or a valid sha256 value.")

// maxDecodedLength bounds x-amz-decoded-content-length: far above S3's 5 GiB object limit, it
// only rejects nonsense early; the object layer applies the real limit.
const maxDecodedLength = 1 << 40

// newResult wraps r.Body for the payload mode and the digests the request declares. seed is the
// request signature for signed streaming, nil otherwise.
func newResult(r *http.Request, accessKey string, p payload, seed *chunkSigner) (Result, error) {
	digests, err := parseDigests(r.Header, p.mode == payloadStreamingSignedTrailer || p.mode == payloadStreamingUnsignedTrailer)
	if err != nil {
		return Result{}, err
	}
	body := r.Body
	if body == nil {
		body = http.NoBody
	}
	b := &bodyReader{src: body, closer: body, size: r.ContentLength, digests: digests}
	if p.mode == payloadSHA256 {
		b.wantSHA256, b.checkSHA256 = p.sum, true
	}
	if p.chunked() {
		size, err := decodedLength(r.Header)
		if err != nil {
			return Result{}, err
		}
		c := newChunkedReader(body, size, seed, p.mode != payloadStreamingSigned, digests.trailer)
		b.src, b.chunked, b.size = c, c, size
	}
	b.init()
	return Result{AccessKey: accessKey, Body: b, Size: b.size, Checksum: b.checksum}, nil
}

// decodedLength reads x-amz-decoded-content-length, which aws-chunked bodies must carry.
func decodedLength(h http.Header) (int64, error) {
	v := h.Get("X-Amz-Decoded-Content-Length")
	if v == "" {
		return 0, s3err.MissingContentLength.With("An aws-chunked upload must send x-amz-decoded-content-length.")
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || n < 0 || n > maxDecodedLength {
		return 0, s3err.InvalidArgument.With("x-amz-decoded-content-length %q is not a valid length.", v)
	}
	return n, nil
}

var _ io.ReadCloser = (*bodyReader)(nil)
