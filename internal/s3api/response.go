package s3api

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// respWriter records the status and the body bytes of a response for metrics and logs. It hides
// the underlying writer's ReadFrom so that bodies are copied through our pooled buffer.
type respWriter struct {
	http.ResponseWriter
	status      int
	written     int64
	wroteHeader bool
}

func (w *respWriter) WriteHeader(code int) {
	if w.wroteHeader {
		return
	}
	w.wroteHeader = true
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *respWriter) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	n, err := w.ResponseWriter.Write(p)
	w.written += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the connection (flushes, deadlines).
func (w *respWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *respWriter) statusCode() int {
	if !w.wroteHeader {
		return http.StatusOK
	}
	return w.status
}

// countingReader counts the (decoded) request payload bytes the handler reads.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// idSource makes request ids: a random per-process prefix and a counter, so ids are unique across
// restarts and nodes without a syscall per request.
type idSource struct {
	prefix [8]byte
	n      atomic.Uint64
}

func newIDSource() *idSource {
	s := &idSource{}
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("s3api: read random id prefix: %v", err)) // crypto/rand never fails on Linux
	}
	hex.Encode(s.prefix[:], b[:])
	return s
}

// next returns a 16-character upper-case id, like AWS's x-amz-request-id.
func (s *idSource) next() string {
	var b [16]byte
	copy(b[:8], s.prefix[:])
	n := s.n.Add(1)
	const digits = "0123456789ABCDEF"
	for i := 15; i >= 8; i-- {
		b[i] = digits[n&0xf]
		n >>= 4
	}
	for i := range 8 {
		if b[i] >= 'a' {
			b[i] -= 'a' - 'A'
		}
	}
	return string(b[:])
}

// hostID derives the x-amz-id-2 value; AWS uses it to name the host that served the request.
func (s *idSource) hostID(id string) string {
	return base64.StdEncoding.EncodeToString([]byte("minicloud/" + id))
}

// xmlBufPool holds buffers for encoding XML responses.
var xmlBufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// writeXML answers with status and v encoded as an S3 XML document.
func writeXML(rq *request, status int, v any) error {
	buf := xmlBufPool.Get().(*bytes.Buffer)
	buf.Reset()
	defer func() {
		if buf.Cap() <= 1<<20 { // do not keep huge list responses alive in the pool
			xmlBufPool.Put(buf)
		}
	}()
	buf.WriteString(xml.Header)
	if err := xml.NewEncoder(buf).Encode(v); err != nil {
		return fmt.Errorf("encode %T: %w", v, err)
	}
	hdr := rq.w.Header()
	hdr.Set("Content-Type", "application/xml")
	hdr.Set("Content-Length", strconv.Itoa(buf.Len()))
	rq.w.WriteHeader(status)
	if rq.r.Method != http.MethodHead {
		_, _ = rq.w.Write(buf.Bytes()) // a failed write is the client's loss; nothing to add
	}
	return nil
}

// copyBufPool holds the 256 KiB buffers object bodies are copied through.
var copyBufPool = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

// writerOnly hides ReadFrom/WriteTo so io.CopyBuffer uses the pooled buffer.
type writerOnly struct{ io.Writer }

// httpTime formats a time for a header, as RFC 1123 in GMT.
func httpTime(t time.Time) string { return t.UTC().Format(http.TimeFormat) }

// isoTime formats a time for an XML document, ISO 8601 with milliseconds as AWS does.
func isoTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// quoteETag returns an ETag as S3 sends it, in double quotes.
func quoteETag(etag string) string {
	if len(etag) >= 2 && etag[0] == '"' && etag[len(etag)-1] == '"' {
		return etag
	}
	return `"` + etag + `"`
}
