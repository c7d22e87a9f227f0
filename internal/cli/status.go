package cli

import (
	"encoding/json"
	"fmt"
	"sort"

	"github.com/spf13/cobra"
)

func newStatus() *cobra.Command {
	var c client
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the state of a running node and its mesh",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var st map[string]any
			if err := c.do(cmd.Context(), "GET", "status", nil, &st); err != nil {
				return err
			}
			if asJSON {
				b, _ := json.MarshalIndent(st, "", "  ")
				fmt.Fprintln(cmd.OutOrStdout(), string(b))
				return nil
			}
			keys := make([]string, 0, len(st))
			for k := range st {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				fmt.Fprintf(cmd.OutOrStdout(), "%-18s %v\n", k+":", st[k])
			}
			return nil
		},
	}
	addClientFlags(cmd, &c)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the raw JSON status")
	return cmd
}

func newVersion() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print minicloud's version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, args []string) {
			fmt.Fprintln(cmd.OutOrStdout(), "minicloud", versionString())
		},
	}
}
