package sigv4

import (
	"crypto/sha256"
	"net/http"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
)

// canonicalRequest returns the SHA-256 of the canonical request, built per AWS's S3 rules:
//
//	method \n canonical URI \n canonical query \n canonical headers \n signed headers \n payload hash
//
// params must be the canonical (AWS-encoded) query pairs; presigned drops X-Amz-Signature.
func canonicalRequest(r *http.Request, params []queryParam, presigned bool, signedHeaders, payloadHash string) [32]byte {
	var stack [1024]byte // most canonical requests fit, so building one costs no allocation
	b := append(stack[:0], r.Method...)
	b = append(b, '\n')
	b = appendCanonicalURI(b, rawPath(r))
	b = append(b, '\n')
	b = appendCanonicalQuery(b, params, presigned)
	b = append(b, '\n')
	b = appendCanonicalHeaders(b, r, signedHeaders)
	b = append(b, '\n')
	b = append(b, signedHeaders...)
	b = append(b, '\n')
	b = append(b, payloadHash...)
	return sha256.Sum256(b)
}

// rawPath returns the path exactly as the client sent it: the signature covers the client's
// encoding, which a decoded r.URL.Path has lost (%2F versus /, for one).
func rawPath(r *http.Request) string {
	u := r.RequestURI
	if i := strings.Index(u, "://"); i >= 0 && !strings.HasPrefix(u, "/") {
		// Absolute form (a proxy request, or httptest.NewRequest): drop scheme and authority.
		u = u[i+3:]
		j := strings.IndexAny(u, "/?")
		if j < 0 {
			return "/"
		}
		u = u[j:]
	}
	if !strings.HasPrefix(u, "/") {
		u = r.URL.EscapedPath()
	}
	if i := strings.IndexByte(u, '?'); i >= 0 {
		u = u[:i]
	}
	if u == "" {
		return "/"
	}
	return u
}

// appendCanonicalURI writes the path in AWS's single encoding: every byte but the unreserved
// ones and '/' percent-encoded in upper case. S3 neither encodes twice nor removes dot
// segments, so a path the client already encoded only has its escapes normalised.
func appendCanonicalURI(b []byte, path string) []byte {
	for i := 0; i < len(path); i++ {
		c := path[i]
		switch {
		case c == '/':
			b = append(b, '/')
		case c == '%' && i+2 < len(path) && ishex(path[i+1]) && ishex(path[i+2]):
			b = appendEscaped(b, unhex(path[i+1])<<4|unhex(path[i+2]))
			i += 2
		default:
			b = appendEscaped(b, c)
		}
	}
	return b
}

// queryParam is one query pair in canonical (AWS-encoded) form.
type queryParam struct{ key, value string }

// parseQuery splits a raw query into canonical pairs, appending to dst. A key without '=' has
// an empty value, as AWS signs it. '+' means a space, as Go's own query parsing (and so the
// SDK's signer) takes it.
func parseQuery(raw string, dst []queryParam) []queryParam {
	for pair := range strings.SplitSeq(raw, "&") {
		if pair == "" {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		dst = append(dst, queryParam{canonicalComponent(k), canonicalComponent(v)})
	}
	return dst
}

// appendCanonicalQuery writes the pairs sorted by key, then value, joined by '&'.
func appendCanonicalQuery(b []byte, params []queryParam, presigned bool) []byte {
	slices.SortFunc(params, func(x, y queryParam) int {
		if c := strings.Compare(x.key, y.key); c != 0 {
			return c
		}
		return strings.Compare(x.value, y.value)
	})
	first := true
	for _, p := range params {
		if presigned && p.key == "X-Amz-Signature" {
			continue
		}
		if !first {
			b = append(b, '&')
		}
		first = false
		b = append(b, p.key...)
		b = append(b, '=')
		b = append(b, p.value...)
	}
	return b
}

// canonicalComponent returns a raw query component in AWS's encoding. Most components already
// are (SDKs send them so), and are returned without allocating.
func canonicalComponent(raw string) string {
	if isCanonical(raw) {
		return raw
	}
	b := make([]byte, 0, len(raw)+8)
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case c == '+':
			c = ' '
		case c == '%' && i+2 < len(raw) && ishex(raw[i+1]) && ishex(raw[i+2]):
			c = unhex(raw[i+1])<<4 | unhex(raw[i+2])
			i += 2
		}
		b = appendEscaped(b, c)
	}
	return string(b)
}

// isCanonical tells whether s is exactly what appendEscaped would produce for its bytes.
func isCanonical(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if unreserved(c) {
			continue
		}
		if c != '%' || i+2 >= len(s) || !isUpperHex(s[i+1]) || !isUpperHex(s[i+2]) ||
			unreserved(unhex(s[i+1])<<4|unhex(s[i+2])) {
			return false
		}
		i += 2
	}
	return true
}

// unescape decodes the %XX escapes of a canonical component.
func unescape(s string) string {
	if strings.IndexByte(s, '%') < 0 {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			b = append(b, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
			continue
		}
		b = append(b, s[i])
	}
	return string(b)
}

// appendCanonicalHeaders writes "name:value\n" for each signed header, in the order of the
// signed list (the order the client signed in). Values are trimmed, runs of spaces collapsed,
// and repeated headers joined with ','.
func appendCanonicalHeaders(b []byte, r *http.Request, signedHeaders string) []byte {
	for name := range strings.SplitSeq(signedHeaders, ";") {
		b = append(b, name...)
		b = append(b, ':')
		switch name {
		case "host":
			b = appendHeaderValue(b, r.Host)
		default:
			vals := headerValues(r.Header, name)
			if vals == nil {
				vals = implicitHeader(r, name)
			}
			for i, v := range vals {
				if i > 0 {
					b = append(b, ',')
				}
				b = appendHeaderValue(b, v)
			}
		}
		b = append(b, '\n')
	}
	return b
}

// implicitHeader covers the headers Go keeps outside r.Header: a server moves
// Transfer-Encoding out, and a client-built request keeps its length only in ContentLength.
func implicitHeader(r *http.Request, name string) []string {
	switch name {
	case "content-length":
		if r.ContentLength > 0 {
			return []string{strconv.FormatInt(r.ContentLength, 10)}
		}
	case "transfer-encoding":
		return r.TransferEncoding
	}
	return nil
}

// headerValues looks a lower-case name up in h without allocating: the canonical form is built
// on the stack, and a map index by string(bytes) does not copy.
func headerValues(h http.Header, name string) []string {
	var buf [64]byte
	if len(name) > len(buf) {
		return h[textproto.CanonicalMIMEHeaderKey(name)]
	}
	k := buf[:len(name)]
	upper := true
	for i := 0; i < len(name); i++ {
		c := name[i]
		if upper && c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		k[i] = c
		upper = c == '-'
	}
	return h[string(k)]
}

// appendHeaderValue appends v with surrounding white space trimmed and inner runs of spaces
// collapsed to one, as SigV4 canonical headers require.
func appendHeaderValue(b []byte, v string) []byte {
	v = strings.TrimSpace(v)
	space := false
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == ' ' {
			if space {
				continue
			}
			space = true
		} else {
			space = false
		}
		b = append(b, c)
	}
	return b
}

const upperHex = "0123456789ABCDEF"

// appendEscaped appends c, percent-encoded unless it is unreserved (RFC 3986, as AWS uses).
func appendEscaped(b []byte, c byte) []byte {
	if unreserved(c) {
		return append(b, c)
	}
	return append(b, '%', upperHex[c>>4], upperHex[c&15])
}

func unreserved(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

func ishex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func isUpperHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'A' && c <= 'F' }

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10
	}
	return 0
}
