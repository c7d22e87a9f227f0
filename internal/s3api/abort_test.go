package s3api

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/minicloud/minicloud/internal/object"
	"github.com/minicloud/minicloud/internal/sigv4"
)

// corruptStore serves one object whose data fails its checksum halfway, as a damaged disk would.
type corruptStore struct {
	ObjectStore // unused methods panic
}

type failingReader struct{ sent bool }

func (f *failingReader) Read(p []byte) (int, error) {
	if f.sent {
		return 0, object.ErrCorrupt
	}
	f.sent = true
	return copy(p, strings.Repeat("x", 64<<10)), nil // enough to flush the status line
}

func (f *failingReader) Close() error { return nil }

func (corruptStore) GetObject(ctx context.Context, bucket, key, versionID string, offset, length int64) (object.ObjectInfo, object.Reader, error) {
	return object.ObjectInfo{Bucket: bucket, Key: key, Size: 1 << 20, ETag: "abc", LastModified: time.Now()}, &failingReader{}, nil
}

// TestCorruptBodyAbortsResponse checks that a read error after the status line was sent cuts the
// connection, so the client sees a short body and an error, never a complete-looking response.
func TestCorruptBodyAbortsResponse(t *testing.T) {
	v := &sigv4.Verifier{Region: testRegion, Secret: func(ak string) (string, bool) { return rootSK, ak == rootAK }}
	h := New(Options{Store: corruptStore{}, Auth: fixedAuth{}, Verifier: v, Logger: slog.New(slog.DiscardHandler)})
	srv := httptest.NewServer(h)
	defer srv.Close()
	req, _ := http.NewRequest("GET", srv.URL+"/bkt/key", nil)
	req.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
	signRoot(t, req, "UNSIGNED-PAYLOAD")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("read %d bytes, err %v; want a truncated body", len(b), err)
	}
	if len(b) >= 1<<20 {
		t.Fatalf("got the whole body (%d bytes) from a corrupt object", len(b))
	}
}
