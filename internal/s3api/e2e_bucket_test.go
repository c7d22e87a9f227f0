package s3api

import (
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

func TestE2EBuckets(t *testing.T) {
	e := newEnv(t)
	ctx := e.ctx()

	e.mkBucket("alpha")
	e.mkBucket("beta.data")
	_, err := e.s3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("alpha")})
	wantCode(t, err, "BucketAlreadyOwnedByYou", 409)

	for _, bad := range []string{"ab", "Upper", "a..b", "192.168.0.1", "xn--abc", "abc-s3alias", "-abc"} {
		r := e.raw("PUT", "/"+bad, nil, nil)
		wantRaw(t, r, 400, "InvalidBucketName")
	}

	list, err := e.s3.ListBuckets(ctx, &s3.ListBucketsInput{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, b := range list.Buckets {
		names = append(names, *b.Name)
		if b.CreationDate == nil || b.CreationDate.IsZero() {
			t.Errorf("bucket %s has no creation date", *b.Name)
		}
	}
	if strings.Join(names, ",") != "alpha,beta.data" {
		t.Fatalf("ListBuckets = %v", names)
	}
	if list.Owner == nil || aws.ToString(list.Owner.ID) == "" {
		t.Errorf("ListBuckets has no owner")
	}

	if _, err := e.s3.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("alpha")}); err != nil {
		t.Fatalf("HeadBucket: %v", err)
	}
	_, err = e.s3.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("nope-nope")})
	wantCode(t, err, "NotFound", 404)
	r := e.raw("HEAD", "/nope-nope", nil, nil)
	if r.StatusCode != 404 || r.body != "" || r.Header.Get("X-Amz-Request-Id") == "" {
		t.Fatalf("HEAD missing bucket: %d %q %v", r.StatusCode, r.body, r.Header)
	}

	loc, err := e.s3.GetBucketLocation(ctx, &s3.GetBucketLocationInput{Bucket: aws.String("alpha")})
	if err != nil || loc.LocationConstraint != "" {
		t.Fatalf("GetBucketLocation = %v, %v", loc, err)
	}

	// Location constraints: this region only; bad XML is MalformedXML; nothing is created.
	_, err = e.s3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("gamma"),
		CreateBucketConfiguration: &types.CreateBucketConfiguration{LocationConstraint: "eu-west-1"}})
	wantCode(t, err, "IllegalLocationConstraintException", 400)
	wantRaw(t, e.raw("PUT", "/gamma", []byte("<CreateBucketConfiguration><LocationConstraint>"), nil), 400, "MalformedXML")
	_, err = e.s3.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("gamma")})
	wantCode(t, err, "NotFound", 404)
	wantRaw(t, e.raw("PUT", "/gamma", []byte(`<CreateBucketConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><LocationConstraint>us-east-1</LocationConstraint></CreateBucketConfiguration>`), nil), 200, "")
	wantRaw(t, e.raw("PUT", "/delta", nil, map[string]string{"x-amz-bucket-object-lock-enabled": "true"}), 501, "NotImplemented")
	wantRaw(t, e.raw("PUT", "/delta", nil, map[string]string{"x-amz-acl": "public-read"}), 501, "NotImplemented")

	// DeleteBucket: not empty, then empty, then gone.
	e.put("alpha", "k", "v")
	_, err = e.s3.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String("alpha")})
	wantCode(t, err, "BucketNotEmpty", 409)
	if _, err := e.s3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("alpha"), Key: aws.String("k")}); err != nil {
		t.Fatal(err)
	}
	r = e.raw("DELETE", "/alpha", nil, nil)
	wantRaw(t, r, 204, "")
	_, err = e.s3.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String("alpha")})
	wantCode(t, err, "NoSuchBucket", 404)
	_, err = e.s3.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("alpha")})
	wantCode(t, err, "NoSuchBucket", 404)
}

func TestE2EBucketSubresources(t *testing.T) {
	e := newEnv(t)
	ctx := e.ctx()
	e.mkBucket("sub")
	b := aws.String("sub")

	acl, err := e.s3.GetBucketAcl(ctx, &s3.GetBucketAclInput{Bucket: b})
	if err != nil || len(acl.Grants) != 1 || acl.Grants[0].Permission != types.PermissionFullControl {
		t.Fatalf("GetBucketAcl = %+v, %v", acl, err)
	}
	if _, err := e.s3.PutBucketAcl(ctx, &s3.PutBucketAclInput{Bucket: b, ACL: types.BucketCannedACLPrivate}); err != nil {
		t.Fatalf("PutBucketAcl private: %v", err)
	}
	_, err = e.s3.PutBucketAcl(ctx, &s3.PutBucketAclInput{Bucket: b, ACL: types.BucketCannedACLPublicRead})
	wantCode(t, err, "NotImplemented", 501)

	_, err = e.s3.GetBucketEncryption(ctx, &s3.GetBucketEncryptionInput{Bucket: b})
	wantCode(t, err, "ServerSideEncryptionConfigurationNotFoundError", 404)
	_, err = e.s3.GetBucketLifecycleConfiguration(ctx, &s3.GetBucketLifecycleConfigurationInput{Bucket: b})
	wantCode(t, err, "NoSuchLifecycleConfiguration", 404)
	_, err = e.s3.GetObjectLockConfiguration(ctx, &s3.GetObjectLockConfigurationInput{Bucket: b})
	wantCode(t, err, "ObjectLockConfigurationNotFoundError", 404)
	_, err = e.s3.GetBucketWebsite(ctx, &s3.GetBucketWebsiteInput{Bucket: b})
	wantCode(t, err, "NoSuchWebsiteConfiguration", 404)
	_, err = e.s3.GetBucketReplication(ctx, &s3.GetBucketReplicationInput{Bucket: b})
	wantCode(t, err, "ReplicationConfigurationNotFoundError", 404)
	_, err = e.s3.GetPublicAccessBlock(ctx, &s3.GetPublicAccessBlockInput{Bucket: b})
	wantCode(t, err, "NoSuchPublicAccessBlockConfiguration", 404)
	if _, err := e.s3.GetBucketLogging(ctx, &s3.GetBucketLoggingInput{Bucket: b}); err != nil {
		t.Errorf("GetBucketLogging: %v", err)
	}
	if out, err := e.s3.GetBucketRequestPayment(ctx, &s3.GetBucketRequestPaymentInput{Bucket: b}); err != nil || out.Payer != types.PayerBucketOwner {
		t.Errorf("GetBucketRequestPayment = %+v, %v", out, err)
	}
	if _, err := e.s3.GetBucketNotificationConfiguration(ctx, &s3.GetBucketNotificationConfigurationInput{Bucket: b}); err != nil {
		t.Errorf("GetBucketNotificationConfiguration: %v", err)
	}
	if _, err := e.s3.DeleteBucketLifecycle(ctx, &s3.DeleteBucketLifecycleInput{Bucket: b}); err != nil {
		t.Errorf("DeleteBucketLifecycle: %v", err)
	}
	_, err = e.s3.PutBucketLifecycleConfiguration(ctx, &s3.PutBucketLifecycleConfigurationInput{Bucket: b,
		LifecycleConfiguration: &types.BucketLifecycleConfiguration{Rules: []types.LifecycleRule{{
			Status: types.ExpirationStatusEnabled, Filter: &types.LifecycleRuleFilter{Prefix: aws.String("")},
			Expiration: &types.LifecycleExpiration{Days: aws.Int32(1)}}}}})
	wantCode(t, err, "NotImplemented", 501)
	_, err = e.s3.PutBucketEncryption(ctx, &s3.PutBucketEncryptionInput{Bucket: b,
		ServerSideEncryptionConfiguration: &types.ServerSideEncryptionConfiguration{Rules: []types.ServerSideEncryptionRule{{
			ApplyServerSideEncryptionByDefault: &types.ServerSideEncryptionByDefault{SSEAlgorithm: types.ServerSideEncryptionAes256}}}}})
	wantCode(t, err, "NotImplemented", 501)
	_, err = e.s3.GetBucketLifecycleConfiguration(ctx, &s3.GetBucketLifecycleConfigurationInput{Bucket: aws.String("missing-bucket")})
	wantCode(t, err, "NoSuchBucket", 404)

	// Bucket tagging.
	_, err = e.s3.GetBucketTagging(ctx, &s3.GetBucketTaggingInput{Bucket: b})
	wantCode(t, err, "NoSuchTagSet", 404)
	if _, err := e.s3.PutBucketTagging(ctx, &s3.PutBucketTaggingInput{Bucket: b, Tagging: &types.Tagging{TagSet: []types.Tag{{Key: aws.String("team"), Value: aws.String("edge")}}}}); err != nil {
		t.Fatalf("PutBucketTagging: %v", err)
	}
	tg, err := e.s3.GetBucketTagging(ctx, &s3.GetBucketTaggingInput{Bucket: b})
	if err != nil || len(tg.TagSet) != 1 || *tg.TagSet[0].Value != "edge" {
		t.Fatalf("GetBucketTagging = %+v, %v", tg, err)
	}
	if _, err := e.s3.DeleteBucketTagging(ctx, &s3.DeleteBucketTaggingInput{Bucket: b}); err != nil {
		t.Fatal(err)
	}
	_, err = e.s3.GetBucketTagging(ctx, &s3.GetBucketTaggingInput{Bucket: b})
	wantCode(t, err, "NoSuchTagSet", 404)

	// Versioning configuration.
	v, err := e.s3.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: b})
	if err != nil || v.Status != "" {
		t.Fatalf("GetBucketVersioning = %+v, %v", v, err)
	}
	wantRaw(t, e.raw("PUT", "/sub?versioning", []byte(`<VersioningConfiguration><Status>Sometimes</Status></VersioningConfiguration>`), nil), 400, "MalformedXML")
	if _, err := e.s3.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: b, VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}}); err != nil {
		t.Fatal(err)
	}
	v, err = e.s3.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: b})
	if err != nil || v.Status != types.BucketVersioningStatusEnabled {
		t.Fatalf("GetBucketVersioning = %+v, %v", v, err)
	}

	// Unknown methods and bodies that are too big.
	wantRaw(t, e.raw("PATCH", "/sub/k", nil, nil), 405, "MethodNotAllowed")
	big := []byte("<Tagging><TagSet>" + strings.Repeat(" ", 2<<20) + "</TagSet></Tagging>")
	wantRaw(t, e.raw("PUT", "/sub?tagging", big, nil), 400, "MaxMessageLengthExceeded")
}

func TestE2ECommonHeaders(t *testing.T) {
	e := newEnv(t)
	e.mkBucket("hdrs")
	for _, r := range []rawResp{
		e.raw("GET", "/", nil, nil),
		e.raw("GET", "/hdrs/missing", nil, nil),
		e.rawAs("", "", "GET", "/hdrs", nil, nil),
	} {
		if r.Header.Get("X-Amz-Request-Id") == "" || r.Header.Get("X-Amz-Id-2") == "" || r.Header.Get("Server") != "minicloud" {
			t.Errorf("%s: missing common headers: %v", r.Request.URL, r.Header)
		}
	}
	r := e.raw("GET", "/hdrs/missing", nil, nil)
	wantRaw(t, r, 404, "NoSuchKey")
	for _, want := range []string{"<Message>", "<Resource>/hdrs/missing</Resource>", "<RequestId>" + r.Header.Get("X-Amz-Request-Id") + "</RequestId>"} {
		if !strings.Contains(r.body, want) {
			t.Errorf("error body %s lacks %s", r.body, want)
		}
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/xml" {
		t.Errorf("error Content-Type = %q", ct)
	}
	if r := e.raw("GET", "/", nil, nil); !strings.Contains(r.body, `xmlns="http://s3.amazonaws.com/doc/2006-03-01/"`) {
		t.Errorf("ListBuckets body lacks the S3 namespace: %s", r.body)
	}
	_ = http.StatusOK
}

func TestE2EVirtualHosted(t *testing.T) {
	e := newEnv(t)
	e.mkBucket("vhost")
	e.put("vhost", "dir/file.txt", "hello")
	host := "vhost." + testDomain + ":" + strings.Split(e.srv.Listener.Addr().String(), ":")[1]
	r := e.raw("GET", "/dir/file.txt", nil, map[string]string{"Host": host})
	wantRaw(t, r, 200, "")
	if r.body != "hello" {
		t.Fatalf("virtual-hosted GET = %q", r.body)
	}
	r = e.raw("GET", "/?list-type=2", nil, map[string]string{"Host": host})
	wantRaw(t, r, 200, "")
	if !strings.Contains(r.body, "<Key>dir/file.txt</Key>") || !strings.Contains(r.body, "<Name>vhost</Name>") {
		t.Fatalf("virtual-hosted list = %s", r.body)
	}
	r = e.raw("PUT", "/new.txt", []byte("x"), map[string]string{"Host": host})
	wantRaw(t, r, 200, "")
	if got := e.get("vhost", "new.txt"); got != "x" {
		t.Fatalf("virtual-hosted PUT stored %q", got)
	}
	// The bare domain is path-style.
	r = e.raw("GET", "/vhost/dir/file.txt", nil, map[string]string{"Host": testDomain})
	wantRaw(t, r, 200, "")
}
