package sigv4

import (
	"net/http"
	"strings"
	"time"

	"github.com/minicloud/minicloud/internal/s3err"
)

// authHeader is a parsed Authorization header:
// AWS4-HMAC-SHA256 Credential=..., SignedHeaders=a;b;c, Signature=<64 hex>.
type authHeader struct {
	credential    credential
	signedHeaders string
	signature     string
}

// parseAuthHeader parses the header value. Spaces around the commas are optional, as AWS
// accepts both forms; every part must appear exactly once.
func parseAuthHeader(s string) (authHeader, error) {
	rest, ok := strings.CutPrefix(s, signingAlgorithm)
	if !ok || rest == "" || rest[0] != ' ' {
		if strings.HasPrefix(s, "AWS ") {
			return authHeader{}, s3err.InvalidArgument.With("Signature Version 2 is not supported; sign requests with Signature Version 4.")
		}
		return authHeader{}, s3err.InvalidArgument.With("Unsupported Authorization Type")
	}
	var a authHeader
	var cred string
	var seen [3]bool
	for part := range strings.SplitSeq(rest, ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		var i int
		switch {
		case !ok:
			return authHeader{}, headerForm.errorf(`the part "%s" is not of the form key=value.`, strings.TrimSpace(part))
		case k == "Credential":
			i, cred = 0, val
		case k == "SignedHeaders":
			i, a.signedHeaders = 1, val
		case k == "Signature":
			i, a.signature = 2, val
		default:
			return authHeader{}, headerForm.errorf(`unknown part "%s".`, k)
		}
		if seen[i] {
			return authHeader{}, headerForm.errorf(`"%s" appears more than once.`, k)
		}
		seen[i] = true
	}
	for i, name := range [3]string{"Credential", "SignedHeaders", "Signature"} {
		if !seen[i] {
			return authHeader{}, headerForm.errorf("the %s is missing.", name)
		}
	}
	if err := checkSignedHeaders(a.signedHeaders, headerForm); err != nil {
		return authHeader{}, err
	}
	c, err := parseCredential(cred, headerForm)
	if err != nil {
		return authHeader{}, err
	}
	a.credential = c
	return a, nil
}

// checkSignedHeaders accepts a ;-separated list of lower-case header names that includes host,
// which AWS requires to be signed.
func checkSignedHeaders(list string, f authForm) error {
	host := false
	for h := range strings.SplitSeq(list, ";") {
		if h == "" {
			return f.malformed.With("SignedHeaders has an empty header name.")
		}
		for i := 0; i < len(h); i++ {
			if c := h[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
				return f.malformed.With("SignedHeaders must be lower-case header names separated by ';'.")
			}
		}
		host = host || h == "host"
	}
	if !host {
		return f.malformed.With("SignedHeaders must include host.")
	}
	return nil
}

// requestTime returns the request's own time from X-Amz-Date, or from Date when X-Amz-Date is
// absent, as the ISO 8601 basic form that enters the string to sign.
func requestTime(h http.Header) (time.Time, string, error) {
	if d := h.Get("X-Amz-Date"); d != "" {
		t, err := time.Parse(amzDateLayout, d)
		if err != nil {
			return time.Time{}, "", errNoDate
		}
		return t, d, nil
	}
	if d := h.Get("Date"); d != "" {
		t, err := http.ParseTime(d)
		if err != nil {
			return time.Time{}, "", errNoDate
		}
		t = t.UTC()
		return t, t.Format(amzDateLayout), nil
	}
	return time.Time{}, "", errNoDate
}

var errNoDate = s3err.AccessDenied.With("AWS authentication requires a valid Date or x-amz-date header")

// verifyHeader authenticates a request signed in its Authorization header. The order of the
// checks follows AWS: shape, time, scope, key, skew, then the signature itself.
func (v *Verifier) verifyHeader(r *http.Request, header string) (Result, error) {
	a, err := parseAuthHeader(header)
	if err != nil {
		return Result{}, err
	}
	t, amzDate, err := requestTime(r.Header)
	if err != nil {
		return Result{}, err
	}
	if err := v.checkScope(&a.credential, amzDate, headerForm); err != nil {
		return Result{}, err
	}
	secret, err := v.secret(a.credential.accessKey)
	if err != nil {
		return Result{}, err
	}
	if d := v.now().Sub(t); d > maxSkew || d < -maxSkew {
		return Result{}, s3err.RequestTimeTooSkewed.With("The difference between the request time (%s) and the server's time is larger than %v.", amzDate, maxSkew)
	}
	p, err := parsePayloadHash(r.Header.Get("X-Amz-Content-Sha256"), true)
	if err != nil {
		return Result{}, err
	}
	if err := checkSignedXAmz(r.Header, a.signedHeaders, ""); err != nil {
		return Result{}, err
	}
	var want [32]byte
	if !decodeSignature(a.signature, &want) {
		return Result{}, s3err.SignatureDoesNotMatch
	}
	key := v.keys.get(secret, a.credential.date, a.credential.region)
	var params [16]queryParam
	canon := canonicalRequest(r, parseQuery(r.URL.RawQuery, params[:0]), false, a.signedHeaders, p.raw)
	if !signatureMatches(&key, amzDate, a.credential.scope, &canon, &want) {
		return Result{}, s3err.SignatureDoesNotMatch
	}
	var seed *chunkSigner
	if p.mode == payloadStreamingSigned || p.mode == payloadStreamingSignedTrailer {
		seed = newChunkSigner(&key, amzDate, a.credential.scope, &want)
	}
	return newResult(r, a.credential.accessKey, p, seed)
}
