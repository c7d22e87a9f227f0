package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/minicloud/minicloud/internal/admin"
)

func newBucketSites() *cobra.Command {
	var c client
	cmd := &cobra.Command{
		Use:   "sites NAME SITE[,SITE...]",
		Short: "Set the sites that host a bucket; a new site gets a copy of everything",
		Long: `Set the sites that host a bucket. A site added receives a copy of every object; watch the
copy's progress as the backlog "hints pending for site:NAME" in 'minicloud status' (run against a
node of a site that holds the bucket; anything missed is repaired by the cross-site anti-entropy).
A site removed stops receiving changes, its nodes forward the bucket's requests to the remaining
sites, and each of them hands what it holds over to the hosting sites before deleting its copy:
'minicloud status' on its nodes shows "draining bucket NAME: N records left" until done.`,
		Example: "  minicloud bucket sites shared plant1,plant2,hq",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var out struct {
				Copying []string `json:"copying_to"`
			}
			req := admin.SitesRequest{Sites: strings.Split(args[1], ",")}
			if err := c.do(cmd.Context(), "PUT", "buckets/"+pathEscape(args[0])+"/sites", req, &out); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "bucket %s is hosted by %s", args[0], args[1])
			if len(out.Copying) > 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "; copying to %s (see minicloud status)", strings.Join(out.Copying, ", "))
			}
			fmt.Fprintln(cmd.OutOrStdout())
			return nil
		},
	}
	addClientFlags(cmd, &c)
	return cmd
}
