package funcs

import (
	"fmt"
	"strings"
	"time"

	"github.com/minicloud/minicloud/internal/rules/value"
)

// Times are UTC throughout, so that a rule gives the same text on every node.
func init() {
	for _, n := range []string{"now", "current_timestamp", "local_time", "local_timestamp"} {
		register(n, 0, 1, nowFn)
	}
	register("tstamp", 0, 0, func(env Env, _ []any) (any, error) { return env.Now().UnixMilli(), nil })
	register("unix_timestamp", 0, 1, unixTimestampFn)
	register("event_time", 0, 0, func(env Env, _ []any) (any, error) { return env.EventTime().UnixMilli(), nil })
	register("window_start", 0, 0, func(env Env, _ []any) (any, error) { return msOrZero(env.WindowStart()), nil })
	register("window_end", 0, 0, func(env Env, _ []any) (any, error) { return msOrZero(env.WindowEnd()), nil })
	for _, n := range []string{"cur_date", "current_date"} {
		register(n, 0, 0, func(env Env, _ []any) (any, error) { return env.Now().UTC().Format("2006-01-02"), nil })
	}
	register("cur_time", 0, 0, func(env Env, _ []any) (any, error) { return env.Now().UTC().Format("15:04:05"), nil })
	pure("from_unix_time", 1, 1, nullable(fromUnixTimeFn))
	pure("format_time", 2, 2, nullable(formatTimeFn))
	pure("date_calc", 2, 2, nullable(dateCalcFn))
	pure("date_diff", 2, 2, nullable(dateDiffFn))
	for name, part := range map[string]func(time.Time) any{
		"year":         func(t time.Time) any { return int64(t.Year()) },
		"month":        func(t time.Time) any { return int64(t.Month()) },
		"day":          func(t time.Time) any { return int64(t.Day()) },
		"day_of_month": func(t time.Time) any { return int64(t.Day()) },
		"day_of_week":  func(t time.Time) any { return int64(t.Weekday()) + 1 },
		"day_of_year":  func(t time.Time) any { return int64(t.YearDay()) },
		"hour":         func(t time.Time) any { return int64(t.Hour()) },
		"minute":       func(t time.Time) any { return int64(t.Minute()) },
		"second":       func(t time.Time) any { return int64(t.Second()) },
		"microsecond":  func(t time.Time) any { return int64(t.Nanosecond() / 1000) },
		"day_name":     func(t time.Time) any { return t.Weekday().String() },
		"month_name":   func(t time.Time) any { return t.Month().String() },
	} {
		pure(name, 1, 1, nullable(timePart(name, part)))
	}
}

func msOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// nowFn returns the clock's time as a datetime, truncated to fsp fractional digits (default 0).
func nowFn(env Env, a []any) (any, error) {
	fsp := int64(0)
	if len(a) == 1 {
		var err error
		if fsp, err = integer("now", a, 0); err != nil || fsp < 0 || fsp > 9 {
			return nil, argError("now", 0, "a precision from 0 to 9", a[0])
		}
	}
	unit := time.Second
	for i := int64(0); i < fsp; i++ {
		unit /= 10
	}
	return env.Now().UTC().Truncate(unit), nil
}

func unixTimestampFn(env Env, a []any) (any, error) {
	if len(a) == 0 {
		return env.Now().Unix(), nil
	}
	if a[0] == nil {
		return nil, nil
	}
	t, err := ToTime(a[0])
	if err != nil {
		return nil, fmt.Errorf("unix_timestamp: %w", err)
	}
	return t.Unix(), nil
}

func fromUnixTimeFn(a []any) (any, error) {
	sec, err := num("from_unix_time", a, 0)
	if err != nil {
		return nil, err
	}
	return time.UnixMilli(int64(sec * 1000)).UTC(), nil
}

func formatTimeFn(a []any) (any, error) {
	t, err := ToTime(a[0])
	if err != nil {
		return nil, fmt.Errorf("format_time: %w", err)
	}
	pattern, err := str("format_time", a, 1)
	if err != nil {
		return nil, err
	}
	return FormatJava(t.UTC(), pattern), nil
}

func dateCalcFn(a []any) (any, error) {
	t, err := ToTime(a[0])
	if err != nil {
		return nil, fmt.Errorf("date_calc: %w", err)
	}
	s, err := str("date_calc", a, 1)
	if err != nil {
		return nil, err
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return nil, fmt.Errorf("date_calc: bad duration %q (use forms like 1h30m or -10s)", s)
	}
	return t.Add(d).UTC(), nil
}

func dateDiffFn(a []any) (any, error) {
	t1, err := ToTime(a[0])
	if err != nil {
		return nil, fmt.Errorf("date_diff: %w", err)
	}
	t2, err := ToTime(a[1])
	if err != nil {
		return nil, fmt.Errorf("date_diff: %w", err)
	}
	return int64(t1.Sub(t2) / (24 * time.Hour)), nil
}

func timePart(name string, f func(time.Time) any) func([]any) (any, error) {
	return func(a []any) (any, error) {
		t, err := ToTime(a[0])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		return f(t.UTC()), nil
	}
}

// ToTime converts a datetime, a number of milliseconds since the epoch, or a string in RFC 3339 or
// "YYYY-MM-DD HH:mm:ss[.fff]" form, to a time.
func ToTime(v any) (time.Time, error) {
	switch x := v.(type) {
	case time.Time:
		return x, nil
	case string:
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999", "2006-01-02T15:04:05.999999999", "2006-01-02"} {
			if t, err := time.Parse(layout, x); err == nil {
				return t, nil
			}
		}
		return time.Time{}, fmt.Errorf("cannot read %q as a datetime (use RFC 3339 or YYYY-MM-DD HH:mm:ss)", x)
	}
	if ms, ok := value.Number(v); ok {
		return time.UnixMilli(int64(ms)).UTC(), nil
	}
	return time.Time{}, fmt.Errorf("cannot use %s as a datetime", value.TypeName(v))
}

// javaTokens maps eKuiper's (Java-style) time pattern letters to Go layout pieces, longest first.
var javaTokens = []struct{ java, goLayout string }{
	{"YYYY", "2006"}, {"yyyy", "2006"}, {"YY", "06"}, {"yy", "06"},
	{"MMMM", "January"}, {"MMM", "Jan"}, {"MM", "01"}, {"M", "1"},
	{"dd", "02"}, {"d", "2"}, {"EEEE", "Monday"}, {"EEE", "Mon"},
	{"HH", "15"}, {"hh", "03"}, {"h", "3"}, {"mm", "04"}, {"m", "4"}, {"ss", "05"}, {"s", "5"},
	{"SSSSSSSSS", ".000000000"}, {"SSSSSS", ".000000"}, {"SSS", ".000"}, {"SS", ".00"}, {"S", ".0"},
	{"a", "PM"}, {"z", "MST"}, {"Z", "-0700"}, {"XXX", "Z07:00"}, {"XX", "Z0700"}, {"X", "Z07"},
	{"G", "AD"},
}

// FormatJava formats t with a pattern such as "YYYY-MM-dd HH:mm:ss". Each pattern letter run is
// formatted on its own and other text is copied as is, so that digits or letters in the literal
// text are never taken for Go layout elements. Text in single quotes is literal, as in Java.
func FormatJava(t time.Time, pattern string) string {
	var b strings.Builder
	for i := 0; i < len(pattern); {
		if pattern[i] == '\'' {
			i += quoted(&b, pattern[i:])
			continue
		}
		if tok, ok := javaTokenAt(pattern[i:]); ok {
			out := t.Format(tok.goLayout)
			// eKuiper writes ssSSS for "05.000"; Java writes ss.SSS. Take both to mean the latter.
			if tok.java[0] == 'S' && i > 0 && pattern[i-1] == '.' {
				out = out[1:]
			}
			b.WriteString(out)
			i += len(tok.java)
			continue
		}
		b.WriteByte(pattern[i])
		i++
	}
	return b.String()
}

// quoted copies Java's quoted literal text ('at', with ” for a quote) and returns its length.
func quoted(b *strings.Builder, s string) int {
	if strings.HasPrefix(s, "''") {
		b.WriteByte('\'')
		return 2
	}
	for i := 1; i < len(s); i++ {
		if s[i] != '\'' {
			b.WriteByte(s[i])
			continue
		}
		if i+1 < len(s) && s[i+1] == '\'' {
			b.WriteByte('\'')
			i++
			continue
		}
		return i + 1
	}
	return len(s)
}

func javaTokenAt(s string) (struct{ java, goLayout string }, bool) {
	for _, tok := range javaTokens {
		if strings.HasPrefix(s, tok.java) {
			return tok, true
		}
	}
	return javaTokens[0], false
}
