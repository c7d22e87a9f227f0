package s3api

import (
	"log/slog"
	"net/http"
	"sync"

	"github.com/minicloud/minicloud/internal/object"
	"github.com/minicloud/minicloud/internal/s3err"
)

// deleteWorkers bounds how many keys of one DeleteObjects are deleted at once: enough for the
// object layer to batch their fsyncs, few enough not to starve other requests.
const deleteWorkers = 8

// parseDelete parses a Delete document: 1 to 1000 objects, each with a key.
func parseDelete(body []byte) (deleteRequest, error) {
	var d deleteRequest
	if err := decodeXML(body, &d); err != nil {
		return d, err
	}
	if len(d.Objects) == 0 || len(d.Objects) > maxDeleteObjects {
		return d, s3err.MalformedXML
	}
	for _, o := range d.Objects {
		if o.Key == nil {
			return d, s3err.MalformedXML
		}
	}
	return d, nil
}

// hasIntegrityHeader reports whether a request carries Content-MD5 or an x-amz-checksum, which
// S3 requires of DeleteObjects.
func hasIntegrityHeader(h http.Header) bool {
	if h.Get("Content-Md5") != "" || h.Get("X-Amz-Sdk-Checksum-Algorithm") != "" || h.Get("X-Amz-Trailer") != "" {
		return true
	}
	for k := range h {
		if len(k) > len("X-Amz-Checksum-") && k[:len("X-Amz-Checksum-")] == "X-Amz-Checksum-" &&
			k != "X-Amz-Checksum-Mode" && k != "X-Amz-Checksum-Algorithm" && k != "X-Amz-Checksum-Type" {
			return true
		}
	}
	return false
}

func (h *handler) deleteObjects(rq *request) error {
	if !hasIntegrityHeader(rq.r.Header) {
		return s3err.InvalidRequest.With("Missing required header for this request: Content-MD5 OR x-amz-checksum-*")
	}
	body, err := readBody(rq, maxDeleteBody)
	if err != nil {
		return err
	}
	d, err := parseDelete(body)
	if err != nil {
		return err
	}
	// A missing bucket fails the whole request, not each key.
	if _, err := h.bucket(rq); err != nil {
		return err
	}

	type outcome struct {
		res object.DeleteResult
		err error
	}
	results := make([]outcome, len(d.Objects))
	var wg sync.WaitGroup
	next := make(chan int)
	for range min(deleteWorkers, len(d.Objects)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				o := d.Objects[i]
				if len(*o.Key) > object.MaxKeyLength {
					results[i].err = s3err.KeyTooLong
					continue
				}
				if *o.Key == "" {
					results[i].err = s3err.InvalidArgument.With("The key of an object to delete cannot be empty.")
					continue
				}
				results[i].res, results[i].err = h.store.DeleteObject(rq.ctx, rq.bucket, *o.Key, o.VersionID)
			}
		}()
	}
	for i := range d.Objects {
		next <- i
	}
	close(next)
	wg.Wait()

	var out deleteResult
	for i, o := range d.Objects {
		r := results[i]
		if r.err != nil {
			e, internal := toS3(r.err)
			if internal {
				h.log.Error("delete failed", slog.String("op", rq.name), slog.String("bucket", rq.bucket),
					slog.String("key", logKey(*o.Key)), slog.String("request_id", rq.id), slog.Any("err", r.err))
			}
			out.Errors = append(out.Errors, deleteError{Key: *o.Key, VersionID: o.VersionID, Code: e.Code, Message: e.Message})
			continue
		}
		if d.Quiet {
			continue
		}
		de := deletedEntry{Key: *o.Key, VersionID: o.VersionID}
		if r.res.DeleteMarker {
			de.DeleteMarker = true
			de.DeleteMarkerVersionID = r.res.VersionID
		}
		out.Deleted = append(out.Deleted, de)
	}
	return writeXML(rq, http.StatusOK, out)
}
