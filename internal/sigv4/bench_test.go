package sigv4

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// benchRequest is a reusable signed request: each iteration only resets its body.
type benchRequest struct {
	r    *http.Request
	body []byte
	rd   bytes.Reader
}

func (b *benchRequest) next() *http.Request {
	b.rd.Reset(b.body)
	b.r.Body = io.NopCloser(&b.rd)
	return b.r
}

func benchPut(b *testing.B, at time.Time, size int, hash string, extra http.Header, body []byte) *benchRequest {
	data := testData(size)
	if body == nil {
		body = data
	}
	r, _ := http.NewRequest("PUT", "http://127.0.0.1:9000/bucket/some/object/key.bin", nil)
	for k, v := range extra {
		r.Header[k] = v
	}
	r.Header.Set("X-Amz-Content-Sha256", hash)
	r.ContentLength = int64(len(body))
	creds := aws.Credentials{AccessKeyID: testAK, SecretAccessKey: testSecret}
	if err := sdkSigner().SignHTTP(context.Background(), creds, r, hash, "s3", "us-east-1", at); err != nil {
		b.Fatal(err)
	}
	r.Header.Set("Content-Length", strconv.Itoa(len(body)))
	r.RequestURI = r.URL.RequestURI()
	r.Host = r.URL.Host
	return &benchRequest{r: r, body: body}
}

func runBench(b *testing.B, v *Verifier, br *benchRequest) {
	buf := make([]byte, 32<<10)
	b.SetBytes(int64(len(br.body)))
	b.ReportAllocs()
	for b.Loop() {
		res, err := v.Verify(br.next())
		if err != nil {
			b.Fatal(err)
		}
		for {
			_, err := res.Body.Read(buf)
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkVerify measures Verify plus reading the body, the per-request cost of SigV4.
func BenchmarkVerify(b *testing.B) {
	at := time.Now().UTC()
	v := testVerifier(at, "us-east-1")
	for _, size := range []int{4 << 10, 8 << 20} {
		data := testData(size)
		b.Run("sha256-crc32/"+strconv.Itoa(size), func(b *testing.B) {
			runBench(b, v, benchPut(b, at, size, hexSHA256(data),
				http.Header{"X-Amz-Checksum-Crc32": {testChecksum("crc32", data)}}, nil))
		})
		b.Run("unsigned-payload/"+strconv.Itoa(size), func(b *testing.B) {
			runBench(b, v, benchPut(b, at, size, "UNSIGNED-PAYLOAD", nil, nil))
		})
		for _, alg := range []string{"crc32", "crc32c", "crc64nvme", "sha256"} {
			b.Run("unsigned-trailer-"+alg+"/"+strconv.Itoa(size), func(b *testing.B) {
				up := chunkedUpload{mode: unsignedTrailer, chunk: 64 << 10, trailer: alg}
				h, body := up.build(&testing.T{}, data, at)
				runBench(b, v, benchPut(b, at, size, unsignedTrailer, h, body))
			})
		}
		b.Run("signed-chunks/"+strconv.Itoa(size), func(b *testing.B) {
			up := chunkedUpload{mode: signedPayload, chunk: 64 << 10}
			h, body := up.build(&testing.T{}, data, at)
			r := chunkedRequest(h, body)
			r.RequestURI = "/bucket/object"
			runBench(b, v, &benchRequest{r: r, body: body})
		})
	}
}
