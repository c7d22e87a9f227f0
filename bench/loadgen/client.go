package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// The client is minio-go rather than aws-sdk-go-v2 because:
//   - warp, whose workloads these are, is built on minio-go, so requests look
//     like warp's (streaming SigV4 PUTs over http, same headers);
//   - its request path is thin: no middleware stack, no per-call option
//     closures, no retry/rate-limit token bucket, so on a 2-core machine
//     shared with the servers under test the client costs less CPU;
//   - Core gives direct GET bodies and the list iterator runs without a
//     helper goroutine, which keeps latency measurement and shutdown simple.

// newClient returns a client that makes exactly one attempt per operation
// (retries would hide errors and bend latencies) over a connection pool
// sized for conns concurrent requests, and the function that closes the
// pool's idle connections when the run is over.
func newClient(cfg *Config, conns int) (*minio.Core, func(), error) {
	tr := newTransport(conns)
	core, err := minio.NewCore(cfg.Endpoint.Host, &minio.Options{
		Creds:        credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure:       cfg.Endpoint.Scheme == "https",
		Region:       cfg.Region, // known region: no GetBucketLocation round trips
		BucketLookup: minio.BucketLookupPath,
		Transport:    tr,
		MaxRetries:   1,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("new client for %s: %w", cfg.Endpoint, err)
	}
	return core, tr.CloseIdleConnections, nil
}

// newTransport keeps one idle connection per worker and never goes through a
// proxy: the benchmark talks to a server next to it.
func newTransport(conns int) *http.Transport {
	return &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          conns,
		MaxIdleConnsPerHost:   conns,
		IdleConnTimeout:       time.Minute,
		ResponseHeaderTimeout: 2 * time.Minute,
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true, // bodies are measured as stored
	}
}

// ensureBucket creates the bucket unless it exists.
func ensureBucket(ctx context.Context, c *minio.Core, bucket string) error {
	ok, err := c.BucketExists(ctx, bucket)
	if err != nil {
		return fmt.Errorf("check bucket %s: %w", bucket, err)
	}
	if ok {
		return nil
	}
	err = c.MakeBucket(ctx, bucket, minio.MakeBucketOptions{})
	if code := minio.ToErrorResponse(err).Code; code == "BucketAlreadyOwnedByYou" {
		return nil
	}
	if err != nil {
		return fmt.Errorf("create bucket %s: %w", bucket, err)
	}
	return nil
}
