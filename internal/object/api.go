// Package object holds S3 bucket, object, version and multipart semantics over minicloud's storage:
// version records with hybrid-logical-clock timestamps, inline data for small objects and
// content-addressed chunks for large ones. It knows nothing of HTTP; the S3 API maps requests onto it.
package object

import (
	"io"
	"time"

	"github.com/minicloud/minicloud/internal/s3err"
)

// Limits that S3 clients rely on.
const (
	MaxKeyLength     = 1024
	MaxPutSize       = 5 << 30 // 5 GiB single PUT
	MaxPartNumber    = 10000
	MinPartSize      = 5 << 20 // every part but the last
	MaxObjectSize    = 5 << 40 // 5 TiB
	MaxUserMetaBytes = 2 << 10 // user metadata, keys + values
	MaxTags          = 10
)

// Errors the object layer returns; they are S3 errors so the API maps them with no table of its own.
var (
	ErrNoSuchBucket          = s3err.NoSuchBucket
	ErrBucketExists          = s3err.BucketAlreadyOwnedByYou
	ErrBucketNotEmpty        = s3err.BucketNotEmpty
	ErrInvalidBucketName     = s3err.InvalidBucketName
	ErrNoSuchKey             = s3err.NoSuchKey
	ErrNoSuchVersion         = s3err.NoSuchVersion
	ErrKeyTooLong            = s3err.KeyTooLong
	ErrNoSuchUpload          = s3err.NoSuchUpload
	ErrInvalidPart           = s3err.InvalidPart
	ErrInvalidPartOrder      = s3err.InvalidPartOrder
	ErrEntityTooSmall        = s3err.EntityTooSmall
	ErrEntityTooLarge        = s3err.EntityTooLarge
	ErrIncompleteBody        = s3err.IncompleteBody
	ErrInvalidRange          = s3err.InvalidRange
	ErrMethodNotAllowed      = s3err.MethodNotAllowed // e.g. GET of a delete marker by version id
	ErrNoSuchCORS            = s3err.NoSuchCORSConfiguration
	ErrNoSuchPolicy          = s3err.NoSuchBucketPolicy
	ErrCorrupt               = s3err.InternalError.With("The stored data failed its checksum; a healthy copy is needed.")
	ErrInvalidArgument       = s3err.InvalidArgument
	ErrMetadataTooLarge      = s3err.MetadataTooLarge
	ErrInvalidTag            = s3err.InvalidTag
	ErrInvalidVersioningArgs = s3err.MalformedXML
	ErrPreconditionFailed    = s3err.PreconditionFailed
	ErrInvalidPartNumber     = s3err.InvalidPartNumber
)

// Versioning states of a bucket, as S3 names them ("" = never enabled).
const (
	VersioningEnabled   = "Enabled"
	VersioningSuspended = "Suspended"
)

// NullVersion is the version id S3 reports for objects written while versioning was off.
const NullVersion = "null"

// CORSRule is one rule of a bucket's CORS configuration.
type CORSRule struct {
	ID             string   `json:"id,omitempty"`
	AllowedOrigins []string `json:"origins"`
	AllowedMethods []string `json:"methods"`
	AllowedHeaders []string `json:"headers,omitempty"`
	ExposeHeaders  []string `json:"expose,omitempty"`
	MaxAgeSeconds  int      `json:"maxAge,omitempty"`
}

// Bucket is a bucket's configuration.
type Bucket struct {
	Name       string     `json:"name"`
	Created    time.Time  `json:"created"`
	Location   string     `json:"location,omitempty"` // region or site named at creation
	Versioning string     `json:"versioning,omitempty"`
	CORS       []CORSRule `json:"cors,omitempty"`
	// Policy is the bucket policy document as the client sent it; the S3 API accepts only forms it
	// understands and records what they grant in PublicRead/PublicList.
	Policy     []byte            `json:"policy,omitempty"`
	PublicRead bool              `json:"publicRead,omitempty"` // anonymous GET/HEAD of objects
	PublicList bool              `json:"publicList,omitempty"` // anonymous LIST
	Tags       map[string]string `json:"tags,omitempty"`
	// TS orders changes to the bucket across nodes (last writer wins); Deleted is the tombstone
	// that keeps a deleted bucket deleted on nodes that missed the delete.
	TS      uint64 `json:"ts,omitempty"`
	Deleted bool   `json:"deleted,omitempty"`
	// Sites hosting the bucket: each keeps RF copies; writes in one are shipped to the others.
	Sites []string `json:"sites,omitempty"`
	// Sync lists upstream S3 endpoints that receive a copy of every change.
	Sync []SyncTarget `json:"sync,omitempty"`
}

// SyncTarget is an upstream S3 bucket a minicloud bucket replicates to.
type SyncTarget struct {
	ID        string `json:"id"`
	Endpoint  string `json:"endpoint"` // URL, e.g. https://s3.amazonaws.com or http://10.1.2.3:9000
	Bucket    string `json:"bucket"`
	Prefix    string `json:"prefix,omitempty"`
	Region    string `json:"region,omitempty"`
	AccessKey string `json:"accessKey"`
	SecretKey string `json:"secretKey,omitempty"`
}

// Meta is what a client says about an object's content when it writes it.
type Meta struct {
	ContentType        string            `json:"ct,omitempty"`
	ContentEncoding    string            `json:"ce,omitempty"`
	ContentDisposition string            `json:"cd,omitempty"`
	ContentLanguage    string            `json:"cl,omitempty"`
	CacheControl       string            `json:"cc,omitempty"`
	Expires            string            `json:"ex,omitempty"`
	StorageClass       string            `json:"sc,omitempty"`
	User               map[string]string `json:"um,omitempty"` // x-amz-meta-* with the prefix removed, keys lower-case
}

// Checksum is an x-amz-checksum-* value: Algorithm is CRC32, CRC32C, SHA1 or SHA256 (upper-case),
// Value the base64 of the digest. A multipart object's value has a "-N" suffix as in AWS.
type Checksum struct {
	Algorithm string `json:"a,omitempty"`
	Value     string `json:"v,omitempty"`
}

// ObjectInfo describes one version of an object (or a delete marker).
type ObjectInfo struct {
	Bucket       string
	Key          string
	VersionID    string // NullVersion for a version written while versioning was off
	IsLatest     bool
	DeleteMarker bool
	Size         int64
	ETag         string // without quotes; "hex" or "hex-N" for multipart
	LastModified time.Time
	Meta         Meta
	Checksum     Checksum
	TagCount     int
	PartCount    int // 0 for a single PUT
}

// PutOptions carries what a PUT or CreateMultipartUpload states beyond the data.
type PutOptions struct {
	Meta Meta
	Tags map[string]string
	// Checksum, if not nil, is called once the body reader has returned io.EOF (the value may come
	// from an HTTP trailer); the reader has verified it by then. The result is stored with the object.
	Checksum func() Checksum
	// IfNoneMatchStar makes the PUT fail with PreconditionFailed when the key exists (If-None-Match: *).
	IfNoneMatchStar bool
	// IfMatch, if set, makes the PUT fail with PreconditionFailed unless the current ETag matches.
	IfMatch string
}

// CopyOptions controls CopyObject.
type CopyOptions struct {
	// Meta replaces the source's metadata when ReplaceMeta is set (x-amz-metadata-directive: REPLACE).
	ReplaceMeta bool
	Meta        Meta
	// Tags replace the source's tags when ReplaceTags is set (x-amz-tagging-directive: REPLACE).
	ReplaceTags bool
	Tags        map[string]string
	// Check, if not nil, is called with the source version before anything is written; an error
	// from it (e.g. PreconditionFailed for x-amz-copy-source-if-*) aborts the copy.
	Check func(src ObjectInfo) error
}

// ListOptions selects a page of ListObjects (v1 and v2: the API layer maps marker, start-after and
// continuation tokens onto Marker).
type ListOptions struct {
	Prefix    string
	Delimiter string
	Marker    string // list keys strictly after this one
	MaxKeys   int    // 0 means 1000
}

// ListResult is one page of keys and common prefixes, in key order.
type ListResult struct {
	Objects        []ObjectInfo
	CommonPrefixes []string
	IsTruncated    bool
	NextMarker     string // last key or common prefix returned, when truncated
}

// VersionListOptions selects a page of ListObjectVersions.
type VersionListOptions struct {
	Prefix          string
	Delimiter       string
	KeyMarker       string
	VersionIDMarker string
	MaxKeys         int
}

// VersionListResult is one page of versions and delete markers, newest first within a key.
type VersionListResult struct {
	Versions            []ObjectInfo
	CommonPrefixes      []string
	IsTruncated         bool
	NextKeyMarker       string
	NextVersionIDMarker string
}

// DeleteResult tells what a DeleteObject did.
type DeleteResult struct {
	VersionID    string // the version removed, or the delete marker created
	DeleteMarker bool   // a delete marker was created, or the removed version was one
}

// PartInfo describes an uploaded part.
type PartInfo struct {
	Number       int
	ETag         string
	Size         int64
	LastModified time.Time
	Checksum     Checksum
}

// CompletePart is one entry of a CompleteMultipartUpload request.
type CompletePart struct {
	Number int
	ETag   string // quotes allowed
}

// Upload describes an in-progress multipart upload.
type Upload struct {
	Bucket    string
	Key       string
	UploadID  string
	Initiated time.Time
	Meta      Meta
}

// UploadListOptions selects a page of ListMultipartUploads.
type UploadListOptions struct {
	Prefix         string
	Delimiter      string
	KeyMarker      string
	UploadIDMarker string
	MaxUploads     int
}

// UploadListResult is one page of ListMultipartUploads.
type UploadListResult struct {
	Uploads            []Upload
	CommonPrefixes     []string
	IsTruncated        bool
	NextKeyMarker      string
	NextUploadIDMarker string
}

// PartListResult is one page of ListParts.
type PartListResult struct {
	Upload               Upload
	Parts                []PartInfo
	IsTruncated          bool
	NextPartNumberMarker int
}

// Reader streams (a range of) one object version. Read verifies each piece of stored data against
// its checksum before returning it and fails with ErrCorrupt rather than return wrong bytes.
type Reader interface {
	io.ReadCloser
}
