package s3api

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/minicloud/minicloud/internal/object"
	"github.com/minicloud/minicloud/internal/sigv4"
)

// benchHandler is the S3 API on a real store, called in-process so that a profile shows the
// server's own work rather than a client's.
func benchHandler(b *testing.B) http.Handler {
	st, err := object.Open(b.TempDir(), object.Options{NodeID: "n1"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	v := &sigv4.Verifier{Region: testRegion, Secret: func(ak string) (string, bool) { return rootSK, ak == rootAK }}
	h := New(Options{Store: st, Auth: fixedAuth{}, Verifier: v, Logger: slog.New(slog.DiscardHandler)})
	if err := st.CreateBucket(b.Context(), "bench", ""); err != nil {
		b.Fatal(err)
	}
	return h
}

// signedRequest builds a request signed once; the signature stays valid for the benchmark.
func signedRequest(b *testing.B, method, path string, body []byte) *http.Request {
	req := httptest.NewRequest(method, "http://127.0.0.1:9000"+path, bytes.NewReader(body))
	sum := sha256.Sum256(body)
	ph := hex.EncodeToString(sum[:])
	req.Header.Set("X-Amz-Content-Sha256", ph)
	signRoot(b, req, ph)
	return req
}

type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (d *discardWriter) WriteHeader(int)             {}

func BenchmarkPutObject4K(b *testing.B) {
	h := benchHandler(b)
	body := bytes.Repeat([]byte("x"), 4096)
	req := signedRequest(b, "PUT", "/bench/key", body)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		r := req.Clone(req.Context())
		r.Body = io.NopCloser(bytes.NewReader(body))
		w := &discardWriter{h: http.Header{}}
		h.ServeHTTP(w, r)
	}
}

func BenchmarkGetObject4K(b *testing.B) {
	h := benchHandler(b)
	body := bytes.Repeat([]byte("x"), 4096)
	put := signedRequest(b, "PUT", "/bench/key", body)
	h.ServeHTTP(&discardWriter{h: http.Header{}}, put)
	req := signedRequest(b, "GET", "/bench/key", nil)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		w := &discardWriter{h: http.Header{}}
		h.ServeHTTP(w, req.Clone(req.Context()))
	}
}
