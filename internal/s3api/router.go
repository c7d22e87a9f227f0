package s3api

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/minicloud/minicloud/internal/object"
	"github.com/minicloud/minicloud/internal/s3err"
)

// request is one S3 request on its way through the handler.
type request struct {
	ctx    context.Context
	w      *respWriter
	r      *http.Request
	op     op
	name   string // the AWS operation name, for metrics and logs
	bucket string
	key    string
	query  url.Values
	id     string

	access   string         // verified access key; "" for an anonymous request
	body     io.Reader      // verified, decoded payload
	in       countingReader // counts what is read of body, for metrics
	size     int64          // decoded payload length, -1 if unknown
	checksum func() (algorithm, value string)

	bkt *object.Bucket // bucket configuration, when a step already needed it

	err     error  // the error answered, for the log line
	errCode string // its S3 code
}

// ServeHTTP answers one S3 request.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rw := &respWriter{ResponseWriter: w}
	// r.Body is left as it is: net/http looks at its type to decide whether to drain an unread
	// body or to close the connection (and whether to send 100 Continue) after an early error.
	rq := &request{ctx: r.Context(), w: rw, r: r, size: -1}
	rq.id = h.ids.next()
	hdr := w.Header()
	hdr["X-Amz-Request-Id"] = []string{rq.id}
	hdr["X-Amz-Id-2"] = []string{h.ids.hostID(rq.id)}
	hdr["Server"] = serverHeader
	// Metrics and the log line are written even when the handler aborts a response mid-body.
	defer func() { h.observe(rq, start, rq.in.n) }()

	rq.bucket, rq.key = h.splitPath(r)
	rq.query = r.URL.Query()
	rq.op, rq.name = route(r.Method, rq.bucket, rq.key, rq.query, r.Header)
	if err := h.serve(rq); err != nil {
		h.writeError(rq, err)
	}
}

var serverHeader = []string{"minicloud"}

// serve authenticates, authorizes and runs one request.
func (h *handler) serve(rq *request) error {
	if rq.op == opPreflight {
		// Browsers send preflights without credentials, so they are answered from the bucket's
		// CORS configuration alone.
		return h.preflight(rq)
	}
	if origin := rq.r.Header.Get("Origin"); origin != "" && rq.bucket != "" {
		// Before authentication, so that a browser can read the error of a refused request too.
		h.setCORSHeaders(rq, origin)
	}
	res, err := h.verifier.Verify(rq.r)
	if err != nil {
		return err
	}
	rq.access = res.AccessKey
	var body io.Reader = http.NoBody
	switch {
	case res.Body != nil:
		body = res.Body
	case rq.r.Body != nil:
		body = rq.r.Body
	}
	rq.in.r = body
	rq.body = &rq.in
	rq.size = res.Size
	rq.checksum = res.Checksum
	if err := h.authorize(rq); err != nil {
		return err
	}
	if len(rq.key) > object.MaxKeyLength {
		return s3err.KeyTooLong.With("Your key is too long: %d bytes, the limit is %d.", len(rq.key), object.MaxKeyLength)
	}
	return h.dispatch(rq)
}

// splitPath finds the bucket and key of a request, virtual-hosted-style when the Host is a
// subdomain of the configured domain, path-style otherwise.
func (h *handler) splitPath(r *http.Request) (bucket, key string) {
	p := r.URL.Path
	if h.domain != "" {
		host := r.Host
		if hh, _, err := net.SplitHostPort(host); err == nil {
			host = hh
		}
		if len(host) > len(h.domain)+1 && strings.HasSuffix(host, h.domain) && host[len(host)-len(h.domain)-1] == '.' {
			return strings.ToLower(host[:len(host)-len(h.domain)-1]), strings.TrimPrefix(p, "/")
		}
	}
	p = strings.TrimPrefix(p, "/")
	if i := strings.IndexByte(p, '/'); i >= 0 {
		return p[:i], p[i+1:]
	}
	return p, ""
}

// dispatch runs the operation's handler.
func (h *handler) dispatch(rq *request) error {
	switch rq.op {
	case opListBuckets:
		return h.listBuckets(rq)
	case opCreateBucket:
		return h.createBucket(rq)
	case opDeleteBucket:
		return h.deleteBucket(rq)
	case opHeadBucket:
		return h.headBucket(rq)
	case opGetBucketLocation:
		return h.getBucketLocation(rq)
	case opGetBucketVersioning:
		return h.getBucketVersioning(rq)
	case opPutBucketVersioning:
		return h.putBucketVersioning(rq)
	case opGetBucketCors:
		return h.getBucketCors(rq)
	case opPutBucketCors:
		return h.putBucketCors(rq)
	case opDeleteBucketCors:
		return h.deleteBucketCors(rq)
	case opGetBucketPolicy:
		return h.getBucketPolicy(rq)
	case opPutBucketPolicy:
		return h.putBucketPolicy(rq)
	case opDeleteBucketPolicy:
		return h.deleteBucketPolicy(rq)
	case opGetBucketPolicyStatus:
		return h.getBucketPolicyStatus(rq)
	case opGetBucketTagging:
		return h.getBucketTagging(rq)
	case opPutBucketTagging:
		return h.putBucketTagging(rq)
	case opDeleteBucketTagging:
		return h.deleteBucketTagging(rq)
	case opGetBucketAcl:
		return h.getBucketAcl(rq)
	case opPutBucketAcl:
		return h.putBucketAcl(rq)
	case opGetBucketConfig:
		return h.getBucketConfig(rq)
	case opDeleteBucketConfig:
		return h.deleteBucketConfig(rq)
	case opListObjects:
		return h.listObjects(rq)
	case opListObjectsV2:
		return h.listObjectsV2(rq)
	case opListObjectVersions:
		return h.listObjectVersions(rq)
	case opListMultipartUploads:
		return h.listMultipartUploads(rq)
	case opDeleteObjects:
		return h.deleteObjects(rq)
	case opGetObject:
		return h.getObject(rq, false)
	case opHeadObject:
		return h.getObject(rq, true)
	case opPutObject:
		return h.putObject(rq)
	case opCopyObject:
		return h.copyObject(rq)
	case opDeleteObject:
		return h.deleteObject(rq)
	case opGetObjectTagging:
		return h.getObjectTagging(rq)
	case opPutObjectTagging:
		return h.putObjectTagging(rq)
	case opDeleteObjectTagging:
		return h.deleteObjectTagging(rq)
	case opGetObjectAcl:
		return h.getObjectAcl(rq)
	case opPutObjectAcl:
		return h.putObjectAcl(rq)
	case opGetObjectAttributes:
		return h.getObjectAttributes(rq)
	case opObjectLockAbsent:
		return s3err.InvalidRequest.With("Bucket is missing Object Lock Configuration")
	case opRestoreObject:
		return h.restoreObject(rq)
	case opCreateMultipartUpload:
		return h.createMultipartUpload(rq)
	case opUploadPart:
		return h.uploadPart(rq)
	case opUploadPartCopy:
		return h.uploadPartCopy(rq)
	case opCompleteMultipartUpload:
		return h.completeMultipartUpload(rq)
	case opAbortMultipartUpload:
		return h.abortMultipartUpload(rq)
	case opListParts:
		return h.listParts(rq)
	case opNotImplemented:
		return s3err.NotImplemented.With("%s is not implemented by minicloud.", rq.name)
	}
	return s3err.MethodNotAllowed
}
