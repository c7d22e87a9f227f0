package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newNode() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "node",
		Short: "Manage the nodes of a site",
	}
	cmd.AddCommand(newNodeDecommission())
	return cmd
}

func newNodeDecommission() *cobra.Command {
	var c client
	cmd := &cobra.Command{
		Use:   "decommission ID",
		Short: "Remove a node from the layout; its data moves to the other nodes",
		Long: `Remove a node from the layout for good. A node that is merely down stays in the layout (its
writes wait as hints); decommission only nodes that will not come back. Watch the data move with
'minicloud status' (partitions in sync, records pushed).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := c.do(cmd.Context(), "POST", "nodes/"+pathEscape(args[0])+"/decommission", nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "node %s decommissioned; its partitions are moving (see minicloud status)\n", args[0])
			return nil
		},
	}
	addClientFlags(cmd, &c)
	return cmd
}
