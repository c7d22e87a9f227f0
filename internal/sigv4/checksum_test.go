package sigv4

import (
	"crypto/md5"
	"encoding/base64"
	"hash/crc64"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/minio/crc64nvme"
)

func TestCRC64NVMECheckValue(t *testing.T) {
	// The CRC-64/NVME catalogue check value: the CRC of "123456789".
	if got := crc64.Checksum([]byte("123456789"), crc64NVME); got != 0xae8b14860a799888 {
		t.Fatalf("crc64nvme check value %#x", got)
	}
	for _, n := range []int{0, 1, 7, 8, 9, 63, 64, 2047, 2048, 100000} {
		d := testData(n)
		h := newCRC64NVME()
		h.Write(d[:n/3]) // in two writes: the state must carry over
		h.Write(d[n/3:])
		want := crc64nvme.Checksum(d)
		if got := h.Sum64(); got != want || got != crc64.Checksum(d, crc64NVME) {
			t.Fatalf("%d bytes: %#x, minio's crc64nvme %#x", n, got, want)
		}
	}
}

func md5b64(b []byte) string {
	s := md5.Sum(b)
	return base64.StdEncoding.EncodeToString(s[:])
}

func TestBodyDigests(t *testing.T) {
	data := []byte(strings.Repeat("minicloud ", 500))
	other := []byte("something else")
	type tc struct {
		name    string
		header  map[string]string
		length  int64 // Content-Length to claim, 0 for the true one
		alg     string
		sum     string
		code    string
		atCheck bool // the error comes from Verify, before the body is read
	}
	tests := []tc{
		{name: "none"},
		{name: "md5", header: map[string]string{"Content-Md5": md5b64(data)}},
		{name: "md5 wrong", header: map[string]string{"Content-Md5": md5b64(other)}, code: "BadDigest"},
		{name: "md5 not base64", header: map[string]string{"Content-Md5": "not base64 at all!!!!!!!"}, code: "InvalidDigest", atCheck: true},
		{name: "md5 short", header: map[string]string{"Content-Md5": "AAAA"}, code: "InvalidDigest", atCheck: true},
		{name: "md5 long", header: map[string]string{"Content-Md5": strings.Repeat("A", 100)}, code: "InvalidDigest", atCheck: true},
		{name: "payload sha256", header: map[string]string{"X-Amz-Content-Sha256": hexSHA256(data)}},
		{name: "payload sha256 wrong", header: map[string]string{"X-Amz-Content-Sha256": hexSHA256(other)}, code: "XAmzContentSHA256Mismatch"},
		{name: "payload sha256 junk", header: map[string]string{"X-Amz-Content-Sha256": "xyz"}, code: "InvalidArgument", atCheck: true},
		{name: "payload and checksum sha256 share a hash", header: map[string]string{
			"X-Amz-Content-Sha256": hexSHA256(data), "X-Amz-Checksum-Sha256": testChecksum("sha256", data),
		}, alg: "SHA256", sum: testChecksum("sha256", data)},
		{name: "everything at once", header: map[string]string{
			"X-Amz-Content-Sha256": hexSHA256(data), "X-Amz-Checksum-Crc32c": testChecksum("crc32c", data),
			"Content-Md5": md5b64(data),
		}, alg: "CRC32C", sum: testChecksum("crc32c", data)},
		{name: "two checksums", header: map[string]string{
			"X-Amz-Checksum-Crc32": testChecksum("crc32", data), "X-Amz-Checksum-Sha1": testChecksum("sha1", data),
		}, code: "InvalidRequest", atCheck: true},
		{name: "algorithm header alone is no checksum", header: map[string]string{"X-Amz-Checksum-Algorithm": "CRC32", "X-Amz-Sdk-Checksum-Algorithm": "CRC32"}},
		{name: "short body", length: int64(len(data)) + 1, code: "IncompleteBody"},
	}
	for _, alg := range allChecksums {
		key := "X-Amz-Checksum-" + strings.ToUpper(alg[:1]) + alg[1:]
		tests = append(tests,
			tc{name: alg, header: map[string]string{key: testChecksum(alg, data)}, alg: strings.ToUpper(alg), sum: testChecksum(alg, data)},
			tc{name: alg + " wrong", header: map[string]string{key: testChecksum(alg, other)}, code: "BadDigest"},
			tc{name: alg + " malformed", header: map[string]string{key: "AAAA"}, code: "InvalidRequest", atCheck: true},
		)
	}
	v := testVerifier(exampleTime, "")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("PUT", "http://s3.test/b/k", strings.NewReader(string(data)))
			if tt.length != 0 {
				r.ContentLength = tt.length
			}
			for k, val := range tt.header {
				r.Header.Set(k, val)
			}
			if tt.atCheck {
				_, err := v.Verify(r)
				wantCode(t, err, tt.code)
				return
			}
			o := consume(v, r)
			wantCode(t, o.err, tt.code)
			if tt.code == "" && (string(o.body) != string(data) || o.alg != tt.alg || o.sum != tt.sum) {
				t.Fatalf("body %d bytes, checksum %q %q", len(o.body), o.alg, o.sum)
			}
			if tt.code != "" && o.alg != "" {
				t.Fatalf("a failed body reported checksum %s", o.alg)
			}
		})
	}
}

// A reader that stops early must not report a checksum, and Read keeps failing.
func TestBodyErrorIsSticky(t *testing.T) {
	data := []byte("0123456789")
	r := httptest.NewRequest("PUT", "http://s3.test/b/k", strings.NewReader(string(data)))
	r.Header.Set("X-Amz-Checksum-Crc32", testChecksum("crc32", []byte("x")))
	res, err := testVerifier(exampleTime, "").Verify(r)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 100)
	for range 3 {
		if _, err := res.Body.Read(buf); err != nil {
			wantCode(t, err, "BadDigest")
		}
	}
	if a, _ := res.Checksum(); a != "" {
		t.Fatalf("checksum %q after failure", a)
	}
}
