package s3api

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/minicloud/minicloud/internal/iam"
	"github.com/minicloud/minicloud/internal/object"
	"github.com/minicloud/minicloud/internal/s3err"
)

const maxListParts = 1000 // S3's page size for ListParts and ListMultipartUploads

// parsePartNumber parses a partNumber parameter, which S3 bounds to 1..10000.
func parsePartNumber(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > object.MaxPartNumber {
		return 0, s3err.InvalidArgument.With("Part number must be an integer between 1 and %d, inclusive", object.MaxPartNumber)
	}
	return n, nil
}

// uploadParams returns the uploadId and partNumber of UploadPart and UploadPartCopy.
func uploadParams(rq *request) (string, int, error) {
	uploadID := rq.query.Get("uploadId")
	if uploadID == "" {
		return "", 0, s3err.NoSuchUpload
	}
	n, err := parsePartNumber(rq.query.Get("partNumber"))
	return uploadID, n, err
}

func (h *handler) createMultipartUpload(rq *request) error {
	hdr := rq.r.Header
	meta, err := parseMeta(hdr)
	if err != nil {
		return err
	}
	tags, err := parseTaggingHeader(hdr.Get("X-Amz-Tagging"))
	if err != nil {
		return err
	}
	id, err := h.store.CreateMultipartUpload(rq.ctx, rq.bucket, rq.key, object.PutOptions{Meta: meta, Tags: tags})
	if err != nil {
		return fmt.Errorf("create upload of %s/%s: %w", rq.bucket, rq.key, err)
	}
	out := rq.w.Header()
	if alg := hdr.Get("X-Amz-Checksum-Algorithm"); alg != "" {
		out.Set("X-Amz-Checksum-Algorithm", alg)
	}
	if t := hdr.Get("X-Amz-Checksum-Type"); t != "" {
		out.Set("X-Amz-Checksum-Type", t)
	}
	return writeXML(rq, http.StatusOK, initiateMultipartUploadResult{Bucket: rq.bucket, Key: rq.key, UploadID: id})
}

func (h *handler) uploadPart(rq *request) error {
	uploadID, n, err := uploadParams(rq)
	if err != nil {
		return err
	}
	size, err := payloadSize(rq, object.MaxPutSize)
	if err != nil {
		return err
	}
	p, err := h.store.UploadPart(rq.ctx, rq.bucket, rq.key, uploadID, n, rq.body, size, checksumFunc(rq.checksum))
	if err != nil {
		return fmt.Errorf("upload part %d of %s/%s: %w", n, rq.bucket, rq.key, err)
	}
	out := rq.w.Header()
	out.Set("Etag", quoteETag(p.ETag))
	if p.Checksum.Algorithm != "" && p.Checksum.Value != "" {
		out.Set(checksumHeader(p.Checksum.Algorithm), p.Checksum.Value)
	}
	out.Set("Content-Length", "0")
	rq.w.WriteHeader(http.StatusOK)
	return nil
}

func (h *handler) uploadPartCopy(rq *request) error {
	uploadID, n, err := uploadParams(rq)
	if err != nil {
		return err
	}
	hdr := rq.r.Header
	srcBucket, srcKey, srcVersion, err := parseCopySource(hdr.Get("X-Amz-Copy-Source"))
	if err != nil {
		return err
	}
	if !h.allowed(rq.access, srcBucket, iam.ActionRead) {
		return s3err.AccessDenied
	}
	offset, length := int64(0), int64(-1)
	ranged := false
	if v := hdr.Get("X-Amz-Copy-Source-Range"); v != "" {
		first, last, err := parseCopySourceRange(v)
		if err != nil {
			return err
		}
		offset, length, ranged = first, last-first+1, true
	}
	conds := copySourceConditions(hdr)
	var src object.ObjectInfo
	check := func(s object.ObjectInfo) error {
		src = s
		if err := conds.checkCopySource(s.ETag, s.LastModified); err != nil {
			return err
		}
		if ranged && offset+length > s.Size {
			return s3err.InvalidRange.With("Range specified is not valid for source object of size: %d", s.Size)
		}
		if !ranged && s.Size > object.MaxPutSize {
			return s3err.InvalidRequest.With("The specified copy source is larger than the maximum allowable size for a copy source: %d", int64(object.MaxPutSize))
		}
		return nil
	}
	p, err := h.store.UploadPartCopy(rq.ctx, rq.bucket, rq.key, uploadID, n, srcBucket, srcKey, srcVersion, offset, length, check)
	if err != nil {
		return fmt.Errorf("copy part %d of %s/%s from %s/%s: %w", n, rq.bucket, rq.key, srcBucket, srcKey, err)
	}
	if v := srcVersion; v != "" {
		rq.w.Header().Set("X-Amz-Copy-Source-Version-Id", v)
	} else if src.VersionID != "" && src.VersionID != object.NullVersion {
		rq.w.Header().Set("X-Amz-Copy-Source-Version-Id", src.VersionID)
	}
	return writeXML(rq, http.StatusOK, copyPartResult{
		LastModified:   isoTime(p.LastModified),
		ETag:           quoteETag(p.ETag),
		checksumFields: checksumXML(p.Checksum),
	})
}

// parseComplete parses a CompleteMultipartUpload document: at least one part, numbers in range
// and ascending, as S3 checks before it looks at the parts themselves.
func parseComplete(body []byte) ([]object.CompletePart, error) {
	var c completeMultipartUpload
	if err := decodeXML(body, &c); err != nil {
		return nil, err
	}
	if len(c.Parts) == 0 || len(c.Parts) > object.MaxPartNumber {
		return nil, s3err.MalformedXML
	}
	parts := make([]object.CompletePart, len(c.Parts))
	for i, p := range c.Parts {
		if p.PartNumber == nil || p.ETag == "" {
			return nil, s3err.MalformedXML
		}
		n := *p.PartNumber
		if n < 1 || n > object.MaxPartNumber {
			return nil, s3err.InvalidArgument.With("Part number must be an integer between 1 and %d, inclusive", object.MaxPartNumber)
		}
		if i > 0 && n <= parts[i-1].Number {
			return nil, s3err.InvalidPartOrder
		}
		parts[i] = object.CompletePart{Number: n, ETag: p.ETag}
	}
	return parts, nil
}

func (h *handler) completeMultipartUpload(rq *request) error {
	uploadID := rq.query.Get("uploadId")
	if uploadID == "" {
		return s3err.NoSuchUpload
	}
	body, err := readBody(rq, maxCompleteBody)
	if err != nil {
		return err
	}
	parts, err := parseComplete(body)
	if err != nil {
		return err
	}
	info, err := h.store.CompleteMultipartUpload(rq.ctx, rq.bucket, rq.key, uploadID, parts)
	if err != nil {
		return fmt.Errorf("complete upload of %s/%s: %w", rq.bucket, rq.key, err)
	}
	setVersionHeader(rq.w.Header(), info.VersionID)
	return writeXML(rq, http.StatusOK, completeMultipartUploadResult{
		Location:       h.objectURL(rq),
		Bucket:         rq.bucket,
		Key:            rq.key,
		ETag:           quoteETag(info.ETag),
		checksumFields: checksumXML(info.Checksum),
	})
}

// objectURL is the URL of the request's object, as CompleteMultipartUpload reports it.
func (h *handler) objectURL(rq *request) string {
	scheme := "http"
	if rq.r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + rq.r.Host + rq.r.URL.EscapedPath()
}

func (h *handler) abortMultipartUpload(rq *request) error {
	uploadID := rq.query.Get("uploadId")
	if uploadID == "" {
		return s3err.NoSuchUpload
	}
	if err := h.store.AbortMultipartUpload(rq.ctx, rq.bucket, rq.key, uploadID); err != nil {
		return fmt.Errorf("abort upload of %s/%s: %w", rq.bucket, rq.key, err)
	}
	rq.w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *handler) listParts(rq *request) error {
	uploadID := rq.query.Get("uploadId")
	if uploadID == "" {
		return s3err.NoSuchUpload
	}
	marker, err := intParam(rq, "part-number-marker", 0, 0, object.MaxPartNumber)
	if err != nil {
		return err
	}
	maxParts, err := intParam(rq, "max-parts", maxListParts, 0, 1<<31-1)
	if err != nil {
		return err
	}
	res, err := h.store.ListParts(rq.ctx, rq.bucket, rq.key, uploadID, marker, min(maxParts, maxListParts))
	if err != nil {
		return fmt.Errorf("list parts of %s/%s: %w", rq.bucket, rq.key, err)
	}
	out := listPartsResult{
		Bucket: rq.bucket, Key: rq.key, UploadID: uploadID,
		Initiator: siteOwner, Owner: siteOwner, StorageClass: "STANDARD",
		PartNumberMarker: marker, NextPartNumberMarker: res.NextPartNumberMarker,
		MaxParts: maxParts, IsTruncated: res.IsTruncated,
		Parts: make([]partEntry, 0, len(res.Parts)),
	}
	for _, p := range res.Parts {
		out.Parts = append(out.Parts, partEntry{
			PartNumber: p.Number, LastModified: isoTime(p.LastModified), ETag: quoteETag(p.ETag),
			Size: p.Size, checksumFields: checksumXML(p.Checksum),
		})
	}
	if out.NextPartNumberMarker == 0 && len(res.Parts) > 0 {
		out.NextPartNumberMarker = res.Parts[len(res.Parts)-1].Number
	}
	return writeXML(rq, http.StatusOK, out)
}
