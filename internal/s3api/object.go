package s3api

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/minicloud/minicloud/internal/object"
	"github.com/minicloud/minicloud/internal/s3err"
)

// versionParam returns the versionId query parameter; present but empty is an error in S3.
func versionParam(rq *request) (string, error) {
	v, ok := rq.query["versionId"]
	if !ok {
		return "", nil
	}
	if len(v) == 0 || v[0] == "" {
		return "", s3err.InvalidArgument.With("Version id cannot be the empty string")
	}
	return v[0], nil
}

// payloadSize returns the length of the object data a PUT or UploadPart carries, refusing a
// missing length (S3 needs it up front) and one over limit before a byte is read.
func payloadSize(rq *request, limit int64) (int64, error) {
	size := rq.size
	streaming := strings.HasPrefix(rq.r.Header.Get("X-Amz-Content-Sha256"), "STREAMING-")
	if size < 0 && streaming {
		if v := rq.r.Header.Get("X-Amz-Decoded-Content-Length"); v != "" {
			if n, ok := parseDigits(v); ok {
				size = n
			}
		}
	}
	if size < 0 && !streaming {
		size = rq.r.ContentLength
	}
	if size < 0 {
		return 0, s3err.MissingContentLength
	}
	if size > limit {
		return 0, s3err.EntityTooLarge.With("Your proposed upload of %d bytes exceeds the maximum allowed size of %d bytes.", size, limit)
	}
	return size, nil
}

func (h *handler) putObject(rq *request) error {
	hdr := rq.r.Header
	size, err := payloadSize(rq, object.MaxPutSize)
	if err != nil {
		return err
	}
	meta, err := parseMeta(hdr)
	if err != nil {
		return err
	}
	tags, err := parseTaggingHeader(hdr.Get("X-Amz-Tagging"))
	if err != nil {
		return err
	}
	opts := object.PutOptions{Meta: meta, Tags: tags, Checksum: checksumFunc(rq.checksum)}
	if inm := hdr.Get("If-None-Match"); inm != "" {
		if strings.TrimSpace(inm) != "*" {
			return s3err.NotImplemented.With("If-None-Match on PUT supports only *.")
		}
		opts.IfNoneMatchStar = true
	}
	if im := hdr.Get("If-Match"); im != "" {
		opts.IfMatch = strings.Trim(strings.TrimSpace(im), `"`)
	}
	info, err := h.store.PutObject(rq.ctx, rq.bucket, rq.key, rq.body, size, opts)
	if err != nil {
		return fmt.Errorf("put %s/%s: %w", rq.bucket, rq.key, err)
	}
	out := rq.w.Header()
	out.Set("Etag", quoteETag(info.ETag))
	setVersionHeader(out, info.VersionID)
	setChecksumHeaders(out, info.Checksum)
	out.Set("Content-Length", "0")
	rq.w.WriteHeader(http.StatusOK)
	return nil
}

// responseOverrides are the response-* query parameters of a GET and the headers they replace.
var responseOverrides = [...][2]string{
	{"response-content-type", "Content-Type"},
	{"response-content-language", "Content-Language"},
	{"response-expires", "Expires"},
	{"response-cache-control", "Cache-Control"},
	{"response-content-disposition", "Content-Disposition"},
	{"response-content-encoding", "Content-Encoding"},
}

// checkOverrides refuses response-* overrides on anonymous requests, as AWS does.
func checkOverrides(rq *request) (bool, error) {
	found := false
	for _, o := range responseOverrides {
		if rq.query.Has(o[0]) {
			found = true
			break
		}
	}
	if found && rq.access == "" {
		return false, s3err.InvalidRequest.With("Request specific response headers cannot be used for anonymous GET requests.")
	}
	return found, nil
}

// objectErr adds the headers S3 sends when a GET or HEAD meets a delete marker.
func objectErr(rq *request, info object.ObjectInfo, err error, what string) error {
	if info.DeleteMarker {
		hdr := rq.w.Header()
		hdr.Set("X-Amz-Delete-Marker", "true")
		setVersionHeader(hdr, info.VersionID)
		if !info.LastModified.IsZero() {
			hdr.Set("Last-Modified", httpTime(info.LastModified))
		}
		if errors.Is(err, s3err.MethodNotAllowed) {
			hdr.Set("Allow", "DELETE")
		}
	}
	return fmt.Errorf("%s %s/%s: %w", what, rq.bucket, rq.key, err)
}

// getObject serves GetObject and HeadObject: conditionals, Range, partNumber, response-*
// overrides, checksums, and a body streamed through a pooled buffer.
func (h *handler) getObject(rq *request, head bool) error {
	versionID, err := versionParam(rq)
	if err != nil {
		return err
	}
	overrides, err := checkOverrides(rq)
	if err != nil {
		return err
	}
	hdr := rq.r.Header
	rangeHdr := hdr.Get("Range")
	br, ranged := parseRange(rangeHdr)
	partNumber := 0
	if rq.query.Has("partNumber") {
		if partNumber, err = parsePartNumber(rq.query.Get("partNumber")); err != nil {
			return err
		}
		if rangeHdr != "" {
			return s3err.InvalidRequest.With("Cannot specify both Range header and partNumber query parameter")
		}
	}
	conds := requestConditions(hdr)

	var (
		info         object.ObjectInfo
		rd           object.Reader
		offset       int64
		length       int64 = -1
		partial      bool
		partsCounted bool
	)
	if !ranged && partNumber == 0 && !head {
		// The hot path: one call opens the newest version from its start.
		info, rd, err = h.store.GetObject(rq.ctx, rq.bucket, rq.key, versionID, 0, -1)
		if err != nil {
			return objectErr(rq, info, err, "get")
		}
		defer rd.Close()
		if err := h.checkGetConditions(rq, conds, &info); err != nil {
			return err
		}
		length = info.Size
	} else {
		info, err = h.store.HeadObject(rq.ctx, rq.bucket, rq.key, versionID)
		if err != nil {
			return objectErr(rq, info, err, "head")
		}
		if err := h.checkGetConditions(rq, conds, &info); err != nil {
			return err
		}
		length = info.Size
		switch {
		case ranged:
			offset, length, err = br.resolve(info.Size)
			if err != nil {
				rq.w.Header().Set("Content-Range", "bytes */"+strconv.FormatInt(info.Size, 10))
				return err
			}
			partial = true
		case partNumber > 0:
			offset, length, err = h.partRange(rq, &info, partNumber)
			if err != nil {
				return err
			}
			partial, partsCounted = info.Size > 0, info.PartCount > 0
		}
		if !head {
			// Pin the version HEAD saw, so the range and the body belong to the same one.
			var got object.ObjectInfo
			got, rd, err = h.store.GetObject(rq.ctx, rq.bucket, rq.key, info.VersionID, offset, length)
			if err != nil {
				return objectErr(rq, got, err, "get")
			}
			defer rd.Close()
		}
	}

	out := rq.w.Header()
	setObjectHeaders(out, &info)
	if overrides {
		for _, o := range responseOverrides {
			if v := rq.query.Get(o[0]); v != "" {
				out.Set(o[1], v)
			}
		}
	}
	if partsCounted {
		out.Set("X-Amz-Mp-Parts-Count", strconv.Itoa(info.PartCount))
	}
	if !partial && strings.EqualFold(hdr.Get("X-Amz-Checksum-Mode"), "ENABLED") {
		setChecksumHeaders(out, info.Checksum)
	}
	out.Set("Content-Length", strconv.FormatInt(length, 10))
	status := http.StatusOK
	if partial {
		out.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", offset, offset+length-1, info.Size))
		status = http.StatusPartialContent
	}
	rq.w.WriteHeader(status)
	if head || length == 0 {
		return nil
	}
	return h.copyBody(rq, rd)
}

// checkGetConditions evaluates the conditional headers; a 304 carries the validators.
func (h *handler) checkGetConditions(rq *request, c conditions, info *object.ObjectInfo) error {
	if c.empty() {
		return nil
	}
	err := c.check(info.ETag, info.LastModified)
	if errors.Is(err, s3err.NotModified) {
		out := rq.w.Header()
		out.Set("Etag", quoteETag(info.ETag))
		out.Set("Last-Modified", httpTime(info.LastModified))
		setVersionHeader(out, info.VersionID)
	}
	return err
}

// partRange locates part n of a version for GET/HEAD ?partNumber=n.
func (h *handler) partRange(rq *request, info *object.ObjectInfo, n int) (offset, length int64, err error) {
	if info.PartCount == 0 {
		// A single-part object is its own part 1.
		if n != 1 {
			return 0, 0, s3err.InvalidPartNumber
		}
		return 0, info.Size, nil
	}
	if n > info.PartCount {
		return 0, 0, s3err.InvalidPartNumber
	}
	if h.parts == nil {
		return 0, 0, s3err.NotImplemented.With("GET of a part of a multipart object is not supported by this object layer.")
	}
	parts, err := h.parts.ObjectParts(rq.ctx, rq.bucket, rq.key, info.VersionID)
	if err != nil {
		return 0, 0, fmt.Errorf("parts of %s/%s: %w", rq.bucket, rq.key, err)
	}
	for _, p := range parts {
		if p.Number == n {
			return offset, p.Size, nil
		}
		offset += p.Size
	}
	return 0, 0, s3err.InvalidPartNumber
}

// copyBody streams an object body to the client through a pooled buffer. A read error after the
// status was sent (a checksum failure) aborts the connection so the client sees a truncated body,
// never wrong bytes; a write error means the client left.
func (h *handler) copyBody(rq *request, rd io.Reader) error {
	bufp := copyBufPool.Get().(*[]byte)
	defer copyBufPool.Put(bufp)
	buf := *bufp
	for {
		n, rerr := rd.Read(buf)
		if n > 0 {
			if _, werr := rq.w.Write(buf[:n]); werr != nil {
				rq.err = fmt.Errorf("write body: %w", werr)
				return nil
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return fmt.Errorf("read %s/%s: %w", rq.bucket, rq.key, rerr)
		}
	}
}

func (h *handler) deleteObject(rq *request) error {
	versionID, err := versionParam(rq)
	if err != nil {
		return err
	}
	res, err := h.store.DeleteObject(rq.ctx, rq.bucket, rq.key, versionID)
	if err != nil {
		return fmt.Errorf("delete %s/%s: %w", rq.bucket, rq.key, err)
	}
	out := rq.w.Header()
	if res.DeleteMarker {
		out.Set("X-Amz-Delete-Marker", "true")
	}
	if versionID != "" {
		out.Set("X-Amz-Version-Id", versionID)
	} else {
		setVersionHeader(out, res.VersionID)
	}
	rq.w.WriteHeader(http.StatusNoContent)
	return nil
}
