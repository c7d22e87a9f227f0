package s3api

import (
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/minicloud/minicloud/internal/object"
	"github.com/minicloud/minicloud/internal/s3err"
)

const metaPrefix = "X-Amz-Meta-" // canonical form, as net/http stores header names

// parseMeta reads the content headers and x-amz-meta-* of a PUT, CopyObject (REPLACE) or
// CreateMultipartUpload, and refuses what minicloud cannot honour rather than ignore it.
func parseMeta(h http.Header) (object.Meta, error) {
	m := object.Meta{
		ContentType:        h.Get("Content-Type"),
		ContentEncoding:    h.Get("Content-Encoding"),
		ContentDisposition: h.Get("Content-Disposition"),
		ContentLanguage:    h.Get("Content-Language"),
		CacheControl:       h.Get("Cache-Control"),
		Expires:            h.Get("Expires"),
	}
	// aws-chunked is the transfer framing of a streaming upload, not the object's encoding.
	m.ContentEncoding = stripAWSChunked(m.ContentEncoding)
	size := 0
	for k, v := range h {
		if len(k) <= len(metaPrefix) || !strings.EqualFold(k[:len(metaPrefix)], metaPrefix) {
			continue
		}
		name := strings.ToLower(k[len(metaPrefix):])
		val := strings.Join(v, ",")
		if m.User == nil {
			m.User = make(map[string]string)
		}
		m.User[name] = val
		size += len(name) + len(val)
	}
	if size > object.MaxUserMetaBytes {
		return object.Meta{}, s3err.MetadataTooLarge.With("Your metadata headers exceed the maximum allowed metadata size: %d bytes of user metadata, the limit is %d.", size, object.MaxUserMetaBytes)
	}
	sc, err := storageClass(h)
	if err != nil {
		return object.Meta{}, err
	}
	m.StorageClass = sc
	if err := unsupportedWriteHeaders(h); err != nil {
		return object.Meta{}, err
	}
	return m, nil
}

func stripAWSChunked(ce string) string {
	if !strings.Contains(ce, "aws-chunked") {
		return ce
	}
	var keep []string
	for _, p := range strings.Split(ce, ",") {
		if p = strings.TrimSpace(p); p != "" && p != "aws-chunked" {
			keep = append(keep, p)
		}
	}
	return strings.Join(keep, ",")
}

// storageClass validates x-amz-storage-class. Only STANDARD is stored as asked: the archive
// classes would promise restore semantics that minicloud does not have.
func storageClass(h http.Header) (string, error) {
	sc := h.Get("X-Amz-Storage-Class")
	switch sc {
	case "", "STANDARD":
		return "", nil
	case "REDUCED_REDUNDANCY", "STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING", "GLACIER",
		"DEEP_ARCHIVE", "OUTPOSTS", "GLACIER_IR", "SNOW", "EXPRESS_ONEZONE", "FSX_OPENZFS":
		return "", s3err.NotImplemented.With("Storage class %s is not supported by minicloud; use STANDARD.", sc)
	}
	return "", s3err.InvalidStorageClass
}

// unsupportedWriteHeaders refuses write headers whose promise minicloud would not keep.
func unsupportedWriteHeaders(h http.Header) error {
	if v := h.Get("X-Amz-Server-Side-Encryption"); v != "" {
		return s3err.NotImplemented.With("Server-side encryption (%s) is not supported by minicloud.", v)
	}
	if h.Get("X-Amz-Server-Side-Encryption-Customer-Algorithm") != "" {
		return s3err.NotImplemented.With("Server-side encryption with customer keys is not supported by minicloud.")
	}
	if h.Get("X-Amz-Website-Redirect-Location") != "" {
		return s3err.NotImplemented.With("Website redirects are not supported by minicloud.")
	}
	if h.Get("X-Amz-Object-Lock-Mode") != "" || h.Get("X-Amz-Object-Lock-Retain-Until-Date") != "" ||
		h.Get("X-Amz-Object-Lock-Legal-Hold") != "" {
		return s3err.InvalidRequest.With("Bucket is missing Object Lock Configuration")
	}
	return cannedACL(h.Get("X-Amz-Acl"))
}

// cannedACL accepts the canned ACLs that describe what minicloud does anyway: objects belong to
// the bucket owner and are private unless the bucket policy makes them public.
func cannedACL(acl string) error {
	switch acl {
	case "", "private", "bucket-owner-full-control", "bucket-owner-read":
		return nil
	}
	return s3err.NotImplemented.With("Canned ACL %q is not supported by minicloud: objects are private; make a bucket public-read with a bucket policy.", acl)
}

// parseTaggingHeader parses x-amz-tagging, URL-query encoded tags.
func parseTaggingHeader(v string) (map[string]string, error) {
	if v == "" {
		return nil, nil
	}
	q, err := url.ParseQuery(v)
	if err != nil {
		return nil, s3err.InvalidArgument.With("The header 'x-amz-tagging' shall be encoded as UTF-8 then URLEncoded URL query parameters without tag name duplicates.")
	}
	tags := make(map[string]string, len(q))
	for k, vs := range q {
		if len(vs) > 1 {
			return nil, s3err.InvalidArgument.With("The header 'x-amz-tagging' shall be encoded as UTF-8 then URLEncoded URL query parameters without tag name duplicates.")
		}
		tags[k] = vs[0]
	}
	if err := validateTags(tags, object.MaxTags); err != nil {
		return nil, err
	}
	return tags, nil
}

// setObjectHeaders writes the headers that describe a version on GET and HEAD.
func setObjectHeaders(hdr http.Header, info *object.ObjectInfo) {
	hdr.Set("Last-Modified", httpTime(info.LastModified))
	hdr.Set("Etag", quoteETag(info.ETag))
	hdr.Set("Accept-Ranges", "bytes")
	ct := info.Meta.ContentType
	if ct == "" {
		ct = "binary/octet-stream" // what S3 reports for an object stored without a type
	}
	hdr.Set("Content-Type", ct)
	setIf(hdr, "Content-Encoding", info.Meta.ContentEncoding)
	setIf(hdr, "Content-Disposition", info.Meta.ContentDisposition)
	setIf(hdr, "Content-Language", info.Meta.ContentLanguage)
	setIf(hdr, "Cache-Control", info.Meta.CacheControl)
	setIf(hdr, "Expires", info.Meta.Expires)
	if info.Meta.StorageClass != "" && info.Meta.StorageClass != "STANDARD" {
		hdr.Set("X-Amz-Storage-Class", info.Meta.StorageClass)
	}
	for k, v := range info.Meta.User {
		// Lower-case names, as S3 returns them; set directly to bypass canonicalization.
		hdr["x-amz-meta-"+k] = []string{v}
	}
	setVersionHeader(hdr, info.VersionID)
	if info.TagCount > 0 {
		hdr.Set("X-Amz-Tagging-Count", strconv.Itoa(info.TagCount))
	}
}

// setVersionHeader sets x-amz-version-id for versions that have a real id; S3 omits it for
// objects of buckets that were never versioned.
func setVersionHeader(hdr http.Header, versionID string) {
	if versionID != "" && versionID != object.NullVersion {
		hdr.Set("X-Amz-Version-Id", versionID)
	}
}

func setIf(hdr http.Header, k, v string) {
	if v != "" {
		hdr.Set(k, v)
	}
}

// checksumHeader returns the x-amz-checksum-* header name of an algorithm.
func checksumHeader(algorithm string) string {
	return "X-Amz-Checksum-" + strings.ToLower(algorithm)
}

// setChecksumHeaders sets x-amz-checksum-<alg> and x-amz-checksum-type for a stored checksum.
func setChecksumHeaders(hdr http.Header, c object.Checksum) {
	if c.Algorithm == "" || c.Value == "" {
		return
	}
	hdr.Set(checksumHeader(c.Algorithm), c.Value)
	hdr.Set("X-Amz-Checksum-Type", checksumType(c))
}

// checksumType tells a whole-object checksum from a checksum of part checksums ("...-N").
func checksumType(c object.Checksum) string {
	if i := strings.LastIndexByte(c.Value, '-'); i > 0 {
		if _, err := strconv.Atoi(c.Value[i+1:]); err == nil {
			return "COMPOSITE"
		}
	}
	return "FULL_OBJECT"
}

// checksumXML fills the Checksum* elements of a response document.
func checksumXML(c object.Checksum) checksumFields {
	var f checksumFields
	switch strings.ToUpper(c.Algorithm) {
	case "CRC32":
		f.ChecksumCRC32 = c.Value
	case "CRC32C":
		f.ChecksumCRC32C = c.Value
	case "CRC64NVME":
		f.ChecksumCRC64NVME = c.Value
	case "SHA1":
		f.ChecksumSHA1 = c.Value
	case "SHA256":
		f.ChecksumSHA256 = c.Value
	default:
		return f
	}
	f.ChecksumType = checksumType(c)
	return f
}

// checksumFunc adapts the SigV4 layer's checksum to the object layer's.
func checksumFunc(f func() (string, string)) func() object.Checksum {
	if f == nil {
		return nil
	}
	return func() object.Checksum {
		a, v := f()
		return object.Checksum{Algorithm: strings.ToUpper(a), Value: v}
	}
}

// sortedKeys returns a map's keys in order, for stable documents.
func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
