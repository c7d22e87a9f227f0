package s3api

import (
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/minicloud/minicloud/internal/object"
	"github.com/minicloud/minicloud/internal/s3err"
)

const maxListKeys = 1000 // S3 returns at most 1000 entries per page whatever max-keys says

// intParam parses an integer query parameter within [lo, hi], def when absent.
func intParam(rq *request, name string, def, lo, hi int) (int, error) {
	s, ok := rq.query[name]
	if !ok || len(s) == 0 || s[0] == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s[0])
	if err != nil {
		return 0, s3err.InvalidArgument.With("Provided %s not an integer or within integer range", name)
	}
	if n < lo || n > hi {
		return 0, s3err.InvalidArgument.With("Argument %s must be an integer between %d and %d", name, lo, hi)
	}
	return n, nil
}

// encoder applies encoding-type=url to the keys and prefixes of a listing.
type encoder bool

func encodingType(rq *request) (encoder, error) {
	switch v := rq.query.Get("encoding-type"); v {
	case "":
		return false, nil
	case "url":
		return true, nil
	default:
		return false, s3err.InvalidArgument.With("Invalid Encoding Method specified in Request")
	}
}

func (e encoder) s(v string) string {
	if !e {
		return v
	}
	return s3URLEncode(v)
}

func (e encoder) typ() string {
	if e {
		return "url"
	}
	return ""
}

// s3URLEncode encodes a key as S3 does for encoding-type=url: unreserved characters and '/'
// stay, a space becomes '+', every other byte is %XX.
func s3URLEncode(s string) string {
	const hex = "0123456789ABCDEF"
	n := 0
	for i := 0; i < len(s); i++ {
		if !keepInURL(s[i]) && s[i] != ' ' {
			n++
		}
	}
	if n == 0 && !containsSpace(s) {
		return s
	}
	b := make([]byte, 0, len(s)+2*n)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case keepInURL(c):
			b = append(b, c)
		case c == ' ':
			b = append(b, '+')
		default:
			b = append(b, '%', hex[c>>4], hex[c&15])
		}
	}
	return string(b)
}

func keepInURL(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '-' || c == '_' || c == '.' || c == '~' || c == '/'
}

func containsSpace(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == ' ' {
			return true
		}
	}
	return false
}

func (e encoder) prefixes(ps []string) []commonPrefix {
	out := make([]commonPrefix, len(ps))
	for i, p := range ps {
		out[i] = commonPrefix{Prefix: e.s(p)}
	}
	return out
}

func (e encoder) contents(objs []object.ObjectInfo, withOwner bool) []objectEntry {
	out := make([]objectEntry, len(objs))
	for i := range objs {
		o := &objs[i]
		out[i] = objectEntry{
			Key:               e.s(o.Key),
			LastModified:      isoTime(o.LastModified),
			ETag:              quoteETag(o.ETag),
			ChecksumAlgorithm: o.Checksum.Algorithm,
			Size:              o.Size,
			StorageClass:      "STANDARD",
		}
		if withOwner {
			out[i].Owner = &siteOwner
		}
	}
	return out
}

// listParams are the parameters common to ListObjects v1 and v2.
type listParams struct {
	prefix, delimiter string
	maxKeys           int
	enc               encoder
}

func parseListParams(rq *request) (listParams, error) {
	var p listParams
	var err error
	if p.maxKeys, err = intParam(rq, "max-keys", maxListKeys, 0, 1<<31-1); err != nil {
		return p, err
	}
	if p.enc, err = encodingType(rq); err != nil {
		return p, err
	}
	p.prefix, p.delimiter = rq.query.Get("prefix"), rq.query.Get("delimiter")
	return p, nil
}

// list runs one page of a listing. max-keys 0 answers an empty page, after checking the bucket.
func (h *handler) list(rq *request, p listParams, marker string) (object.ListResult, error) {
	if p.maxKeys == 0 {
		_, err := h.bucket(rq)
		return object.ListResult{}, err
	}
	res, err := h.store.ListObjects(rq.ctx, rq.bucket, object.ListOptions{
		Prefix: p.prefix, Delimiter: p.delimiter, Marker: marker, MaxKeys: min(p.maxKeys, maxListKeys),
	})
	if err != nil {
		return res, fmt.Errorf("list %s: %w", rq.bucket, err)
	}
	return res, nil
}

func (h *handler) listObjects(rq *request) error {
	p, err := parseListParams(rq)
	if err != nil {
		return err
	}
	marker := rq.query.Get("marker")
	res, err := h.list(rq, p, marker)
	if err != nil {
		return err
	}
	out := listBucketResult{
		Name: rq.bucket, Prefix: p.enc.s(p.prefix), Marker: p.enc.s(marker), MaxKeys: p.maxKeys,
		Delimiter: p.enc.s(p.delimiter), IsTruncated: res.IsTruncated,
		Contents: p.enc.contents(res.Objects, true), CommonPrefixes: p.enc.prefixes(res.CommonPrefixes),
		EncodingType: p.enc.typ(),
	}
	// AWS sends NextMarker only with a delimiter; without one the last key is the marker.
	if res.IsTruncated && p.delimiter != "" {
		out.NextMarker = p.enc.s(res.NextMarker)
	}
	return writeXML(rq, http.StatusOK, out)
}

// Continuation tokens are opaque to clients: the base64 of the key to continue after.
func encodeToken(marker string) string { return base64.RawURLEncoding.EncodeToString([]byte(marker)) }

func decodeToken(tok string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return "", s3err.InvalidArgument.With("The continuation token provided is incorrect")
	}
	return string(b), nil
}

func (h *handler) listObjectsV2(rq *request) error {
	if v := rq.query.Get("list-type"); v != "2" {
		return s3err.InvalidArgument.With("Invalid list type specified: %q", v)
	}
	p, err := parseListParams(rq)
	if err != nil {
		return err
	}
	token, hasToken := rq.query["continuation-token"]
	startAfter := rq.query.Get("start-after")
	marker := startAfter
	if hasToken {
		if len(token) == 0 || token[0] == "" {
			return s3err.InvalidArgument.With("The continuation token provided is incorrect")
		}
		if marker, err = decodeToken(token[0]); err != nil {
			return err
		}
	}
	res, err := h.list(rq, p, marker)
	if err != nil {
		return err
	}
	out := listBucketResultV2{
		Name: rq.bucket, Prefix: p.enc.s(p.prefix), StartAfter: p.enc.s(startAfter),
		KeyCount: len(res.Objects) + len(res.CommonPrefixes), MaxKeys: p.maxKeys,
		Delimiter: p.enc.s(p.delimiter), IsTruncated: res.IsTruncated,
		Contents:       p.enc.contents(res.Objects, strings.EqualFold(rq.query.Get("fetch-owner"), "true")),
		CommonPrefixes: p.enc.prefixes(res.CommonPrefixes), EncodingType: p.enc.typ(),
	}
	if hasToken {
		out.ContinuationToken = token[0]
	}
	if res.IsTruncated {
		out.NextContinuationToken = encodeToken(res.NextMarker)
	}
	return writeXML(rq, http.StatusOK, out)
}

func (h *handler) listObjectVersions(rq *request) error {
	p, err := parseListParams(rq)
	if err != nil {
		return err
	}
	keyMarker, vidMarker := rq.query.Get("key-marker"), rq.query.Get("version-id-marker")
	if vidMarker != "" && keyMarker == "" {
		return s3err.InvalidArgument.With("A version-id marker cannot be specified without a key marker.")
	}
	var res object.VersionListResult
	if p.maxKeys == 0 {
		if _, err := h.bucket(rq); err != nil {
			return err
		}
	} else {
		res, err = h.store.ListObjectVersions(rq.ctx, rq.bucket, object.VersionListOptions{
			Prefix: p.prefix, Delimiter: p.delimiter, KeyMarker: keyMarker, VersionIDMarker: vidMarker,
			MaxKeys: min(p.maxKeys, maxListKeys),
		})
		if err != nil {
			return fmt.Errorf("list versions of %s: %w", rq.bucket, err)
		}
	}
	out := listVersionsResult{
		Name: rq.bucket, Prefix: p.enc.s(p.prefix), KeyMarker: p.enc.s(keyMarker), VersionIDMarker: vidMarker,
		MaxKeys: p.maxKeys, Delimiter: p.enc.s(p.delimiter), IsTruncated: res.IsTruncated,
		Entries:        make([]versionEntry, 0, len(res.Versions)),
		CommonPrefixes: p.enc.prefixes(res.CommonPrefixes), EncodingType: p.enc.typ(),
	}
	if res.IsTruncated {
		out.NextKeyMarker, out.NextVersionIDMarker = p.enc.s(res.NextKeyMarker), res.NextVersionIDMarker
	}
	for i := range res.Versions {
		v := &res.Versions[i]
		e := versionEntry{
			Key: p.enc.s(v.Key), VersionID: v.VersionID, IsLatest: v.IsLatest,
			LastModified: isoTime(v.LastModified), Owner: siteOwner,
		}
		if v.VersionID == "" {
			e.VersionID = object.NullVersion
		}
		if v.DeleteMarker {
			e.XMLName = xml.Name{Local: "DeleteMarker"}
		} else {
			e.XMLName = xml.Name{Local: "Version"}
			size := v.Size
			e.ETag, e.Size, e.StorageClass = quoteETag(v.ETag), &size, "STANDARD"
			e.ChecksumAlgorithm = v.Checksum.Algorithm
		}
		out.Entries = append(out.Entries, e)
	}
	return writeXML(rq, http.StatusOK, out)
}

func (h *handler) listMultipartUploads(rq *request) error {
	maxUploads, err := intParam(rq, "max-uploads", maxListParts, 0, 1<<31-1)
	if err != nil {
		return err
	}
	enc, err := encodingType(rq)
	if err != nil {
		return err
	}
	q := rq.query
	opts := object.UploadListOptions{
		Prefix: q.Get("prefix"), Delimiter: q.Get("delimiter"), KeyMarker: q.Get("key-marker"),
		UploadIDMarker: q.Get("upload-id-marker"), MaxUploads: min(maxUploads, maxListParts),
	}
	var res object.UploadListResult
	if maxUploads == 0 {
		if _, err := h.bucket(rq); err != nil {
			return err
		}
	} else if res, err = h.store.ListMultipartUploads(rq.ctx, rq.bucket, opts); err != nil {
		return fmt.Errorf("list uploads of %s: %w", rq.bucket, err)
	}
	out := listMultipartUploadsResult{
		Bucket: rq.bucket, KeyMarker: enc.s(opts.KeyMarker), UploadIDMarker: opts.UploadIDMarker,
		Delimiter: enc.s(opts.Delimiter), Prefix: enc.s(opts.Prefix), MaxUploads: maxUploads,
		IsTruncated: res.IsTruncated, Uploads: make([]uploadEntry, 0, len(res.Uploads)),
		CommonPrefixes: enc.prefixes(res.CommonPrefixes), EncodingType: enc.typ(),
	}
	if res.IsTruncated {
		out.NextKeyMarker, out.NextUploadIDMarker = enc.s(res.NextKeyMarker), res.NextUploadIDMarker
	}
	for _, u := range res.Uploads {
		out.Uploads = append(out.Uploads, uploadEntry{
			Key: enc.s(u.Key), UploadID: u.UploadID, Initiator: siteOwner, Owner: siteOwner,
			StorageClass: "STANDARD", Initiated: isoTime(u.Initiated),
		})
	}
	return writeXML(rq, http.StatusOK, out)
}
