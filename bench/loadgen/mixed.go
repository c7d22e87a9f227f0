package main

import (
	"context"
	"math/rand/v2"

	"github.com/minio/minio-go/v7"
)

// mixedOp draws warp's default mixed distribution from r in [0, 100):
// 45% GET, 15% PUT, 30% STAT, 10% DELETE.
func mixedOp(r int) string {
	switch {
	case r < 45:
		return "get"
	case r < 60:
		return "put"
	case r < 90:
		return "stat"
	default:
		return "delete"
	}
}

// mixedWorker runs warp's mix over the prepared objects; PUTs first rewrite
// what DELETEs removed, then overwrite existing objects.
func mixedWorker(cfg *Config, c *minio.Core, pool *keyPool) worker {
	rng := rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	p := newPayload(cfg.Size)
	buf := make([]byte, getBufSize)
	return func(ctx context.Context, rec *recorder) {
		op := mixedOp(rng.IntN(100))
		if op == "put" {
			mixedPut(ctx, cfg, c, pool, rec, p)
			return
		}
		key, ok := pool.takePresent()
		if !ok { // every object is deleted or busy: write one back instead
			mixedPut(ctx, cfg, c, pool, rec, p)
			return
		}
		name := objectKey(cfg, key)
		var f opFunc
		switch op {
		case "get":
			f = func(ctx context.Context) (int64, int64, error) { return getObject(ctx, cfg, c, name, buf) }
		case "stat":
			f = func(ctx context.Context) (int64, int64, error) { return statObject(ctx, cfg, c, name) }
		default:
			f = func(ctx context.Context) (int64, int64, error) { return deleteObject(ctx, cfg, c, name) }
		}
		err := timeOp(ctx, cfg, rec, op, f)
		// A failed DELETE leaves the object in place, as far as we know.
		pool.give(key, op != "delete" || err != nil)
	}
}

// mixedPut writes a deleted object back, or overwrites an existing one.
func mixedPut(ctx context.Context, cfg *Config, c *minio.Core, pool *keyPool, rec *recorder, p *payload) {
	key, wasPresent, ok := pool.takeForPut()
	if !ok { // cannot happen while -objects >= 2 * -concurrency
		return
	}
	name := objectKey(cfg, key)
	err := timeOp(ctx, cfg, rec, "put", func(ctx context.Context) (int64, int64, error) {
		return putObject(ctx, cfg, c, name, p)
	})
	pool.give(key, wasPresent || err == nil)
}
