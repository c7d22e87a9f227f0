package cli

import (
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/minicloud/minicloud/internal/admin"
	"github.com/minicloud/minicloud/internal/iam"
)

func newKey() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "key",
		Short: "Manage access keys and their per-bucket grants",
		Long: `Manage access keys and their per-bucket grants. A new key can do nothing until granted:
  read       GET/HEAD objects and list
  write      PUT/DELETE objects and multipart uploads
  readwrite  both
  owner      readwrite plus the bucket's configuration
Grant on "*" to cover every bucket.`,
	}
	cmd.AddCommand(newKeyCreate(), newKeyList(), newKeyDelete(), newKeyGrant(), newKeyRevoke())
	return cmd
}

func newKeyCreate() *cobra.Command {
	var c client
	var name, id string
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Create an access key (its secret is shown once)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var k iam.Key
			if err := c.do(cmd.Context(), "POST", "keys", admin.CreateKeyRequest{AccessKey: id, Name: name}, &k); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "access key: %s\nsecret key: %s\n(the secret is not shown again; grant access with: minicloud key grant %s BUCKET readwrite)\n", k.AccessKey, k.Secret, k.AccessKey)
			return nil
		},
	}
	addClientFlags(cmd, &c)
	cmd.Flags().StringVar(&name, "name", "", "a label for the key")
	cmd.Flags().StringVar(&id, "id", "", "the access key id to use (default: random)")
	return cmd
}

func newKeyList() *cobra.Command {
	var c client
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List access keys and grants",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var ks []iam.Key
			if err := c.do(cmd.Context(), "GET", "keys", nil, &ks); err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ACCESS KEY\tNAME\tGRANTS")
			for _, k := range ks {
				grants := "all (root)"
				if !k.Root {
					var gs []string
					for b, p := range k.Grants {
						gs = append(gs, b+"="+p)
					}
					sort.Strings(gs)
					grants = orDash(strings.Join(gs, ","))
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\n", k.AccessKey, orDash(k.Name), grants)
			}
			return tw.Flush()
		},
	}
	addClientFlags(cmd, &c)
	return cmd
}

func newKeyDelete() *cobra.Command {
	var c client
	cmd := &cobra.Command{
		Use:   "delete ACCESS_KEY",
		Short: "Delete an access key",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := c.do(cmd.Context(), "DELETE", "keys/"+pathEscape(args[0]), nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "deleted key %s\n", args[0])
			return nil
		},
	}
	addClientFlags(cmd, &c)
	return cmd
}

func newKeyGrant() *cobra.Command {
	var c client
	cmd := &cobra.Command{
		Use:     "grant ACCESS_KEY BUCKET PERMISSION",
		Short:   "Give a key read, write, readwrite or owner on a bucket (or \"*\")",
		Example: "  minicloud key grant MCABC123 photos readwrite",
		Args:    cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := "keys/" + pathEscape(args[0]) + "/grants/" + pathEscape(args[1])
			if err := c.do(cmd.Context(), "PUT", path, admin.GrantRequest{Perm: args[2]}, nil); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "granted %s on %s to %s\n", args[2], args[1], args[0])
			return nil
		},
	}
	addClientFlags(cmd, &c)
	return cmd
}

func newKeyRevoke() *cobra.Command {
	var c client
	cmd := &cobra.Command{
		Use:   "revoke ACCESS_KEY BUCKET",
		Short: "Remove a key's grant on a bucket",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := "keys/" + pathEscape(args[0]) + "/grants/" + pathEscape(args[1])
			if err := c.do(cmd.Context(), "DELETE", path, nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "revoked %s's grant on %s\n", args[0], args[1])
			return nil
		},
	}
	addClientFlags(cmd, &c)
	return cmd
}
