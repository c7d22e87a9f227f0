package node

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// RootCredentialsFile is where a generated root key is kept, readable by the owner only.
const RootCredentialsFile = "root-credentials.json"

type rootCreds struct {
	AccessKey string `json:"accessKey"`
	SecretKey string `json:"secretKey"`
}

// rootCredentials returns the configured root key, or the one generated at the first start, or
// generates one now and tells the operator once (on out) where to find it again. There is never a
// well-known default.
func rootCredentials(dataDir, access, secret string, out io.Writer) (string, string, error) {
	if access != "" {
		return access, secret, nil
	}
	path := filepath.Join(dataDir, RootCredentialsFile)
	if b, err := os.ReadFile(path); err == nil {
		var c rootCreds
		if err := json.Unmarshal(b, &c); err != nil || c.AccessKey == "" || c.SecretKey == "" {
			return "", "", fmt.Errorf("read %s: malformed; delete it to generate a new root key", path)
		}
		return c.AccessKey, c.SecretKey, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", "", fmt.Errorf("read %s: %w", path, err)
	}
	c := rootCreds{AccessKey: "MCROOT" + strings.ToUpper(randomHex(7)), SecretKey: randomB64(30)}
	b, _ := json.MarshalIndent(c, "", "  ")
	if err := writeFileSynced(path, append(b, '\n'), 0o600); err != nil {
		return "", "", err
	}
	fmt.Fprintf(out, `
minicloud generated a root key for this node (shown once):
  access key: %s
  secret key: %s
It is stored in %s (mode 0600); see it again with:  cat %s
Use it with any S3 client, e.g.
  export AWS_ACCESS_KEY_ID=%s AWS_SECRET_ACCESS_KEY=%s
and with MQTT clients as user name and password (the broker is on :1883 unless --mqtt says otherwise):
  mosquitto_pub -h HOST -u %s -P %s -t sensors/t1 -m '{"t": 21.5}'
or set MINICLOUD_ROOT_ACCESS_KEY / MINICLOUD_ROOT_SECRET_KEY to choose your own.

`, c.AccessKey, c.SecretKey, path, path, c.AccessKey, c.SecretKey, c.AccessKey, c.SecretKey)
	return c.AccessKey, c.SecretKey, nil
}

// nodeID returns this node's stable id, created at the first start.
func nodeID(dataDir, configured string) (string, error) {
	path := filepath.Join(dataDir, "node-id")
	if configured != "" {
		return configured, writeFileSynced(path, []byte(configured+"\n"), 0o600)
	}
	if b, err := os.ReadFile(path); err == nil {
		id := strings.TrimSpace(string(b))
		if id == "" {
			return "", fmt.Errorf("%s is empty", path)
		}
		return id, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	id := "n" + randomHex(8)
	if err := writeFileSynced(path, []byte(id+"\n"), 0o600); err != nil {
		return "", err
	}
	return id, nil
}

func writeFileSynced(path string, b []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, mode)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	d, err := os.Open(filepath.Dir(path))
	if err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func randomB64(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)[:n]
}
