package stream

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/minicloud/minicloud/internal/object"
)

// Def is a stream's definition: a row of a mesh table that every node holds (last writer wins
// by TS, then By), so a stream defined on any node logs on every node.
type Def struct {
	Name     string        `json:"name"`
	Topics   []string      `json:"topics"`             // MQTT topic filters
	Retain   time.Duration `json:"retain,omitempty"`   // 0: no age limit
	MaxBytes int64         `json:"maxBytes,omitempty"` // per node; 0: no size limit
	// Sync is "fsync" (an acknowledged QoS 1/2 message is fsynced: the default) or "write"
	// (it is written, safe from a crash of the process, and fsynced within milliseconds).
	Sync     string    `json:"sync,omitempty"`
	Forwards []Forward `json:"forwards,omitempty"`
	Archives []Archive `json:"archives,omitempty"`
	// Created tells apart a stream from an earlier one of the same name that was deleted: the
	// objects it ships are named under it, so a new stream never meets the old one's cursors.
	Created int64  `json:"created"`
	TS      int64  `json:"ts"` // last change, unix ns
	By      string `json:"by"` // node that made it: breaks TS ties
	Deleted bool   `json:"deleted,omitempty"`
}

// Forward is a target that receives the stream's messages.
type Forward struct {
	Site  string             `json:"site,omitempty"`  // another site of the mesh, or
	Cloud *object.SyncTarget `json:"cloud,omitempty"` // an S3 bucket upstream
}

// ID names the target in cursors, metrics and the CLI.
func (f Forward) ID() string {
	if f.Cloud != nil {
		return "s3://" + strings.TrimSuffix(f.Cloud.Bucket+"/"+f.Cloud.Prefix, "/")
	}
	return "site:" + f.Site
}

// Archive is a bucket that receives the stream's messages as time-partitioned objects.
type Archive struct {
	Bucket string        `json:"bucket"`
	Format string        `json:"format"`          // "ndjson" or "parquet"
	Every  time.Duration `json:"every,omitempty"` // a part closes after this long (0: Options.ArchiveEvery)
}

// ID names the archive in cursors and metrics.
func (a Archive) ID() string { return "archive:" + a.Bucket + ":" + a.Format }

// newer reports whether d wins over o under last-writer-wins.
func (d Def) newer(o Def) bool {
	if d.TS != o.TS {
		return d.TS > o.TS
	}
	return d.By > o.By
}

// Errors callers tell apart.
var (
	ErrInvalid  = errors.New("invalid")
	ErrNotFound = errors.New("no such stream")
	ErrExists   = errors.New("stream exists")
)

// invalidError is an ErrInvalid whose message is only the explanation (the API adds the code).
type invalidError struct{ msg string }

func (e *invalidError) Error() string        { return e.msg }
func (e *invalidError) Is(target error) bool { return target == ErrInvalid }

func invalid(format string, args ...any) error {
	return &invalidError{fmt.Sprintf(format, args...)}
}

// Invalid returns an ErrInvalid with the given explanation.
func Invalid(format string, args ...any) error { return invalid(format, args...) }

// ValidName checks a stream name: it names a directory and prefixes object keys.
func ValidName(name string) error {
	if name == "" || len(name) > 100 {
		return invalid("a stream name has 1 to 100 characters, not %d", len(name))
	}
	for i, c := range name {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || i > 0 && (c == '-' || c == '_' || c == '.')
		if !ok {
			return invalid("stream name %q: use letters, digits, '-', '_' and '.', starting with a letter or digit", name)
		}
	}
	return nil
}

// ValidFilter checks an MQTT topic filter as a stream takes it.
func ValidFilter(f string) error {
	if f == "" {
		return invalid("empty topic filter")
	}
	if strings.HasPrefix(f, "$") {
		return invalid("topic filter %q: topics starting with $ are the broker's", f)
	}
	levels := strings.Split(f, "/")
	for i, l := range levels {
		if strings.Contains(l, "#") && (l != "#" || i != len(levels)-1) {
			return invalid("topic filter %q: '#' must be a whole last level, as in sensors/#", f)
		}
		if strings.Contains(l, "+") && l != "+" {
			return invalid("topic filter %q: '+' must be a whole level, as in sensors/+/temp", f)
		}
	}
	return nil
}

// ParseRetention reads a duration such as 7d, 36h, 90m ("" and "0": no limit).
func ParseRetention(s string) (time.Duration, error) {
	if s == "" || s == "0" {
		return 0, nil
	}
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseFloat(d, 64)
		if err != nil || n < 0 {
			return 0, invalid("retention %q: use a duration such as 7d, 12h or 90m", s)
		}
		return time.Duration(n * float64(24*time.Hour)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, invalid("retention %q: use a duration such as 7d, 12h or 90m", s)
	}
	return d, nil
}

var sizeUnits = []struct {
	suffix string
	mult   float64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
	{"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"T", 1 << 40}, {"B", 1},
}

// ParseSize reads a size such as 10GiB, 500MB or 1048576 ("" and "0": no limit).
func ParseSize(s string) (int64, error) {
	if s == "" || s == "0" {
		return 0, nil
	}
	num, mult := s, 1.0
	for _, u := range sizeUnits {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			num, mult = strings.TrimSpace(n), u.mult
			break
		}
	}
	n, err := strconv.ParseFloat(num, 64)
	if err != nil || n < 0 {
		return 0, invalid("size %q: use a size such as 10GiB, 500MB or 1048576", s)
	}
	return int64(n * mult), nil
}

// ParseCloudTarget reads s3://BUCKET[/PREFIX] into a sync target (credentials and endpoint
// are the caller's).
func ParseCloudTarget(to string) (object.SyncTarget, error) {
	u, err := url.Parse(to)
	if err != nil || u.Scheme != "s3" || u.Host == "" {
		return object.SyncTarget{}, invalid("--to %q: use s3://BUCKET or s3://BUCKET/PREFIX, or --to-site SITE", to)
	}
	t := object.SyncTarget{Bucket: u.Host, Prefix: strings.TrimPrefix(u.Path, "/")}
	if t.Prefix != "" && !strings.HasSuffix(t.Prefix, "/") {
		t.Prefix += "/"
	}
	return t, nil
}

// validate checks a definition that a client asks for.
func (d *Def) validate() error {
	if err := ValidName(d.Name); err != nil {
		return err
	}
	if len(d.Topics) == 0 {
		return invalid("a stream needs at least one topic filter (--topics 'sensors/#')")
	}
	for _, f := range d.Topics {
		if err := ValidFilter(f); err != nil {
			return err
		}
	}
	switch d.Sync {
	case "", "fsync", "write":
	default:
		return invalid("sync %q: use fsync or write", d.Sync)
	}
	if d.MaxBytes != 0 && d.MaxBytes < 1<<20 {
		return invalid("max size %d bytes: at least 1MiB", d.MaxBytes)
	}
	return nil
}
