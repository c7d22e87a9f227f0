// Package cli is minicloud's command line: one file per subcommand. The same binary is the
// server (serve) and the admin client of a running node (everything else), which it reaches over
// the authenticated admin HTTP API. It holds no server logic.
package cli

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
)

const intro = `minicloud turns a few machines into a local cloud: S3 objects, MQTT streams, rules and sync,
working whether or not the WAN or the big cloud is up.

Start a node on its embedded defaults (data in ./minicloud-data, S3 on :9000):
  minicloud serve

The first start prints a generated root key. Then use any S3 client:
  export AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=...
  aws --endpoint-url http://127.0.0.1:9000 s3 mb s3://my-bucket

Administer a running node (credentials from MINICLOUD_ROOT_ACCESS_KEY/MINICLOUD_ROOT_SECRET_KEY):
  minicloud status
  minicloud bucket create my-bucket
  minicloud key create --name camera1 && minicloud key grant KEY my-bucket readwrite`

// Run executes the command line args (without the program name) and returns the exit code.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRoot(ctx, stdout, stderr)
	root.SetArgs(args)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(stderr, "error:", err)
		return 1
	}
	return 0
}

func newRoot(ctx context.Context, stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "minicloud",
		Short:         "A mini-cloud for the edge: S3, MQTT streams, rules and sync in one binary",
		Long:          intro,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return cmd.Help()
		},
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(newServe(), newStatus(), newBucket(), newKey(), newNode(), newSQL(), newRule(), newStream(), newVersion())
	return root
}

// envOr returns the environment variable's value, or def.
func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
