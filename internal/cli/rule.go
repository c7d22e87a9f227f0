package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/minicloud/minicloud/internal/rulesrt"
)

func newRule() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rule",
		Short: "Create, inspect, stop, start and delete streaming SQL rules",
		Long: `Rules run one SELECT over a stream (see 'minicloud sql') and send each result to their actions.
A rule is eKuiper's rule JSON:

  {"sql": "SELECT device, avg(t) AS avg_t FROM sensors GROUP BY device, TUMBLINGWINDOW(ss, 10) HAVING avg(t) > 50",
   "actions": [{"mqtt": {"topic": "alerts"}}, {"rest": {"url": "http://10.0.0.5/hook"}}, {"log": {}}]}

mqtt publishes on this node's broker; rest posts to a webhook, retrying from a durable outbox
while it is down; log writes to the node's log.`,
	}
	cmd.AddCommand(newRuleCreate(), newRuleList(), newRuleDescribe(),
		newRuleAction("start", "Start a stopped or failed rule", "POST", "/start"),
		newRuleAction("stop", "Stop a rule (it stays stopped across restarts)", "POST", "/stop"),
		newRuleAction("delete", "Delete a rule with its state and undelivered webhooks", "DELETE", ""))
	return cmd
}

func newRuleCreate() *cobra.Command {
	var c client
	var file string
	cmd := &cobra.Command{
		Use:     "create NAME -f RULE.json",
		Short:   "Create a rule and start it",
		Example: "  minicloud rule create hot -f hot.json\n  cat hot.json | minicloud rule create hot -f -",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			def, err := readRuleFile(file, cmd.InOrStdin())
			if err != nil {
				return err
			}
			var info rulesrt.RuleInfo
			if err := c.do(cmd.Context(), "POST", "rules?name="+url.QueryEscape(args[0]), json.RawMessage(def), &info); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "rule %s created: %s\n", info.Name, info.Status)
			return nil
		},
	}
	addClientFlags(cmd, &c)
	cmd.Flags().StringVarP(&file, "file", "f", "", "rule JSON `FILE` (- for standard input)")
	_ = cmd.MarkFlagRequired("file")
	return cmd
}

// readRuleFile reads the rule JSON and checks its syntax here, so that a typo is reported with
// its line and column before anything is sent.
func readRuleFile(name string, stdin io.Reader) ([]byte, error) {
	var data []byte
	var err error
	if name == "-" {
		data, err = io.ReadAll(stdin)
	} else {
		data, err = os.ReadFile(name)
	}
	if err != nil {
		return nil, fmt.Errorf("read rule: %w", err)
	}
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			line, col := lineCol(data, se.Offset)
			return nil, fmt.Errorf("%s: line %d, column %d: %s", name, line, col, se.Error())
		}
		return nil, fmt.Errorf("%s: not a JSON rule: %w", name, err)
	}
	return data, nil
}

// lineCol turns a decoder's offset (the count of bytes read, the bad one included) into the
// 1-based line and column of the bad byte.
func lineCol(data []byte, offset int64) (int, int) {
	offset = min(max(offset, 1), int64(len(data)))
	before := string(data[:offset-1])
	return strings.Count(before, "\n") + 1, len(before) - strings.LastIndexByte(before, '\n')
}

func newRuleList() *cobra.Command {
	var c client
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List rules with their status and counters",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var rs []rulesrt.RuleInfo
			if err := c.do(cmd.Context(), "GET", "rules", nil, &rs); err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), rs)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tSTATUS\tSTREAM\tIN\tOUT\tERRORS\tDROPPED")
			for _, r := range rs {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%d\n", r.Name, r.Status, orDash(r.Stream),
					r.Stats.In, r.Stats.Out, r.Stats.Errors+r.Stats.DecodeErrors, r.Stats.Dropped)
			}
			return tw.Flush()
		},
	}
	addClientFlags(cmd, &c)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newRuleDescribe() *cobra.Command {
	var c client
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "describe NAME",
		Short: "Show a rule's definition, status, counters and actions",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var r rulesrt.RuleInfo
			if err := c.do(cmd.Context(), "GET", "rules/"+pathEscape(args[0]), nil, &r); err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), r)
			}
			printRule(cmd.OutOrStdout(), r)
			return nil
		},
	}
	addClientFlags(cmd, &c)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func printRule(w io.Writer, r rulesrt.RuleInfo) {
	fmt.Fprintf(w, "Name:    %s\nStatus:  %s\n", r.Name, r.Status)
	if r.Owner != "" {
		fmt.Fprintf(w, "Runs on: node %s (this node is on standby; its counters are there)\n", r.Owner)
	}
	if r.Error != "" {
		fmt.Fprintf(w, "Error:   %s\n", r.Error)
	}
	fmt.Fprintf(w, "SQL:     %s\n", r.SQL)
	if r.Stream != "" {
		fmt.Fprintf(w, "Stream:  %s (topics %s)\n", r.Stream, orDash(r.Topic))
	}
	if r.Input != "" {
		fmt.Fprintf(w, "Input:   %s\n", r.Input)
	}
	s := r.Stats
	fmt.Fprintf(w, "Events:  in %d, out %d, late %d, errors %d, not JSON %d, dropped %d\n",
		s.In, s.Out, s.Late, s.Errors, s.DecodeErrors, s.Dropped)
	if s.LastError != "" {
		fmt.Fprintf(w, "Last evaluation error: %s\n", s.LastError)
	}
	fmt.Fprintln(w, "Actions:")
	for i, a := range r.Actions {
		fmt.Fprintf(w, "  [%d] %s %s: sent %d, failed %d, dropped %d, pending %d\n", i, a.Kind, a.Target, a.Sent, a.Failed, a.Dropped, a.Pending)
		if a.LastError != "" {
			fmt.Fprintf(w, "      last error (%s): %s\n", a.LastErrorAt.Format("2006-01-02 15:04:05"), a.LastError)
		}
	}
}

func newRuleAction(verb, short, method, suffix string) *cobra.Command {
	var c client
	cmd := &cobra.Command{
		Use:   verb + " NAME",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var r rulesrt.RuleInfo
			out := &r
			if method == "DELETE" {
				out = nil
			}
			if err := c.do(cmd.Context(), method, "rules/"+pathEscape(args[0])+suffix, nil, out); err != nil {
				return err
			}
			if method == "DELETE" {
				fmt.Fprintf(cmd.OutOrStdout(), "rule %s deleted\n", args[0])
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "rule %s: %s\n", r.Name, r.Status)
			if r.Error != "" {
				return fmt.Errorf("rule %s did not start: %s", r.Name, r.Error)
			}
			return nil
		},
	}
	addClientFlags(cmd, &c)
	return cmd
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
