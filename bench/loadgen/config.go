package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

var errHelp = flag.ErrHelp

// Config holds one run's settings, filled from flags and the environment.
type Config struct {
	Endpoint           *url.URL
	AccessKey          string
	SecretKey          string
	Region             string
	Bucket             string
	Prefix             string // every key of the run lives under Prefix + "/"
	Workload           string
	Size               int64
	Concurrency        int
	PrepareConcurrency int
	Duration           time.Duration
	OpTimeout          time.Duration
	Objects            int
	UnsignedPayload    bool
	Cleanup            bool
	JSON               bool
}

var workloads = map[string]bool{"put": true, "get": true, "mixed": true, "list": true}

// parseFlags builds a Config from command-line arguments.
func parseFlags(args []string, stderr io.Writer) (*Config, error) {
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c Config
	var endpoint, size string
	fs.StringVar(&endpoint, "endpoint", "http://127.0.0.1:9000", "S3 endpoint URL (http or https)")
	fs.StringVar(&c.AccessKey, "access", "", "access key (default $AWS_ACCESS_KEY_ID)")
	fs.StringVar(&c.SecretKey, "secret", "", "secret key (default $AWS_SECRET_ACCESS_KEY)")
	fs.StringVar(&c.Region, "region", "us-east-1", "region used for signing")
	fs.StringVar(&c.Bucket, "bucket", "loadgen", "bucket; created if missing")
	fs.StringVar(&c.Prefix, "prefix", "", "key prefix of this run (default: a fresh unique one)")
	fs.StringVar(&c.Workload, "workload", "put", "put | get | mixed | list")
	fs.StringVar(&size, "size", "4KiB", "object size, e.g. 4KiB, 64MiB, 1MB, 100")
	fs.IntVar(&c.Concurrency, "concurrency", 8, "concurrent operations in the timed phase")
	fs.IntVar(&c.PrepareConcurrency, "prepare-concurrency", 0, "concurrent uploads while preparing (default: -concurrency, at least 32 for list)")
	fs.DurationVar(&c.Duration, "duration", 30*time.Second, "length of the timed phase")
	fs.DurationVar(&c.OpTimeout, "op-timeout", 2*time.Minute, "limit for one operation (one full listing for list); a timeout counts as an error")
	fs.IntVar(&c.Objects, "objects", 2500, "objects prepared before get, mixed and list")
	fs.BoolVar(&c.UnsignedPayload, "unsigned-payload", false, "send PUT bodies as UNSIGNED-PAYLOAD instead of warp's default streaming SigV4 chunks")
	fs.BoolVar(&c.Cleanup, "cleanup", false, "delete the run's objects afterwards (not timed)")
	fs.BoolVar(&c.JSON, "json", false, "print the result as one JSON object")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	var err error
	if c.Endpoint, err = parseEndpoint(endpoint); err != nil {
		return nil, err
	}
	if c.Size, err = parseSize(size); err != nil {
		return nil, err
	}
	c.setDefaults()
	return &c, c.Validate()
}

// setDefaults fills settings that depend on other settings.
func (c *Config) setDefaults() {
	// Read here, not as flag defaults, so -h never prints a secret.
	if c.AccessKey == "" {
		c.AccessKey = os.Getenv("AWS_ACCESS_KEY_ID")
	}
	if c.SecretKey == "" {
		c.SecretKey = os.Getenv("AWS_SECRET_ACCESS_KEY")
	}
	if c.Prefix == "" {
		c.Prefix = "lg-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	}
	if c.PrepareConcurrency <= 0 {
		c.PrepareConcurrency = c.Concurrency
		if c.Workload == "list" {
			// Listing is timed, uploading its objects is not: go wide.
			c.PrepareConcurrency = max(c.Concurrency, 32)
		}
	}
}

// Validate reports the first setting that cannot work.
func (c *Config) Validate() error {
	switch {
	case !workloads[c.Workload]:
		return fmt.Errorf("-workload %q: want put, get, mixed or list", c.Workload)
	case c.AccessKey == "" || c.SecretKey == "":
		return errors.New("no credentials: set -access and -secret or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
	case c.Bucket == "":
		return errors.New("-bucket is empty")
	case c.Concurrency < 1:
		return fmt.Errorf("-concurrency %d: want at least 1", c.Concurrency)
	case c.Duration <= 0 || c.OpTimeout <= 0:
		return errors.New("-duration and -op-timeout must be positive")
	case c.Size < 0 || c.Size > 5<<30:
		return fmt.Errorf("-size %d: want 0 to 5GiB (one PUT)", c.Size)
	case c.Workload == "mixed" && c.Objects < 2*c.Concurrency:
		return fmt.Errorf("-objects %d: mixed needs at least 2 per concurrent worker (%d)", c.Objects, 2*c.Concurrency)
	case c.Workload != "put" && c.Objects < 1:
		return fmt.Errorf("-objects %d: want at least 1", c.Objects)
	}
	return nil
}

// parseEndpoint accepts "http://host:port", "https://host" or a bare
// "host:port" (taken as http).
func parseEndpoint(s string) (*url.URL, error) {
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("-endpoint: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || strings.Trim(u.Path, "/") != "" {
		return nil, fmt.Errorf("-endpoint %q: want http(s)://host[:port] with no path", s)
	}
	return u, nil
}

var sizeUnits = []struct {
	suffix string
	mult   int64
}{
	// Longest suffixes first, so "KiB" is not read as "B".
	{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30},
	{"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9},
	{"ki", 1 << 10}, {"mi", 1 << 20}, {"gi", 1 << 30},
	{"k", 1e3}, {"m", 1e6}, {"g", 1e9},
	{"b", 1},
}

// parseSize reads a byte count such as "4KiB", "64MiB", "1.5MB" or "100".
func parseSize(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	mult := int64(1)
	for _, u := range sizeUnits {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f < 0 || f*float64(mult) > 1<<50 {
		return 0, fmt.Errorf("-size %q: want a byte count such as 4KiB or 64MiB", s)
	}
	return int64(f * float64(mult)), nil
}

// formatSize writes n in the largest binary unit that divides it.
func formatSize(n int64) string {
	for _, u := range []struct {
		name string
		mult int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n >= u.mult && n%u.mult == 0 {
			return strconv.FormatInt(n/u.mult, 10) + u.name
		}
	}
	return strconv.FormatInt(n, 10) + "B"
}
