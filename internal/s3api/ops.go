package s3api

import (
	"net/http"
	"net/url"

	"github.com/minicloud/minicloud/internal/iam"
)

// op is an S3 operation as the router tells them apart.
type op uint8

const (
	opUnknown op = iota
	opMethodNotAllowed
	opNotImplemented // a known operation minicloud does not do; always authorized as admin
	opPreflight

	opListBuckets

	opCreateBucket
	opDeleteBucket
	opHeadBucket
	opGetBucketLocation
	opGetBucketVersioning
	opPutBucketVersioning
	opGetBucketCors
	opPutBucketCors
	opDeleteBucketCors
	opGetBucketPolicy
	opPutBucketPolicy
	opDeleteBucketPolicy
	opGetBucketPolicyStatus
	opGetBucketTagging
	opPutBucketTagging
	opDeleteBucketTagging
	opGetBucketAcl
	opPutBucketAcl
	opGetBucketConfig    // a configuration minicloud does not have; answered as AWS does when absent
	opDeleteBucketConfig // deleting such a configuration: there is none, so nothing to do
	opListObjects
	opListObjectsV2
	opListObjectVersions
	opListMultipartUploads
	opDeleteObjects

	opGetObject
	opHeadObject
	opPutObject
	opCopyObject
	opDeleteObject
	opGetObjectTagging
	opPutObjectTagging
	opDeleteObjectTagging
	opGetObjectAcl
	opPutObjectAcl
	opGetObjectAttributes
	opObjectLockAbsent
	opRestoreObject
	opCreateMultipartUpload
	opUploadPart
	opUploadPartCopy
	opCompleteMultipartUpload
	opAbortMultipartUpload
	opListParts

	numOps
)

// anonymous says which bucket policy grant lets an anonymous request through.
type anonymous uint8

const (
	anonNever anonymous = iota
	anonRead            // PublicRead: GET/HEAD of objects
	anonList            // PublicList: listing keys
)

// opAuth is what an operation needs from the authorizer.
type opAuth struct {
	action iam.Action
	anon   anonymous
}

// opAuths maps each operation to its action. Reading configuration needs List, changing it Admin.
var opAuths = [numOps]opAuth{
	opUnknown:          {action: iam.ActionAdmin},
	opMethodNotAllowed: {action: iam.ActionAdmin},
	opNotImplemented:   {action: iam.ActionAdmin},
	opListBuckets:      {action: iam.ActionList},

	opCreateBucket:          {action: iam.ActionAdmin},
	opDeleteBucket:          {action: iam.ActionAdmin},
	opHeadBucket:            {action: iam.ActionList},
	opGetBucketLocation:     {action: iam.ActionList},
	opGetBucketVersioning:   {action: iam.ActionList},
	opPutBucketVersioning:   {action: iam.ActionAdmin},
	opGetBucketCors:         {action: iam.ActionList},
	opPutBucketCors:         {action: iam.ActionAdmin},
	opDeleteBucketCors:      {action: iam.ActionAdmin},
	opGetBucketPolicy:       {action: iam.ActionList},
	opPutBucketPolicy:       {action: iam.ActionAdmin},
	opDeleteBucketPolicy:    {action: iam.ActionAdmin},
	opGetBucketPolicyStatus: {action: iam.ActionList},
	opGetBucketTagging:      {action: iam.ActionList},
	opPutBucketTagging:      {action: iam.ActionAdmin},
	opDeleteBucketTagging:   {action: iam.ActionAdmin},
	opGetBucketAcl:          {action: iam.ActionList},
	opPutBucketAcl:          {action: iam.ActionAdmin},
	opGetBucketConfig:       {action: iam.ActionList},
	opDeleteBucketConfig:    {action: iam.ActionAdmin},
	opListObjects:           {action: iam.ActionList, anon: anonList},
	opListObjectsV2:         {action: iam.ActionList, anon: anonList},
	opListObjectVersions:    {action: iam.ActionList},
	opListMultipartUploads:  {action: iam.ActionList},
	opDeleteObjects:         {action: iam.ActionWrite},

	opGetObject:               {action: iam.ActionRead, anon: anonRead},
	opHeadObject:              {action: iam.ActionRead, anon: anonRead},
	opPutObject:               {action: iam.ActionWrite},
	opCopyObject:              {action: iam.ActionWrite},
	opDeleteObject:            {action: iam.ActionWrite},
	opGetObjectTagging:        {action: iam.ActionRead},
	opPutObjectTagging:        {action: iam.ActionWrite},
	opDeleteObjectTagging:     {action: iam.ActionWrite},
	opGetObjectAcl:            {action: iam.ActionRead},
	opPutObjectAcl:            {action: iam.ActionWrite},
	opGetObjectAttributes:     {action: iam.ActionRead},
	opObjectLockAbsent:        {action: iam.ActionRead},
	opRestoreObject:           {action: iam.ActionWrite},
	opCreateMultipartUpload:   {action: iam.ActionWrite},
	opUploadPart:              {action: iam.ActionWrite},
	opUploadPartCopy:          {action: iam.ActionWrite},
	opCompleteMultipartUpload: {action: iam.ActionWrite},
	opAbortMultipartUpload:    {action: iam.ActionWrite},
	opListParts:               {action: iam.ActionWrite},
}

// bucketSubresource describes a bucket configuration that minicloud does not keep: how AWS names
// its Get/Put/Delete operations, and whether GET answers with an error (absent) or a document.
type bucketSubresource struct {
	get, put, del string
	delOK         bool // DELETE of the absent configuration succeeds (204) as in AWS
}

var absentSubresources = map[string]bucketSubresource{
	"lifecycle":           {get: "GetBucketLifecycleConfiguration", put: "PutBucketLifecycleConfiguration", del: "DeleteBucketLifecycle", delOK: true},
	"encryption":          {get: "GetBucketEncryption", put: "PutBucketEncryption", del: "DeleteBucketEncryption", delOK: true},
	"object-lock":         {get: "GetObjectLockConfiguration", put: "PutObjectLockConfiguration"},
	"website":             {get: "GetBucketWebsite", put: "PutBucketWebsite", del: "DeleteBucketWebsite", delOK: true},
	"replication":         {get: "GetBucketReplication", put: "PutBucketReplication", del: "DeleteBucketReplication", delOK: true},
	"ownershipControls":   {get: "GetBucketOwnershipControls", put: "PutBucketOwnershipControls", del: "DeleteBucketOwnershipControls", delOK: true},
	"publicAccessBlock":   {get: "GetPublicAccessBlock", put: "PutPublicAccessBlock", del: "DeletePublicAccessBlock", delOK: true},
	"logging":             {get: "GetBucketLogging", put: "PutBucketLogging"},
	"notification":        {get: "GetBucketNotificationConfiguration", put: "PutBucketNotificationConfiguration"},
	"accelerate":          {get: "GetBucketAccelerateConfiguration", put: "PutBucketAccelerateConfiguration"},
	"requestPayment":      {get: "GetBucketRequestPayment", put: "PutBucketRequestPayment"},
	"analytics":           {get: "GetBucketAnalyticsConfiguration", put: "PutBucketAnalyticsConfiguration", del: "DeleteBucketAnalyticsConfiguration"},
	"metrics":             {get: "GetBucketMetricsConfiguration", put: "PutBucketMetricsConfiguration", del: "DeleteBucketMetricsConfiguration"},
	"inventory":           {get: "GetBucketInventoryConfiguration", put: "PutBucketInventoryConfiguration", del: "DeleteBucketInventoryConfiguration"},
	"intelligent-tiering": {get: "GetBucketIntelligentTieringConfiguration", put: "PutBucketIntelligentTieringConfiguration", del: "DeleteBucketIntelligentTieringConfiguration"},
	"metadataTable":       {get: "GetBucketMetadataTableConfiguration", put: "CreateBucketMetadataTableConfiguration", del: "DeleteBucketMetadataTableConfiguration"},
}

// getSafe lists the absent configurations whose GET minicloud answers (with AWS's "not found"
// error or an empty document); the others answer NotImplemented.
var getSafe = map[string]bool{
	"lifecycle": true, "encryption": true, "object-lock": true, "website": true, "replication": true,
	"ownershipControls": true, "publicAccessBlock": true, "logging": true, "notification": true,
	"accelerate": true, "requestPayment": true,
}

// absentSubresource returns the first absent-configuration subresource named in q.
func absentSubresource(q url.Values) (string, bucketSubresource, bool) {
	for k := range q {
		if s, ok := absentSubresources[k]; ok {
			return k, s, true
		}
	}
	return "", bucketSubresource{}, false
}

// route tells the operation from the method, the presence of bucket and key, the subresource
// query parameters and, for PUT, the copy-source header. Unknown query parameters are ignored as
// AWS does (SDKs add some, such as x-id).
func route(method, bucket, key string, q url.Values, hdr http.Header) (op, string) {
	if method == http.MethodOptions {
		return opPreflight, "PreflightRequest"
	}
	switch {
	case bucket == "":
		if method == http.MethodGet {
			return opListBuckets, "ListBuckets"
		}
		return opMethodNotAllowed, "Unknown"
	case key == "":
		return routeBucket(method, q)
	}
	return routeObject(method, q, hdr)
}

func routeBucket(method string, q url.Values) (op, string) {
	switch method {
	case http.MethodGet:
		switch {
		case q.Has("location"):
			return opGetBucketLocation, "GetBucketLocation"
		case q.Has("versioning"):
			return opGetBucketVersioning, "GetBucketVersioning"
		case q.Has("cors"):
			return opGetBucketCors, "GetBucketCors"
		case q.Has("policy"):
			return opGetBucketPolicy, "GetBucketPolicy"
		case q.Has("policyStatus"):
			return opGetBucketPolicyStatus, "GetBucketPolicyStatus"
		case q.Has("tagging"):
			return opGetBucketTagging, "GetBucketTagging"
		case q.Has("acl"):
			return opGetBucketAcl, "GetBucketAcl"
		case q.Has("uploads"):
			return opListMultipartUploads, "ListMultipartUploads"
		case q.Has("versions"):
			return opListObjectVersions, "ListObjectVersions"
		case q.Has("session"):
			return opNotImplemented, "CreateSession"
		}
		if k, s, ok := absentSubresource(q); ok {
			if getSafe[k] {
				return opGetBucketConfig, s.get
			}
			return opNotImplemented, s.get
		}
		if q.Has("list-type") {
			return opListObjectsV2, "ListObjectsV2"
		}
		return opListObjects, "ListObjects"
	case http.MethodHead:
		return opHeadBucket, "HeadBucket"
	case http.MethodPut:
		switch {
		case q.Has("versioning"):
			return opPutBucketVersioning, "PutBucketVersioning"
		case q.Has("cors"):
			return opPutBucketCors, "PutBucketCors"
		case q.Has("policy"):
			return opPutBucketPolicy, "PutBucketPolicy"
		case q.Has("tagging"):
			return opPutBucketTagging, "PutBucketTagging"
		case q.Has("acl"):
			return opPutBucketAcl, "PutBucketAcl"
		}
		if _, s, ok := absentSubresource(q); ok {
			return opNotImplemented, s.put
		}
		return opCreateBucket, "CreateBucket"
	case http.MethodDelete:
		switch {
		case q.Has("cors"):
			return opDeleteBucketCors, "DeleteBucketCors"
		case q.Has("policy"):
			return opDeleteBucketPolicy, "DeleteBucketPolicy"
		case q.Has("tagging"):
			return opDeleteBucketTagging, "DeleteBucketTagging"
		}
		if _, s, ok := absentSubresource(q); ok {
			if s.delOK {
				return opDeleteBucketConfig, s.del
			}
			if s.del == "" {
				return opMethodNotAllowed, "Unknown"
			}
			return opNotImplemented, s.del
		}
		return opDeleteBucket, "DeleteBucket"
	case http.MethodPost:
		if q.Has("delete") {
			return opDeleteObjects, "DeleteObjects"
		}
		// A POST to a bucket without ?delete is a browser form upload.
		return opNotImplemented, "PostObject"
	}
	return opMethodNotAllowed, "Unknown"
}

func routeObject(method string, q url.Values, hdr http.Header) (op, string) {
	switch method {
	case http.MethodGet:
		switch {
		case q.Has("uploadId"):
			return opListParts, "ListParts"
		case q.Has("tagging"):
			return opGetObjectTagging, "GetObjectTagging"
		case q.Has("acl"):
			return opGetObjectAcl, "GetObjectAcl"
		case q.Has("attributes"):
			return opGetObjectAttributes, "GetObjectAttributes"
		case q.Has("retention"):
			return opObjectLockAbsent, "GetObjectRetention"
		case q.Has("legal-hold"):
			return opObjectLockAbsent, "GetObjectLegalHold"
		case q.Has("torrent"):
			return opNotImplemented, "GetObjectTorrent"
		}
		return opGetObject, "GetObject"
	case http.MethodHead:
		return opHeadObject, "HeadObject"
	case http.MethodPut:
		switch {
		case q.Has("uploadId") || q.Has("partNumber"):
			if hdr.Get("X-Amz-Copy-Source") != "" {
				return opUploadPartCopy, "UploadPartCopy"
			}
			return opUploadPart, "UploadPart"
		case q.Has("tagging"):
			return opPutObjectTagging, "PutObjectTagging"
		case q.Has("acl"):
			return opPutObjectAcl, "PutObjectAcl"
		case q.Has("retention"):
			return opObjectLockAbsent, "PutObjectRetention"
		case q.Has("legal-hold"):
			return opObjectLockAbsent, "PutObjectLegalHold"
		case hdr.Get("X-Amz-Copy-Source") != "":
			return opCopyObject, "CopyObject"
		}
		return opPutObject, "PutObject"
	case http.MethodDelete:
		switch {
		case q.Has("uploadId"):
			return opAbortMultipartUpload, "AbortMultipartUpload"
		case q.Has("tagging"):
			return opDeleteObjectTagging, "DeleteObjectTagging"
		}
		return opDeleteObject, "DeleteObject"
	case http.MethodPost:
		switch {
		case q.Has("uploads"):
			return opCreateMultipartUpload, "CreateMultipartUpload"
		case q.Has("uploadId"):
			return opCompleteMultipartUpload, "CompleteMultipartUpload"
		case q.Has("restore"):
			return opRestoreObject, "RestoreObject"
		case q.Has("select"):
			return opNotImplemented, "SelectObjectContent"
		}
	}
	return opMethodNotAllowed, "Unknown"
}
