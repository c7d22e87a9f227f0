package s3api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/minicloud/minicloud/internal/object"
	"github.com/minicloud/minicloud/internal/s3err"
)

// policyGrant is what a bucket policy grants anonymous users. minicloud understands only the common
// public-read form; every other form is refused with an error that says what is unsupported, so
// that a policy is never stored while meaning something other than what it says.
type policyGrant struct {
	PublicRead bool // s3:GetObject on arn:aws:s3:::bucket/*
	PublicList bool // s3:ListBucket on arn:aws:s3:::bucket
}

type policyDocument struct {
	Version   string          `json:"Version"`
	ID        string          `json:"Id"`
	Statement json.RawMessage `json:"Statement"`
}

type policyStatement struct {
	Sid          string          `json:"Sid"`
	Effect       string          `json:"Effect"`
	Principal    json.RawMessage `json:"Principal"`
	NotPrincipal json.RawMessage `json:"NotPrincipal"`
	Action       json.RawMessage `json:"Action"`
	NotAction    json.RawMessage `json:"NotAction"`
	Resource     json.RawMessage `json:"Resource"`
	NotResource  json.RawMessage `json:"NotResource"`
	Condition    json.RawMessage `json:"Condition"`
}

func unsupportedPolicy(format string, args ...any) error {
	return s3err.NotImplemented.With("Unsupported bucket policy: "+format+
		" minicloud accepts only the public-read form: Effect Allow, Principal \"*\", Action s3:GetObject on arn:aws:s3:::BUCKET/* and/or s3:ListBucket on arn:aws:s3:::BUCKET; grant access keys for anything else.", args...)
}

func malformedPolicy(format string, args ...any) error {
	return s3err.MalformedPolicy.With(format, args...)
}

// strictUnmarshal decodes JSON into v refusing unknown fields and trailing data.
func strictUnmarshal(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if len(bytes.TrimSpace(data[dec.InputOffset():])) != 0 {
		return fmt.Errorf("unexpected data after the document")
	}
	return nil
}

// stringList decodes a policy value that may be a string or a list of strings.
func stringList(raw json.RawMessage) ([]string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return nil, nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, err
		}
		return []string{s}, nil
	}
	var l []string
	if err := json.Unmarshal(raw, &l); err != nil {
		return nil, err
	}
	return l, nil
}

// parsePolicy validates a bucket policy document for bucket and returns what it grants.
func parsePolicy(bucket string, doc []byte) (policyGrant, error) {
	var g policyGrant
	trimmed := bytes.TrimSpace(doc)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return g, s3err.MalformedPolicy
	}
	var d policyDocument
	if err := strictUnmarshal(trimmed, &d); err != nil {
		return g, malformedPolicy("Policies must be valid JSON: %v", err)
	}
	switch d.Version {
	case "", "2012-10-17", "2008-10-17":
	default:
		return g, malformedPolicy("The policy must contain a valid version string")
	}
	stmts, err := policyStatements(d.Statement)
	if err != nil {
		return g, err
	}
	for i, st := range stmts {
		sg, err := parseStatement(bucket, st)
		if err != nil {
			return policyGrant{}, fmt.Errorf("statement %d: %w", i+1, err)
		}
		g.PublicRead = g.PublicRead || sg.PublicRead
		g.PublicList = g.PublicList || sg.PublicList
	}
	return g, nil
}

func policyStatements(raw json.RawMessage) ([]policyStatement, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, malformedPolicy("Missing required field Statement")
	}
	var list []json.RawMessage
	if raw[0] == '{' {
		list = []json.RawMessage{raw}
	} else if err := json.Unmarshal(raw, &list); err != nil {
		return nil, malformedPolicy("Statement must be an object or a list of objects")
	}
	if len(list) == 0 {
		return nil, malformedPolicy("Missing required field Statement")
	}
	stmts := make([]policyStatement, len(list))
	for i, r := range list {
		if err := strictUnmarshal(r, &stmts[i]); err != nil {
			return nil, malformedPolicy("Statement %d is not valid: %v", i+1, err)
		}
	}
	return stmts, nil
}

func parseStatement(bucket string, st policyStatement) (policyGrant, error) {
	var g policyGrant
	switch {
	case len(st.NotPrincipal) > 0:
		return g, unsupportedPolicy("NotPrincipal is not supported.")
	case len(st.NotAction) > 0:
		return g, unsupportedPolicy("NotAction is not supported.")
	case len(st.NotResource) > 0:
		return g, unsupportedPolicy("NotResource is not supported.")
	case len(bytes.TrimSpace(st.Condition)) > 0 && string(bytes.TrimSpace(st.Condition)) != "{}":
		return g, unsupportedPolicy("Condition is not supported.")
	}
	switch st.Effect {
	case "Allow":
	case "Deny":
		return g, unsupportedPolicy("Effect Deny is not supported.")
	default:
		return g, malformedPolicy("Invalid effect: %q", st.Effect)
	}
	if err := checkPrincipal(st.Principal); err != nil {
		return g, err
	}
	actions, err := stringList(st.Action)
	if err != nil || len(actions) == 0 {
		return g, malformedPolicy("Missing or invalid Action")
	}
	resources, err := stringList(st.Resource)
	if err != nil || len(resources) == 0 {
		return g, malformedPolicy("Missing or invalid Resource")
	}
	bucketARN, objectsARN := "arn:aws:s3:::"+bucket, "arn:aws:s3:::"+bucket+"/*"
	var hasBucket, hasObjects bool
	for _, r := range resources {
		switch {
		case r == bucketARN:
			hasBucket = true
		case r == objectsARN:
			hasObjects = true
		case strings.HasPrefix(r, bucketARN+"/"):
			return g, unsupportedPolicy("Resource %q: only the whole bucket (%s) can be made public.", r, objectsARN)
		default:
			return g, malformedPolicy("Policy has invalid resource: %q", r)
		}
	}
	for _, a := range actions {
		switch strings.ToLower(a) {
		case "s3:getobject":
			if !hasObjects {
				return g, malformedPolicy("Action does not apply to any resource(s) in statement: s3:GetObject needs %s", objectsARN)
			}
			g.PublicRead = true
		case "s3:listbucket":
			if !hasBucket {
				return g, malformedPolicy("Action does not apply to any resource(s) in statement: s3:ListBucket needs %s", bucketARN)
			}
			g.PublicList = true
		default:
			if !strings.HasPrefix(strings.ToLower(a), "s3:") {
				return g, malformedPolicy("Policy has an invalid action: %q", a)
			}
			return g, unsupportedPolicy("Action %q is not supported.", a)
		}
	}
	return g, nil
}

// checkPrincipal accepts only everyone: "*", {"AWS":"*"} or {"AWS":["*"]}.
func checkPrincipal(raw json.RawMessage) error {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return malformedPolicy("Missing required field Principal")
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return malformedPolicy("Invalid principal in policy")
		}
		if s != "*" {
			return malformedPolicy("Invalid principal in policy: %q", s)
		}
		return nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return malformedPolicy("Invalid principal in policy")
	}
	if len(m) != 1 || m["AWS"] == nil {
		return unsupportedPolicy("Principal must be \"*\" (everyone).")
	}
	ids, err := stringList(m["AWS"])
	if err != nil || len(ids) == 0 {
		return malformedPolicy("Invalid principal in policy")
	}
	for _, id := range ids {
		if id != "*" {
			return unsupportedPolicy("Principal %q: only \"*\" (everyone) is supported.", id)
		}
	}
	return nil
}

func (h *handler) getBucketPolicy(rq *request) error {
	b, err := h.bucket(rq)
	if err != nil {
		return err
	}
	if len(b.Policy) == 0 {
		return s3err.NoSuchBucketPolicy
	}
	hdr := rq.w.Header()
	hdr.Set("Content-Type", "application/json")
	hdr.Set("Content-Length", fmt.Sprint(len(b.Policy)))
	rq.w.WriteHeader(http.StatusOK)
	_, _ = rq.w.Write(b.Policy)
	return nil
}

func (h *handler) putBucketPolicy(rq *request) error {
	body, err := readBody(rq, maxPolicyBody)
	if err != nil {
		return err
	}
	g, err := parsePolicy(rq.bucket, body)
	if err != nil {
		return err
	}
	if err := h.store.UpdateBucket(rq.ctx, rq.bucket, func(b *object.Bucket) error {
		b.Policy = body
		b.PublicRead, b.PublicList = g.PublicRead, g.PublicList
		return nil
	}); err != nil {
		return fmt.Errorf("put policy of bucket %s: %w", rq.bucket, err)
	}
	rq.w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *handler) deleteBucketPolicy(rq *request) error {
	if err := h.store.UpdateBucket(rq.ctx, rq.bucket, func(b *object.Bucket) error {
		b.Policy = nil
		b.PublicRead, b.PublicList = false, false
		return nil
	}); err != nil {
		return fmt.Errorf("delete policy of bucket %s: %w", rq.bucket, err)
	}
	rq.w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *handler) getBucketPolicyStatus(rq *request) error {
	b, err := h.bucket(rq)
	if err != nil {
		return err
	}
	if len(b.Policy) == 0 {
		return s3err.NoSuchBucketPolicy
	}
	return writeXML(rq, http.StatusOK, policyStatus{IsPublic: b.PublicRead || b.PublicList})
}
