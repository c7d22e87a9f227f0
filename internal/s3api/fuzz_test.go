package s3api

import (
	"errors"
	"testing"

	"github.com/minicloud/minicloud/internal/object"
	"github.com/minicloud/minicloud/internal/s3err"
)

// mustBeS3 fails unless err is nil or an S3 error from the table: parsers must never answer with
// an internal error (or panic) on client input.
func mustBeS3(t *testing.T, what string, err error) {
	t.Helper()
	var e *s3err.Error
	if err != nil && (!errors.As(err, &e) || e.Status >= 500 && e.Code != "NotImplemented") {
		t.Fatalf("%s: error %v is not a client S3 error", what, err)
	}
}

// FuzzXMLBodies feeds every request document parser the same input: none may panic, and what one
// accepts must satisfy the rules it checks.
func FuzzXMLBodies(f *testing.F) {
	seeds := []string{
		`<CreateBucketConfiguration><LocationConstraint>us-east-1</LocationConstraint></CreateBucketConfiguration>`,
		`<Delete><Quiet>true</Quiet><Object><Key>a</Key><VersionId>v</VersionId></Object></Delete>`,
		`<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>"x"</ETag></Part></CompleteMultipartUpload>`,
		`<Tagging><TagSet><Tag><Key>k</Key><Value>v</Value></Tag></TagSet></Tagging>`,
		`<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod><MaxAgeSeconds>3</MaxAgeSeconds></CORSRule></CORSConfiguration>`,
		`<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>`,
		`<?xml version="1.0" encoding="UTF-8"?><Tagging xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><TagSet/></Tagging>`,
		`<a><!-- c --></a>`, `<Delete><Object><Key>&lt;&amp;</Key></Object></Delete><x>`,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		_, err := parseCreateBucketConfiguration(body, "us-east-1")
		mustBeS3(t, "CreateBucketConfiguration", err)

		d, err := parseDelete(body)
		mustBeS3(t, "Delete", err)
		if err == nil {
			if len(d.Objects) == 0 || len(d.Objects) > maxDeleteObjects {
				t.Fatalf("Delete accepted %d objects", len(d.Objects))
			}
			for _, o := range d.Objects {
				if o.Key == nil {
					t.Fatal("Delete accepted an object without a key")
				}
			}
		}

		parts, err := parseComplete(body)
		mustBeS3(t, "CompleteMultipartUpload", err)
		for i, p := range parts {
			if p.Number < 1 || p.Number > object.MaxPartNumber || (i > 0 && p.Number <= parts[i-1].Number) {
				t.Fatalf("CompleteMultipartUpload accepted part numbers out of order or range: %+v", parts)
			}
		}

		tags, err := parseTagging(body, object.MaxTags)
		mustBeS3(t, "Tagging", err)
		if err == nil {
			if verr := validateTags(tags, object.MaxTags); verr != nil {
				t.Fatalf("Tagging accepted invalid tags: %v", verr)
			}
		}

		rules, err := parseCORS(body)
		mustBeS3(t, "CORSConfiguration", err)
		if err == nil && (len(rules) == 0 || len(rules) > maxCORSRules) {
			t.Fatalf("CORSConfiguration accepted %d rules", len(rules))
		}
		for _, r := range rules {
			if len(r.AllowedOrigins) == 0 || len(r.AllowedMethods) == 0 || r.MaxAgeSeconds < 0 {
				t.Fatalf("CORSConfiguration accepted a bad rule %+v", r)
			}
			matchCORS(rules, "https://x", "GET", []string{"a"})
		}

		st, err := parseVersioning(body)
		mustBeS3(t, "VersioningConfiguration", err)
		if err == nil && st != "" && st != object.VersioningEnabled && st != object.VersioningSuspended {
			t.Fatalf("VersioningConfiguration accepted status %q", st)
		}
	})
}

// FuzzPolicy checks that the bucket policy parser never panics and grants only what it says.
func FuzzPolicy(f *testing.F) {
	seeds := []string{
		`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}`,
		`{"Statement":{"Effect":"Allow","Principal":{"AWS":["*"]},"Action":["s3:ListBucket","s3:GetObject"],"Resource":["arn:aws:s3:::b","arn:aws:s3:::b/*"]}}`,
		`{"Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}`,
		`{}`, `[]`, `{"Statement":null}`,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		g, err := parsePolicy("b", doc)
		mustBeS3(t, "policy", err)
		if err != nil && (g.PublicRead || g.PublicList) {
			t.Fatalf("policy refused but granted %+v", g)
		}
	})
}
