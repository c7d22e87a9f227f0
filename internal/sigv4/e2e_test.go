package sigv4

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/minio/minio-go/v7"
	miniocreds "github.com/minio/minio-go/v7/pkg/credentials"
)

const e2eRegion = "us-east-1"

// sdkClient is an aws-sdk-go-v2 S3 client pointed at the recorder, configured the way
// config.LoadDefaultConfig configures it for a user with no AWS settings, but without reading
// this machine's environment and files.
func sdkClient(t *testing.T, rec *recorder, secret string) *s3.Client {
	t.Helper()
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "AWS_") {
			t.Setenv(k, "")
		}
	}
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/config")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", t.TempDir()+"/credentials")
	cfg, err := config.LoadDefaultConfig(context.Background(),
		config.WithRegion(e2eRegion),
		config.WithHTTPClient(rec.srv.Client()),
		config.WithRetryMaxAttempts(1),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(testAK, secret, "")),
	)
	if err != nil {
		t.Fatal(err)
	}
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.BaseEndpoint = aws.String(rec.srv.URL)
		o.UsePathStyle = true
	})
}

func e2eVerifier() *Verifier {
	v := testVerifier(time.Time{}, e2eRegion)
	v.Now = nil
	return v
}

func TestSDKPutObject(t *testing.T) {
	ctx := context.Background()
	key := "dir/ünï cödé+=~!*'()&$@,;:?#[]%.txt"
	small, large := testData(4096), testData(5<<20+123)
	tests := []struct {
		name string
		tls  bool
		alg  types.ChecksumAlgorithm
		data []byte
		mode string // the payload mode the SDK is expected to choose
		want string // expected Result.Checksum algorithm

		whenRequired bool
	}{
		// Over TLS the SDK streams aws-chunked with the checksum in a trailer (CRC32 by default).
		{name: "tls default", tls: true, data: small, mode: unsignedTrailer, want: "CRC32"},
		{name: "tls large", tls: true, data: large, mode: unsignedTrailer, want: "CRC32"},
		{name: "tls crc32c", tls: true, alg: types.ChecksumAlgorithmCrc32c, data: small, mode: unsignedTrailer, want: "CRC32C"},
		{name: "tls sha1", tls: true, alg: types.ChecksumAlgorithmSha1, data: small, mode: unsignedTrailer, want: "SHA1"},
		{name: "tls sha256", tls: true, alg: types.ChecksumAlgorithmSha256, data: small, mode: unsignedTrailer, want: "SHA256"},
		{name: "tls crc64nvme", tls: true, alg: types.ChecksumAlgorithmCrc64nvme, data: large, mode: unsignedTrailer, want: "CRC64NVME"},
		// Over plain HTTP it signs the body's SHA-256 and sends the checksum as a header.
		{name: "http default", data: small, mode: hexSHA256(small), want: "CRC32"},
		{name: "http large crc32c", alg: types.ChecksumAlgorithmCrc32c, data: large, mode: hexSHA256(large), want: "CRC32C"},
		// With checksums only when required, the SDK sends a plain UNSIGNED-PAYLOAD body over TLS.
		{name: "tls when required", tls: true, whenRequired: true, data: small, mode: "UNSIGNED-PAYLOAD"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := newRecorder(t, e2eVerifier(), tt.tls)
			_, err := sdkClient(t, rec, testSecret).PutObject(ctx, &s3.PutObjectInput{
				Bucket: aws.String("bucket"), Key: aws.String(key), Body: bytes.NewReader(tt.data),
				ChecksumAlgorithm: tt.alg,
			}, func(o *s3.Options) {
				if tt.whenRequired {
					o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			o := rec.last(t)
			wantCode(t, o.err, "")
			if o.mode != tt.mode || o.accessKey != testAK || !bytes.Equal(o.body, tt.data) || o.size != int64(len(tt.data)) {
				t.Fatalf("mode %q key %q, %d bytes (size %d)", o.mode, o.accessKey, len(o.body), o.size)
			}
			if o.alg != tt.want || (tt.want != "" && o.sum != testChecksum(strings.ToLower(tt.want), tt.data)) {
				t.Fatalf("checksum %s %s, want %s", o.alg, o.sum, tt.want)
			}
		})
	}
}

func TestSDKWrongSecret(t *testing.T) {
	rec := newRecorder(t, e2eVerifier(), true)
	_, err := sdkClient(t, rec, "wrong").PutObject(context.Background(), &s3.PutObjectInput{
		Bucket: aws.String("bucket"), Key: aws.String("k"), Body: strings.NewReader("data"),
	})
	if err == nil {
		t.Fatal("a wrong secret was accepted")
	}
	wantCode(t, rec.last(t).err, "SignatureDoesNotMatch")
}

func TestSDKPresigned(t *testing.T) {
	ctx := context.Background()
	rec := newRecorder(t, e2eVerifier(), true)
	pc := s3.NewPresignClient(sdkClient(t, rec, testSecret), s3.WithPresignExpires(10*time.Minute))
	key := "a dir/ü+x=y.bin"

	get, err := pc.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("bucket"), Key: aws.String(key)})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := rec.srv.Client().Get(get.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if o := rec.last(t); o.err != nil || o.accessKey != testAK {
		t.Fatalf("presigned GET: %v %q", o.err, o.accessKey)
	}

	body := []byte("uploaded through a presigned URL")
	put, err := pc.PresignPutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bucket"), Key: aws.String(key), ContentType: aws.String("text/plain")})
	if err != nil {
		t.Fatal(err)
	}
	r, _ := http.NewRequest(put.Method, put.URL, bytes.NewReader(body))
	for k, vs := range put.SignedHeader {
		if !strings.EqualFold(k, "host") {
			r.Header[k] = vs
		}
	}
	rec.send(t, r)
	if o := rec.last(t); o.err != nil || !bytes.Equal(o.body, body) {
		t.Fatalf("presigned PUT: %v %q", o.err, o.body)
	}

	// The same URL with the key changed must be refused.
	resp, err = rec.srv.Client().Get(strings.Replace(get.URL, "bucket/", "bucket/x", 1))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	wantCode(t, rec.last(t).err, "SignatureDoesNotMatch")
}

// minio-go signs every chunk (STREAMING-AWS4-HMAC-SHA256-PAYLOAD, with a signed trailer when it
// sends a checksum) over plain HTTP, which aws-sdk-go-v2 never does: it exercises the signed
// streaming modes with a second, independent client.
func TestMinioSignedStreaming(t *testing.T) {
	rec := newRecorder(t, e2eVerifier(), false)
	mc, err := minio.New(strings.TrimPrefix(rec.srv.URL, "http://"), &minio.Options{
		Creds:           miniocreds.NewStaticV4(testAK, testSecret, ""),
		Region:          e2eRegion,
		TrailingHeaders: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		opts minio.PutObjectOptions
		mode string
		alg  string
	}{
		{"signed chunks", minio.PutObjectOptions{DisableContentSha256: false, SendContentMd5: true}, signedPayload, ""},
		{"signed trailer", minio.PutObjectOptions{AutoChecksum: minio.ChecksumCRC32C, Checksum: minio.ChecksumCRC32C}, signedTrailer, "CRC32C"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			data := testData(300000)
			_, err := mc.PutObject(context.Background(), "bucket", "streamed/obj ü", bytes.NewReader(data), int64(len(data)), tt.opts)
			o := rec.last(t)
			if err != nil && !errors.Is(err, io.EOF) {
				t.Fatalf("put: %v (server saw %v)", err, o.err)
			}
			wantCode(t, o.err, "")
			if o.mode != tt.mode || !bytes.Equal(o.body, data) || o.alg != tt.alg {
				t.Fatalf("mode %q, %d bytes, checksum %q", o.mode, len(o.body), o.alg)
			}
		})
	}
}
