package e2e

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/minicloud/minicloud/internal/testserver"
)

// TestCorruptDataIsNeverServed flips a byte in every stored chunk of a real server's data
// directory and checks that GET fails (never returns wrong bytes), that the failure is logged and
// counted in the metrics, and that undamaged objects still read fine.
func TestCorruptDataIsNeverServed(t *testing.T) {
	retries := minio.MaxRetry
	minio.MaxRetry = 1 // a 500 is the expected answer here; don't wait out the client's backoff
	t.Cleanup(func() { minio.MaxRetry = retries })
	n := testserver.Start(t)
	ctx := testserver.Context(t)
	c := minioClient(t, n.Endpoint())
	if err := c.MakeBucket(ctx, "rot", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	big := content("big", 3<<20+123)
	if _, err := c.PutObject(ctx, "rot", "big", bytes.NewReader(big), int64(len(big)), minio.PutObjectOptions{DisableMultipart: true}); err != nil {
		t.Fatal(err)
	}
	n.Kill()
	flipped := 0
	filepath.Walk(filepath.Join(n.Data, "blobs", "chunks"), func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			b, _ := os.ReadFile(p)
			b[len(b)/3] ^= 0x01
			os.WriteFile(p, b, 0o600)
			flipped++
		}
		return nil
	})
	if flipped != 4 {
		t.Fatalf("expected 4 chunk files, flipped %d", flipped)
	}
	n.Restart()
	small := content("small", 500)
	if _, err := c.PutObject(ctx, "rot", "small", bytes.NewReader(small), int64(len(small)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, rng := range [][2]int64{{0, 0}, {2 << 20, 2<<20 + 10}} {
		opts := minio.GetObjectOptions{}
		if rng[1] > 0 {
			opts.SetRange(rng[0], rng[1])
		}
		obj, err := c.GetObject(ctx, "rot", "big", opts)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(obj)
		obj.Close()
		if err == nil {
			t.Fatalf("range %v of a corrupt object read without error (%d bytes)", rng, len(got))
		}
	}
	obj, _ := c.GetObject(ctx, "rot", "small", minio.GetObjectOptions{})
	got, err := io.ReadAll(obj)
	if err != nil || !bytes.Equal(got, small) {
		t.Fatalf("healthy object: %v", err)
	}
	if !strings.Contains(n.Log(), "checksum") {
		t.Errorf("no log line about the failed checksum; log:\n%s", n.Log())
	}
	req, _ := http.NewRequest("GET", n.Endpoint()+"/_minicloud/metrics", nil)
	req.SetBasicAuth(testserver.AccessKey, testserver.SecretKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "minicloud_corrupt_reads_total 2") {
		t.Errorf("metrics do not count 2 corrupt reads:\n%s", grepLines(string(body), "corrupt"))
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
