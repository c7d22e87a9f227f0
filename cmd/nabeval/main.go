// Command nabeval scores minicloud's anomaly detectors on the labelled series of the Numenta
// Anomaly Benchmark (NAB) and prints precision, recall, F1 and detection delay per series and
// overall, for each detector.
//
//	go run ./cmd/nabeval -data ../shared/data/nab
//
// The detectors run with fixed parameters chosen once on principle (see detectors.go), never tuned
// per series, so that the figures say how they will do on data nobody has looked at.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "nabeval:", err)
		os.Exit(1)
	}
}

func run(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("nabeval", flag.ContinueOnError)
	dataDir := fs.String("data", "../shared/data/nab", "folder with labels_windows.json and the series CSVs")
	only := fs.String("detector", "", "run only this detector (spikedip, changepoint or zscore)")
	perSeries := fs.Bool("series", true, "print a line per series")
	if err := fs.Parse(args); err != nil {
		return err
	}
	corpus, err := loadCorpus(*dataDir)
	if err != nil {
		return err
	}
	dets := detectors()
	if *only != "" {
		dets = filterDetectors(dets, *only)
		if len(dets) == 0 {
			return fmt.Errorf("unknown detector %q (use spikedip, changepoint or zscore)", *only)
		}
	}
	fmt.Fprintf(out, "NAB corpus: %d series, %d anomaly windows, from %s\n", len(corpus), countWindows(corpus), *dataDir)
	fmt.Fprintln(out, scoringRules)
	var totals []total
	for _, d := range dets {
		t, err := evaluate(d, corpus, out, *perSeries)
		if err != nil {
			return err
		}
		totals = append(totals, t)
	}
	printSummary(out, totals)
	return nil
}

func filterDetectors(dets []detectorSpec, name string) []detectorSpec {
	var out []detectorSpec
	for _, d := range dets {
		if strings.EqualFold(d.name, name) {
			out = append(out, d)
		}
	}
	return out
}
