package main

import (
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/minio/minio-go/v7"
)

// objectKey names the i-th prepared object of the run.
func objectKey(cfg *Config, i int) string {
	return fmt.Sprintf("%s/obj%08d", cfg.Prefix, i)
}

// prepare uploads cfg.Objects objects of cfg.Size bytes, cfg.PrepareConcurrency
// at a time. It is not timed and stops at the first failure.
func prepare(ctx context.Context, cfg *Config, c *minio.Core, log io.Writer) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(cfg.PrepareConcurrency, cfg.Objects) {
		wg.Go(func() {
			p := newPayload(cfg.Size)
			for i := int(next.Add(1) - 1); i < cfg.Objects && ctx.Err() == nil; i = int(next.Add(1) - 1) {
				if err := putOne(ctx, cfg, c, objectKey(cfg, i), p); err != nil {
					cancel(err)
				}
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return fmt.Errorf("prepare: %w", err)
	}
	fmt.Fprintf(log, "loadgen: %s: prepared %d objects of %s in %.1fs\n",
		cfg.Workload, cfg.Objects, formatSize(cfg.Size), time.Since(start).Seconds())
	return nil
}

// putOne uploads one body from p under key, bounded by cfg.OpTimeout.
func putOne(ctx context.Context, cfg *Config, c *minio.Core, key string, p *payload) error {
	ctx, cancel := context.WithTimeout(ctx, cfg.OpTimeout)
	defer cancel()
	if _, _, err := putObject(ctx, cfg, c, key, p); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	return nil
}
