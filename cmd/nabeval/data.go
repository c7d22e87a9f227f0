package main

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"time"
)

// series is one NAB data file with its labelled anomaly windows.
type series struct {
	name    string
	times   []time.Time
	values  []float64
	windows []window
}

type window struct{ start, end time.Time }

var timeLayouts = []string{"2006-01-02 15:04:05.000000", "2006-01-02 15:04:05"}

func parseTime(s string) (time.Time, error) {
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("bad timestamp %q", s)
}

// loadCorpus reads labels_windows.json and every series it names, in name order.
func loadCorpus(dir string) ([]*series, error) {
	raw, err := os.ReadFile(filepath.Join(dir, "labels_windows.json"))
	if err != nil {
		return nil, fmt.Errorf("read labels: %w (point -data at the NAB folder)", err)
	}
	var labels map[string][][2]string
	if err := json.Unmarshal(raw, &labels); err != nil {
		return nil, fmt.Errorf("parse labels_windows.json: %w", err)
	}
	names := make([]string, 0, len(labels))
	for n := range labels {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []*series
	for _, n := range names {
		s, err := loadSeries(dir, n, labels[n])
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

func loadSeries(dir, name string, labels [][2]string) (*series, error) {
	s := &series{name: name}
	for _, w := range labels {
		start, err := parseTime(w[0])
		if err != nil {
			return nil, fmt.Errorf("%s: window: %w", name, err)
		}
		end, err := parseTime(w[1])
		if err != nil {
			return nil, fmt.Errorf("%s: window: %w", name, err)
		}
		s.windows = append(s.windows, window{start, end})
	}
	f, err := os.Open(filepath.Join(dir, name))
	if err != nil {
		return nil, fmt.Errorf("open series: %w", err)
	}
	defer f.Close()
	if err := s.readCSV(f); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return s, nil
}

func (s *series) readCSV(r io.Reader) error {
	cr := csv.NewReader(r)
	if _, err := cr.Read(); err != nil {
		return fmt.Errorf("read header: %w", err)
	}
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("line %d: %w", line, err)
		}
		t, err := parseTime(rec[0])
		if err != nil {
			return fmt.Errorf("line %d: %w", line, err)
		}
		v, err := strconv.ParseFloat(rec[1], 64)
		if err != nil {
			return fmt.Errorf("line %d: bad value %q", line, rec[1])
		}
		s.times = append(s.times, t)
		s.values = append(s.values, v)
	}
}

func countWindows(c []*series) int {
	n := 0
	for _, s := range c {
		n += len(s.windows)
	}
	return n
}
