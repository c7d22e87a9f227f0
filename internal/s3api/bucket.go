package s3api

import (
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/minicloud/minicloud/internal/iam"
	"github.com/minicloud/minicloud/internal/object"
	"github.com/minicloud/minicloud/internal/s3err"
)

// ownerID is the canonical user id minicloud reports as the owner of every bucket and object: it
// has one account per site, and clients only compare these ids with each other.
const ownerID = "6d696e69636c6f75642d6f776e65722d6964656e746966696572303030303030"

var siteOwner = owner{ID: ownerID, DisplayName: "minicloud"}

// validBucketName applies S3's bucket naming rules for general purpose buckets.
func validBucketName(name string) bool {
	if len(name) < 3 || len(name) > 63 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	if !isAlnum(name[0]) || !isAlnum(name[len(name)-1]) {
		return false
	}
	if strings.Contains(name, "..") || strings.Contains(name, ".-") || strings.Contains(name, "-.") {
		return false
	}
	for _, p := range []string{"xn--", "sthree-", "amzn-s3-demo-"} {
		if strings.HasPrefix(name, p) {
			return false
		}
	}
	for _, s := range []string{"-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"} {
		if strings.HasSuffix(name, s) {
			return false
		}
	}
	return !looksLikeIPv4(name)
}

func isAlnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }

// looksLikeIPv4 reports whether name is four dot-separated decimal numbers, as S3 forbids.
func looksLikeIPv4(name string) bool {
	parts := strings.Split(name, ".")
	if len(parts) != 4 {
		return false
	}
	for _, p := range parts {
		if _, ok := parseDigits(p); !ok || len(p) > 3 {
			return false
		}
	}
	return true
}

func (h *handler) listBuckets(rq *request) error {
	all, err := h.store.ListBuckets(rq.ctx)
	if err != nil {
		return fmt.Errorf("list buckets: %w", err)
	}
	prefix := rq.query.Get("prefix")
	after := ""
	if tok := rq.query.Get("continuation-token"); tok != "" {
		b, err := base64.RawURLEncoding.DecodeString(tok)
		if err != nil {
			return s3err.InvalidArgument.With("The continuation token provided is incorrect")
		}
		after = string(b)
	}
	limit := 10000 // AWS's default page size for ListBuckets
	if s := rq.query.Get("max-buckets"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 10000 {
			return s3err.InvalidArgument.With("max-buckets must be an integer between 1 and 10000")
		}
		limit = n
	}
	res := listAllMyBucketsResult{Owner: siteOwner, Prefix: prefix}
	for _, b := range all {
		if !strings.HasPrefix(b.Name, prefix) || b.Name <= after {
			continue
		}
		if !h.allowed(rq.access, b.Name, iam.ActionList) {
			continue
		}
		if len(res.Buckets) == limit {
			res.ContinuationToken = base64.RawURLEncoding.EncodeToString([]byte(res.Buckets[limit-1].Name))
			break
		}
		res.Buckets = append(res.Buckets, bucketEntry{Name: b.Name, CreationDate: isoTime(b.Created), BucketRegion: h.bucketRegion(&b)})
	}
	return writeXML(rq, http.StatusOK, res)
}

// bucketRegion is the region a bucket reports.
func (h *handler) bucketRegion(b *object.Bucket) string {
	if b.Location != "" {
		return b.Location
	}
	return h.region
}

func (h *handler) createBucket(rq *request) error {
	if !validBucketName(rq.bucket) {
		return s3err.InvalidBucketName.With("The specified bucket is not valid: %q breaks S3's bucket naming rules.", rq.bucket)
	}
	hdr := rq.r.Header
	if strings.EqualFold(hdr.Get("X-Amz-Bucket-Object-Lock-Enabled"), "true") {
		return s3err.NotImplemented.With("Object Lock is not supported by minicloud.")
	}
	if err := cannedACL(hdr.Get("X-Amz-Acl")); err != nil {
		return err
	}
	if own := hdr.Get("X-Amz-Object-Ownership"); own != "" && own != "BucketOwnerEnforced" {
		return s3err.NotImplemented.With("Object ownership %s is not supported by minicloud; objects always belong to the bucket owner.", own)
	}
	body, err := readBody(rq, maxXMLBody)
	if err != nil {
		return err
	}
	location, err := parseCreateBucketConfiguration(body, h.region)
	if err != nil {
		return err
	}
	if err := h.store.CreateBucket(rq.ctx, rq.bucket, location); err != nil {
		return fmt.Errorf("create bucket %s: %w", rq.bucket, err)
	}
	rq.w.Header().Set("Location", "/"+rq.bucket)
	rq.w.WriteHeader(http.StatusOK)
	return nil
}

// parseCreateBucketConfiguration returns the location constraint of a CreateBucket body (which
// may be empty). Only this node's region is accepted: there is nowhere else to put the bucket.
func parseCreateBucketConfiguration(body []byte, region string) (string, error) {
	if len(strings.TrimSpace(string(body))) == 0 {
		return "", nil
	}
	var c createBucketConfiguration
	if err := decodeXML(body, &c); err != nil {
		return "", err
	}
	switch loc := strings.TrimSpace(c.LocationConstraint); loc {
	case "", region:
		return loc, nil
	default:
		if !validLocation(loc) {
			return "", s3err.InvalidLocationConstraint.With("The specified location-constraint is not valid: %q.", loc)
		}
		return "", s3err.IllegalLocationConstraint.With("The %s location constraint is incompatible for the region specific endpoint this request was sent to (%s).", loc, region)
	}
}

// validLocation reports whether a location constraint looks like a region name.
func validLocation(loc string) bool {
	if loc == "" || len(loc) > 32 {
		return false
	}
	for i := 0; i < len(loc); i++ {
		c := loc[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == 'E' || c == 'U') {
			return false
		}
	}
	return true
}

func (h *handler) deleteBucket(rq *request) error {
	if err := h.store.DeleteBucket(rq.ctx, rq.bucket); err != nil {
		return fmt.Errorf("delete bucket %s: %w", rq.bucket, err)
	}
	rq.w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *handler) headBucket(rq *request) error {
	b, err := h.bucket(rq)
	if err != nil {
		return err
	}
	hdr := rq.w.Header()
	hdr.Set("X-Amz-Bucket-Region", h.bucketRegion(b))
	hdr.Set("X-Amz-Access-Point-Alias", "false")
	rq.w.WriteHeader(http.StatusOK)
	return nil
}

func (h *handler) getBucketLocation(rq *request) error {
	b, err := h.bucket(rq)
	if err != nil {
		return err
	}
	loc := b.Location
	if loc == "us-east-1" {
		loc = "" // AWS reports us-east-1 as an empty constraint
	}
	return writeXML(rq, http.StatusOK, locationConstraint{Location: loc})
}

func (h *handler) getBucketVersioning(rq *request) error {
	b, err := h.bucket(rq)
	if err != nil {
		return err
	}
	return writeXML(rq, http.StatusOK, versioningResponse{Status: b.Versioning})
}

// parseVersioning parses a VersioningConfiguration; status "" means no change.
func parseVersioning(body []byte) (string, error) {
	var c versioningConfiguration
	if err := decodeXML(body, &c); err != nil {
		return "", err
	}
	switch c.MfaDelete {
	case "", "Disabled":
	case "Enabled":
		return "", s3err.NotImplemented.With("MFA Delete is not supported by minicloud.")
	default:
		return "", s3err.MalformedXML
	}
	switch c.Status {
	case "", object.VersioningEnabled, object.VersioningSuspended:
		return c.Status, nil
	}
	return "", s3err.MalformedXML
}

func (h *handler) putBucketVersioning(rq *request) error {
	body, err := readBody(rq, maxXMLBody)
	if err != nil {
		return err
	}
	status, err := parseVersioning(body)
	if err != nil {
		return err
	}
	if err := h.store.UpdateBucket(rq.ctx, rq.bucket, func(b *object.Bucket) error {
		if status != "" {
			b.Versioning = status
		}
		return nil
	}); err != nil {
		return fmt.Errorf("put versioning of bucket %s: %w", rq.bucket, err)
	}
	rq.w.WriteHeader(http.StatusOK)
	return nil
}

// ownerACL is the ACL every bucket and object has: the owner with FULL_CONTROL.
func ownerACL() accessControlPolicy {
	return accessControlPolicy{
		Owner: siteOwner,
		Grants: []grant{{
			Grantee: grantee{
				XMLNSXSI: "http://www.w3.org/2001/XMLSchema-instance", Type: "CanonicalUser",
				ID: siteOwner.ID, DisplayName: siteOwner.DisplayName,
			},
			Permission: "FULL_CONTROL",
		}},
	}
}

func (h *handler) getBucketAcl(rq *request) error {
	if _, err := h.bucket(rq); err != nil {
		return err
	}
	return writeXML(rq, http.StatusOK, ownerACL())
}

// putBucketAcl accepts only what is already true: a private canned ACL and no body.
func (h *handler) putBucketAcl(rq *request) error {
	if err := putACL(rq); err != nil {
		return err
	}
	if _, err := h.bucket(rq); err != nil {
		return err
	}
	rq.w.WriteHeader(http.StatusOK)
	return nil
}

// putACL refuses every ACL but the canned private ones; grants are made with access keys and
// public access with a bucket policy.
func putACL(rq *request) error {
	if err := cannedACL(rq.r.Header.Get("X-Amz-Acl")); err != nil {
		return err
	}
	for _, k := range []string{"X-Amz-Grant-Full-Control", "X-Amz-Grant-Read", "X-Amz-Grant-Read-Acp", "X-Amz-Grant-Write", "X-Amz-Grant-Write-Acp"} {
		if rq.r.Header.Get(k) != "" {
			return s3err.NotImplemented.With("ACL grants are not supported by minicloud; grant access keys per bucket instead.")
		}
	}
	body, err := readBody(rq, maxXMLBody)
	if err != nil {
		return err
	}
	if len(strings.TrimSpace(string(body))) != 0 {
		return s3err.NotImplemented.With("ACL documents are not supported by minicloud; grant access keys per bucket instead.")
	}
	return nil
}

// getBucketConfig answers GET of a configuration minicloud does not keep as AWS answers for a
// bucket that has none.
func (h *handler) getBucketConfig(rq *request) error {
	if _, err := h.bucket(rq); err != nil {
		return err
	}
	doc := func(local string) error {
		return writeXML(rq, http.StatusOK, emptyDocument{XMLName: xml.Name{Space: s3NS, Local: local}})
	}
	switch rq.name {
	case "GetBucketLifecycleConfiguration":
		return s3err.NoSuchLifecycleConfiguration
	case "GetBucketEncryption":
		return s3err.ServerSideEncryptionConfigNotFound
	case "GetObjectLockConfiguration":
		return s3err.ObjectLockConfigurationMissing
	case "GetBucketWebsite":
		return s3err.NoSuchWebsiteConfiguration
	case "GetBucketReplication":
		return s3err.ReplicationConfigurationNotFound
	case "GetBucketOwnershipControls":
		return s3err.OwnershipControlsNotFound
	case "GetPublicAccessBlock":
		return s3err.NoSuchPublicAccessBlockConfiguration
	case "GetBucketLogging":
		return doc("BucketLoggingStatus")
	case "GetBucketNotificationConfiguration":
		return doc("NotificationConfiguration")
	case "GetBucketAccelerateConfiguration":
		return doc("AccelerateConfiguration")
	case "GetBucketRequestPayment":
		return writeXML(rq, http.StatusOK, requestPaymentConfiguration{Payer: "BucketOwner"})
	}
	return s3err.NotImplemented.With("%s is not implemented by minicloud.", rq.name)
}

// deleteBucketConfig deletes a configuration the bucket cannot have: there is nothing to do.
func (h *handler) deleteBucketConfig(rq *request) error {
	if _, err := h.bucket(rq); err != nil {
		return err
	}
	rq.w.WriteHeader(http.StatusNoContent)
	return nil
}
