package main

import (
	"context"
	"fmt"
	"io"

	"github.com/minio/minio-go/v7"
)

// The S3 operations of the workloads. Each returns the body bytes it moved
// and, for listings, the objects it saw, in the shape of an opFunc.

// putObject uploads the next body of p as key in one PUT request.
func putObject(ctx context.Context, cfg *Config, c *minio.Core, key string, p *payload) (int64, int64, error) {
	_, err := c.PutObject(ctx, cfg.Bucket, key, p.next(), cfg.Size, "", "", putOptions(cfg))
	if err != nil {
		return 0, 0, err
	}
	return cfg.Size, 0, nil
}

// putOptions are the options of every PUT: no Content-MD5, and streaming
// SigV4 chunks (warp's default over http) unless -unsigned-payload.
// Core.PutObject sends one request whatever the size: no multipart.
func putOptions(cfg *Config) minio.PutObjectOptions {
	return minio.PutObjectOptions{
		DisableContentSha256: cfg.UnsignedPayload,
		ContentType:          "application/octet-stream",
	}
}

// discard hides io.Discard's ReadFrom, so that io.CopyBuffer reads with the
// caller's large buffer instead of io.Discard's 8 KiB pool.
type discard struct{ io.Writer }

// getObject reads the whole body of key and checks its length.
func getObject(ctx context.Context, cfg *Config, c *minio.Core, key string, buf []byte) (int64, int64, error) {
	body, _, _, err := c.GetObject(ctx, cfg.Bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return 0, 0, err
	}
	defer body.Close()
	n, err := io.CopyBuffer(discard{io.Discard}, body, buf)
	if err != nil {
		return n, 0, fmt.Errorf("read body of %s: %w", key, err)
	}
	if n != cfg.Size {
		return n, 0, fmt.Errorf("get %s: body has %d bytes, want %d", key, n, cfg.Size)
	}
	return n, 0, nil
}

// statObject sends a HEAD for key and checks the reported size.
func statObject(ctx context.Context, cfg *Config, c *minio.Core, key string) (int64, int64, error) {
	info, err := c.StatObject(ctx, cfg.Bucket, key, minio.StatObjectOptions{})
	if err != nil {
		return 0, 0, err
	}
	if info.Size != cfg.Size {
		return 0, 0, fmt.Errorf("stat %s: size %d, want %d", key, info.Size, cfg.Size)
	}
	return 0, 0, nil
}

// deleteObject deletes key.
func deleteObject(ctx context.Context, cfg *Config, c *minio.Core, key string) (int64, int64, error) {
	return 0, 0, c.RemoveObject(ctx, cfg.Bucket, key, minio.RemoveObjectOptions{})
}

// listAll lists every key under the run's prefix in ListObjectsV2 pages of
// 1000 and checks that it saw exactly cfg.Objects objects.
func listAll(ctx context.Context, cfg *Config, c *minio.Core) (int64, int64, error) {
	fetchOwner := false
	opts := minio.ListObjectsOptions{Prefix: cfg.Prefix + "/", Recursive: true, MaxKeys: 1000, FetchOwner: &fetchOwner}
	var n int64
	for obj := range c.ListObjectsIter(ctx, cfg.Bucket, opts) {
		if obj.Err != nil {
			return 0, n, obj.Err
		}
		n++
	}
	if err := ctx.Err(); err != nil {
		return 0, n, fmt.Errorf("list after %d objects: %w", n, err)
	}
	if n != int64(cfg.Objects) {
		return 0, n, fmt.Errorf("list saw %d objects, want %d", n, cfg.Objects)
	}
	return 0, n, nil
}
