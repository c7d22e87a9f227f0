package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/minicloud/minicloud/internal/admin"
	"github.com/minicloud/minicloud/internal/rulesrt"
)

func newSQL() *cobra.Command {
	var c client
	cmd := &cobra.Command{
		Use:   "sql STATEMENT",
		Short: "Run CREATE, DROP or DESCRIBE STREAM, or SHOW STREAMS, on a running node",
		Long: `Run a stream statement in minicloud's streaming SQL (eKuiper's dialect). A stream names the MQTT
topic filter that rules read (DATASOURCE) and, optionally, the schema of its JSON messages.
SELECT statements are run as rules: see 'minicloud rule create'.`,
		Example: `  minicloud sql 'CREATE STREAM sensors (device string, t float) WITH (DATASOURCE="sensors/+", FORMAT="JSON")'
  minicloud sql 'CREATE STREAM raw () WITH (DATASOURCE="raw/#")'
  minicloud sql 'DESCRIBE STREAM sensors'
  minicloud sql 'SHOW STREAMS'
  minicloud sql 'DROP STREAM sensors'`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var res rulesrt.SQLResult
			stmt := strings.Join(args, " ")
			if err := c.do(cmd.Context(), "POST", "sql", admin.SQLRequest{SQL: stmt}, &res); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), strings.TrimRight(res.Message, "\n"))
			return nil
		},
	}
	addClientFlags(cmd, &c)
	return cmd
}
