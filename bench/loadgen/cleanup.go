package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/minio/minio-go/v7"
)

// cleanup deletes every object under the run's prefix, with
// cfg.PrepareConcurrency DELETEs at a time. It is not timed.
func cleanup(ctx context.Context, cfg *Config, c *minio.Core) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	keys := make(chan string)
	var failed atomic.Int64
	var wg sync.WaitGroup
	for range cfg.PrepareConcurrency {
		wg.Go(func() {
			for key := range keys {
				if _, _, err := deleteObject(ctx, cfg, c, key); err != nil {
					failed.Add(1)
				}
			}
		})
	}
	err := feedKeys(ctx, cfg, c, keys)
	close(keys)
	wg.Wait()
	if err != nil {
		return fmt.Errorf("cleanup: list: %w", err)
	}
	if n := failed.Load(); n > 0 {
		return fmt.Errorf("cleanup: %d deletes failed", n)
	}
	return nil
}

// feedKeys sends every key under the run's prefix to keys.
func feedKeys(ctx context.Context, cfg *Config, c *minio.Core, keys chan<- string) error {
	opts := minio.ListObjectsOptions{Prefix: cfg.Prefix + "/", Recursive: true, MaxKeys: 1000}
	for obj := range c.ListObjectsIter(ctx, cfg.Bucket, opts) {
		if obj.Err != nil {
			return obj.Err
		}
		select {
		case keys <- obj.Key:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return ctx.Err()
}
