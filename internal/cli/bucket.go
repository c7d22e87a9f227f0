package cli

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/minicloud/minicloud/internal/admin"
)

func newBucket() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bucket",
		Short: "Create, list and delete buckets",
	}
	cmd.AddCommand(newBucketCreate(), newBucketList(), newBucketDelete(), newBucketSync(), newBucketSites())
	return cmd
}

func newBucketCreate() *cobra.Command {
	var c client
	var sites string
	cmd := &cobra.Command{
		Use:     "create NAME",
		Short:   "Create a bucket",
		Example: "  minicloud bucket create photos\n  minicloud bucket create shared --sites plant1,plant2",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req := admin.CreateBucketRequest{Name: args[0]}
			if sites != "" {
				req.Sites = strings.Split(sites, ",")
			}
			if err := c.do(cmd.Context(), "POST", "buckets", req, nil); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "created bucket %s\n", args[0])
			return nil
		},
	}
	addClientFlags(cmd, &c)
	cmd.Flags().StringVar(&sites, "sites", "", "comma-separated `SITES` that host the bucket (default: this node's site)")
	return cmd
}

func newBucketList() *cobra.Command {
	var c client
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List buckets",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var bs []admin.BucketInfo
			if err := c.do(cmd.Context(), "GET", "buckets", nil, &bs); err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tCREATED\tVERSIONING\tPUBLIC\tSITES")
			for _, b := range bs {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%v\t%s\n", b.Name, b.Created.Format(time.RFC3339), orDash(b.Versioning), b.Public, orDash(strings.Join(b.Sites, ",")))
			}
			return tw.Flush()
		},
	}
	addClientFlags(cmd, &c)
	return cmd
}

func newBucketDelete() *cobra.Command {
	var c client
	cmd := &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete an empty bucket",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := c.do(cmd.Context(), "DELETE", "buckets/"+args[0], nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "deleted bucket %s\n", args[0])
			return nil
		},
	}
	addClientFlags(cmd, &c)
	return cmd
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
