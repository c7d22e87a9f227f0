// Command geoload measures geo-replication: it PUTs objects into one site at a fixed rate
// (paced, open loop: the rate does not drop when the server slows down) and, with -lag, lists
// the bucket at another site over and over to record when each object first appears there.
// It prints one line: the PUT rate and latency at the first site and, with -lag, the replication
// lag (from the PUT's acknowledgement at -a to the first listing at -b that shows the key).
//
// Like bench/loadgen it is a benchmark tool: it imports nothing from minicloud's internal
// packages, and makes one attempt per request.
//
// Exit status: 0 on success, 1 when any operation failed or an object never appeared at -b,
// 2 on bad flags.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// config is one run's settings.
type config struct {
	a, b            *url.URL
	access, secret  string
	region, bucket  string
	prefix          string
	rate            float64
	size            int
	duration        time.Duration
	maxInFlight     int
	opTimeout       time.Duration
	lag             bool
	poll            time.Duration
	drain           time.Duration
	waitBucket      time.Duration
	unsignedPayload bool
	label           string
}

func parseFlags(args []string, stderr io.Writer) (*config, error) {
	fs := flag.NewFlagSet("geoload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c config
	var a, b, size string
	fs.StringVar(&a, "a", "http://127.0.0.1:9000", "S3 endpoint of the site written to")
	fs.StringVar(&b, "b", "", "S3 endpoint of the site whose copy is watched (with -lag)")
	fs.StringVar(&c.access, "access", "", "access key (default $AWS_ACCESS_KEY_ID)")
	fs.StringVar(&c.secret, "secret", "", "secret key (default $AWS_SECRET_ACCESS_KEY)")
	fs.StringVar(&c.region, "region", "us-east-1", "region used for signing")
	fs.StringVar(&c.bucket, "bucket", "geo", "bucket, which must exist at -a (and at -b with -lag)")
	fs.StringVar(&c.prefix, "prefix", "", "key prefix of this run (default: a fresh unique one)")
	fs.Float64Var(&c.rate, "rate", 500, "PUTs started per second")
	fs.StringVar(&size, "size", "16KiB", "object size: a number of bytes, or with KiB or MiB")
	fs.DurationVar(&c.duration, "duration", 30*time.Second, "how long PUTs are started")
	fs.IntVar(&c.maxInFlight, "max-inflight", 256, "PUTs in flight at most; a PUT that must wait for a slot counts as late")
	fs.DurationVar(&c.opTimeout, "op-timeout", 30*time.Second, "limit for one request; a timeout counts as an error")
	fs.BoolVar(&c.lag, "lag", false, "measure replication lag to -b")
	fs.DurationVar(&c.poll, "poll", 10*time.Millisecond, "pause between two listings at -b")
	fs.DurationVar(&c.drain, "drain", 30*time.Second, "after the last PUT, how long to wait for every object to appear at -b")
	fs.DurationVar(&c.waitBucket, "wait-bucket", 30*time.Second, "how long to wait for the bucket to exist at -a (and -b)")
	fs.BoolVar(&c.unsignedPayload, "unsigned-payload", false, "send bodies as UNSIGNED-PAYLOAD instead of streaming SigV4 chunks")
	fs.StringVar(&c.label, "label", "", "free text copied into the result line")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	var err error
	if c.a, err = parseEndpoint(a); err != nil {
		return nil, err
	}
	if c.lag {
		if b == "" {
			return nil, errors.New("-lag needs -b")
		}
		if c.b, err = parseEndpoint(b); err != nil {
			return nil, err
		}
	}
	if c.size, err = parseSize(size); err != nil {
		return nil, err
	}
	if c.access == "" {
		c.access = os.Getenv("AWS_ACCESS_KEY_ID")
	}
	if c.secret == "" {
		c.secret = os.Getenv("AWS_SECRET_ACCESS_KEY")
	}
	if c.prefix == "" {
		c.prefix = "geo-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	}
	switch {
	case c.access == "" || c.secret == "":
		return nil, errors.New("no credentials: set -access and -secret (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)")
	case c.rate <= 0 || c.rate > 100000:
		return nil, fmt.Errorf("-rate %v: want 0 < rate <= 100000", c.rate)
	case c.duration <= 0 || c.duration > 24*time.Hour:
		return nil, fmt.Errorf("-duration %v: want 0 < duration <= 24h", c.duration)
	case c.maxInFlight < 1:
		return nil, fmt.Errorf("-max-inflight %d: want at least 1", c.maxInFlight)
	case c.poll <= 0 || c.drain < 0 || c.opTimeout <= 0:
		return nil, errors.New("-poll and -op-timeout must be positive, -drain not negative")
	}
	return &c, nil
}

func parseEndpoint(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("endpoint %q: want http://HOST:PORT or https://HOST:PORT", s)
	}
	return u, nil
}

func parseSize(s string) (int, error) {
	mult := 1
	num := s
	for suffix, m := range map[string]int{"KiB": 1 << 10, "MiB": 1 << 20} {
		if n, ok := strings.CutSuffix(s, suffix); ok {
			num, mult = n, m
		}
	}
	n, err := strconv.Atoi(num)
	if err != nil || n < 1 || n > 64<<20/mult {
		return 0, fmt.Errorf("size %q: want 1 byte to 64MiB, e.g. 16KiB", s)
	}
	return n * mult, nil
}

// newClient returns a client with one attempt per request and a pool of conns connections that
// never goes through a proxy, and the function that closes its idle connections.
func newClient(c *config, endpoint *url.URL, conns int) (*minio.Core, func(), error) {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true,
	}
	core, err := minio.NewCore(endpoint.Host, &minio.Options{
		Creds:        credentials.NewStaticV4(c.access, c.secret, ""),
		Secure:       endpoint.Scheme == "https",
		Region:       c.region,
		BucketLookup: minio.BucketLookupPath,
		Transport:    tr,
		MaxRetries:   1,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("client for %s: %w", endpoint, err)
	}
	return core, tr.CloseIdleConnections, nil
}

// waitBucket waits until bucket exists at the client's endpoint (creating a bucket at one site
// reaches the others by gossip).
func waitBucket(ctx context.Context, c *minio.Core, bucket string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		ok, err := c.BucketExists(ctx, bucket)
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = errors.New("it does not exist")
			}
			return fmt.Errorf("bucket %s at %s: %w", bucket, c.EndpointURL().Host, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "geoload: %v\n", err)
		return 2
	}
	res, err := measure(ctx, c)
	if err != nil {
		fmt.Fprintf(stderr, "geoload: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, res.line(c))
	for _, s := range res.samples {
		fmt.Fprintf(stderr, "geoload: error sample: %s\n", s)
	}
	if res.errors > 0 || res.unseen > 0 || ctx.Err() != nil {
		return 1
	}
	return 0
}

// measure runs the paced PUTs and, with -lag, the watcher at -b.
func measure(ctx context.Context, c *config) (*result, error) {
	ca, closeA, err := newClient(c, c.a, c.maxInFlight)
	if err != nil {
		return nil, err
	}
	defer closeA()
	if err := waitBucket(ctx, ca, c.bucket, c.waitBucket); err != nil {
		return nil, err
	}
	var w *watcher
	if c.lag {
		cb, closeB, err := newClient(c, c.b, 4)
		if err != nil {
			return nil, err
		}
		defer closeB()
		if err := waitBucket(ctx, cb, c.bucket, c.waitBucket); err != nil {
			return nil, err
		}
		w = newWatcher(ctx, cb, c)
		defer w.stop()
	}
	res := putPaced(ctx, ca, c)
	if w != nil {
		w.finish(ctx, res.acked, c.drain)
		w.stop()
		w.lags(res)
	}
	return res, nil
}
