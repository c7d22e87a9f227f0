package cli

import (
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/minicloud/minicloud/internal/object"
)

func newBucketSync() *cobra.Command {
	var c client
	var to, endpointURL, region string
	cmd := &cobra.Command{
		Use:   "sync NAME --to s3://BUCKET[/PREFIX] --endpoint-url URL",
		Short: "Replicate a bucket to an upstream S3 endpoint (the cloud), through outages",
		Long: `Replicate every change of a bucket to an S3 bucket elsewhere (AWS, MinIO, another minicloud).
Changes wait in a durable outbox while the endpoint is unreachable, for as long as it takes, and
drain when it returns; 'minicloud status' shows the backlog. Existing objects are queued too.
The upstream credentials come from MINICLOUD_SYNC_ACCESS_KEY and MINICLOUD_SYNC_SECRET_KEY.`,
		Example: "  MINICLOUD_SYNC_ACCESS_KEY=... MINICLOUD_SYNC_SECRET_KEY=... \\\n    minicloud bucket sync photos --to s3://backup/site1 --endpoint-url https://s3.eu-west-1.amazonaws.com",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			u, err := url.Parse(to)
			if err != nil || u.Scheme != "s3" || u.Host == "" {
				return fmt.Errorf("--to %q: use s3://BUCKET or s3://BUCKET/PREFIX", to)
			}
			if endpointURL == "" {
				return fmt.Errorf("--endpoint-url is required (e.g. https://s3.amazonaws.com)")
			}
			t := object.SyncTarget{
				Endpoint: endpointURL, Bucket: u.Host, Prefix: strings.TrimPrefix(u.Path, "/"), Region: region,
				AccessKey: os.Getenv("MINICLOUD_SYNC_ACCESS_KEY"), SecretKey: os.Getenv("MINICLOUD_SYNC_SECRET_KEY"),
			}
			if t.Prefix != "" && !strings.HasSuffix(t.Prefix, "/") {
				t.Prefix += "/" // s3://b/site1 names the folder site1/, as the aws cli reads it
			}
			if t.AccessKey == "" || t.SecretKey == "" {
				return fmt.Errorf("set MINICLOUD_SYNC_ACCESS_KEY and MINICLOUD_SYNC_SECRET_KEY to the upstream credentials")
			}
			var out object.SyncTarget
			if err := c.do(cmd.Context(), "POST", "buckets/"+pathEscape(args[0])+"/sync", t, &out); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "bucket %s now syncs to %s (target %s); existing objects are queued\n", args[0], to, out.ID)
			return nil
		},
	}
	addClientFlags(cmd, &c)
	cmd.Flags().StringVar(&to, "to", "", "upstream `s3://BUCKET[/PREFIX]`")
	cmd.Flags().StringVar(&endpointURL, "endpoint-url", "", "upstream S3 endpoint `URL`")
	cmd.Flags().StringVar(&region, "upstream-region", "us-east-1", "upstream region")
	return cmd
}
