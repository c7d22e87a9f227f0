package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/minicloud/minicloud/internal/node"
)

func newStatus() *cobra.Command {
	var c client
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the state of a running node and its site: nodes, partitions, hints, repair",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var raw json.RawMessage
			if err := c.do(cmd.Context(), "GET", "status", nil, &raw); err != nil {
				return err
			}
			if asJSON {
				fmt.Fprintln(cmd.OutOrStdout(), string(raw))
				return nil
			}
			var st node.Status
			if err := json.Unmarshal(raw, &st); err != nil {
				return fmt.Errorf("decode status: %w", err)
			}
			printStatus(cmd.OutOrStdout(), st)
			return nil
		},
	}
	addClientFlags(cmd, &c)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the raw JSON status")
	return cmd
}

func printStatus(w io.Writer, st node.Status) {
	fmt.Fprintf(w, "node %s (site %s), minicloud %s, up %s\n", st.Node, st.Site, st.Version, st.Uptime)
	fmt.Fprintf(w, "S3 on %s, data in %s, %d buckets, RF=%d %s\n", st.S3, st.DataDir, st.Buckets, st.Replicas, st.Quorums)
	if st.Corrupt > 0 {
		fmt.Fprintf(w, "WARNING: %d reads found corrupt data (see the log)\n", st.Corrupt)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\nNODE\tSITE\tSTATE\tPARTITIONS\tDATA\tS3\tHINTS PENDING")
	for _, n := range st.Nodes {
		state := n.State
		if n.Bootstrapping && state == "alive" {
			state = "alive, refilling"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%d\n", n.ID, n.Site, state, n.Partitions, humanBytes(n.DataBytes), n.S3, st.Hints[n.ID])
	}
	tw.Flush()
	var other []string
	for t := range st.Hints {
		found := false
		for _, n := range st.Nodes {
			found = found || n.ID == t
		}
		if !found {
			other = append(other, t)
		}
	}
	sort.Strings(other)
	for _, t := range other {
		fmt.Fprintf(w, "hints pending for %s: %d\n", t, st.Hints[t])
	}
	r := st.Repair
	fmt.Fprintf(w, "\nrepair: %d/%d partitions in sync with live peers after %d anti-entropy rounds; %d records pushed, %d hints delivered, %d read repairs\n",
		r.PartitionsOK, r.Partitions, r.Rounds, r.Pushed, r.HintsDelivered, r.ReadRepairs)
	if !r.LastFullSync.IsZero() {
		fmt.Fprintf(w, "last full sync: %s\n", r.LastFullSync.Format("2006-01-02 15:04:05"))
	}
	if g := st.Geo; g != nil {
		fmt.Fprintf(w, "cross-site: %d records repaired by anti-entropy, %d tombstones purged\n", g.Repaired, g.TombstonesPurged)
		names := make([]string, 0, len(g.Draining))
		for b := range g.Draining {
			names = append(names, b)
		}
		sort.Strings(names)
		for _, b := range names {
			fmt.Fprintf(w, "draining bucket %s (no longer hosted by this site): %d records left to hand over, %d handed over\n", b, g.Draining[b], g.Drained[b])
		}
	}
	if l := st.Leases; l != nil {
		fmt.Fprintf(w, "read leases: %d partitions read from this node's replica alone; %d nodes hold a lease from it; %d local reads, %d writes waited for a lease\n",
			l.PartitionsReadable, l.HoldersGranted, l.LocalReads, l.WriteWaits)
	}
	if r.Held > 0 {
		fmt.Fprintf(w, "this node is refilling (bootstrapping): %d/%d partitions refilled; it does not count towards read quorums yet\n", r.Refilled, r.Held)
	}
	if len(r.Peers) > 0 {
		peers := make([]string, 0, len(r.Peers))
		for p := range r.Peers {
			peers = append(peers, p)
		}
		sort.Strings(peers)
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "\nPEER\tIN SYNC\tLAST FULL SYNC\tERROR")
		for _, p := range peers {
			ps := r.Peers[p]
			last := "never"
			if !ps.LastFullSync.IsZero() {
				last = ps.LastFullSync.Format("2006-01-02 15:04:05")
			}
			fmt.Fprintf(tw, "%s\t%d/%d\t%s\t%s\n", p, ps.Equal, ps.Compared, last, ps.Error)
		}
		tw.Flush()
	}
	printEdge(w, st.Edge)
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

func humanBytes(b int64) string {
	if b < 0 {
		return "?"
	}
	const unit = 1024
	if b < unit {
		return fmt.Sprintf("%d B", b)
	}
	div, exp := int64(unit), 0
	for n := b / unit; n >= unit; n /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(b)/float64(div), "KMGTPE"[exp])
}
