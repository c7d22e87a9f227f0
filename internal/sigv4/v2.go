package sigv4

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/minicloud/minicloud/internal/s3err"
)

// Signature Version 2 is deprecated by AWS but still what older tools send: aws-cli v1's
// `s3 presign` makes V2 presigned URLs by default, and some scripts sign "AWS AK:sig" headers.
// Refusing them would break unmodified clients, so both forms are verified here. V2 signs no
// payload: bodies are checked only against the digests the request declares.

// v2SubResources are the query parameters V2's canonical resource includes.
var v2SubResources = map[string]bool{
	"acl": true, "cors": true, "delete": true, "lifecycle": true, "location": true, "logging": true,
	"notification": true, "partNumber": true, "policy": true, "requestPayment": true, "tagging": true,
	"torrent": true, "uploadId": true, "uploads": true, "versionId": true, "versioning": true,
	"versions": true, "website": true, "replication": true, "encryption": true, "object-lock": true,
	"response-cache-control": true, "response-content-disposition": true, "response-content-encoding": true,
	"response-content-language": true, "response-content-type": true, "response-expires": true,
}

// verifyPresignedV2 checks ?AWSAccessKeyId=&Expires=&Signature=.
func (v *Verifier) verifyPresignedV2(r *http.Request) (Result, error) {
	q := r.URL.Query()
	ak, sig, exp := q.Get("AWSAccessKeyId"), q.Get("Signature"), q.Get("Expires")
	if ak == "" || sig == "" || exp == "" {
		return Result{}, s3err.AccessDenied.With("Query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters")
	}
	expires, err := strconv.ParseInt(exp, 10, 64)
	if err != nil {
		return Result{}, s3err.AccessDenied.With("Invalid date (should be seconds since epoch): %s", exp)
	}
	if v.now().Unix() > expires {
		return Result{}, s3err.AccessDenied.With("Request has expired")
	}
	secret, err := v.secret(ak)
	if err != nil {
		return Result{}, err
	}
	if !v2SignatureMatches(secret, v2StringToSign(r, exp), sig) {
		return Result{}, s3err.SignatureDoesNotMatch
	}
	return newResult(r, ak, payload{mode: payloadUnsigned, raw: "UNSIGNED-PAYLOAD"}, nil)
}

// verifyHeaderV2 checks "Authorization: AWS AccessKeyId:Signature".
func (v *Verifier) verifyHeaderV2(r *http.Request, header string) (Result, error) {
	ak, sig, ok := strings.Cut(strings.TrimPrefix(header, "AWS "), ":")
	if !ok || ak == "" || sig == "" {
		return Result{}, s3err.AuthorizationHeaderMalformed.With("The authorization header is malformed; expected AWS AccessKeyId:Signature.")
	}
	date := r.Header.Get("Date")
	if r.Header.Get("X-Amz-Date") != "" {
		date = "" // x-amz-date is signed among the x-amz headers instead
	}
	if t, err := requestTimeV2(r); err != nil {
		return Result{}, err
	} else if d := v.now().Sub(t); d > maxSkew || d < -maxSkew {
		return Result{}, s3err.RequestTimeTooSkewed
	}
	secret, err := v.secret(ak)
	if err != nil {
		return Result{}, err
	}
	if !v2SignatureMatches(secret, v2StringToSign(r, date), sig) {
		return Result{}, s3err.SignatureDoesNotMatch
	}
	return newResult(r, ak, payload{mode: payloadUnsigned, raw: "UNSIGNED-PAYLOAD"}, nil)
}

func requestTimeV2(r *http.Request) (t time.Time, err error) {
	for _, h := range []string{"X-Amz-Date", "Date"} {
		if v := r.Header.Get(h); v != "" {
			if t, err := http.ParseTime(v); err == nil {
				return t, nil
			}
			if t, err := time.Parse(time.RFC1123Z, v); err == nil {
				return t, nil
			}
			return t, s3err.AccessDenied.With("AWS authentication requires a valid Date or x-amz-date header")
		}
	}
	return t, s3err.AccessDenied.With("AWS authentication requires a valid Date or x-amz-date header")
}

func v2SignatureMatches(secret, stringToSign, sig string) bool {
	m := hmac.New(sha1.New, []byte(secret))
	m.Write([]byte(stringToSign))
	want := m.Sum(nil)
	got, err := base64.StdEncoding.DecodeString(sig)
	return err == nil && hmac.Equal(want, got)
}

// v2StringToSign builds VERB\nContent-MD5\nContent-Type\nDATE\nAmzHeaders+Resource, where DATE
// is the Date header or, for a presigned URL, Expires.
func v2StringToSign(r *http.Request, date string) string {
	var b strings.Builder
	b.WriteString(r.Method + "\n")
	b.WriteString(r.Header.Get("Content-Md5") + "\n")
	b.WriteString(r.Header.Get("Content-Type") + "\n")
	b.WriteString(date + "\n")
	var amz []string
	for k := range r.Header {
		lk := strings.ToLower(k)
		if strings.HasPrefix(lk, "x-amz-") {
			vals := make([]string, 0, len(r.Header[k]))
			for _, v := range r.Header[k] {
				vals = append(vals, strings.TrimSpace(v))
			}
			amz = append(amz, lk+":"+strings.Join(vals, ","))
		}
	}
	sort.Strings(amz)
	for _, h := range amz {
		b.WriteString(h + "\n")
	}
	b.WriteString(rawPath(r))
	var subs []string
	for k, vs := range r.URL.Query() {
		if !v2SubResources[k] {
			continue
		}
		if len(vs) == 0 || vs[0] == "" {
			subs = append(subs, k)
		} else {
			subs = append(subs, k+"="+vs[0])
		}
	}
	sort.Strings(subs)
	if len(subs) > 0 {
		b.WriteString("?" + strings.Join(subs, "&"))
	}
	return b.String()
}
