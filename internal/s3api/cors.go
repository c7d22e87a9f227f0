package s3api

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/minicloud/minicloud/internal/object"
	"github.com/minicloud/minicloud/internal/s3err"
)

const maxCORSRules = 100 // AWS's limit

// parseCORS parses and validates a CORSConfiguration as AWS does.
func parseCORS(body []byte) ([]object.CORSRule, error) {
	var c corsConfiguration
	if err := decodeXML(body, &c); err != nil {
		return nil, err
	}
	if len(c.Rules) == 0 || len(c.Rules) > maxCORSRules {
		return nil, s3err.MalformedXML
	}
	rules := make([]object.CORSRule, 0, len(c.Rules))
	for _, r := range c.Rules {
		if len(r.AllowedOrigins) == 0 || len(r.AllowedMethods) == 0 {
			return nil, s3err.MalformedXML
		}
		if len(r.ID) > 255 {
			return nil, s3err.InvalidArgument.With("The ID of a CORS rule must be at most 255 characters.")
		}
		for _, m := range r.AllowedMethods {
			switch m {
			case "GET", "PUT", "HEAD", "POST", "DELETE":
			default:
				return nil, s3err.InvalidRequest.With("Found unsupported HTTP method in CORS config. Unsupported method is %s", m)
			}
		}
		for _, o := range r.AllowedOrigins {
			if strings.Count(o, "*") > 1 {
				return nil, s3err.InvalidRequest.With("AllowedOrigin %q can not have more than one wildcard.", o)
			}
		}
		for _, hd := range r.AllowedHeaders {
			if strings.Count(hd, "*") > 1 {
				return nil, s3err.InvalidRequest.With("AllowedHeader %q can not have more than one wildcard.", hd)
			}
		}
		for _, hd := range r.ExposeHeaders {
			if strings.Contains(hd, "*") {
				return nil, s3err.InvalidRequest.With("ExposeHeader %q contains wildcard. We currently do not support wildcard for ExposeHeader.", hd)
			}
		}
		rule := object.CORSRule{
			ID:             r.ID,
			AllowedOrigins: r.AllowedOrigins,
			AllowedMethods: r.AllowedMethods,
			AllowedHeaders: r.AllowedHeaders,
			ExposeHeaders:  r.ExposeHeaders,
		}
		if r.MaxAgeSeconds != nil {
			if *r.MaxAgeSeconds < 0 {
				return nil, s3err.MalformedXML
			}
			rule.MaxAgeSeconds = *r.MaxAgeSeconds
		}
		rules = append(rules, rule)
	}
	return rules, nil
}

func (h *handler) getBucketCors(rq *request) error {
	b, err := h.bucket(rq)
	if err != nil {
		return err
	}
	if len(b.CORS) == 0 {
		return s3err.NoSuchCORSConfiguration
	}
	out := corsResponse{Rules: make([]corsOut, 0, len(b.CORS))}
	for _, r := range b.CORS {
		out.Rules = append(out.Rules, corsOut{
			ID: r.ID, AllowedHeaders: r.AllowedHeaders, AllowedMethods: r.AllowedMethods,
			AllowedOrigins: r.AllowedOrigins, ExposeHeaders: r.ExposeHeaders, MaxAgeSeconds: r.MaxAgeSeconds,
		})
	}
	return writeXML(rq, http.StatusOK, out)
}

func (h *handler) putBucketCors(rq *request) error {
	body, err := readBody(rq, maxXMLBody)
	if err != nil {
		return err
	}
	rules, err := parseCORS(body)
	if err != nil {
		return err
	}
	if err := h.store.UpdateBucket(rq.ctx, rq.bucket, func(b *object.Bucket) error {
		b.CORS = rules
		return nil
	}); err != nil {
		return fmt.Errorf("put cors of bucket %s: %w", rq.bucket, err)
	}
	rq.w.WriteHeader(http.StatusOK)
	return nil
}

func (h *handler) deleteBucketCors(rq *request) error {
	if err := h.store.UpdateBucket(rq.ctx, rq.bucket, func(b *object.Bucket) error {
		b.CORS = nil
		return nil
	}); err != nil {
		return fmt.Errorf("delete cors of bucket %s: %w", rq.bucket, err)
	}
	rq.w.WriteHeader(http.StatusNoContent)
	return nil
}

// wildcardMatch matches s against a pattern with at most one '*', which matches any run of
// characters.
func wildcardMatch(pattern, s string, fold bool) bool {
	if fold {
		pattern, s = strings.ToLower(pattern), strings.ToLower(s)
	}
	before, after, found := strings.Cut(pattern, "*")
	if !found {
		return pattern == s
	}
	return len(s) >= len(before)+len(after) && strings.HasPrefix(s, before) && strings.HasSuffix(s, after)
}

// matchCORS returns the first rule that allows origin, method and every requested header.
func matchCORS(rules []object.CORSRule, origin, method string, headers []string) (*object.CORSRule, bool) {
	for i := range rules {
		r := &rules[i]
		if !anyMatch(r.AllowedOrigins, origin, false) || !contains(r.AllowedMethods, method) {
			continue
		}
		ok := true
		for _, hd := range headers {
			if !anyMatch(r.AllowedHeaders, hd, true) {
				ok = false
				break
			}
		}
		if ok {
			return r, true
		}
	}
	return nil, false
}

func anyMatch(patterns []string, s string, fold bool) bool {
	for _, p := range patterns {
		if wildcardMatch(p, s, fold) {
			return true
		}
	}
	return false
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// setCORSHeaders adds the CORS response headers of an actual (non-preflight) request whose
// Origin a rule of the bucket allows for the request's method.
func (h *handler) setCORSHeaders(rq *request, origin string) {
	b, err := h.bucket(rq)
	if err != nil || len(b.CORS) == 0 {
		return
	}
	hdr := rq.w.Header()
	hdr.Add("Vary", "Origin")
	rule, ok := matchCORS(b.CORS, origin, rq.r.Method, nil)
	if !ok {
		return
	}
	setAllowHeaders(hdr, rule, origin)
}

func setAllowHeaders(hdr http.Header, rule *object.CORSRule, origin string) {
	if contains(rule.AllowedOrigins, "*") {
		hdr.Set("Access-Control-Allow-Origin", "*")
	} else {
		hdr.Set("Access-Control-Allow-Origin", origin)
		hdr.Set("Access-Control-Allow-Credentials", "true")
	}
	hdr.Set("Access-Control-Allow-Methods", strings.Join(rule.AllowedMethods, ", "))
	if len(rule.ExposeHeaders) > 0 {
		hdr.Set("Access-Control-Expose-Headers", strings.Join(rule.ExposeHeaders, ", "))
	}
	if rule.MaxAgeSeconds > 0 {
		hdr.Set("Access-Control-Max-Age", strconv.Itoa(rule.MaxAgeSeconds))
	}
}

// preflight answers an OPTIONS request from the bucket's CORS rules; no rule, no access.
func (h *handler) preflight(rq *request) error {
	origin := rq.r.Header.Get("Origin")
	if origin == "" {
		return s3err.BadRequest.With("Insufficient information. Origin request header needed.")
	}
	method := rq.r.Header.Get("Access-Control-Request-Method")
	switch method {
	case "GET", "PUT", "HEAD", "POST", "DELETE":
	default:
		return s3err.BadRequest.With("Invalid Access-Control-Request-Method: %q", method)
	}
	if rq.bucket == "" {
		return s3err.AccessForbidden.With("CORSResponse: Bucket not found")
	}
	b, err := h.bucket(rq)
	if err != nil {
		return s3err.AccessForbidden.With("CORSResponse: Bucket not found")
	}
	if len(b.CORS) == 0 {
		return s3err.AccessForbidden.With("CORSResponse: CORS is not enabled for this bucket.")
	}
	var headers []string
	for _, v := range rq.r.Header.Values("Access-Control-Request-Headers") {
		for _, hd := range strings.Split(v, ",") {
			if hd = strings.TrimSpace(hd); hd != "" {
				headers = append(headers, strings.ToLower(hd))
			}
		}
	}
	hdr := rq.w.Header()
	hdr.Add("Vary", "Origin, Access-Control-Request-Headers, Access-Control-Request-Method")
	rule, ok := matchCORS(b.CORS, origin, method, headers)
	if !ok {
		return s3err.AccessForbidden
	}
	setAllowHeaders(hdr, rule, origin)
	if len(headers) > 0 {
		hdr.Set("Access-Control-Allow-Headers", strings.Join(headers, ", "))
	}
	hdr.Set("Content-Length", "0")
	rq.w.WriteHeader(http.StatusOK)
	return nil
}
