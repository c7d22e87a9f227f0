package ingest

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
)

// verifyUnhashed checks a SigV4 header signature made over a payload whose hash the client did
// not send as X-Amz-Content-Sha256. curl before 8 signs --aws-sigv4 requests that way (Debian
// 12 ships 7.88), and S3 (so the node's sigv4.Verifier) requires the header. Ingest reads the
// whole body first, so it knows the hash and can check such a signature itself; this covers the
// header form only, the one curl uses. It returns the access key that signed.
func verifyUnhashed(r *http.Request, body []byte, region string, secret func(string) (string, bool), now time.Time) (string, error) {
	auth, ok := strings.CutPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ")
	if !ok {
		return "", errors.New("not a SigV4 header signature")
	}
	fields := map[string]string{}
	for _, f := range strings.Split(auth, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(f), "=")
		fields[k] = v
	}
	cred := strings.Split(fields["Credential"], "/")
	signed := strings.Split(fields["SignedHeaders"], ";")
	if len(cred) != 5 || cred[4] != "aws4_request" || fields["SignedHeaders"] == "" || len(fields["Signature"]) != 64 {
		return "", errors.New("malformed Authorization header")
	}
	ak, day, reg, service := cred[0], cred[1], cred[2], cred[3]
	if region != "" && reg != region {
		return "", fmt.Errorf("the credential's region %q is not this node's %q", reg, region)
	}
	amzDate := r.Header.Get("X-Amz-Date")
	t, err := time.Parse("20060102T150405Z", amzDate)
	if err != nil || !strings.HasPrefix(amzDate, day) {
		return "", errors.New("missing or bad X-Amz-Date")
	}
	if d := now.Sub(t); d > 15*time.Minute || d < -15*time.Minute {
		return "", errors.New("the request time is more than 15 minutes from the server's")
	}
	for _, h := range []string{"host", "x-amz-date"} {
		if !contains(signed, h) {
			return "", fmt.Errorf("the %s header must be signed", h)
		}
	}
	for name := range r.Header {
		if l := strings.ToLower(name); strings.HasPrefix(l, "x-amz-") && !contains(signed, l) {
			return "", fmt.Errorf("header %s is not signed", l)
		}
	}
	key, ok := secret(ak)
	if !ok {
		return "", errors.New("unknown access key")
	}
	sum := sha256.Sum256(body)
	canonical := strings.Join([]string{
		r.Method, canonicalURI(r.URL), canonicalQuery(r.URL.Query()),
		canonicalHeaders(r, signed), strings.Join(signed, ";"), hex.EncodeToString(sum[:]),
	}, "\n")
	scope := strings.Join(cred[1:], "/")
	crSum := sha256.Sum256([]byte(canonical))
	toSign := "AWS4-HMAC-SHA256\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(crSum[:])
	k := hmacSHA256([]byte("AWS4"+key), day)
	k = hmacSHA256(k, reg)
	k = hmacSHA256(k, service)
	k = hmacSHA256(k, "aws4_request")
	want := hex.EncodeToString(hmacSHA256(k, toSign))
	if subtle.ConstantTimeCompare([]byte(want), []byte(fields["Signature"])) != 1 {
		return "", errors.New("the signature does not match: check the access key's secret")
	}
	return ak, nil
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// awsEscape percent-encodes everything but AWS's unreserved characters.
func awsEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// canonicalURI is S3's: each path segment encoded once.
func canonicalURI(u *url.URL) string {
	segs := strings.Split(u.EscapedPath(), "/")
	for i, s := range segs {
		if d, err := url.PathUnescape(s); err == nil {
			s = d
		}
		segs[i] = awsEscape(s)
	}
	if p := strings.Join(segs, "/"); p != "" {
		return p
	}
	return "/"
}

func canonicalQuery(q url.Values) string {
	var parts []string
	for k, vs := range q {
		for _, v := range vs {
			parts = append(parts, awsEscape(k)+"="+awsEscape(v))
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, "&")
}

func canonicalHeaders(r *http.Request, signed []string) string {
	var b strings.Builder
	for _, name := range signed {
		var vals []string
		if name == "host" {
			vals = []string{r.Host}
		} else {
			vals = r.Header.Values(name)
		}
		for i, v := range vals {
			vals[i] = strings.Join(strings.Fields(v), " ")
		}
		b.WriteString(name + ":" + strings.Join(vals, ",") + "\n")
	}
	return b.String()
}
