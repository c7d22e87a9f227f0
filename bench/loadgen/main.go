// Command loadgen is minicloud's S3 load generator, modelled on MinIO's warp
// (which is not available here). It drives one workload (put, get, mixed or
// list) against one S3 endpoint for a fixed duration and prints one result
// line, or one JSON object with -json.
//
// It is a benchmark tool, not part of the server: it imports nothing from
// minicloud's internal packages, so it measures MinIO and minicloud alike.
//
// Exit status: 0 on success, 1 when any operation failed, 2 on bad flags.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run parses args, runs the workload and writes the result; it returns the
// process exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, stderr)
	if errors.Is(err, errHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "loadgen: %v\n", err)
		return 2
	}
	res, err := runWorkload(ctx, cfg, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "loadgen: %s: %v\n", cfg.Workload, err)
		return 1
	}
	if err := writeResult(stdout, res, cfg.JSON); err != nil {
		fmt.Fprintf(stderr, "loadgen: write result: %v\n", err)
		return 1
	}
	reportErrors(stderr, res)
	if res.Errors > 0 || ctx.Err() != nil {
		return 1
	}
	return 0
}
