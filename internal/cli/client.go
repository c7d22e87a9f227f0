package cli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/spf13/cobra"
)

// client talks to a running node's admin API, signing each request with SigV4.
type client struct {
	endpoint string
	access   string
	secret   string
	region   string
	http     *http.Client
}

// addClientFlags gives an admin command --endpoint and --region, defaulting from the environment.
func addClientFlags(cmd *cobra.Command, c *client) {
	cmd.Flags().StringVar(&c.endpoint, "endpoint", envOr("MINICLOUD_ENDPOINT", "http://127.0.0.1:9000"), "`URL` of a running node (env MINICLOUD_ENDPOINT)")
	cmd.Flags().StringVar(&c.region, "region", envOr("MINICLOUD_REGION", "us-east-1"), "region the node was started with (env MINICLOUD_REGION)")
}

func (c *client) credentials() error {
	c.access = envOr("MINICLOUD_ROOT_ACCESS_KEY", envOr("AWS_ACCESS_KEY_ID", ""))
	c.secret = envOr("MINICLOUD_ROOT_SECRET_KEY", envOr("AWS_SECRET_ACCESS_KEY", ""))
	if c.access == "" || c.secret == "" {
		return fmt.Errorf("no credentials: set MINICLOUD_ROOT_ACCESS_KEY and MINICLOUD_ROOT_SECRET_KEY to the node's root key (the first start printed it and stored it in DATA/root-credentials.json)")
	}
	return nil
}

// do sends method path with body (JSON-encoded unless nil) and decodes the answer into out.
func (c *client) do(ctx context.Context, method, path string, body, out any) error {
	if err := c.credentials(); err != nil {
		return err
	}
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return err
		}
	}
	url := strings.TrimRight(c.endpoint, "/") + "/_minicloud/admin/v1/" + path
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(payload))
	if err != nil {
		return fmt.Errorf("bad --endpoint %q: %w", c.endpoint, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	sum := sha256.Sum256(payload)
	hash := hex.EncodeToString(sum[:])
	req.Header.Set("X-Amz-Content-Sha256", hash)
	creds := aws.Credentials{AccessKeyID: c.access, SecretAccessKey: c.secret}
	// S3 signs the path as sent (escaped once); the SDK's default escapes it again, which breaks
	// names with %2F such as grants on "mqtt:a/b".
	signer := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
	if err := signer.SignHTTP(ctx, creds, req, hash, "s3", c.region, time.Now()); err != nil {
		return fmt.Errorf("sign request: %w", err)
	}
	hc := c.http
	if hc == nil {
		hc = &http.Client{Timeout: 60 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach minicloud at %s (is `minicloud serve` running there? set --endpoint or MINICLOUD_ENDPOINT): %w", c.endpoint, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("read answer: %w", err)
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Code    string `json:"code"`
			Message string `json:"error"`
		}
		if json.Unmarshal(data, &e) == nil && e.Code != "" {
			return fmt.Errorf("%s: %s", e.Code, e.Message)
		}
		return fmt.Errorf("%s %s: HTTP %d: %s", method, path, resp.StatusCode, strings.TrimSpace(string(data)))
	}
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("decode answer: %w", err)
		}
	}
	return nil
}

// pathEscape escapes a path segment the way S3's SigV4 canonical request does (everything but
// A-Z a-z 0-9 - _ . ~), so that the path the server receives is already canonical and the
// signature the CLI computes matches the one the server computes.
func pathEscape(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}
