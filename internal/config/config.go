// Package config is the one place where minicloud's settings are read: command-line flags, each
// also settable as MINICLOUD_<NAME> in the environment, with safe defaults. It validates; it does
// not start anything.
package config

import (
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// Serve is the configuration of `minicloud serve`.
type Serve struct {
	Data     string // data directory
	S3       string // S3 API (and admin API) listen address
	Region   string // region reported to S3 clients and expected in signatures
	Domain   string // base domain for virtual-hosted-style bucket addressing ("" = path style only)
	MQTT     string // MQTT listen address ("" = off)
	MQTTTLS  string // MQTT over TLS listen address ("" = off; needs TLSCert, TLSKey)
	MQTTWS   string // MQTT over WebSocket listen address ("" = off)
	MQTTWSS  string // MQTT over WebSocket in TLS listen address ("" = off; needs TLSCert, TLSKey)
	TLSCert  string // PEM certificate (chain) file for the TLS listeners
	TLSKey   string // PEM private key file for the TLS listeners
	Mesh     string // node-to-node listen address ("" = single node)
	Site     string // site this node belongs to
	Join     string // comma-separated mesh addresses of existing nodes
	Console  string // web console listen address ("" = off)
	LogLevel string // debug, info, warn, error
	NodeID   string // stable node id ("" = the one kept in the data dir, created at first start)
	RPC      string // node-to-node data RPC listen address ("" = the --mesh host, any free port)
	Replicas int    // copies of each object in the site (RF)
	WriteQ   int    // replicas that must have a write on disk before it is acknowledged (W)
	ReadQ    int    // replicas a read waits for (R)
	// ReadLeases: a node reads a key from its own replica alone while it holds a lease from the
	// key's other replicas; writes wait for lease holders (internal/replicate/lease.go).
	ReadLeases bool
	// MQTTDefault: MQTT is the embedded default (:1883), not the user's choice. A second node
	// started on the same host (tests, a site tried out on one machine) then finds the port
	// taken: it warns and runs without that listener instead of refusing to start.
	MQTTDefault bool
	// Cross-site repair (anti-entropy, drain, tombstone purge) period, and how old a tombstone must
	// be before it may be purged (besides being known everywhere); see internal/replicate/geosync.go.
	GeoSyncEvery   time.Duration
	TombstoneGrace time.Duration

	// From the environment only: secrets never go on a command line, where ps shows them.
	RootAccessKey string // MINICLOUD_ROOT_ACCESS_KEY
	RootSecretKey string // MINICLOUD_ROOT_SECRET_KEY
	MeshSecret    string // MINICLOUD_MESH_SECRET
}

// DefaultServe returns the embedded defaults: a node anyone can start with no settings at all.
func DefaultServe() Serve {
	return Serve{
		Data:           "./minicloud-data",
		S3:             ":9000",
		MQTT:           ":1883", // the MQTT port devices try first
		MQTTDefault:    true,
		Region:         "us-east-1",
		Site:           "default",
		LogLevel:       "info",
		Replicas:       3, // survives the loss of any one node with W=2, R=2 (R+W>RF)
		WriteQ:         2,
		ReadQ:          2,
		ReadLeases:     true, // one replica per GET in a healthy site; writes wait for every live replica
		GeoSyncEvery:   time.Minute,
		TombstoneGrace: time.Hour, // far beyond the timeout of any write still in flight
	}
}

// BindServe declares serve's flags on fs, writing into c.
func BindServe(fs *pflag.FlagSet, c *Serve) {
	fs.StringVar(&c.Data, "data", c.Data, "directory that holds this node's data `DIR`")
	fs.StringVar(&c.S3, "s3", c.S3, "listen `ADDR` of the S3 and admin API")
	fs.StringVar(&c.Region, "region", c.Region, "region reported to S3 clients")
	fs.StringVar(&c.Domain, "domain", c.Domain, "base `DOMAIN` for virtual-hosted-style buckets (bucket.DOMAIN)")
	fs.StringVar(&c.MQTT, "mqtt", c.MQTT, "listen `ADDR` of the MQTT broker (empty: off; the default port, when taken, is skipped with a warning)")
	fs.StringVar(&c.MQTTTLS, "mqtt-tls", c.MQTTTLS, "listen `ADDR` of MQTT over TLS (mqtts, usually :8883; needs --tls-cert and --tls-key)")
	fs.StringVar(&c.MQTTWS, "mqtt-ws", c.MQTTWS, "listen `ADDR` of MQTT over WebSocket (ws://, any path)")
	fs.StringVar(&c.MQTTWSS, "mqtt-wss", c.MQTTWSS, "listen `ADDR` of MQTT over WebSocket in TLS (wss://; needs --tls-cert and --tls-key)")
	fs.StringVar(&c.TLSCert, "tls-cert", c.TLSCert, "PEM certificate `FILE` (with its chain) of the TLS listeners")
	fs.StringVar(&c.TLSKey, "tls-key", c.TLSKey, "PEM private key `FILE` of the TLS listeners")
	fs.StringVar(&c.Mesh, "mesh", c.Mesh, "listen `ADDR` for other nodes of the mesh (empty: single node)")
	fs.StringVar(&c.Site, "site", c.Site, "`NAME` of the site this node belongs to")
	fs.StringVar(&c.Join, "join", c.Join, "mesh `HOST:PORT[,HOST:PORT]` of any existing node to join")
	fs.StringVar(&c.Console, "console", c.Console, "listen `ADDR` of the web console (empty: off)")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "log level: debug, info, warn or error")
	fs.StringVar(&c.NodeID, "node-id", c.NodeID, "stable `ID` of this node (default: generated at first start and kept in the data dir)")
	fs.StringVar(&c.RPC, "rpc", c.RPC, "listen `ADDR` for node-to-node data (default: the --mesh host, a free port, announced by gossip)")
	fs.IntVar(&c.Replicas, "replicas", c.Replicas, "copies of each object kept in the site (RF)")
	fs.IntVar(&c.WriteQ, "write-quorum", c.WriteQ, "replicas that must store a write before it is acknowledged (W)")
	fs.DurationVar(&c.GeoSyncEvery, "geo-sync-every", c.GeoSyncEvery, "period of cross-site anti-entropy, bucket drain and tombstone purge")
	fs.DurationVar(&c.TombstoneGrace, "tombstone-grace", c.TombstoneGrace, "minimum age of a tombstone before it may be purged (once every hosting site has it)")
	fs.IntVar(&c.ReadQ, "read-quorum", c.ReadQ, "replicas a read waits for (R); keep R+W > RF to read your writes")
	fs.BoolVar(&c.ReadLeases, "read-leases", c.ReadLeases, "read from this node's replica alone while it holds a lease from the other replicas (writes then wait for every live replica, or up to 1s after one dies)")
}

// FromEnv fills every flag the user did not set from MINICLOUD_<NAME> (dashes as underscores),
// then reads the secrets that only come from the environment.
func FromEnv(fs *pflag.FlagSet, c *Serve, getenv func(string) string) error {
	var err error
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Changed || err != nil {
			return
		}
		if v := getenv(EnvName(f.Name)); v != "" {
			if serr := fs.Set(f.Name, v); serr != nil {
				err = fmt.Errorf("%s=%q: %w", EnvName(f.Name), v, serr)
			}
		}
	})
	if f := fs.Lookup("mqtt"); f != nil && f.Changed {
		c.MQTTDefault = false // chosen by the user (flag or environment): a port in use is an error
	}
	c.RootAccessKey = getenv("MINICLOUD_ROOT_ACCESS_KEY")
	c.RootSecretKey = getenv("MINICLOUD_ROOT_SECRET_KEY")
	c.MeshSecret = getenv("MINICLOUD_MESH_SECRET")
	return err
}

// EnvName is the environment variable that sets flag name.
func EnvName(flag string) string {
	return "MINICLOUD_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// Validate checks the configuration and says how to fix what is wrong.
func (c *Serve) Validate() error {
	if c.Data == "" {
		return fmt.Errorf("--data must name a directory")
	}
	for name, addr := range map[string]string{"--s3": c.S3, "--mqtt": c.MQTT, "--mesh": c.Mesh, "--console": c.Console,
		"--mqtt-tls": c.MQTTTLS, "--mqtt-ws": c.MQTTWS, "--mqtt-wss": c.MQTTWSS} {
		if addr == "" {
			if name == "--s3" {
				return fmt.Errorf("--s3 must be a listen address such as :9000")
			}
			continue
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return fmt.Errorf("%s %q is not HOST:PORT or :PORT: %w", name, addr, err)
		}
	}
	if (c.RootAccessKey == "") != (c.RootSecretKey == "") {
		return fmt.Errorf("set both MINICLOUD_ROOT_ACCESS_KEY and MINICLOUD_ROOT_SECRET_KEY, or neither (a random root key is then generated)")
	}
	if c.RootAccessKey != "" && len(c.RootSecretKey) < 8 {
		return fmt.Errorf("MINICLOUD_ROOT_SECRET_KEY must be at least 8 characters")
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("--log-level %q: use debug, info, warn or error", c.LogLevel)
	}
	if c.GeoSyncEvery <= 0 || c.TombstoneGrace <= 0 {
		return fmt.Errorf("--geo-sync-every %v, --tombstone-grace %v: both must be positive durations (e.g. 1m, 1h)", c.GeoSyncEvery, c.TombstoneGrace)
	}
	if c.Replicas < 1 || c.WriteQ < 1 || c.ReadQ < 1 || c.WriteQ > c.Replicas || c.ReadQ > c.Replicas {
		return fmt.Errorf("--replicas %d, --write-quorum %d, --read-quorum %d: need 1 <= quorums <= replicas", c.Replicas, c.WriteQ, c.ReadQ)
	}
	if (c.MQTTTLS != "" || c.MQTTWSS != "") && (c.TLSCert == "" || c.TLSKey == "") {
		return fmt.Errorf("--mqtt-tls and --mqtt-wss need --tls-cert FILE and --tls-key FILE (PEM)")
	}
	if c.Join != "" && c.Mesh == "" {
		return fmt.Errorf("--join needs --mesh ADDR: the address this node listens on for other nodes")
	}
	return nil
}

var _ = os.Getenv
