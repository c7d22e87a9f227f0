package sigv4

import (
	"net/http"
	"strconv"
	"time"

	"github.com/minicloud/minicloud/internal/s3err"
)

// presignQuery holds the authentication parameters of a presigned URL, decoded.
type presignQuery struct {
	algorithm     string
	credential    credential
	amzDate       string
	date          time.Time
	expires       int64
	signedHeaders string
	signature     string
	payloadHash   string // X-Amz-Content-Sha256, rarely present
}

// presignParams are the parameters that must each appear exactly once (AWS checks the first
// six; a repeated one could mean different things to us and to a cache in front of us).
var presignParams = [...]string{
	"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders",
	"X-Amz-Signature", "X-Amz-Content-Sha256",
}

// parsePresignQuery extracts and checks the X-Amz-* parameters from canonical query pairs.
func parsePresignQuery(params []queryParam) (presignQuery, error) {
	var vals [len(presignParams)]string
	var seen [len(presignParams)]bool
	for _, p := range params {
		for i, name := range presignParams {
			if p.key != name {
				continue
			}
			if seen[i] {
				return presignQuery{}, s3err.AuthorizationQueryParamsError.With("%s must appear only once.", name)
			}
			seen[i], vals[i] = true, unescape(p.value)
		}
	}
	for i := range 6 {
		if !seen[i] {
			return presignQuery{}, s3err.AuthorizationQueryParamsError.With("Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.")
		}
	}
	q := presignQuery{algorithm: vals[0], amzDate: vals[2], signedHeaders: vals[4], signature: vals[5], payloadHash: vals[6]}
	if q.algorithm != signingAlgorithm {
		return presignQuery{}, s3err.AuthorizationQueryParamsError.With(`X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"`)
	}
	t, err := time.Parse(amzDateLayout, q.amzDate)
	if err != nil {
		return presignQuery{}, s3err.AuthorizationQueryParamsError.With(`X-Amz-Date must be in the ISO8601 Long Format "yyyyMMdd'T'HHmmss'Z'"`)
	}
	q.date = t
	exp, err := strconv.ParseInt(vals[3], 10, 64)
	switch {
	case err != nil && len(vals[3]) > 0 && vals[3][0] != '-':
		return presignQuery{}, s3err.AuthorizationQueryParamsError.With("X-Amz-Expires should be a number")
	case err != nil || exp < 1:
		return presignQuery{}, s3err.AuthorizationQueryParamsError.With("X-Amz-Expires must be a positive number of seconds")
	case exp > maxPresignExpires:
		return presignQuery{}, s3err.AuthorizationQueryParamsError.With("X-Amz-Expires must be less than a week (in seconds) that is; 604800")
	}
	q.expires = exp
	if err := checkSignedHeaders(q.signedHeaders, queryForm); err != nil {
		return presignQuery{}, err
	}
	if q.credential, err = parseCredential(vals[1], queryForm); err != nil {
		return presignQuery{}, err
	}
	return q, nil
}

// verifyPresigned authenticates a request signed in its query (a presigned URL). Its payload
// is UNSIGNED-PAYLOAD unless the URL itself names a hash.
func (v *Verifier) verifyPresigned(r *http.Request) (Result, error) {
	var buf [16]queryParam
	params := parseQuery(r.URL.RawQuery, buf[:0])
	q, err := parsePresignQuery(params)
	if err != nil {
		return Result{}, err
	}
	if err := v.checkScope(&q.credential, q.amzDate, queryForm); err != nil {
		return Result{}, err
	}
	secret, err := v.secret(q.credential.accessKey)
	if err != nil {
		return Result{}, err
	}
	now := v.now()
	if q.date.Sub(now) > maxSkew {
		return Result{}, s3err.AccessDenied.With("Request is not yet valid")
	}
	if now.After(q.date.Add(time.Duration(q.expires) * time.Second)) {
		return Result{}, s3err.AccessDenied.With("Request has expired")
	}
	hashValue := q.payloadHash
	if hashValue == "" {
		hashValue = "UNSIGNED-PAYLOAD"
	}
	p, err := parsePayloadHash(hashValue, true)
	if err != nil {
		return Result{}, err
	}
	if p.mode != payloadUnsigned && p.mode != payloadSHA256 {
		return Result{}, s3err.InvalidRequest.With("A presigned URL cannot carry a streaming payload.")
	}
	// A header x-amz-content-sha256 plays no part in a presigned signature, so it is not
	// required to be signed; every other x-amz-* header is.
	if err := checkSignedXAmz(r.Header, q.signedHeaders, "X-Amz-Content-Sha256"); err != nil {
		return Result{}, err
	}
	var want [32]byte
	if !decodeSignature(q.signature, &want) {
		return Result{}, s3err.SignatureDoesNotMatch
	}
	key := v.keys.get(secret, q.credential.date, q.credential.region)
	canon := canonicalRequest(r, params, true, q.signedHeaders, p.raw)
	if !signatureMatches(&key, q.amzDate, q.credential.scope, &canon, &want) {
		return Result{}, s3err.SignatureDoesNotMatch
	}
	return newResult(r, q.credential.accessKey, p, nil)
}
