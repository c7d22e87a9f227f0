package cli

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/spf13/cobra"

	"github.com/minicloud/minicloud/internal/stream"
)

func newStream() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "stream",
		Short: "Durable stream logs of MQTT messages: create, tail, forward to sites and the cloud, archive",
		Long: `A stream logs every MQTT message whose topic matches its filters (from MQTT clients, HTTP
ingest and rules, on every node of the mesh) durably on disk, with its topic, payload, publish
time and a unique id. Read it back by offset or time with 'minicloud stream tail'; forward it to
another site or to an S3 bucket upstream (store-and-forward across outages, no duplicates at the
receiver); archive it into a bucket as time-partitioned NDJSON or Parquet objects.`,
	}
	cmd.AddCommand(newStreamCreate(), newStreamList(), newStreamDescribe(), newStreamDelete(),
		newStreamTail(), newStreamForward(), newStreamArchive())
	return cmd
}

func newStreamCreate() *cobra.Command {
	var c client
	var req stream.CreateRequest
	var topics string
	cmd := &cobra.Command{
		Use:   "create NAME --topics FILTER[,FILTER...] [--retain 7d] [--max-size 10GiB]",
		Short: "Define a stream on every node of the mesh",
		Example: `  minicloud stream create plant --topics 'sensors/#,alarms/+' --retain 7d --max-size 10GiB
  minicloud stream create fast --topics 'bulk/#' --sync write`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req.Topics = strings.Split(topics, ",")
			var info stream.Info
			if err := c.do(cmd.Context(), "PUT", "streams/"+url.PathEscape(args[0]), req, &info); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "stream %s created: logging %s\n", info.Name, strings.Join(info.Topics, ", "))
			return nil
		},
	}
	addClientFlags(cmd, &c)
	cmd.Flags().StringVar(&topics, "topics", "", "MQTT topic `FILTERS`, comma-separated (required)")
	cmd.Flags().StringVar(&req.Retain, "retain", "", "drop messages older than this `DURATION` (e.g. 7d, 12h; default: no limit)")
	cmd.Flags().StringVar(&req.MaxSize, "max-size", "", "keep at most this `SIZE` per node, dropping the oldest (e.g. 10GiB; default: no limit)")
	cmd.Flags().StringVar(&req.Sync, "sync", "fsync", "acknowledge a QoS 1/2 message once it is `fsync`ed, or once written (write: safe from a crash of the process, not from a power cut)")
	_ = cmd.MarkFlagRequired("topics")
	return cmd
}

func newStreamList() *cobra.Command {
	var c client
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List streams with this node's counters",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var ss []stream.Info
			if err := c.do(cmd.Context(), "GET", "stream-logs", nil, &ss); err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), ss)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tTOPICS\tFIRST\tNEXT\tSIZE\tIN\tFORWARDS\tARCHIVES")
			for _, s := range ss {
				fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\n", s.Name, strings.Join(s.Topics, ","), s.FirstOffset,
					s.NextOffset, s.LogBytes, s.MessagesIn, len(s.Forwards), len(s.Archives))
			}
			return tw.Flush()
		},
	}
	addClientFlags(cmd, &c)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newStreamDescribe() *cobra.Command {
	var c client
	cmd := &cobra.Command{
		Use:   "describe NAME",
		Short: "Show a stream's definition, this node's log and its forwarding and archive progress (JSON)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var info stream.Info
			if err := c.do(cmd.Context(), "GET", "streams/"+url.PathEscape(args[0]), nil, &info); err != nil {
				return err
			}
			return printJSON(cmd.OutOrStdout(), info)
		},
	}
	addClientFlags(cmd, &c)
	return cmd
}

func newStreamDelete() *cobra.Command {
	var c client
	cmd := &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a stream on every node, with its logs (archived and forwarded copies stay)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := c.do(cmd.Context(), "DELETE", "streams/"+url.PathEscape(args[0]), nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "stream %s deleted\n", args[0])
			return nil
		},
	}
	addClientFlags(cmd, &c)
	return cmd
}

func newStreamForward() *cobra.Command {
	var c client
	var site, to, endpointURL, region string
	var stop bool
	cmd := &cobra.Command{
		Use:   "forward NAME (--to-site SITE | --to s3://BUCKET[/PREFIX] --endpoint-url URL) [--stop]",
		Short: "Forward a stream to another site or to an S3 bucket upstream, across outages",
		Long: `Forward a stream's messages to another site of the mesh (every other site sends that site the
messages published through it; the site logs them in its own copy of the stream, each once, in
each publisher's order) or to an S3 bucket upstream (batches of JSON lines under
PREFIX/NAME/...). Messages wait in the log while the target is unreachable, for as long as the
stream's retention keeps them. The upstream credentials come from MINICLOUD_SYNC_ACCESS_KEY and
MINICLOUD_SYNC_SECRET_KEY.`,
		Example: `  minicloud stream forward plant --to-site hq
  minicloud stream forward plant --to s3://telemetry/plant1 --endpoint-url https://s3.eu-west-1.amazonaws.com`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req := stream.ForwardRequest{Site: site, Stop: stop}
			if (site == "") == (to == "") {
				return fmt.Errorf("give --to-site SITE or --to s3://BUCKET/PREFIX")
			}
			if to != "" {
				t, err := stream.ParseCloudTarget(to)
				if err != nil {
					return err
				}
				if endpointURL == "" {
					return fmt.Errorf("--endpoint-url is required with --to (e.g. https://s3.amazonaws.com)")
				}
				t.Endpoint, t.Region = endpointURL, region
				t.AccessKey, t.SecretKey = os.Getenv("MINICLOUD_SYNC_ACCESS_KEY"), os.Getenv("MINICLOUD_SYNC_SECRET_KEY")
				if !stop && (t.AccessKey == "" || t.SecretKey == "") {
					return fmt.Errorf("set MINICLOUD_SYNC_ACCESS_KEY and MINICLOUD_SYNC_SECRET_KEY to the upstream credentials")
				}
				req.Cloud = &t
			}
			var info stream.Info
			if err := c.do(cmd.Context(), "POST", "streams/"+url.PathEscape(args[0])+"/forwards", req, &info); err != nil {
				return err
			}
			target := "site " + site
			if to != "" {
				target = to
			}
			verb := "now forwards to"
			if stop {
				verb = "no longer forwards to"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "stream %s %s %s\n", args[0], verb, target)
			return nil
		},
	}
	addClientFlags(cmd, &c)
	cmd.Flags().StringVar(&site, "to-site", "", "forward to the site `SITE`")
	cmd.Flags().StringVar(&to, "to", "", "forward to `s3://BUCKET[/PREFIX]` upstream")
	cmd.Flags().StringVar(&endpointURL, "endpoint-url", "", "upstream S3 endpoint `URL` (with --to)")
	cmd.Flags().StringVar(&region, "upstream-region", "us-east-1", "upstream region (with --to)")
	cmd.Flags().BoolVar(&stop, "stop", false, "stop forwarding to that target")
	return cmd
}

func newStreamArchive() *cobra.Command {
	var c client
	var req stream.ArchiveRequest
	cmd := &cobra.Command{
		Use:   "archive NAME --bucket BUCKET [--format ndjson|parquet] [--stop]",
		Short: "Archive a stream into a bucket as time-partitioned NDJSON or Parquet objects",
		Long: `Archive a stream into a bucket as stream=NAME/date=YYYY-MM-DD/hour=HH/part-NODE-OFFSET.FORMAT
objects (columns id, offset, topic, time, payload), which replicate and sync like any object and
which DuckDB, Spark or pandas read through the S3 API. Every message is archived once, by the
node it was published through, within about --every.`,
		Example: "  minicloud stream archive plant --bucket lake --format parquet",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var info stream.Info
			if err := c.do(cmd.Context(), "POST", "streams/"+url.PathEscape(args[0])+"/archives", req, &info); err != nil {
				return err
			}
			if req.Stop {
				fmt.Fprintf(cmd.OutOrStdout(), "stream %s is no longer archived into %s\n", args[0], req.Bucket)
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "stream %s is archived into bucket %s as %s\n", args[0], req.Bucket, req.Format)
			return nil
		},
	}
	addClientFlags(cmd, &c)
	cmd.Flags().StringVar(&req.Bucket, "bucket", "", "`BUCKET` to archive into (required)")
	cmd.Flags().StringVar(&req.Format, "format", "ndjson", "`FORMAT` of the objects: ndjson or parquet")
	cmd.Flags().StringVar(&req.Every, "every", "", "write a part every `DURATION` (default 1m; longer: fewer, larger parts)")
	cmd.Flags().BoolVar(&req.Stop, "stop", false, "stop archiving into that bucket")
	_ = cmd.MarkFlagRequired("bucket")
	return cmd
}

func newStreamTail() *cobra.Command {
	var c client
	var from, since string
	var limit int
	var follow bool
	cmd := &cobra.Command{
		Use:   "tail NAME [--from OFFSET | --since TIME] [--limit N] [--follow]",
		Short: "Print a stream's messages as JSON lines, from an offset or a time, and follow new ones",
		Long: `Print a stream's messages as this node logged them, one JSON object a line:
  {"offset":12,"id":"n1a2b3c4d-12","topic":"sensors/t1","time":"...","payload":"{\"t\":21.5}"}
A payload that is not UTF-8 text is in "payload_b64". Without --from or --since, tail prints the
last --limit messages; --follow then keeps printing new ones until interrupted.`,
		Example: "  minicloud stream tail plant --follow\n  minicloud stream tail plant --since 2025-06-01T08:00:00Z --limit 100000 > morning.ndjson",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			q := url.Values{"limit": {strconv.Itoa(limit)}}
			switch {
			case from != "" && since != "":
				return fmt.Errorf("give --from or --since, not both")
			case from != "":
				q.Set("from", from)
			case since != "":
				t, err := parseSince(since)
				if err != nil {
					return err
				}
				q.Set("since", t.Format(time.RFC3339Nano))
			default:
				var info stream.Info
				if err := c.do(cmd.Context(), "GET", "streams/"+url.PathEscape(args[0]), nil, &info); err != nil {
					return err
				}
				start := max(info.FirstOffset, info.NextOffset-min(info.NextOffset, uint64(limit)))
				q.Set("from", strconv.FormatUint(start, 10))
			}
			if follow {
				q.Set("follow", "1")
			}
			return c.copyLines(cmd.Context(), "streams/"+url.PathEscape(args[0])+"/messages?"+q.Encode(), cmd.OutOrStdout())
		},
	}
	addClientFlags(cmd, &c)
	cmd.Flags().StringVar(&from, "from", "", "start at `OFFSET`")
	cmd.Flags().StringVar(&since, "since", "", "start at the first message logged at or after `TIME` (RFC 3339, or a duration ago such as 15m)")
	cmd.Flags().IntVar(&limit, "limit", 20, "print at most `N` messages (before following)")
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new messages until interrupted")
	return cmd
}

// parseSince reads an RFC 3339 time or a duration before now.
func parseSince(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if d, err := stream.ParseRetention(s); err == nil && d > 0 {
		return time.Now().Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("--since %q: an RFC 3339 time (2025-06-01T08:00:00Z) or a duration ago (15m, 2h, 1d)", s)
}

// copyLines GETs path of the admin API and copies the answer to out line by line as it
// arrives (a followed stream never ends on its own).
func (c *client) copyLines(ctx context.Context, path string, out io.Writer) error {
	if err := c.credentials(); err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, "GET", strings.TrimRight(c.endpoint, "/")+"/_minicloud/admin/v1/"+path, nil)
	if err != nil {
		return fmt.Errorf("bad --endpoint %q: %w", c.endpoint, err)
	}
	sum := sha256.Sum256(nil)
	hash := hex.EncodeToString(sum[:])
	req.Header.Set("X-Amz-Content-Sha256", hash)
	creds := aws.Credentials{AccessKeyID: c.access, SecretAccessKey: c.secret}
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hash, "s3", c.region, time.Now()); err != nil {
		return fmt.Errorf("sign request: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach minicloud at %s (is `minicloud serve` running there? set --endpoint or MINICLOUD_ENDPOINT): %w", c.endpoint, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		var e struct {
			Code    string `json:"code"`
			Message string `json:"error"`
		}
		if json.Unmarshal(data, &e) == nil && e.Code != "" {
			return fmt.Errorf("%s: %s", e.Code, e.Message)
		}
		return fmt.Errorf("GET %s: HTTP %d: %s", path, resp.StatusCode, strings.TrimSpace(string(data)))
	}
	r := bufio.NewReaderSize(resp.Body, 64<<10)
	for {
		line, err := r.ReadBytes('\n')
		if len(line) > 0 {
			if _, werr := out.Write(line); werr != nil {
				return werr
			}
		}
		if err == io.EOF || ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read messages: %w", err)
		}
	}
}
