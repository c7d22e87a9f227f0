package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"

	"github.com/minio/minio-go/v7"
)

// getBufSize is the read buffer of each GET worker.
const getBufSize = 256 << 10

// runWorkload prepares what cfg.Workload needs, runs the timed phase and,
// with -cleanup, deletes the run's objects.
func runWorkload(ctx context.Context, cfg *Config, log io.Writer) (*Result, error) {
	c, closeIdle, err := newClient(cfg, max(cfg.Concurrency, cfg.PrepareConcurrency))
	if err != nil {
		return nil, err
	}
	defer closeIdle()
	if err := ensureBucket(ctx, c, cfg.Bucket); err != nil {
		return nil, err
	}
	if cfg.Workload != "put" {
		if err := prepare(ctx, cfg, c, log); err != nil {
			return nil, err
		}
	}
	rec, elapsed := measure(ctx, cfg, workerFactory(cfg, c))
	res := newResult(cfg, rec, elapsed)
	if cfg.Cleanup {
		if err := cleanup(ctx, cfg, c); err != nil {
			fmt.Fprintf(log, "loadgen: %v\n", err)
			res.Errors++
		}
	}
	return res, nil
}

// workerFactory returns the constructor of cfg.Workload's workers.
func workerFactory(cfg *Config, c *minio.Core) func(id int) worker {
	switch cfg.Workload {
	case "get":
		return func(int) worker { return getWorker(cfg, c) }
	case "mixed":
		pool := newKeyPool(cfg.Objects)
		return func(int) worker { return mixedWorker(cfg, c, pool) }
	case "list":
		return func(int) worker { return listWorker(cfg, c) }
	default:
		return func(id int) worker { return putWorker(cfg, c, id) }
	}
}

// putWorker uploads new objects under keys no other worker uses.
func putWorker(cfg *Config, c *minio.Core, id int) worker {
	p := newPayload(cfg.Size)
	n := 0
	return func(ctx context.Context, rec *recorder) {
		key := fmt.Sprintf("%s/put/w%03d-%09d", cfg.Prefix, id, n)
		n++
		_ = timeOp(ctx, cfg, rec, "put", func(ctx context.Context) (int64, int64, error) {
			return putObject(ctx, cfg, c, key, p)
		})
	}
}

// getWorker reads whole prepared objects chosen uniformly at random.
func getWorker(cfg *Config, c *minio.Core) worker {
	rng := rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	buf := make([]byte, getBufSize)
	return func(ctx context.Context, rec *recorder) {
		key := objectKey(cfg, rng.IntN(cfg.Objects))
		_ = timeOp(ctx, cfg, rec, "get", func(ctx context.Context) (int64, int64, error) {
			return getObject(ctx, cfg, c, key, buf)
		})
	}
}

// listWorker lists the whole prepared set, again and again.
func listWorker(cfg *Config, c *minio.Core) worker {
	return func(ctx context.Context, rec *recorder) {
		_ = timeOp(ctx, cfg, rec, "list", func(ctx context.Context) (int64, int64, error) {
			return listAll(ctx, cfg, c)
		})
	}
}
