// Package sigv4 verifies AWS Signature Version 4 on incoming S3 requests, server side.
//
// It checks the Authorization header or a presigned query, and wraps the request body so that
// what the caller reads is the payload the client signed: aws-chunked bodies are decoded, chunk
// and trailer signatures, x-amz-content-sha256, Content-MD5 and x-amz-checksum-* values are
// verified, and any mismatch surfaces as an error from Read before io.EOF. A caller must
// therefore treat an object as written only after Body returned io.EOF.
//
// Every error is an *s3err.Error. The package knows nothing about buckets, users or policies: it
// tells who signed (or that nobody did) and leaves the decision to the caller. It must not
// buffer a payload or allocate from a size that a client announced.
//
// A caller storing Content-Encoding should drop "aws-chunked" from it: that token only
// describes the transfer, which this package undoes.
package sigv4
