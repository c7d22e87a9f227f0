package sigv4

import (
	"bytes"
	"errors"
	"io"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/minicloud/minicloud/internal/s3err"
)

// mustBeS3Error fails unless err is nil or an *s3err.Error: every refusal of outside input
// must map to an S3 error code.
func mustBeS3Error(t *testing.T, err error) {
	t.Helper()
	var e *s3err.Error
	if err != nil && !errors.As(err, &e) {
		t.Fatalf("error %v is not an *s3err.Error", err)
	}
}

func FuzzAuthHeader(f *testing.F) {
	f.Add(exampleAuth("host;range;x-amz-content-sha256;x-amz-date", "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"))
	f.Add("AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=fe5f80f77d5fa3beca038a248ff027d0445342fe2855ddc963176630326f1024")
	f.Add("AWS4-HMAC-SHA256 Credential=a/b/c/d/e/f, SignedHeaders=, Signature=")
	f.Add("AWS4-HMAC-SHA256 Credential=/20130524/us-east-1/s3/aws4_request,Credential=x")
	f.Add("AWS AKIAIOSFODNN7EXAMPLE:frJIUN8DYpKDtOLCwo//yllqDzg=")
	f.Add("AWS4-ECDSA-P256-SHA256 Credential=x")
	f.Add("AWS4-HMAC-SHA256 ,,,=,==")
	v := testVerifier(exampleTime, "us-east-1")
	f.Fuzz(func(t *testing.T, header string) {
		a, err := parseAuthHeader(header)
		mustBeS3Error(t, err)
		if err == nil {
			c := a.credential
			if c.accessKey == "" || c.region == "" || !strings.HasSuffix(c.scope, "/s3/aws4_request") ||
				!headerListHas(a.signedHeaders, "host") || !strings.Contains(header, c.accessKey+"/"+c.scope) {
				t.Fatalf("accepted %q as %+v", header, a)
			}
		}
		r := httptest.NewRequest("GET", "http://examplebucket.s3.amazonaws.com/test.txt", nil)
		r.Header.Set("X-Amz-Date", "20130524T000000Z")
		r.Header.Set("X-Amz-Content-Sha256", emptySHA256)
		r.Header.Set("Authorization", header)
		res, err := v.Verify(r)
		mustBeS3Error(t, err)
		if err == nil && res.AccessKey != testAK {
			t.Fatalf("verified %q as %q", header, res.AccessKey)
		}
	})
}

func FuzzPresignQuery(f *testing.F) {
	f.Add("X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request" +
		"&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host" +
		"&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404")
	f.Add("X-Amz-Signature=&X-Amz-Signature=&X-Amz-Expires=-1")
	f.Add("X-Amz-Credential=%2F%2F%2F%2F&X-Amz-Date=2013&X-Amz-Expires=99999999999999999999")
	f.Add("a=%zz&b=+%2b&%41=%4a&&=&x")
	f.Add("AWSAccessKeyId=AKIA&Signature=abc&Expires=1")
	v := testVerifier(exampleTime, "us-east-1")
	f.Fuzz(func(t *testing.T, query string) {
		for _, p := range parseQuery(query, nil) {
			for _, s := range []string{p.key, p.value} {
				if !isCanonical(s) || canonicalComponent(s) != s {
					t.Fatalf("component %q of %q is not canonical", s, query)
				}
				if canonicalComponent(unescape(s)) != s && !strings.ContainsAny(unescape(s), "%+") {
					t.Fatalf("unescape(%q) does not round-trip", s)
				}
			}
		}
		r := httptest.NewRequest("GET", "http://examplebucket.s3.amazonaws.com/test.txt", nil)
		r.URL.RawQuery = query
		res, err := v.Verify(r)
		mustBeS3Error(t, err)
		if err == nil && res.AccessKey != "" && res.AccessKey != testAK {
			t.Fatalf("verified %q as %q", query, res.AccessKey)
		}
	})
}

// FuzzChunked feeds arbitrary bytes to the aws-chunked decoder, signed and unsigned, and also
// checks that data encoded with arbitrary chunk sizes decodes back exactly.
func FuzzChunked(f *testing.F) {
	f.Add([]byte("a\r\n0123456789\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n"), uint16(10), uint8(0))
	f.Add([]byte("3;chunk-signature="+strings.Repeat("0", 64)+"\r\nabc\r\n0;chunk-signature="+strings.Repeat("0", 64)+"\r\n\r\n"), uint16(3), uint8(1))
	f.Add([]byte("0\r\n\r\n"), uint16(0), uint8(0))
	f.Add([]byte("ffffffffffffffff\r\n"), uint16(100), uint8(0))
	f.Add([]byte("1\r\nx\r\n0\r\n\n\r\n\r\n\r\n\r\n"), uint16(1), uint8(2))
	f.Add(chunkedExampleBody([3]string{
		"ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
		"0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
		"b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
	}, "\r\n"), uint16(65535), uint8(1))
	f.Fuzz(func(t *testing.T, body []byte, decoded uint16, mode uint8) {
		var seed [32]byte
		key := deriveKey(testSecret, "20130524", "us-east-1")
		var signer *chunkSigner
		if mode&1 == 1 {
			signer = newChunkSigner(&key, "20130524T000000Z", "20130524/us-east-1/s3/aws4_request", &seed)
		}
		trailer := checksumAlg(mode>>1) % (ckCRC64NVME + 1)
		c := newChunkedReader(bytes.NewReader(body), int64(decoded), signer, true, trailer)
		out, err := io.ReadAll(c)
		mustBeS3Error(t, err)
		if len(out) > int(decoded) || len(out) > len(body) {
			t.Fatalf("decoded %d bytes from %d, declared %d", len(out), len(body), decoded)
		}

		// Round trip: body as the payload, cut into chunks of a size taken from decoded.
		size := int(decoded)%4096 + 1
		var enc bytes.Buffer
		for rest := body; len(rest) > 0; {
			n := min(size, len(rest))
			enc.WriteString(strconv.FormatInt(int64(n), 16) + "\r\n")
			enc.Write(rest[:n])
			enc.WriteString("\r\n")
			rest = rest[n:]
		}
		enc.WriteString("0\r\n\r\n")
		got, err := io.ReadAll(newChunkedReader(&enc, int64(len(body)), nil, true, ckNone))
		if err != nil || !bytes.Equal(got, body) {
			t.Fatalf("round trip of %d bytes in %d-byte chunks: %v", len(body), size, err)
		}
	})
}
