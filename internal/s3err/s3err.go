// Package s3err holds the one table of S3 error codes, HTTP statuses and messages that every part of
// the S3 API answers with. It must not depend on any other minicloud package, so that parsers
// (sigv4, XML, ranges) and the object layer's mapping can all use it.
package s3err

import (
	"errors"
	"fmt"
	"net/http"
)

// Error is an S3 error: a code from AWS's list, the HTTP status AWS sends with it, and a message.
type Error struct {
	Code    string
	Status  int
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Is makes errors.Is match on the code, so a copy with another message still matches its table entry.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// With returns a copy of e with a more specific message.
func (e *Error) With(format string, args ...any) *Error {
	c := *e
	c.Message = fmt.Sprintf(format, args...)
	return &c
}

// As returns the S3 error carried by err, or InternalError when err is not one.
func As(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return InternalError
}

func def(code string, status int, msg string) *Error {
	return &Error{Code: code, Status: status, Message: msg}
}

// The table. Statuses and messages follow AWS's documented error responses.
var (
	AccessDenied                       = def("AccessDenied", http.StatusForbidden, "Access Denied.")
	AccountProblem                     = def("AccountProblem", http.StatusForbidden, "There is a problem with your account.")
	AuthorizationHeaderMalformed       = def("AuthorizationHeaderMalformed", http.StatusBadRequest, "The authorization header is malformed.")
	AuthorizationQueryParamsError      = def("AuthorizationQueryParametersError", http.StatusBadRequest, "The authorization query parameters are malformed.")
	BadDigest                          = def("BadDigest", http.StatusBadRequest, "The Content-MD5 or checksum you specified did not match what we received.")
	BucketAlreadyExists                = def("BucketAlreadyExists", http.StatusConflict, "The requested bucket name is not available.")
	BucketAlreadyOwnedByYou            = def("BucketAlreadyOwnedByYou", http.StatusConflict, "Your previous request to create the named bucket succeeded and you already own it.")
	BucketNotEmpty                     = def("BucketNotEmpty", http.StatusConflict, "The bucket you tried to delete is not empty.")
	EntityTooLarge                     = def("EntityTooLarge", http.StatusBadRequest, "Your proposed upload exceeds the maximum allowed object size.")
	EntityTooSmall                     = def("EntityTooSmall", http.StatusBadRequest, "Your proposed upload is smaller than the minimum allowed object size.")
	ExpiredToken                       = def("ExpiredToken", http.StatusBadRequest, "The provided token has expired.")
	IncompleteBody                     = def("IncompleteBody", http.StatusBadRequest, "You did not provide the number of bytes specified by the Content-Length HTTP header.")
	InternalError                      = def("InternalError", http.StatusInternalServerError, "We encountered an internal error. Please try again.")
	InvalidAccessKeyID                 = def("InvalidAccessKeyId", http.StatusForbidden, "The AWS access key Id you provided does not exist in our records.")
	InvalidArgument                    = def("InvalidArgument", http.StatusBadRequest, "Invalid Argument.")
	InvalidBucketName                  = def("InvalidBucketName", http.StatusBadRequest, "The specified bucket is not valid.")
	InvalidBucketState                 = def("InvalidBucketState", http.StatusConflict, "The request is not valid with the current state of the bucket.")
	InvalidDigest                      = def("InvalidDigest", http.StatusBadRequest, "The Content-MD5 or checksum you specified is not valid.")
	InvalidLocationConstraint          = def("InvalidLocationConstraint", http.StatusBadRequest, "The specified location constraint is not valid.")
	InvalidObjectState                 = def("InvalidObjectState", http.StatusForbidden, "The operation is not valid for the current state of the object.")
	InvalidPart                        = def("InvalidPart", http.StatusBadRequest, "One or more of the specified parts could not be found. The part might not have been uploaded, or the specified entity tag might not have matched the part's entity tag.")
	InvalidPartOrder                   = def("InvalidPartOrder", http.StatusBadRequest, "The list of parts was not in ascending order. Parts must be ordered by part number.")
	InvalidPolicyDocument              = def("MalformedPolicy", http.StatusBadRequest, "The policy is not valid.")
	InvalidRange                       = def("InvalidRange", http.StatusRequestedRangeNotSatisfiable, "The requested range is not satisfiable.")
	InvalidRequest                     = def("InvalidRequest", http.StatusBadRequest, "Invalid Request.")
	InvalidStorageClass                = def("InvalidStorageClass", http.StatusBadRequest, "The storage class you specified is not valid.")
	InvalidTag                         = def("InvalidTag", http.StatusBadRequest, "The tag provided was not a valid tag.")
	InvalidURI                         = def("InvalidURI", http.StatusBadRequest, "Couldn't parse the specified URI.")
	KeyTooLong                         = def("KeyTooLongError", http.StatusBadRequest, "Your key is too long.")
	MalformedXML                       = def("MalformedXML", http.StatusBadRequest, "The XML you provided was not well-formed or did not validate against our published schema.")
	MalformedPolicy                    = def("MalformedPolicy", http.StatusBadRequest, "Policies must be valid JSON and the first byte must be '{'.")
	MaxMessageLengthExceeded           = def("MaxMessageLengthExceeded", http.StatusBadRequest, "Your request was too big.")
	MetadataTooLarge                   = def("MetadataTooLarge", http.StatusBadRequest, "Your metadata headers exceed the maximum allowed metadata size.")
	MethodNotAllowed                   = def("MethodNotAllowed", http.StatusMethodNotAllowed, "The specified method is not allowed against this resource.")
	MissingContentLength               = def("MissingContentLength", http.StatusLengthRequired, "You must provide the Content-Length HTTP header.")
	MissingRequestBodyError            = def("MissingRequestBodyError", http.StatusBadRequest, "Request Body is empty.")
	MissingSecurityHeader              = def("MissingSecurityHeader", http.StatusBadRequest, "Your request was missing a required header.")
	NoSuchBucket                       = def("NoSuchBucket", http.StatusNotFound, "The specified bucket does not exist.")
	NoSuchBucketPolicy                 = def("NoSuchBucketPolicy", http.StatusNotFound, "The bucket policy does not exist.")
	NoSuchCORSConfiguration            = def("NoSuchCORSConfiguration", http.StatusNotFound, "The CORS configuration does not exist.")
	NoSuchKey                          = def("NoSuchKey", http.StatusNotFound, "The specified key does not exist.")
	NoSuchTagSet                       = def("NoSuchTagSet", http.StatusNotFound, "The TagSet does not exist.")
	NoSuchUpload                       = def("NoSuchUpload", http.StatusNotFound, "The specified multipart upload does not exist. The upload ID might be invalid, or the multipart upload might have been aborted or completed.")
	NoSuchVersion                      = def("NoSuchVersion", http.StatusNotFound, "The specified version does not exist.")
	NotImplemented                     = def("NotImplemented", http.StatusNotImplemented, "A header you provided implies functionality that is not implemented.")
	NotModified                        = def("NotModified", http.StatusNotModified, "Not Modified.")
	PreconditionFailed                 = def("PreconditionFailed", http.StatusPreconditionFailed, "At least one of the preconditions you specified did not hold.")
	RequestTimeTooSkewed               = def("RequestTimeTooSkewed", http.StatusForbidden, "The difference between the request time and the server's time is too large.")
	RequestTimeout                     = def("RequestTimeout", http.StatusBadRequest, "Your socket connection to the server was not read from or written to within the timeout period.")
	ServiceUnavailable                 = def("ServiceUnavailable", http.StatusServiceUnavailable, "Please reduce your request rate.")
	SignatureDoesNotMatch              = def("SignatureDoesNotMatch", http.StatusForbidden, "The request signature we calculated does not match the signature you provided. Check your key and signing method.")
	SlowDown                           = def("SlowDown", http.StatusServiceUnavailable, "Please reduce your request rate.")
	TooManyBuckets                     = def("TooManyBuckets", http.StatusBadRequest, "You have attempted to create more buckets than allowed.")
	UnexpectedContent                  = def("UnexpectedContent", http.StatusBadRequest, "This request does not support content.")
	XAmzContentSHA256Mismatch          = def("XAmzContentSHA256Mismatch", http.StatusBadRequest, "The provided 'x-amz-content-sha256' header does not match what was computed.")
	InvalidChunkSizeError              = def("InvalidChunkSizeError", http.StatusBadRequest, "Only the last chunk is allowed to have a size less than 8192 bytes.")
	MalformedPOSTRequest               = def("MalformedPOSTRequest", http.StatusBadRequest, "The body of your POST request is not well-formed multipart/form-data.")
	NoSuchLifecycleConfiguration       = def("NoSuchLifecycleConfiguration", http.StatusNotFound, "The lifecycle configuration does not exist.")
	ObjectLockConfigurationMissing     = def("ObjectLockConfigurationNotFoundError", http.StatusNotFound, "Object Lock configuration does not exist for this bucket.")
	ServerSideEncryptionConfigNotFound = def("ServerSideEncryptionConfigurationNotFoundError", http.StatusNotFound, "The server side encryption configuration was not found.")
	InvalidEncryptionAlgorithm         = def("InvalidEncryptionAlgorithmError", http.StatusBadRequest, "The encryption request you specified is not valid.")
	NoSuchWebsiteConfiguration         = def("NoSuchWebsiteConfiguration", http.StatusNotFound, "The specified bucket does not have a website configuration.")
	ReplicationUnavailable             = def("ServiceUnavailable", http.StatusServiceUnavailable, "No replica of this data is reachable now; retry later.")
	// Codes the S3 API needs for requests that AWS answers with them.
	AccessForbidden                      = def("AccessForbidden", http.StatusForbidden, "CORSResponse: This CORS request is not allowed. This is usually because the evaluation of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.")
	BadRequest                           = def("BadRequest", http.StatusBadRequest, "Bad Request.")
	InvalidPartNumber                    = def("InvalidPartNumber", http.StatusRequestedRangeNotSatisfiable, "The requested partnumber is not satisfiable.")
	IllegalLocationConstraint            = def("IllegalLocationConstraintException", http.StatusBadRequest, "The location constraint is incompatible for the region specific endpoint this request was sent to.")
	ReplicationConfigurationNotFound     = def("ReplicationConfigurationNotFoundError", http.StatusNotFound, "The replication configuration was not found.")
	OwnershipControlsNotFound            = def("OwnershipControlsNotFoundError", http.StatusNotFound, "The bucket ownership controls were not found.")
	NoSuchPublicAccessBlockConfiguration = def("NoSuchPublicAccessBlockConfiguration", http.StatusNotFound, "The public access block configuration was not found.")
)
