package cli

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/minicloud/minicloud/internal/node"
)

// printEdge prints the MQTT broker and the streams of `minicloud status`.
func printEdge(w io.Writer, es *node.EdgeStatus) {
	if es == nil {
		return
	}
	if m := es.MQTT; m != nil {
		where := "in process only"
		if len(m.Listeners) > 0 {
			where = "on " + strings.Join(m.Listeners, ", ")
		}
		fmt.Fprintf(w, "\nmqtt %s: %d connections, %d subscriptions, %d retained; %d messages received, %d sent, %d dropped\n",
			where, m.Connections, m.Subscriptions, m.Retained, m.MessagesReceived, m.MessagesSent, m.Dropped)
	}
	if p := es.Peers; p.DeliveryDropped+p.LogCopiesDropped+p.UnderReplicatedAcks > 0 {
		fmt.Fprintf(w, "site peers: %d deliveries dropped, %d stream copies dropped, %d acks with fewer than W copies\n",
			p.DeliveryDropped, p.LogCopiesDropped, p.UnderReplicatedAcks)
	}
	if len(es.Streams) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\nSTREAM\tIN\tLOG\tTARGET\tOUT\tBACKLOG\tSTATE")
	for _, s := range es.Streams {
		if len(s.Targets) == 0 {
			fmt.Fprintf(tw, "%s\t%d\t%s\t-\t\t\t\n", s.Name, s.MessagesIn, humanBytes(s.LogBytes))
			continue
		}
		for i, t := range s.Targets {
			name, in, size := "", "", ""
			if i == 0 {
				name, in, size = s.Name, fmt.Sprint(s.MessagesIn), humanBytes(s.LogBytes)
			}
			state := "ok"
			if t.LastError != "" {
				state = "failing: " + t.LastError
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%s\n", name, in, size, t.Target, t.Shipped, t.Backlog, state)
		}
	}
	tw.Flush()
}
