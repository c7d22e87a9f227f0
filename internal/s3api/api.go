// Package s3api serves the S3 HTTP API of one node: it routes path-style and virtual-hosted-style
// requests to S3 operations, authenticates them with SigV4, authorizes them, maps them onto the
// object layer and answers with AWS's XML shapes, headers, error codes and statuses.
//
// It holds no data of its own (only metrics) and must not reach below the object layer: no disk,
// no replication, no metadata store. Every error it sends comes from the one table in s3err.
package s3api

import (
	"context"
	"io"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/minicloud/minicloud/internal/iam"
	"github.com/minicloud/minicloud/internal/object"
	"github.com/minicloud/minicloud/internal/sigv4"
)

// ObjectStore is what the S3 API needs of the object layer; *object.Store implements it and tests
// may fake it.
type ObjectStore interface {
	CreateBucket(ctx context.Context, name, location string) error
	DeleteBucket(ctx context.Context, name string) error
	GetBucket(ctx context.Context, name string) (object.Bucket, error)
	ListBuckets(ctx context.Context) ([]object.Bucket, error)
	UpdateBucket(ctx context.Context, name string, fn func(*object.Bucket) error) error

	PutObject(ctx context.Context, bucket, key string, r io.Reader, size int64, opts object.PutOptions) (object.ObjectInfo, error)
	HeadObject(ctx context.Context, bucket, key, versionID string) (object.ObjectInfo, error)
	GetObject(ctx context.Context, bucket, key, versionID string, offset, length int64) (object.ObjectInfo, object.Reader, error)
	DeleteObject(ctx context.Context, bucket, key, versionID string) (object.DeleteResult, error)
	CopyObject(ctx context.Context, srcBucket, srcKey, srcVersion, dstBucket, dstKey string, opts object.CopyOptions) (object.ObjectInfo, error)
	ListObjects(ctx context.Context, bucket string, opts object.ListOptions) (object.ListResult, error)
	ListObjectVersions(ctx context.Context, bucket string, opts object.VersionListOptions) (object.VersionListResult, error)
	GetObjectTagging(ctx context.Context, bucket, key, versionID string) (map[string]string, string, error)
	PutObjectTagging(ctx context.Context, bucket, key, versionID string, tags map[string]string) (string, error)

	CreateMultipartUpload(ctx context.Context, bucket, key string, opts object.PutOptions) (string, error)
	UploadPart(ctx context.Context, bucket, key, uploadID string, n int, r io.Reader, size int64, checksum func() object.Checksum) (object.PartInfo, error)
	UploadPartCopy(ctx context.Context, bucket, key, uploadID string, n int, srcBucket, srcKey, srcVersion string, offset, length int64, check func(object.ObjectInfo) error) (object.PartInfo, error)
	CompleteMultipartUpload(ctx context.Context, bucket, key, uploadID string, parts []object.CompletePart) (object.ObjectInfo, error)
	AbortMultipartUpload(ctx context.Context, bucket, key, uploadID string) error
	ListParts(ctx context.Context, bucket, key, uploadID string, partNumberMarker, maxParts int) (object.PartListResult, error)
	ListMultipartUploads(ctx context.Context, bucket string, opts object.UploadListOptions) (object.UploadListResult, error)
}

var _ ObjectStore = (*object.Store)(nil)

// partStore is implemented by object layers that can tell where each part of a multipart object
// lies, which GET/HEAD ?partNumber=N needs. It is optional: without it only part 1 of a
// single-part object can be served that way.
type partStore interface {
	ObjectParts(ctx context.Context, bucket, key, versionID string) ([]object.PartInfo, error)
}

// Authorizer decides what an access key may do. The S3 API asks it after SigV4 has proven the key.
type Authorizer interface {
	Allowed(accessKey, bucket string, a iam.Action) bool
	IsAdmin(accessKey string) bool
}

// Options configures the S3 API handler. Store, Auth and Verifier are required.
type Options struct {
	Store    ObjectStore
	Auth     Authorizer
	Verifier *sigv4.Verifier
	// Region is reported by GetBucketLocation and HeadBucket and is the only location constraint
	// CreateBucket accepts.
	Region string
	// Domain enables virtual-hosted-style addressing: a request for Host "bucket.Domain[:port]"
	// addresses that bucket. Empty: path-style only.
	Domain string
	// Logger receives one line per failed request (Warn/Error) and per successful one (Debug);
	// the caller names the component.
	Logger *slog.Logger
	// Registry, if not nil, receives the API's request, latency and byte metrics.
	Registry prometheus.Registerer
}

// New returns the S3 API as an http.Handler. It panics if a required option is missing, which is a
// programming error in the composition root.
func New(opts Options) http.Handler {
	if opts.Store == nil || opts.Auth == nil || opts.Verifier == nil {
		panic("s3api.New: Store, Auth and Verifier are required")
	}
	if opts.Region == "" {
		opts.Region = "us-east-1" // AWS's default region, which every S3 client assumes without config
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	parts, _ := opts.Store.(partStore)
	return &handler{
		store:    opts.Store,
		parts:    parts,
		auth:     opts.Auth,
		verifier: opts.Verifier,
		region:   opts.Region,
		domain:   opts.Domain,
		log:      opts.Logger,
		metrics:  newMetrics(opts.Registry),
		ids:      newIDSource(),
	}
}

// handler is the S3 API. It keeps no per-request state between requests.
type handler struct {
	store    ObjectStore
	parts    partStore // nil when the store cannot locate parts
	auth     Authorizer
	verifier *sigv4.Verifier
	region   string
	domain   string
	log      *slog.Logger
	metrics  *metrics
	ids      *idSource
}
