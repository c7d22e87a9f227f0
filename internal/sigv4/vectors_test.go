package sigv4

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

// The examples of AWS's S3 SigV4 documentation ("Signature calculations for the Authorization
// header", "... in multiple chunks", "... trailing headers", "... query parameters"), all
// signed with the documentation's example key at 20130524T000000Z in us-east-1.

func exampleAuth(signed, sig string) string {
	return "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=" +
		signed + ",Signature=" + sig
}

func TestAWSHeaderExamples(t *testing.T) {
	const emptySHA = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	tests := []struct {
		name, method, url, body string
		headers                 map[string]string
		signed, sig             string
	}{
		{
			name: "GET object", method: "GET", url: "http://examplebucket.s3.amazonaws.com/test.txt",
			headers: map[string]string{"Range": "bytes=0-9", "X-Amz-Content-Sha256": emptySHA, "X-Amz-Date": "20130524T000000Z"},
			signed:  "host;range;x-amz-content-sha256;x-amz-date",
			sig:     "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
		},
		{
			name: "PUT object", method: "PUT", url: "http://examplebucket.s3.amazonaws.com/test$file.text",
			body: "Welcome to Amazon S3.",
			headers: map[string]string{
				"Date": "Fri, 24 May 2013 00:00:00 GMT", "X-Amz-Date": "20130524T000000Z",
				"X-Amz-Storage-Class":  "REDUCED_REDUNDANCY",
				"X-Amz-Content-Sha256": "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072",
			},
			signed: "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class",
			sig:    "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd",
		},
		{
			name: "GET bucket lifecycle", method: "GET", url: "http://examplebucket.s3.amazonaws.com/?lifecycle",
			headers: map[string]string{"X-Amz-Content-Sha256": emptySHA, "X-Amz-Date": "20130524T000000Z"},
			signed:  "host;x-amz-content-sha256;x-amz-date",
			sig:     "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543",
		},
		{
			name: "list objects", method: "GET", url: "http://examplebucket.s3.amazonaws.com/?max-keys=2&prefix=J",
			headers: map[string]string{"X-Amz-Content-Sha256": emptySHA, "X-Amz-Date": "20130524T000000Z"},
			signed:  "host;x-amz-content-sha256;x-amz-date",
			sig:     "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, mutate := range []bool{false, true} {
				r := httptest.NewRequest(tt.method, tt.url, strings.NewReader(tt.body))
				for k, v := range tt.headers {
					r.Header.Set(k, v)
				}
				sig := tt.sig
				if mutate { // one flipped hex digit must fail
					sig = sig[:10] + string("10"[sig[10]&1]) + sig[11:]
				}
				r.Header.Set("Authorization", exampleAuth(tt.signed, sig))
				o := consume(testVerifier(exampleTime, "us-east-1"), r)
				if mutate {
					wantCode(t, o.err, "SignatureDoesNotMatch")
					continue
				}
				wantCode(t, o.err, "")
				if o.accessKey != testAK || string(o.body) != tt.body {
					t.Fatalf("got %q %q", o.accessKey, o.body)
				}
			}
		})
	}
}

func TestAWSPresignedExample(t *testing.T) {
	const u = "https://examplebucket.s3.amazonaws.com/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256" +
		"&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request" +
		"&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host" +
		"&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
	tests := []struct {
		name string
		url  string
		now  string // offset from the example time
		code string
	}{
		{"valid", u, "1h", ""},
		{"last second", u, "24h", ""},
		{"expired", u, "24h0m1s", "AccessDenied"},
		{"not yet valid", u, "-16m", "AccessDenied"},
		{"small clock skew", u, "-14m", ""},
		{"tampered", strings.Replace(u, "test.txt", "test.txu", 1), "1h", "SignatureDoesNotMatch"},
		{"extra param", u + "&x-id=GetObject", "1h", "SignatureDoesNotMatch"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", tt.url, nil)
			o := consume(testVerifier(exampleTime.Add(mustDuration(t, tt.now)), "us-east-1"), r)
			wantCode(t, o.err, tt.code)
			if tt.code == "" && o.accessKey != testAK {
				t.Fatalf("access key %q", o.accessKey)
			}
		})
	}
}

// chunkedExampleBody builds the body of the chunked upload examples: 64 KiB and 1 KiB of 'a',
// then the final chunk, each with its documented signature, then tail.
func chunkedExampleBody(sigs [3]string, tail string) []byte {
	var b bytes.Buffer
	for i, n := range []int{65536, 1024, 0} {
		b.WriteString(strconv.FormatInt(int64(n), 16) + ";chunk-signature=" + sigs[i] + "\r\n")
		b.Write(bytes.Repeat([]byte{'a'}, n))
		if n > 0 {
			b.WriteString("\r\n")
		}
	}
	b.WriteString(tail)
	return b.Bytes()
}

func TestAWSChunkedExample(t *testing.T) {
	sigs := [3]string{
		"ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
		"0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
		"b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
	}
	body := chunkedExampleBody(sigs, "\r\n")
	if len(body) != 66824 {
		t.Fatalf("example body is %d bytes, the documentation says 66824", len(body))
	}
	build := func(body []byte) *http.Request {
		r := httptest.NewRequest("PUT", "http://s3.amazonaws.com/examplebucket/chunkObject.txt", bytes.NewReader(body))
		r.Header.Set("X-Amz-Date", "20130524T000000Z")
		r.Header.Set("X-Amz-Storage-Class", "REDUCED_REDUNDANCY")
		r.Header.Set("X-Amz-Content-Sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD")
		r.Header.Set("Content-Encoding", "aws-chunked")
		r.Header.Set("X-Amz-Decoded-Content-Length", "66560")
		r.Header.Set("Content-Length", "66824")
		r.Header.Set("Authorization", exampleAuth(
			"content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class",
			"4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"))
		return r
	}
	o := consume(testVerifier(exampleTime, "us-east-1"), build(body))
	wantCode(t, o.err, "")
	if !bytes.Equal(o.body, bytes.Repeat([]byte{'a'}, 66560)) || o.size != 66560 {
		t.Fatalf("decoded %d bytes, size %d", len(o.body), o.size)
	}
	// One changed byte of data, or a chunk signature from another chunk, must be caught.
	bad := bytes.Clone(body)
	bad[66000] = 'b'
	wantCode(t, consume(testVerifier(exampleTime, "us-east-1"), build(bad)).err, "SignatureDoesNotMatch")
	swapped := chunkedExampleBody([3]string{sigs[1], sigs[0], sigs[2]}, "\r\n")
	wantCode(t, consume(testVerifier(exampleTime, "us-east-1"), build(swapped)).err, "SignatureDoesNotMatch")
}

func TestAWSTrailerExample(t *testing.T) {
	sigs := [3]string{
		"b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2",
		"1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7",
		"2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992",
	}
	const trailerSig = "d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435"
	build := func(trailer string) *http.Request {
		body := chunkedExampleBody(sigs, trailer)
		r := httptest.NewRequest("PUT", "http://s3.amazonaws.com/examplebucket/chunkObject.txt", bytes.NewReader(body))
		r.Header.Set("X-Amz-Date", "20130524T000000Z")
		r.Header.Set("X-Amz-Storage-Class", "REDUCED_REDUNDANCY")
		r.Header.Set("X-Amz-Content-Sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER")
		r.Header.Set("Content-Encoding", "aws-chunked")
		r.Header.Set("X-Amz-Decoded-Content-Length", "66560")
		r.Header.Set("X-Amz-Trailer", "x-amz-checksum-crc32c")
		r.Header.Set("Authorization", exampleAuth(
			"content-encoding;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class;x-amz-trailer",
			"106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e"))
		return r
	}
	tests := []struct{ name, trailer, code string }{
		{"as documented", "x-amz-checksum-crc32c:sOO8/Q==\r\nx-amz-trailer-signature:" + trailerSig + "\r\n\r\n", ""},
		{"blank line before trailers", "\r\nx-amz-checksum-crc32c:sOO8/Q==\r\nx-amz-trailer-signature:" + trailerSig + "\r\n\r\n", ""},
		{"bare LF then CRLF (minio-go)", "x-amz-checksum-crc32c:sOO8/Q==\n\r\nx-amz-trailer-signature:" + trailerSig + "\r\n\r\n", ""},
		{"no final CRLF", "x-amz-checksum-crc32c:sOO8/Q==\r\nx-amz-trailer-signature:" + trailerSig + "\r\n", ""},
		{"wrong trailer signature", "x-amz-checksum-crc32c:sOO8/Q==\r\nx-amz-trailer-signature:" + strings.Repeat("0", 64) + "\r\n\r\n", "SignatureDoesNotMatch"},
		{"changed checksum", "x-amz-checksum-crc32c:AAAAAA==\r\nx-amz-trailer-signature:" + trailerSig + "\r\n\r\n", "SignatureDoesNotMatch"},
		{"missing signature", "x-amz-checksum-crc32c:sOO8/Q==\r\n\r\n", "IncompleteBody"},
		{"missing checksum", "x-amz-trailer-signature:" + trailerSig + "\r\n\r\n", "IncompleteBody"},
		{"checksum after signature", "x-amz-trailer-signature:" + trailerSig + "\r\nx-amz-checksum-crc32c:sOO8/Q==\r\n\r\n", "InvalidRequest"},
		{"undeclared trailer", "x-amz-checksum-sha1:AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n", "InvalidRequest"},
		{"garbage after", "x-amz-checksum-crc32c:sOO8/Q==\r\nx-amz-trailer-signature:" + trailerSig + "\r\n\r\nxyz", "InvalidRequest"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := consume(testVerifier(exampleTime, "us-east-1"), build(tt.trailer))
			wantCode(t, o.err, tt.code)
			if tt.code == "" && (len(o.body) != 66560 || o.alg != "CRC32C" || o.sum != "sOO8/Q==") {
				t.Fatalf("got %d bytes, checksum %s %s", len(o.body), o.alg, o.sum)
			}
		})
	}
}
