package sigv4

import (
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/minicloud/minicloud/internal/s3err"
)

const (
	signingAlgorithm = "AWS4-HMAC-SHA256"
	amzDateLayout    = "20060102T150405Z"
	// maxSkew is how far a request's own time may be from ours, as in AWS.
	maxSkew = 15 * time.Minute
	// maxPresignExpires is AWS's limit for X-Amz-Expires: one week.
	maxPresignExpires = 7 * 24 * 60 * 60
)

// Verifier checks SigV4 signatures. Its fields are set once, before use; after that it is safe
// for concurrent use and must not be copied (it holds a cache of signing keys).
type Verifier struct {
	// Region is the server's region. A credential scope naming another region is refused, as
	// AWS does. Empty accepts any region (the scope's region still enters the signature).
	Region string
	// Secret returns the secret key of an access key; ok false means no such key.
	Secret func(accessKey string) (secret string, ok bool)
	// Now returns the current time; nil means time.Now.
	Now func() time.Time

	keys keyCache
}

// Result is what Verify learned about a request.
type Result struct {
	// AccessKey is the key that signed the request, "" for an anonymous request.
	AccessKey string
	// Body is the payload to read instead of r.Body: decoded and verified; a mismatch is an
	// *s3err.Error returned by Read in place of io.EOF. Closing it closes r.Body.
	Body io.ReadCloser
	// Size is the decoded payload length, or -1 when unknown.
	Size int64
	// Checksum returns the verified x-amz-checksum-* the client sent (algorithm upper-case,
	// base64 value), or ("", "") when there is none or Body has not returned io.EOF yet.
	Checksum func() (algorithm, value string)
}

// Verify authenticates r. It does not read the body; the payload checks happen as Result.Body
// is read.
func (v *Verifier) Verify(r *http.Request) (Result, error) {
	auth := r.Header.Values("Authorization")
	presigned := hasPresignParams(r.URL.RawQuery)
	switch {
	case len(auth) > 1:
		return Result{}, s3err.InvalidArgument.With("Only one Authorization header is allowed.")
	case len(auth) == 1 && presigned:
		return Result{}, s3err.InvalidArgument.With("Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified.")
	case len(auth) == 1 && strings.HasPrefix(auth[0], "AWS "):
		return v.verifyHeaderV2(r, auth[0])
	case len(auth) == 1:
		return v.verifyHeader(r, auth[0])
	case presigned:
		return v.verifyPresigned(r)
	case hasPresignV2Params(r.URL.RawQuery):
		return v.verifyPresignedV2(r)
	}
	return anonymous(r)
}

// anonymous serves a request that carries no authentication. Its payload is still checked
// against whatever digests it declares.
func anonymous(r *http.Request) (Result, error) {
	hash := r.Header.Get("X-Amz-Content-Sha256")
	if hash == "" && hasToken(r.Header.Values("Content-Encoding"), "aws-chunked") {
		// An unsigned client may frame its body as aws-chunked without naming the mode; the
		// body must be decoded either way, or the framing would be stored as data.
		hash = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
	}
	p, err := parsePayloadHash(hash, false)
	if err != nil {
		return Result{}, err
	}
	if p.mode == payloadStreamingSigned || p.mode == payloadStreamingSignedTrailer {
		return Result{}, s3err.AccessDenied.With("A signed streaming payload needs a signed request.")
	}
	return newResult(r, "", p, nil)
}

func (v *Verifier) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

// secret looks the access key up; unknown keys get AWS's InvalidAccessKeyId.
func (v *Verifier) secret(accessKey string) (string, error) {
	if v.Secret != nil {
		if s, ok := v.Secret(accessKey); ok {
			return s, nil
		}
	}
	return "", s3err.InvalidAccessKeyID
}

// hasPresignParams tells whether the query carries SigV4 query authentication. It looks at
// keys only: "?prefix=X-Amz-Signature" is a listing, not a presigned URL.
func hasPresignParams(rawQuery string) bool {
	return hasQueryKey(rawQuery, "X-Amz-Signature", "X-Amz-Credential", "X-Amz-Algorithm")
}

// hasPresignV2Params recognises a SigV2 presigned URL (aws-cli v1's s3 presign makes them).
func hasPresignV2Params(rawQuery string) bool {
	return hasQueryKey(rawQuery, "AWSAccessKeyId") && hasQueryKey(rawQuery, "Signature")
}

// hasQueryKey tells whether the raw query has a parameter named one of names (which are
// plain ASCII, so that their canonical form is themselves).
func hasQueryKey(rawQuery string, names ...string) bool {
	if rawQuery == "" {
		return false
	}
	for pair := range strings.SplitSeq(rawQuery, "&") {
		k, _, _ := strings.Cut(pair, "=")
		if k == "" {
			continue
		}
		k = canonicalComponent(k)
		for _, n := range names {
			if k == n {
				return true
			}
		}
	}
	return false
}

// hasToken tells whether a comma-separated header holds token, any case.
func hasToken(values []string, token string) bool {
	for _, v := range values {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// checkSignedXAmz enforces AWS's rule that every x-amz-* header of a request is signed, so that
// nobody can add one (an ACL, a copy source, a payload hash) to a signed request.
func checkSignedXAmz(h http.Header, signedHeaders string, skip string) error {
	var missing []string
	for name := range h {
		if len(name) < 6 || !strings.EqualFold(name[:6], "x-amz-") || strings.EqualFold(name, skip) {
			continue
		}
		if !headerListHas(signedHeaders, name) {
			missing = append(missing, strings.ToLower(name))
		}
	}
	if len(missing) > 0 {
		return s3err.AccessDenied.With("There were headers present in the request which were not signed: %s", strings.Join(missing, ", "))
	}
	return nil
}

// headerListHas tells whether the ;-separated list of lower-case names holds name.
func headerListHas(list, name string) bool {
	for h := range strings.SplitSeq(list, ";") {
		if strings.EqualFold(h, name) {
			return true
		}
	}
	return false
}
