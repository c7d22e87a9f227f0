package e2e

import (
	"bytes"
	"crypto/sha256"
	"net/url"
	"testing"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/minicloud/minicloud/internal/testserver"
)

func minioClient(t testing.TB, endpoint string) *minio.Client {
	t.Helper()
	u, _ := url.Parse(endpoint)
	c, err := minio.New(u.Host, &minio.Options{
		Creds:  credentials.NewStaticV4(testserver.AccessKey, testserver.SecretKey, ""),
		Region: "us-east-1",
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// content derives an object's bytes from its key, so any reader can check what it got.
func content(key string, size int) []byte {
	var buf bytes.Buffer
	h := sha256.Sum256([]byte(key))
	for buf.Len() < size {
		buf.Write(h[:])
		h = sha256.Sum256(h[:])
	}
	return buf.Bytes()[:size]
}
