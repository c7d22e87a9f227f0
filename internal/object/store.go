package object

import (
	"context"
	"io"

	"github.com/minicloud/minicloud/internal/s3err"
)

// Store is the object layer of one node. All methods are safe for concurrent use.
type Store struct {
}

// Options configures a Store.
type Options struct {
	NodeID string // stable id of this node, used in version ids and HLC tie-breaks
}

// Open opens (creating if needed) the store kept in dir.
func Open(dir string, opts Options) (*Store, error) { return &Store{}, nil }

// Close flushes and closes the store.
func (s *Store) Close() error { return nil }

var errTODO = s3err.NotImplemented

// ---- buckets ----

// CreateBucket creates a bucket; ErrBucketExists if it exists, ErrInvalidBucketName if the name breaks S3's rules.
func (s *Store) CreateBucket(ctx context.Context, name, location string) error { return errTODO }

// DeleteBucket removes an empty bucket; ErrBucketNotEmpty if it holds any version or upload.
func (s *Store) DeleteBucket(ctx context.Context, name string) error { return errTODO }

// GetBucket returns a bucket's configuration; ErrNoSuchBucket if missing.
func (s *Store) GetBucket(ctx context.Context, name string) (Bucket, error) { return Bucket{}, errTODO }

// ListBuckets returns all buckets sorted by name.
func (s *Store) ListBuckets(ctx context.Context) ([]Bucket, error) { return nil, errTODO }

// UpdateBucket applies fn to a bucket's configuration and stores the result (versioning, CORS,
// policy, tags). fn must not change Name or Created. A versioning change from Enabled/Suspended back
// to "" is refused with ErrInvalidBucketState-like errors by the caller, not here.
func (s *Store) UpdateBucket(ctx context.Context, name string, fn func(*Bucket) error) error {
	return errTODO
}

// ---- objects ----

// PutObject stores r (size bytes, or -1 if unknown) as the newest version of bucket/key. The
// version is acknowledged only once data and metadata are on stable storage. An error from r
// aborts the PUT and leaves nothing behind.
func (s *Store) PutObject(ctx context.Context, bucket, key string, r io.Reader, size int64, opts PutOptions) (ObjectInfo, error) {
	return ObjectInfo{}, errTODO
}

// HeadObject returns the newest version of bucket/key (versionID "") or the named version.
// The newest version being a delete marker gives ErrNoSuchKey with info.DeleteMarker set; a named
// delete marker gives ErrMethodNotAllowed with info.DeleteMarker set.
func (s *Store) HeadObject(ctx context.Context, bucket, key, versionID string) (ObjectInfo, error) {
	return ObjectInfo{}, errTODO
}

// GetObject is HeadObject plus a reader of length bytes from offset (length -1: to the end).
// The caller checks conditions on the info before reading and must Close the reader.
func (s *Store) GetObject(ctx context.Context, bucket, key, versionID string, offset, length int64) (ObjectInfo, Reader, error) {
	return ObjectInfo{}, nil, errTODO
}

// DeleteObject deletes bucket/key: with versionID "" in a versioned bucket it adds a delete marker,
// otherwise it removes the named (or null) version. Deleting a missing key succeeds as in S3.
func (s *Store) DeleteObject(ctx context.Context, bucket, key, versionID string) (DeleteResult, error) {
	return DeleteResult{}, errTODO
}

// CopyObject copies a version to dst without copying its stored data.
func (s *Store) CopyObject(ctx context.Context, srcBucket, srcKey, srcVersion, dstBucket, dstKey string, opts CopyOptions) (ObjectInfo, error) {
	return ObjectInfo{}, errTODO
}

// ListObjects lists the newest, non-deleted versions of a bucket's keys.
func (s *Store) ListObjects(ctx context.Context, bucket string, opts ListOptions) (ListResult, error) {
	return ListResult{}, errTODO
}

// ListObjectVersions lists every version and delete marker.
func (s *Store) ListObjectVersions(ctx context.Context, bucket string, opts VersionListOptions) (VersionListResult, error) {
	return VersionListResult{}, errTODO
}

// GetObjectTagging returns a version's tags (empty map when none).
func (s *Store) GetObjectTagging(ctx context.Context, bucket, key, versionID string) (map[string]string, string, error) {
	return nil, "", errTODO
}

// PutObjectTagging replaces a version's tags (nil or empty removes them); returns the version id.
func (s *Store) PutObjectTagging(ctx context.Context, bucket, key, versionID string, tags map[string]string) (string, error) {
	return "", errTODO
}

// ---- multipart ----

// CreateMultipartUpload starts an upload and returns its id.
func (s *Store) CreateMultipartUpload(ctx context.Context, bucket, key string, opts PutOptions) (string, error) {
	return "", errTODO
}

// UploadPart stores part number n (1..10000) of an upload, replacing an earlier part n.
func (s *Store) UploadPart(ctx context.Context, bucket, key, uploadID string, n int, r io.Reader, size int64, checksum func() Checksum) (PartInfo, error) {
	return PartInfo{}, errTODO
}

// UploadPartCopy stores part n from a range of an existing version (length -1: all of it).
func (s *Store) UploadPartCopy(ctx context.Context, bucket, key, uploadID string, n int, srcBucket, srcKey, srcVersion string, offset, length int64, check func(ObjectInfo) error) (PartInfo, error) {
	return PartInfo{}, errTODO
}

// CompleteMultipartUpload assembles the listed parts (ascending, each but the last at least
// MinPartSize) into the newest version of the key. The ETag is the MD5 of the parts' MD5s, "-N".
func (s *Store) CompleteMultipartUpload(ctx context.Context, bucket, key, uploadID string, parts []CompletePart) (ObjectInfo, error) {
	return ObjectInfo{}, errTODO
}

// AbortMultipartUpload discards an upload and its parts.
func (s *Store) AbortMultipartUpload(ctx context.Context, bucket, key, uploadID string) error {
	return errTODO
}

// ListParts lists an upload's parts after partNumberMarker.
func (s *Store) ListParts(ctx context.Context, bucket, key, uploadID string, partNumberMarker, maxParts int) (PartListResult, error) {
	return PartListResult{}, errTODO
}

// ListMultipartUploads lists a bucket's in-progress uploads.
func (s *Store) ListMultipartUploads(ctx context.Context, bucket string, opts UploadListOptions) (UploadListResult, error) {
	return UploadListResult{}, errTODO
}
