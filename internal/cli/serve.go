package cli

import (
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/minicloud/minicloud/internal/config"
	"github.com/minicloud/minicloud/internal/node"
)

func newServe() *cobra.Command {
	cfg := config.DefaultServe()
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run a minicloud node",
		Long: `Run a minicloud node. Every flag can also be set as MINICLOUD_<FLAG> in the environment
(e.g. MINICLOUD_DATA=/var/lib/minicloud); a flag on the command line wins.

The root key comes from MINICLOUD_ROOT_ACCESS_KEY and MINICLOUD_ROOT_SECRET_KEY; without them the
first start generates one, stores it in the data directory (mode 0600) and prints it once.`,
		Example: `  minicloud serve
  minicloud serve --data /srv/minicloud --s3 :9000 --domain s3.local`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := config.FromEnv(cmd.Flags(), &cfg, os.Getenv); err != nil {
				return err
			}
			log := newLogger(cfg.LogLevel)
			n, err := node.New(cfg, log, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			return n.Run(cmd.Context())
		},
	}
	config.BindServe(cmd.Flags(), &cfg)
	return cmd
}

func newLogger(level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	return slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: l}))
}
