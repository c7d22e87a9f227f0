package s3api

import (
	"context"
	"encoding/xml"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/minicloud/minicloud/internal/s3err"
)

// errorResponse is the XML body of every S3 error.
type errorResponse struct {
	XMLName   xml.Name `xml:"Error"`
	Code      string   `xml:"Code"`
	Message   string   `xml:"Message"`
	Resource  string   `xml:"Resource,omitempty"`
	RequestID string   `xml:"RequestId"`
	HostID    string   `xml:"HostId"`
}

// toS3 maps any error to the S3 error to send. Errors that are not S3 errors are internal, except
// a body that ended early, which is the client's doing.
func toS3(err error) (e *s3err.Error, internal bool) {
	if errors.As(err, &e) {
		return e, false
	}
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF):
		return s3err.IncompleteBody, false
	case errors.Is(err, context.Canceled):
		// The client went away; the status is never seen, but metrics should not count a 500.
		return s3err.RequestTimeout.With("The client closed the connection."), false
	}
	return s3err.InternalError, true
}

// writeError answers a request with an S3 error: the table's status and, except for HEAD and 304,
// an XML body. Headers set before (x-amz-delete-marker, Content-Range, CORS) are kept.
func (h *handler) writeError(rq *request, err error) {
	e, internal := toS3(err)
	rq.err, rq.errCode = err, e.Code
	if internal {
		h.log.Error("internal error", slog.String("op", rq.name), slog.String("bucket", rq.bucket),
			slog.String("key", rq.key), slog.String("request_id", rq.id), slog.Any("err", err))
	}
	if rq.w.wroteHeader {
		// The status line is gone; all that is left is to cut the response short so the client
		// sees a truncated body rather than wrong bytes.
		panic(http.ErrAbortHandler)
	}
	hdr := rq.w.Header()
	if e.Status == http.StatusNotModified || rq.r.Method == http.MethodHead {
		rq.w.WriteHeader(e.Status)
		return
	}
	body, merr := xml.Marshal(errorResponse{
		Code:      e.Code,
		Message:   e.Message,
		Resource:  rq.r.URL.Path,
		RequestID: rq.id,
		HostID:    h.ids.hostID(rq.id),
	})
	if merr != nil {
		body = nil // cannot happen with these string fields; send the status alone
	}
	hdr.Set("Content-Type", "application/xml")
	hdr.Set("Content-Length", strconv.Itoa(len(xml.Header)+len(body)))
	rq.w.WriteHeader(e.Status)
	_, _ = io.WriteString(rq.w, xml.Header)
	_, _ = rq.w.Write(body)
}
