package s3api

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/minicloud/minicloud/internal/s3err"
)

func TestValidBucketName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"abc", true},
		{"my-bucket.data-01", true},
		{"a1b", true},
		{strings.Repeat("a", 63), true},
		{"ab", false},
		{strings.Repeat("a", 64), false},
		{"MyBucket", false},
		{"my_bucket", false},
		{"-abc", false},
		{"abc-", false},
		{".abc", false},
		{"abc.", false},
		{"a..b", false},
		{"a.-b", false},
		{"a-.b", false},
		{"192.168.1.1", false},
		{"1.2.3", true},
		{"xn--abc", false},
		{"abc-s3alias", false},
		{"abc--ol-s3", false},
		{"sthree-abc", false},
		{"a b", false},
		{"abc/", false},
	}
	for _, tt := range tests {
		if got := validBucketName(tt.name); got != tt.ok {
			t.Errorf("validBucketName(%q) = %v, want %v", tt.name, got, tt.ok)
		}
	}
}

func TestParsePolicy(t *testing.T) {
	const b = "pub"
	tests := []struct {
		name       string
		doc        string
		read, list bool
		code       string // expected error code, "" for success
	}{
		{"read", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::pub/*"}]}`, true, false, ""},
		{"read aws principal", `{"Statement":{"Effect":"Allow","Principal":{"AWS":"*"},"Action":["s3:GetObject"],"Resource":["arn:aws:s3:::pub/*"]}}`, true, false, ""},
		{"read aws list principal", `{"Statement":[{"Sid":"x","Effect":"Allow","Principal":{"AWS":["*"]},"Action":"s3:GetObject","Resource":"arn:aws:s3:::pub/*"}]}`, true, false, ""},
		{"list", `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:ListBucket","Resource":"arn:aws:s3:::pub"}]}`, false, true, ""},
		{"both one statement", `{"Statement":[{"Effect":"Allow","Principal":"*","Action":["s3:GetObject","s3:ListBucket"],"Resource":["arn:aws:s3:::pub","arn:aws:s3:::pub/*"]}]}`, true, true, ""},
		{"both two statements", `{"Version":"2012-10-17","Id":"p","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::pub/*"},{"Effect":"Allow","Principal":"*","Action":"s3:ListBucket","Resource":"arn:aws:s3:::pub"}]}`, true, true, ""},
		{"empty condition", `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::pub/*","Condition":{}}]}`, true, false, ""},
		{"deny", `{"Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::pub/*"}]}`, false, false, "NotImplemented"},
		{"condition", `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::pub/*","Condition":{"IpAddress":{"aws:SourceIp":"1.2.3.4/32"}}}]}`, false, false, "NotImplemented"},
		{"put action", `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:PutObject","Resource":"arn:aws:s3:::pub/*"}]}`, false, false, "NotImplemented"},
		{"star action", `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::pub/*"}]}`, false, false, "NotImplemented"},
		{"user principal", `{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123:root"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::pub/*"}]}`, false, false, "NotImplemented"},
		{"prefix resource", `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::pub/public/*"}]}`, false, false, "NotImplemented"},
		{"not action", `{"Statement":[{"Effect":"Allow","Principal":"*","NotAction":"s3:GetObject","Resource":"arn:aws:s3:::pub/*"}]}`, false, false, "NotImplemented"},
		{"other bucket", `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::other/*"}]}`, false, false, "MalformedPolicy"},
		{"action without resource", `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::pub"}]}`, false, false, "MalformedPolicy"},
		{"bad version", `{"Version":"2020-01-01","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::pub/*"}]}`, false, false, "MalformedPolicy"},
		{"no statement", `{"Version":"2012-10-17"}`, false, false, "MalformedPolicy"},
		{"empty statement", `{"Statement":[]}`, false, false, "MalformedPolicy"},
		{"unknown field", `{"Statement":[],"Foo":1}`, false, false, "MalformedPolicy"},
		{"not json", `hello`, false, false, "MalformedPolicy"},
		{"trailing", `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::pub/*"}]} x`, false, false, "MalformedPolicy"},
		{"bad effect", `{"Statement":[{"Effect":"Maybe","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::pub/*"}]}`, false, false, "MalformedPolicy"},
		{"no principal", `{"Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::pub/*"}]}`, false, false, "MalformedPolicy"},
		{"empty", ``, false, false, "MalformedPolicy"},
	}
	for _, tt := range tests {
		g, err := parsePolicy(b, []byte(tt.doc))
		if tt.code == "" {
			if err != nil || g.PublicRead != tt.read || g.PublicList != tt.list {
				t.Errorf("%s: parsePolicy = %+v, %v; want read=%v list=%v", tt.name, g, err, tt.read, tt.list)
			}
			continue
		}
		var e *s3err.Error
		if !errors.As(err, &e) || e.Code != tt.code {
			t.Errorf("%s: parsePolicy err = %v, want code %s", tt.name, err, tt.code)
		}
	}
}

func TestParseVersioning(t *testing.T) {
	tests := []struct {
		doc, status, code string
	}{
		{`<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Status>Enabled</Status></VersioningConfiguration>`, "Enabled", ""},
		{`<VersioningConfiguration><Status>Suspended</Status><MfaDelete>Disabled</MfaDelete></VersioningConfiguration>`, "Suspended", ""},
		{`<VersioningConfiguration/>`, "", ""},
		{`<VersioningConfiguration><Status>On</Status></VersioningConfiguration>`, "", "MalformedXML"},
		{`<VersioningConfiguration><Status>Enabled</Status><MfaDelete>Enabled</MfaDelete></VersioningConfiguration>`, "", "NotImplemented"},
		{`<Versioning><Status>Enabled</Status></Versioning>`, "", "MalformedXML"},
		{`<VersioningConfiguration><Status>Enabled</Status>`, "", "MalformedXML"},
		{`<VersioningConfiguration></VersioningConfiguration><x/>`, "", "MalformedXML"},
		{``, "", "MalformedXML"},
	}
	for _, tt := range tests {
		st, err := parseVersioning([]byte(tt.doc))
		if code := codeOf(err); code != tt.code || (tt.code == "" && st != tt.status) {
			t.Errorf("parseVersioning(%q) = %q, %v; want %q, %s", tt.doc, st, err, tt.status, tt.code)
		}
	}
}

func codeOf(err error) string {
	if err == nil {
		return ""
	}
	var e *s3err.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return "?"
}

func TestParseTagging(t *testing.T) {
	tag := func(k, v string) string { return "<Tag><Key>" + k + "</Key><Value>" + v + "</Value></Tag>" }
	doc := func(tags ...string) string {
		return "<Tagging><TagSet>" + strings.Join(tags, "") + "</TagSet></Tagging>"
	}
	var eleven []string
	for i := range 11 {
		eleven = append(eleven, tag("k"+string(rune('a'+i)), "v"))
	}
	tests := []struct {
		name, doc, code string
		n               int
	}{
		{"two", doc(tag("a", "1"), tag("b", "")), "", 2},
		{"empty set", doc(), "", 0},
		{"eleven", doc(eleven...), "InvalidTag", 0},
		{"dup", doc(tag("a", "1"), tag("a", "2")), "InvalidTag", 0},
		{"long key", doc(tag(strings.Repeat("k", 129), "v")), "InvalidTag", 0},
		{"max key", doc(tag(strings.Repeat("k", 128), strings.Repeat("v", 256))), "", 1},
		{"long value", doc(tag("k", strings.Repeat("v", 257))), "InvalidTag", 0},
		{"empty key", doc(tag("", "v")), "InvalidTag", 0},
		{"aws prefix", doc(tag("aws:x", "v")), "InvalidTag", 0},
		{"no value", "<Tagging><TagSet><Tag><Key>a</Key></Tag></TagSet></Tagging>", "MalformedXML", 0},
		{"no tagset", "<Tagging></Tagging>", "MalformedXML", 0},
		{"garbage", "<Tagging><TagSet>", "MalformedXML", 0},
	}
	for _, tt := range tests {
		tags, err := parseTagging([]byte(tt.doc), 10)
		if codeOf(err) != tt.code || (tt.code == "" && len(tags) != tt.n) {
			t.Errorf("%s: parseTagging = %v, %v; want %d tags, code %q", tt.name, tags, err, tt.n, tt.code)
		}
	}
}

func TestParseTaggingHeader(t *testing.T) {
	if tags, err := parseTaggingHeader("a=1&b=two%20words"); err != nil || tags["b"] != "two words" || len(tags) != 2 {
		t.Errorf("parseTaggingHeader = %v, %v", tags, err)
	}
	if _, err := parseTaggingHeader("a=1&a=2"); codeOf(err) != "InvalidArgument" {
		t.Errorf("duplicate keys: %v", err)
	}
	if _, err := parseTaggingHeader("a=%zz"); codeOf(err) != "InvalidArgument" {
		t.Errorf("bad encoding: %v", err)
	}
}

func TestParseCORS(t *testing.T) {
	rule := func(inner string) string {
		return "<CORSConfiguration><CORSRule>" + inner + "</CORSRule></CORSConfiguration>"
	}
	tests := []struct {
		name, doc, code string
	}{
		{"ok", rule("<AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod><AllowedHeader>*</AllowedHeader><MaxAgeSeconds>300</MaxAgeSeconds><ExposeHeader>ETag</ExposeHeader>"), ""},
		{"no origin", rule("<AllowedMethod>GET</AllowedMethod>"), "MalformedXML"},
		{"no method", rule("<AllowedOrigin>*</AllowedOrigin>"), "MalformedXML"},
		{"bad method", rule("<AllowedOrigin>*</AllowedOrigin><AllowedMethod>PATCH</AllowedMethod>"), "InvalidRequest"},
		{"two wildcards", rule("<AllowedOrigin>*.*</AllowedOrigin><AllowedMethod>GET</AllowedMethod>"), "InvalidRequest"},
		{"no rules", "<CORSConfiguration></CORSConfiguration>", "MalformedXML"},
		{"bad max age", rule("<AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod><MaxAgeSeconds>x</MaxAgeSeconds>"), "MalformedXML"},
	}
	for _, tt := range tests {
		_, err := parseCORS([]byte(tt.doc))
		if codeOf(err) != tt.code {
			t.Errorf("%s: parseCORS err = %v, want %q", tt.name, err, tt.code)
		}
	}
}

func TestMatchCORS(t *testing.T) {
	rules, err := parseCORS([]byte(`<CORSConfiguration>
		<CORSRule><AllowedOrigin>https://*.example.com</AllowedOrigin><AllowedMethod>GET</AllowedMethod><AllowedMethod>PUT</AllowedMethod><AllowedHeader>x-amz-*</AllowedHeader><AllowedHeader>Content-Type</AllowedHeader></CORSRule>
		<CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>HEAD</AllowedMethod></CORSRule>
	</CORSConfiguration>`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		origin, method string
		headers        []string
		ok             bool
	}{
		{"https://app.example.com", "GET", nil, true},
		{"https://app.example.com", "PUT", []string{"content-type", "x-amz-date"}, true},
		{"https://app.example.com", "PUT", []string{"authorization"}, false},
		{"https://example.com", "GET", nil, false},
		{"http://app.example.com", "GET", nil, false},
		{"https://app.example.com", "DELETE", nil, false},
		{"https://anything", "HEAD", nil, true},
	}
	for _, tt := range tests {
		if _, ok := matchCORS(rules, tt.origin, tt.method, tt.headers); ok != tt.ok {
			t.Errorf("matchCORS(%s %s %v) = %v, want %v", tt.origin, tt.method, tt.headers, ok, tt.ok)
		}
	}
}

func TestParseDeleteAndComplete(t *testing.T) {
	if d, err := parseDelete([]byte(`<Delete><Quiet>true</Quiet><Object><Key>a</Key></Object><Object><Key>b</Key><VersionId>v1</VersionId></Object></Delete>`)); err != nil || !d.Quiet || len(d.Objects) != 2 || d.Objects[1].VersionID != "v1" {
		t.Errorf("parseDelete = %+v, %v", d, err)
	}
	many := "<Delete>" + strings.Repeat("<Object><Key>k</Key></Object>", 1001) + "</Delete>"
	for _, doc := range []string{many, "<Delete></Delete>", "<Delete><Object><VersionId>x</VersionId></Object></Delete>", "<Delete><Quiet>maybe</Quiet><Object><Key>a</Key></Object></Delete>"} {
		if _, err := parseDelete([]byte(doc)); codeOf(err) != "MalformedXML" {
			t.Errorf("parseDelete(%.60q) err = %v, want MalformedXML", doc, err)
		}
	}
	if p, err := parseComplete([]byte(`<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>"a"</ETag></Part><Part><PartNumber>3</PartNumber><ETag>b</ETag></Part></CompleteMultipartUpload>`)); err != nil || len(p) != 2 || p[1].Number != 3 {
		t.Errorf("parseComplete = %+v, %v", p, err)
	}
	tests := []struct{ doc, code string }{
		{`<CompleteMultipartUpload></CompleteMultipartUpload>`, "MalformedXML"},
		{`<CompleteMultipartUpload><Part><PartNumber>2</PartNumber><ETag>a</ETag></Part><Part><PartNumber>1</PartNumber><ETag>b</ETag></Part></CompleteMultipartUpload>`, "InvalidPartOrder"},
		{`<CompleteMultipartUpload><Part><PartNumber>0</PartNumber><ETag>a</ETag></Part></CompleteMultipartUpload>`, "InvalidArgument"},
		{`<CompleteMultipartUpload><Part><PartNumber>x</PartNumber><ETag>a</ETag></Part></CompleteMultipartUpload>`, "MalformedXML"},
		{`<CompleteMultipartUpload><Part><ETag>a</ETag></Part></CompleteMultipartUpload>`, "MalformedXML"},
	}
	for _, tt := range tests {
		if _, err := parseComplete([]byte(tt.doc)); codeOf(err) != tt.code {
			t.Errorf("parseComplete(%q) err = %v, want %s", tt.doc, err, tt.code)
		}
	}
}

func TestParseCreateBucketConfiguration(t *testing.T) {
	tests := []struct{ doc, loc, code string }{
		{"", "", ""},
		{`<CreateBucketConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><LocationConstraint>us-east-1</LocationConstraint></CreateBucketConfiguration>`, "us-east-1", ""},
		{`<CreateBucketConfiguration/>`, "", ""},
		{`<CreateBucketConfiguration><LocationConstraint>eu-west-1</LocationConstraint></CreateBucketConfiguration>`, "", "IllegalLocationConstraintException"},
		{`<CreateBucketConfiguration><LocationConstraint>no such place!</LocationConstraint></CreateBucketConfiguration>`, "", "InvalidLocationConstraint"},
		{`<CreateBucketConfiguration><LocationConstraint>`, "", "MalformedXML"},
		{`not xml`, "", "MalformedXML"},
	}
	for _, tt := range tests {
		loc, err := parseCreateBucketConfiguration([]byte(tt.doc), "us-east-1")
		if codeOf(err) != tt.code || loc != tt.loc {
			t.Errorf("parseCreateBucketConfiguration(%q) = %q, %v; want %q, %s", tt.doc, loc, err, tt.loc, tt.code)
		}
	}
}

func TestS3URLEncode(t *testing.T) {
	tests := map[string]string{
		"plain/key.txt": "plain/key.txt",
		"a b":           "a+b",
		"a+b":           "a%2Bb",
		"é":             "%C3%A9",
		"a%b?c&d":       "a%25b%3Fc%26d",
		"\x01":          "%01",
	}
	for in, want := range tests {
		got := s3URLEncode(in)
		if got != want {
			t.Errorf("s3URLEncode(%q) = %q, want %q", in, got, want)
		}
		if back, err := url.QueryUnescape(got); err != nil || back != in {
			t.Errorf("QueryUnescape(%q) = %q, %v", got, back, err)
		}
	}
}

func TestRoute(t *testing.T) {
	tests := []struct {
		method, bucket, key, query string
		copySource                 bool
		want                       string
	}{
		{"GET", "", "", "", false, "ListBuckets"},
		{"PUT", "", "", "", false, "Unknown"},
		{"PUT", "b", "", "", false, "CreateBucket"},
		{"PUT", "b", "", "versioning", false, "PutBucketVersioning"},
		{"GET", "b", "", "", false, "ListObjects"},
		{"GET", "b", "", "list-type=2&prefix=a", false, "ListObjectsV2"},
		{"GET", "b", "", "versions", false, "ListObjectVersions"},
		{"GET", "b", "", "uploads", false, "ListMultipartUploads"},
		{"GET", "b", "", "location", false, "GetBucketLocation"},
		{"GET", "b", "", "lifecycle", false, "GetBucketLifecycleConfiguration"},
		{"PUT", "b", "", "lifecycle", false, "PutBucketLifecycleConfiguration"},
		{"DELETE", "b", "", "lifecycle", false, "DeleteBucketLifecycle"},
		{"GET", "b", "", "analytics", false, "GetBucketAnalyticsConfiguration"},
		{"POST", "b", "", "delete", false, "DeleteObjects"},
		{"HEAD", "b", "", "", false, "HeadBucket"},
		{"DELETE", "b", "", "", false, "DeleteBucket"},
		{"OPTIONS", "b", "k", "", false, "PreflightRequest"},
		{"GET", "b", "k", "x-id=GetObject", false, "GetObject"},
		{"GET", "b", "k", "versionId=1", false, "GetObject"},
		{"HEAD", "b", "k", "", false, "HeadObject"},
		{"PUT", "b", "k", "x-id=PutObject", false, "PutObject"},
		{"PUT", "b", "k", "", true, "CopyObject"},
		{"PUT", "b", "k", "partNumber=1&uploadId=u", false, "UploadPart"},
		{"PUT", "b", "k", "partNumber=1&uploadId=u", true, "UploadPartCopy"},
		{"PUT", "b", "k", "tagging", false, "PutObjectTagging"},
		{"GET", "b", "k", "tagging", false, "GetObjectTagging"},
		{"DELETE", "b", "k", "tagging", false, "DeleteObjectTagging"},
		{"POST", "b", "k", "uploads", false, "CreateMultipartUpload"},
		{"POST", "b", "k", "uploadId=u", false, "CompleteMultipartUpload"},
		{"DELETE", "b", "k", "uploadId=u", false, "AbortMultipartUpload"},
		{"GET", "b", "k", "uploadId=u", false, "ListParts"},
		{"DELETE", "b", "k", "", false, "DeleteObject"},
		{"PATCH", "b", "k", "", false, "Unknown"},
	}
	for _, tt := range tests {
		q, _ := url.ParseQuery(tt.query)
		h := http.Header{}
		if tt.copySource {
			h.Set("X-Amz-Copy-Source", "src/key")
		}
		if _, name := route(tt.method, tt.bucket, tt.key, q, h); name != tt.want {
			t.Errorf("route(%s /%s/%s?%s) = %s, want %s", tt.method, tt.bucket, tt.key, tt.query, name, tt.want)
		}
	}
}

func TestParseCopySource(t *testing.T) {
	tests := []struct {
		in, bucket, key, version, code string
	}{
		{"src/a/b.txt", "src", "a/b.txt", "", ""},
		{"/src/a%20b", "src", "a b", "", ""},
		{"src/k%3FversionId%3Dx?versionId=v1", "src", "k?versionId=x", "v1", ""},
		{"src/k+plus", "src", "k+plus", "", ""},
		{"src", "", "", "", "InvalidArgument"},
		{"src/", "", "", "", "InvalidArgument"},
		{"src/k?versionId=", "", "", "", "InvalidArgument"},
		{"src/%zz", "", "", "", "InvalidArgument"},
		{"src/" + strings.Repeat("k", 1025), "", "", "", "KeyTooLongError"},
	}
	for _, tt := range tests {
		b, k, v, err := parseCopySource(tt.in)
		if codeOf(err) != tt.code || b != tt.bucket || k != tt.key || v != tt.version {
			t.Errorf("parseCopySource(%.40q) = %q %q %q %v", tt.in, b, k, v, err)
		}
	}
}
