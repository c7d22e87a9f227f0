package s3api

import (
	"fmt"

	"github.com/minicloud/minicloud/internal/iam"
	"github.com/minicloud/minicloud/internal/object"
	"github.com/minicloud/minicloud/internal/s3err"
)

// authorize decides whether the request's (verified) access key may run its operation. Anonymous
// requests pass only where the bucket's policy makes the bucket public for that kind of request.
func (h *handler) authorize(rq *request) error {
	a := opAuths[rq.op]
	if rq.access == "" {
		return h.authorizeAnonymous(rq, a)
	}
	switch {
	case rq.op == opListBuckets:
		return nil // the answer is filtered per bucket
	case rq.op == opCreateBucket:
		// Creating a bucket is for admins, or for a key that was granted the name in advance.
		if h.auth.IsAdmin(rq.access) || h.auth.Allowed(rq.access, rq.bucket, iam.ActionAdmin) {
			return nil
		}
		return s3err.AccessDenied
	case rq.bucket == "":
		if h.auth.IsAdmin(rq.access) {
			return nil
		}
		return s3err.AccessDenied
	}
	if h.allowed(rq.access, rq.bucket, a.action) {
		return nil
	}
	return s3err.AccessDenied
}

// allowed asks the authorizer, treating admins as allowed everything.
func (h *handler) allowed(access, bucket string, a iam.Action) bool {
	return h.auth.Allowed(access, bucket, a) || h.auth.IsAdmin(access)
}

func (h *handler) authorizeAnonymous(rq *request, a opAuth) error {
	if a.anon == anonNever || rq.bucket == "" {
		return s3err.AccessDenied
	}
	// A public-read policy grants s3:GetObject only: reading a named version needs
	// s3:GetObjectVersion, which it does not grant.
	if a.anon == anonRead && rq.query.Has("versionId") {
		return s3err.AccessDenied
	}
	b, err := h.bucket(rq)
	if err != nil {
		return err // NoSuchBucket, as AWS answers anonymous requests for a missing bucket
	}
	if (a.anon == anonRead && b.PublicRead) || (a.anon == anonList && b.PublicList) {
		return nil
	}
	return s3err.AccessDenied
}

// bucket returns the request's bucket configuration, reading it once per request.
func (h *handler) bucket(rq *request) (*object.Bucket, error) {
	if rq.bkt != nil {
		return rq.bkt, nil
	}
	b, err := h.store.GetBucket(rq.ctx, rq.bucket)
	if err != nil {
		return nil, fmt.Errorf("get bucket %q: %w", rq.bucket, err)
	}
	rq.bkt = &b
	return rq.bkt, nil
}
