package s3api

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/minicloud/minicloud/internal/iam"
	"github.com/minicloud/minicloud/internal/object"
	"github.com/minicloud/minicloud/internal/s3err"
)

// parseCopySource parses x-amz-copy-source: "[/]bucket/key[?versionId=id]", URL-encoded.
func parseCopySource(v string) (bucket, key, versionID string, err error) {
	if strings.HasPrefix(v, "arn:") {
		return "", "", "", s3err.NotImplemented.With("Access point ARNs as copy sources are not supported by minicloud.")
	}
	path, vid, hasVersion := strings.Cut(v, "?versionId=")
	if hasVersion && vid == "" {
		return "", "", "", s3err.InvalidArgument.With("Version id cannot be the empty string")
	}
	path, uerr := url.PathUnescape(path)
	if uerr != nil {
		return "", "", "", s3err.InvalidArgument.With("Invalid copy source encoding.")
	}
	path = strings.TrimPrefix(path, "/")
	bucket, key, ok := strings.Cut(path, "/")
	if !ok || bucket == "" || key == "" {
		return "", "", "", s3err.InvalidArgument.With("Copy Source must mention the source bucket and key: sourcebucket/sourcekey.")
	}
	if len(key) > object.MaxKeyLength {
		return "", "", "", s3err.KeyTooLong
	}
	return bucket, key, vid, nil
}

// directive reads x-amz-metadata-directive or x-amz-tagging-directive: COPY (default) or REPLACE.
func directive(h http.Header, name string) (replace bool, err error) {
	switch v := h.Get(name); v {
	case "", "COPY":
		return false, nil
	case "REPLACE":
		return true, nil
	default:
		return false, s3err.InvalidArgument.With("Unknown %s: %q.", strings.ToLower(name), v)
	}
}

// copyObject serves CopyObject: the object layer copies the version's record without its data.
func (h *handler) copyObject(rq *request) error {
	hdr := rq.r.Header
	srcBucket, srcKey, srcVersion, err := parseCopySource(hdr.Get("X-Amz-Copy-Source"))
	if err != nil {
		return err
	}
	if !h.allowed(rq.access, srcBucket, iam.ActionRead) {
		return s3err.AccessDenied
	}
	replaceMeta, err := directive(hdr, "X-Amz-Metadata-Directive")
	if err != nil {
		return err
	}
	replaceTags, err := directive(hdr, "X-Amz-Tagging-Directive")
	if err != nil {
		return err
	}
	opts := object.CopyOptions{ReplaceMeta: replaceMeta, ReplaceTags: replaceTags}
	if replaceMeta {
		if opts.Meta, err = parseMeta(hdr); err != nil {
			return err
		}
	} else {
		if _, err := storageClass(hdr); err != nil {
			return err
		}
		if err := unsupportedWriteHeaders(hdr); err != nil {
			return err
		}
	}
	if replaceTags {
		if opts.Tags, err = parseTaggingHeader(hdr.Get("X-Amz-Tagging")); err != nil {
			return err
		}
	}
	if srcBucket == rq.bucket && srcKey == rq.key && srcVersion == "" && !replaceMeta {
		return s3err.InvalidRequest.With("This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.")
	}
	conds := copySourceConditions(hdr)
	var src object.ObjectInfo
	opts.Check = func(s object.ObjectInfo) error {
		src = s
		if s.Size > object.MaxPutSize {
			return s3err.InvalidRequest.With("The specified copy source is larger than the maximum allowable size for a copy source: %d", int64(object.MaxPutSize))
		}
		return conds.checkCopySource(s.ETag, s.LastModified)
	}
	info, err := h.store.CopyObject(rq.ctx, srcBucket, srcKey, srcVersion, rq.bucket, rq.key, opts)
	if err != nil {
		return fmt.Errorf("copy %s/%s to %s/%s: %w", srcBucket, srcKey, rq.bucket, rq.key, err)
	}
	out := rq.w.Header()
	setVersionHeader(out, info.VersionID)
	if srcVersion != "" {
		out.Set("X-Amz-Copy-Source-Version-Id", srcVersion)
	} else if src.VersionID != "" && src.VersionID != object.NullVersion {
		out.Set("X-Amz-Copy-Source-Version-Id", src.VersionID)
	}
	return writeXML(rq, http.StatusOK, copyObjectResult{
		LastModified:   isoTime(info.LastModified),
		ETag:           quoteETag(info.ETag),
		checksumFields: checksumXML(info.Checksum),
	})
}
