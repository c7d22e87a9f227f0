package s3api

import (
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/minicloud/minicloud/internal/object"
	"github.com/minicloud/minicloud/internal/s3err"
)

// Tag limits of S3.
const (
	maxTagKeyLen    = 128 // characters
	maxTagValueLen  = 256 // characters
	maxBucketTags   = 50
	awsReservedTags = "aws:"
)

// validateTags checks S3's tag rules: at most max tags, keys of 1 to 128 characters and values of
// at most 256, valid UTF-8, no key in the reserved aws: namespace.
func validateTags(tags map[string]string, max int) error {
	if len(tags) > max {
		return s3err.InvalidTag.With("Object tags cannot be greater than %d", max)
	}
	for k, v := range tags {
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return s3err.InvalidTag.With("The TagKey or TagValue you have provided is not valid UTF-8.")
		}
		if n := utf8.RuneCountInString(k); n == 0 || n > maxTagKeyLen {
			return s3err.InvalidTag.With("The TagKey you have provided is invalid: it must be 1 to %d characters.", maxTagKeyLen)
		}
		if utf8.RuneCountInString(v) > maxTagValueLen {
			return s3err.InvalidTag.With("The TagValue you have provided is too long: the limit is %d characters.", maxTagValueLen)
		}
		if strings.HasPrefix(strings.ToLower(k), awsReservedTags) {
			return s3err.InvalidTag.With("Your TagKey cannot be prefixed with aws:")
		}
	}
	return nil
}

// parseTagging parses and validates a Tagging document.
func parseTagging(body []byte, max int) (map[string]string, error) {
	var t tagging
	if err := decodeXML(body, &t); err != nil {
		return nil, err
	}
	if t.TagSet == nil {
		return nil, s3err.MalformedXML
	}
	tags := make(map[string]string, len(t.TagSet.Tags))
	for _, tg := range t.TagSet.Tags {
		if tg.Key == nil || tg.Value == nil {
			return nil, s3err.MalformedXML
		}
		if _, dup := tags[*tg.Key]; dup {
			return nil, s3err.InvalidTag.With("Cannot provide multiple Tags with the same key")
		}
		tags[*tg.Key] = *tg.Value
	}
	if err := validateTags(tags, max); err != nil {
		return nil, err
	}
	return tags, nil
}

func taggingDocument(tags map[string]string) taggingResponse {
	out := taggingResponse{Tags: make([]tagOut, 0, len(tags))}
	for _, k := range sortedKeys(tags) {
		out.Tags = append(out.Tags, tagOut{Key: k, Value: tags[k]})
	}
	return out
}

// ---- object tagging ----

func (h *handler) getObjectTagging(rq *request) error {
	tags, vid, err := h.store.GetObjectTagging(rq.ctx, rq.bucket, rq.key, rq.query.Get("versionId"))
	if err != nil {
		return fmt.Errorf("get tagging of %s/%s: %w", rq.bucket, rq.key, err)
	}
	setVersionHeader(rq.w.Header(), vid)
	return writeXML(rq, http.StatusOK, taggingDocument(tags))
}

func (h *handler) putObjectTagging(rq *request) error {
	body, err := readBody(rq, maxXMLBody)
	if err != nil {
		return err
	}
	tags, err := parseTagging(body, object.MaxTags)
	if err != nil {
		return err
	}
	vid, err := h.store.PutObjectTagging(rq.ctx, rq.bucket, rq.key, rq.query.Get("versionId"), tags)
	if err != nil {
		return fmt.Errorf("put tagging of %s/%s: %w", rq.bucket, rq.key, err)
	}
	setVersionHeader(rq.w.Header(), vid)
	rq.w.WriteHeader(http.StatusOK)
	return nil
}

func (h *handler) deleteObjectTagging(rq *request) error {
	vid, err := h.store.PutObjectTagging(rq.ctx, rq.bucket, rq.key, rq.query.Get("versionId"), nil)
	if err != nil {
		return fmt.Errorf("delete tagging of %s/%s: %w", rq.bucket, rq.key, err)
	}
	setVersionHeader(rq.w.Header(), vid)
	rq.w.WriteHeader(http.StatusNoContent)
	return nil
}

// ---- bucket tagging ----

func (h *handler) getBucketTagging(rq *request) error {
	b, err := h.bucket(rq)
	if err != nil {
		return err
	}
	if len(b.Tags) == 0 {
		return s3err.NoSuchTagSet
	}
	return writeXML(rq, http.StatusOK, taggingDocument(b.Tags))
}

func (h *handler) putBucketTagging(rq *request) error {
	body, err := readBody(rq, maxXMLBody)
	if err != nil {
		return err
	}
	tags, err := parseTagging(body, maxBucketTags)
	if err != nil {
		return err
	}
	if err := h.store.UpdateBucket(rq.ctx, rq.bucket, func(b *object.Bucket) error {
		b.Tags = tags
		return nil
	}); err != nil {
		return fmt.Errorf("put tagging of bucket %s: %w", rq.bucket, err)
	}
	rq.w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *handler) deleteBucketTagging(rq *request) error {
	if err := h.store.UpdateBucket(rq.ctx, rq.bucket, func(b *object.Bucket) error {
		b.Tags = nil
		return nil
	}); err != nil {
		return fmt.Errorf("delete tagging of bucket %s: %w", rq.bucket, err)
	}
	rq.w.WriteHeader(http.StatusNoContent)
	return nil
}
