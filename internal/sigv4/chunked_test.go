package sigv4

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"hash/crc32"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/minio/crc64nvme"
)

// testChecksum computes an x-amz-checksum-* value with implementations other than the
// package's own (crc64nvme from minio's package).
func testChecksum(alg string, data []byte) string {
	var sum []byte
	switch alg {
	case "crc32":
		sum = binary.BigEndian.AppendUint32(nil, crc32.ChecksumIEEE(data))
	case "crc32c":
		sum = binary.BigEndian.AppendUint32(nil, crc32.Checksum(data, crc32.MakeTable(crc32.Castagnoli)))
	case "sha1":
		s := sha1.Sum(data)
		sum = s[:]
	case "sha256":
		s := sha256.Sum256(data)
		sum = s[:]
	case "crc64nvme":
		sum = binary.BigEndian.AppendUint64(nil, crc64nvme.Checksum(data))
	}
	return base64.StdEncoding.EncodeToString(sum)
}

var allChecksums = []string{"crc32", "crc32c", "sha1", "sha256", "crc64nvme"}

// chunkedUpload describes an aws-chunked PUT for the tests to build.
type chunkedUpload struct {
	mode    string // x-amz-content-sha256
	chunk   int    // data bytes per chunk
	trailer string // checksum algorithm sent as trailer, "" for none
	value   string // the trailer's value; "" means the correct checksum
}

// build returns the headers and body of the upload, signed by the SDK's signer (the seed) and
// the SDK's stream signer (chunk signatures: its string to sign with no event headers is
// S3's chunk string to sign).
func (u chunkedUpload) build(t *testing.T, data []byte, at time.Time) (http.Header, []byte) {
	t.Helper()
	h := http.Header{}
	h.Set("Content-Encoding", "aws-chunked")
	h.Set("X-Amz-Decoded-Content-Length", strconv.Itoa(len(data)))
	h.Set("X-Amz-Content-Sha256", u.mode)
	if u.trailer != "" {
		h.Set("X-Amz-Trailer", "x-amz-checksum-"+u.trailer)
	}
	signed := strings.HasPrefix(u.mode, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD")
	creds := aws.Credentials{AccessKeyID: testAK, SecretAccessKey: testSecret}
	var stream *v4.StreamSigner
	if signed {
		r, _ := http.NewRequest("PUT", "http://s3.test/bucket/object", nil)
		r.Header = h.Clone()
		if err := sdkSigner().SignHTTP(context.Background(), creds, r, u.mode, "s3", "us-east-1", at); err != nil {
			t.Fatal(err)
		}
		h = r.Header
		_, seedHex, _ := strings.Cut(h.Get("Authorization"), "Signature=")
		seed, _ := hex.DecodeString(seedHex)
		stream = v4.NewStreamSigner(creds, "s3", "us-east-1", seed)
	}
	var b bytes.Buffer
	var prev []byte
	writeChunk := func(c []byte) {
		b.WriteString(strconv.FormatInt(int64(len(c)), 16))
		if stream != nil {
			sig, err := stream.GetSignature(context.Background(), nil, c, at)
			if err != nil {
				t.Fatal(err)
			}
			prev = sig
			b.WriteString(";chunk-signature=" + hex.EncodeToString(sig))
		}
		b.WriteString("\r\n")
		if len(c) > 0 {
			b.Write(c)
			b.WriteString("\r\n")
		}
	}
	for rest := data; len(rest) > 0; {
		n := min(u.chunk, len(rest))
		writeChunk(rest[:n])
		rest = rest[n:]
	}
	writeChunk(nil)
	if u.trailer != "" {
		value := u.value
		if value == "" {
			value = testChecksum(u.trailer, data)
		}
		line := "x-amz-checksum-" + u.trailer + ":" + value
		b.WriteString(line + "\r\n")
		if signed {
			b.WriteString("x-amz-trailer-signature:" + testTrailerSignature(prev, line+"\n", at) + "\r\n")
		}
	}
	b.WriteString("\r\n")
	return h, b.Bytes()
}

// testTrailerSignature signs a trailer as AWS documents it, computed here by hand.
func testTrailerSignature(prev []byte, trailer string, at time.Time) string {
	mac := func(key []byte, s string) []byte {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(s))
		return m.Sum(nil)
	}
	day := at.UTC().Format("20060102")
	key := mac(mac(mac(mac([]byte("AWS4"+testSecret), day), "us-east-1"), "s3"), "aws4_request")
	th := sha256.Sum256([]byte(trailer))
	sts := "AWS4-HMAC-SHA256-TRAILER\n" + at.UTC().Format("20060102T150405Z") + "\n" + day +
		"/us-east-1/s3/aws4_request\n" + hex.EncodeToString(prev) + "\n" + hex.EncodeToString(th[:])
	return hex.EncodeToString(mac(key, sts))
}

func chunkedRequest(h http.Header, body []byte) *http.Request {
	r := httptest.NewRequest("PUT", "http://s3.test/bucket/object", bytes.NewReader(body))
	for k, v := range h {
		r.Header[k] = v
	}
	r.Header.Set("Content-Length", strconv.Itoa(len(body)))
	return r
}

const (
	signedPayload   = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
	signedTrailer   = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
	unsignedTrailer = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
)

func testData(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>8)
	}
	return b
}

func TestChunkedRoundTrip(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	type tc struct {
		name   string
		up     chunkedUpload
		size   int
		alg    string // expected Result.Checksum algorithm
		code   string
		mutate func(h http.Header, body []byte) []byte
	}
	tests := []tc{
		{name: "signed", up: chunkedUpload{mode: signedPayload, chunk: 65536}, size: 150000},
		{name: "signed one byte chunks", up: chunkedUpload{mode: signedPayload, chunk: 1}, size: 40},
		{name: "signed empty", up: chunkedUpload{mode: signedPayload, chunk: 8192}, size: 0},
		{name: "unsigned trailer no checksum", up: chunkedUpload{mode: unsignedTrailer, chunk: 8192}, size: 10000},
		{name: "tampered chunk", up: chunkedUpload{mode: signedPayload, chunk: 8192}, size: 20000, code: "SignatureDoesNotMatch",
			mutate: func(h http.Header, b []byte) []byte { b[len(b)/2] ^= 1; return b }},
		{name: "tampered final chunk signature", up: chunkedUpload{mode: signedPayload, chunk: 8192}, size: 100, code: "SignatureDoesNotMatch",
			mutate: func(h http.Header, b []byte) []byte {
				i := bytes.LastIndex(b, []byte("chunk-signature=")) + 20
				b[i] ^= 1
				return b
			}},
		{name: "chunk without signature", up: chunkedUpload{mode: signedPayload, chunk: 8192}, size: 100, code: "SignatureDoesNotMatch",
			mutate: func(h http.Header, b []byte) []byte {
				return []byte("64\r\n" + strings.Repeat("x", 100) + "\r\n0\r\n\r\n")
			}},
		{name: "oversized chunk header line", up: chunkedUpload{mode: unsignedTrailer, chunk: 8192}, size: 100, code: "InvalidRequest",
			mutate: func(h http.Header, b []byte) []byte {
				return append([]byte("64;"+strings.Repeat("x", 5000)+"\r\n"), b...)
			}},
		{name: "absurd chunk size", up: chunkedUpload{mode: unsignedTrailer, chunk: 8192}, size: 100, code: "InvalidRequest",
			mutate: func(h http.Header, b []byte) []byte { return []byte("ffffffffffffffffff\r\n") }},
		{name: "chunk size above limit", up: chunkedUpload{mode: unsignedTrailer, chunk: 8192}, size: 100, code: "InvalidRequest",
			mutate: func(h http.Header, b []byte) []byte {
				h.Set("X-Amz-Decoded-Content-Length", "1000000000")
				return []byte("7fffffff\r\n")
			}},
		{name: "non-hex chunk size", up: chunkedUpload{mode: unsignedTrailer, chunk: 8192}, size: 100, code: "InvalidRequest",
			mutate: func(h http.Header, b []byte) []byte { return []byte("-1\r\n") }},
		{name: "chunk beyond decoded length", up: chunkedUpload{mode: unsignedTrailer, chunk: 8192}, size: 100, code: "InvalidRequest",
			mutate: func(h http.Header, b []byte) []byte { h.Set("X-Amz-Decoded-Content-Length", "99"); return b }},
		{name: "decoded length too long", up: chunkedUpload{mode: unsignedTrailer, chunk: 8192}, size: 100, code: "IncompleteBody",
			mutate: func(h http.Header, b []byte) []byte { h.Set("X-Amz-Decoded-Content-Length", "101"); return b }},
		{name: "no decoded length", up: chunkedUpload{mode: unsignedTrailer, chunk: 8192}, size: 100, code: "MissingContentLength",
			mutate: func(h http.Header, b []byte) []byte { h.Del("X-Amz-Decoded-Content-Length"); return b }},
		{name: "junk decoded length", up: chunkedUpload{mode: unsignedTrailer, chunk: 8192}, size: 100, code: "InvalidArgument",
			mutate: func(h http.Header, b []byte) []byte { h.Set("X-Amz-Decoded-Content-Length", "-5"); return b }},
		{name: "missing CRLF after data", up: chunkedUpload{mode: unsignedTrailer, chunk: 8192}, size: 10, code: "InvalidRequest",
			mutate: func(h http.Header, b []byte) []byte { return []byte("a\r\n0123456789XX0\r\n\r\n") }},
		{name: "unsupported trailer name", up: chunkedUpload{mode: unsignedTrailer, chunk: 8192}, size: 10, code: "InvalidRequest",
			mutate: func(h http.Header, b []byte) []byte { h.Set("X-Amz-Trailer", "x-amz-meta-late"); return b }},
		{name: "two trailers", up: chunkedUpload{mode: unsignedTrailer, chunk: 8192}, size: 10, code: "InvalidRequest",
			mutate: func(h http.Header, b []byte) []byte {
				h.Set("X-Amz-Trailer", "x-amz-checksum-crc32, x-amz-checksum-sha1")
				return b
			}},
		{name: "trailer and checksum header", up: chunkedUpload{mode: unsignedTrailer, chunk: 8192, trailer: "crc32"}, size: 10, code: "InvalidRequest",
			mutate: func(h http.Header, b []byte) []byte {
				h.Set("X-Amz-Checksum-Sha1", testChecksum("sha1", testData(10)))
				return b
			}},
	}
	for _, alg := range allChecksums {
		for _, mode := range []string{unsignedTrailer, signedTrailer} {
			tests = append(tests,
				tc{name: mode + " " + alg, up: chunkedUpload{mode: mode, chunk: 65536, trailer: alg}, size: 200000, alg: strings.ToUpper(alg)},
				tc{name: mode + " " + alg + " wrong", up: chunkedUpload{mode: mode, chunk: 65536, trailer: alg,
					value: testChecksum(alg, []byte("other"))}, size: 1000, code: "BadDigest"},
				tc{name: mode + " " + alg + " malformed", up: chunkedUpload{mode: mode, chunk: 65536, trailer: alg,
					value: "not base64!"}, size: 1000, code: "InvalidRequest"},
			)
		}
	}
	v := testVerifier(at, "us-east-1")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := testData(tt.size)
			h, body := tt.up.build(t, data, at)
			if tt.mutate != nil {
				body = tt.mutate(h, body)
			}
			o := consume(v, chunkedRequest(h, body))
			wantCode(t, o.err, tt.code)
			if tt.code != "" {
				return
			}
			if !bytes.Equal(o.body, data) || o.size != int64(len(data)) {
				t.Fatalf("decoded %d bytes (size %d), want %d", len(o.body), o.size, len(data))
			}
			if o.alg != tt.alg || (tt.alg != "" && o.sum != testChecksum(tt.up.trailer, data)) {
				t.Fatalf("checksum %s %s, want %s", o.alg, o.sum, tt.alg)
			}
		})
	}
}

// Every proper prefix of a valid body must fail with IncompleteBody, never succeed or panic.
func TestChunkedTruncated(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	v := testVerifier(at, "us-east-1")
	for _, up := range []chunkedUpload{
		{mode: signedPayload, chunk: 100},
		{mode: signedTrailer, chunk: 100, trailer: "crc32c"},
		{mode: unsignedTrailer, chunk: 100, trailer: "sha256"},
	} {
		h, body := up.build(t, testData(250), at)
		for n := 0; n < len(body)-2; n++ { // the final CRLF may be left out
			o := consume(v, chunkedRequest(h, body[:n]))
			if codeOf(o.err) != "IncompleteBody" {
				t.Fatalf("%s cut at %d of %d: %v", up.mode, n, len(body), o.err)
			}
		}
	}
}
