package ingest_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/minicloud/minicloud/internal/iam"
	"github.com/minicloud/minicloud/internal/ingest"
	"github.com/minicloud/minicloud/internal/sigv4"
)

// fakes are structs of functions and records.
type published struct {
	topic   string
	payload string
	qos     byte
}

type fakePublisher struct {
	mu  sync.Mutex
	got []published
}

func (p *fakePublisher) Publish(topic string, payload []byte, qos byte, retain bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.got = append(p.got, published{topic, string(payload), qos})
	return nil
}

type fakeKeys struct {
	secrets map[string]string
	allowed func(ak, topic string) bool
}

func (k fakeKeys) Secret(ak string) (string, bool) { s, ok := k.secrets[ak]; return s, ok }
func (k fakeKeys) TopicAllowed(ak, topic string, a iam.Action) bool {
	return a == iam.ActionWrite && k.allowed(ak, topic)
}

func setup(t *testing.T) (*httptest.Server, *fakePublisher) {
	keys := fakeKeys{
		secrets: map[string]string{"dev": "dev-secret", "other": "other-secret"},
		allowed: func(ak, topic string) bool { return ak == "dev" && strings.HasPrefix(topic, "sensors/") },
	}
	pub := &fakePublisher{}
	h := ingest.New(ingest.Options{Publisher: pub, Keys: keys, Verifier: &sigv4.Verifier{Region: "us-east-1", Secret: keys.Secret}})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv, pub
}

func post(t *testing.T, url, body string, auth func(*http.Request)) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest("POST", url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if auth != nil {
		auth(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func basic(ak, secret string) func(*http.Request) {
	return func(r *http.Request) { r.SetBasicAuth(ak, secret) }
}

func sigv4Auth(ak, secret, body string) func(*http.Request) { return sign(ak, secret, body, true) }

// sign signs like the AWS SDK for S3 (withHeader) or like curl 7 --aws-sigv4: the payload's hash
// is signed but not sent.
func sign(ak, secret, body string, withHeader bool) func(*http.Request) {
	return func(r *http.Request) {
		sum := sha256.Sum256([]byte(body))
		hash := hex.EncodeToString(sum[:])
		if withHeader {
			r.Header.Set("X-Amz-Content-Sha256", hash)
		}
		creds := aws.Credentials{AccessKeyID: ak, SecretAccessKey: secret}
		signer := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
		if err := signer.SignHTTP(context.Background(), creds, r, hash, "s3", "us-east-1", time.Now()); err != nil {
			panic(err)
		}
	}
}

func TestIngest(t *testing.T) {
	srv, pub := setup(t)
	url := srv.URL + "/streams/sensors/room1"
	ndjson := "{\"t\":1}\n{\"t\":2}\n"
	for _, c := range []struct {
		name   string
		url    string
		body   string
		auth   func(*http.Request)
		status int
		n      int // messages published
		msg    string
	}{
		{"basic, one document", url, `{"t":21.5}`, basic("dev", "dev-secret"), 200, 1, ""},
		{"sigv4, ndjson", url, ndjson, sigv4Auth("dev", "dev-secret", ndjson), 200, 2, ""},
		{"sigv4, body altered", url, ndjson, sigv4Auth("dev", "dev-secret", "{}"), 400, 0, ""},
		{"sigv4 without the payload hash header (curl 7)", url, ndjson, sign("dev", "dev-secret", ndjson, false), 200, 2, ""},
		{"same, body altered", url, ndjson, sign("dev", "dev-secret", "{}", false), 403, 0, "signature does not match"},
		{"same, wrong secret", url, ndjson, sign("dev", "nope", ndjson, false), 403, 0, "signature does not match"},
		{"same, unknown key", url, ndjson, sign("ghost", "x", ndjson, false), 403, 0, "unknown access key"},
		{"same, topic with spaces and a query", url + "/a%20b?x=1&a=%2F", `{}`, sign("dev", "dev-secret", `{}`, false), 200, 1, ""},
		{"bad json", url, "{\"t\":1}\n{oops}\n", basic("dev", "dev-secret"), 400, 0, "line 2"},
		{"empty", url, "", basic("dev", "dev-secret"), 400, 0, "empty"},
		{"anonymous", url, `{}`, nil, 401, 0, "credentials"},
		{"wrong secret", url, `{}`, basic("dev", "nope"), 403, 0, ""},
		{"unknown key", url, `{}`, basic("ghost", "x"), 403, 0, ""},
		{"no grant", url, `{}`, basic("other", "other-secret"), 403, 0, "may not publish"},
		{"sigv4 wrong secret", url, `{}`, sigv4Auth("dev", "nope", `{}`), 403, 0, ""},
		{"no topic", srv.URL + "/streams/", `{}`, basic("dev", "dev-secret"), 400, 0, "no topic"},
		{"wildcard", srv.URL + "/streams/sensors/%2B", `{}`, basic("dev", "dev-secret"), 400, 0, "wildcard"},
		{"too big", url, `{"x":"` + strings.Repeat("a", ingest.MaxBody) + `"}`, basic("dev", "dev-secret"), 413, 0, ""},
	} {
		pub.mu.Lock()
		pub.got = nil
		pub.mu.Unlock()
		status, out := post(t, c.url, c.body, c.auth)
		pub.mu.Lock()
		n := len(pub.got)
		got := append([]published(nil), pub.got...)
		pub.mu.Unlock()
		if status != c.status || n != c.n {
			t.Errorf("%s: status %d with %d published (%v), want %d with %d", c.name, status, n, out, c.status, c.n)
		}
		if c.msg != "" && !strings.Contains(out["error"].(string), c.msg) {
			t.Errorf("%s: error %q does not mention %q", c.name, out["error"], c.msg)
		}
		for _, p := range got {
			if !strings.HasPrefix(p.topic, "sensors/room1") || p.qos != 1 {
				t.Errorf("%s: published %+v", c.name, p)
			}
		}
	}
}

func TestMatch(t *testing.T) {
	for _, c := range []struct {
		method, path string
		want         bool
	}{
		{"POST", "/streams/a", true},
		{"GET", "/streams/a", false},
		{"PUT", "/streams/a", false},
		{"POST", "/streamsx/a", false},
		{"POST", "/bucket/streams/a", false},
	} {
		r := httptest.NewRequest(c.method, c.path, bytes.NewReader(nil))
		if got := ingest.Match(r); got != c.want {
			t.Errorf("Match(%s %s) = %v", c.method, c.path, got)
		}
	}
}
