package mesh

import (
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"time"
)

// Everything node-to-node is keyed by the mesh secret: the gossip key (memberlist's AES-GCM
// keyring, which authenticates and encrypts every gossip packet) and one TLS identity, derived
// deterministically, that every node presents and requires. A process without the secret can
// derive neither, so it can neither join the gossip nor complete a TLS handshake for data RPC.

func derive(secret, purpose string, n int) []byte {
	b, err := hkdf.Key(sha256.New, []byte(secret), []byte("minicloud-mesh"), purpose, n)
	if err != nil {
		panic(err) // only for n beyond HKDF's limit
	}
	return b
}

// GossipKey is the 32-byte memberlist key (AES-256) for a mesh secret.
func GossipKey(secret string) []byte { return derive(secret, "gossip", 32) }

// tlsServerName is the name in the mesh certificate; peers are addressed by IP, so it is fixed.
const tlsServerName = "minicloud-mesh"

// TLSConfigs returns the server and client TLS configurations for a mesh secret: mutual TLS with
// one certificate derived from the secret, pinned on both sides.
func TLSConfigs(secret string) (server, client *tls.Config, err error) {
	key := ed25519.NewKeyFromSeed(derive(secret, "tls-key", ed25519.SeedSize))
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: tlsServerName},
		DNSNames:              []string{tlsServerName},
		NotBefore:             time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:              time.Date(2120, 1, 1, 0, 0, 0, 0, time.UTC),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(nopRand{}, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, nil, fmt.Errorf("mesh certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	pair := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}
	server = &tls.Config{
		Certificates: []tls.Certificate{pair},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
		MinVersion:   tls.VersionTLS13,
	}
	client = &tls.Config{
		Certificates: []tls.Certificate{pair},
		RootCAs:      pool,
		ServerName:   tlsServerName,
		MinVersion:   tls.VersionTLS13,
	}
	return server, client, nil
}

// nopRand feeds x509.CreateCertificate: ed25519 signatures need no randomness, and a fixed
// serial and template make every node derive the identical certificate.
type nopRand struct{}

func (nopRand) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 0
	}
	return len(p), nil
}
