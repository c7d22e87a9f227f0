package funcs

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/minicloud/minicloud/internal/rules/value"
)

func init() {
	pure("concat", 0, -1, concatFn)
	pure("lower", 1, 1, nullable(str1("lower", strings.ToLower)))
	pure("upper", 1, 1, nullable(str1("upper", strings.ToUpper)))
	pure("trim", 1, 1, nullable(str1("trim", func(s string) string { return strings.Trim(s, " \t") })))
	pure("ltrim", 1, 1, nullable(str1("ltrim", func(s string) string { return strings.TrimLeft(s, " \t") })))
	pure("rtrim", 1, 1, nullable(str1("rtrim", func(s string) string { return strings.TrimRight(s, " \t") })))
	pure("reverse", 1, 1, nullable(str1("reverse", reverse)))
	pure("length", 1, 1, nullable(lengthFn))
	pure("numbytes", 1, 1, nullable(func(a []any) (any, error) {
		s, err := str("numbytes", a, 0)
		return int64(len(s)), err
	}))
	pure("startswith", 2, 2, nullable(strPred("startswith", strings.HasPrefix)))
	pure("endswith", 2, 2, nullable(strPred("endswith", strings.HasSuffix)))
	pure("indexof", 2, 2, nullable(indexOfFn))
	pure("substring", 2, 3, nullable(substringFn))
	pure("split_value", 3, 3, nullable(splitValueFn))
	pure("lpad", 2, 2, nullable(padFn("lpad", true)))
	pure("rpad", 2, 2, nullable(padFn("rpad", false)))
	pure("replace", 3, 3, nullable(replaceFn))
	pure("regexp_matches", 2, 2, nullable(regexpMatchesFn))
	pure("regexp_replace", 3, 3, nullable(regexpReplaceFn))
	pure("regexp_substring", 2, 2, nullable(regexpSubstringFn))
	pure("format", 2, 3, nullable(formatNumberFn))
}

func str1(name string, f func(string) string) func([]any) (any, error) {
	return func(a []any) (any, error) {
		s, err := str(name, a, 0)
		if err != nil {
			return nil, err
		}
		return f(s), nil
	}
}

func strPred(name string, f func(string, string) bool) func([]any) (any, error) {
	return func(a []any) (any, error) {
		s, err := str(name, a, 0)
		if err != nil {
			return nil, err
		}
		t, err := str(name, a, 1)
		if err != nil {
			return nil, err
		}
		return f(s, t), nil
	}
}

func reverse(s string) string {
	r := []rune(s)
	for i, j := 0, len(r)-1; i < j; i, j = i+1, j-1 {
		r[i], r[j] = r[j], r[i]
	}
	return string(r)
}

// concatFn joins strings (nulls skipped), or arrays when every argument is an array.
func concatFn(a []any) (any, error) {
	if len(a) > 0 {
		if _, ok := a[0].([]any); ok {
			var out []any
			for i, x := range a {
				arr, ok := x.([]any)
				if !ok {
					return nil, argError("concat", i, "an array like the first", x)
				}
				out = append(out, arr...)
			}
			return out, nil
		}
	}
	var b strings.Builder
	for _, x := range a {
		if x != nil {
			b.WriteString(toString(x))
		}
	}
	return b.String(), nil
}

func lengthFn(a []any) (any, error) {
	switch x := a[0].(type) {
	case string:
		return int64(utf8.RuneCountInString(x)), nil
	case []any:
		return int64(len(x)), nil
	case map[string]any:
		return int64(len(x)), nil
	}
	return nil, argError("length", 0, "a string or an array", a[0])
}

func indexOfFn(a []any) (any, error) {
	s, err := str("indexof", a, 0)
	if err != nil {
		return nil, err
	}
	t, err := str("indexof", a, 1)
	if err != nil {
		return nil, err
	}
	i := strings.Index(s, t)
	if i < 0 {
		return int64(-1), nil
	}
	return int64(utf8.RuneCountInString(s[:i])), nil
}

// substringFn takes runes [start, start+length) with a 0-based start, clamped to the string.
func substringFn(a []any) (any, error) {
	s, err := str("substring", a, 0)
	if err != nil {
		return nil, err
	}
	r := []rune(s)
	start, err := integer("substring", a, 1)
	if err != nil {
		return nil, err
	}
	end := int64(len(r))
	if len(a) == 3 {
		n, err := integer("substring", a, 2)
		if err != nil {
			return nil, err
		}
		end = start + n
	}
	start = max(0, min(start, int64(len(r))))
	end = max(start, min(end, int64(len(r))))
	return string(r[start:end]), nil
}

func splitValueFn(a []any) (any, error) {
	s, err := str("split_value", a, 0)
	if err != nil {
		return nil, err
	}
	sep, err := str("split_value", a, 1)
	if err != nil {
		return nil, err
	}
	i, err := integer("split_value", a, 2)
	if err != nil {
		return nil, err
	}
	parts := strings.Split(s, sep)
	if i < 0 || i >= int64(len(parts)) {
		return nil, fmt.Errorf("split_value: index %d is out of range: %q has %d parts", i, s, len(parts))
	}
	return parts[i], nil
}

func padFn(name string, left bool) func([]any) (any, error) {
	return func(a []any) (any, error) {
		s, err := str(name, a, 0)
		if err != nil {
			return nil, err
		}
		n, err := integer(name, a, 1)
		if err != nil || n < 0 || n > 1<<20 {
			return nil, argError(name, 1, "a count from 0 to 1048576", a[1])
		}
		pad := strings.Repeat(" ", int(n))
		if left {
			return pad + s, nil
		}
		return s + pad, nil
	}
}

func replaceFn(a []any) (any, error) {
	var s [3]string
	for i := range s {
		var err error
		if s[i], err = str("replace", a, i); err != nil {
			return nil, err
		}
	}
	return strings.ReplaceAll(s[0], s[1], s[2]), nil
}

// regexps caches compiled patterns; patterns are nearly always constants of a rule, and the cap
// keeps data-driven patterns from growing it without bound.
var regexps = struct {
	sync.Mutex
	m map[string]*regexp.Regexp
}{m: map[string]*regexp.Regexp{}}

func compileRegexp(fn string, a []any) (string, *regexp.Regexp, error) {
	s, err := str(fn, a, 0)
	if err != nil {
		return "", nil, err
	}
	pat, err := str(fn, a, 1)
	if err != nil {
		return "", nil, err
	}
	regexps.Lock()
	defer regexps.Unlock()
	if re, ok := regexps.m[pat]; ok {
		return s, re, nil
	}
	re, err := regexp.Compile(pat)
	if err != nil {
		return "", nil, fmt.Errorf("%s: bad regular expression: %w", fn, err)
	}
	if len(regexps.m) < 1024 {
		regexps.m[pat] = re
	}
	return s, re, nil
}

func regexpMatchesFn(a []any) (any, error) {
	s, re, err := compileRegexp("regexp_matches", a)
	if err != nil {
		return nil, err
	}
	return re.MatchString(s), nil
}

func regexpReplaceFn(a []any) (any, error) {
	s, re, err := compileRegexp("regexp_replace", a)
	if err != nil {
		return nil, err
	}
	repl, err := str("regexp_replace", a, 2)
	if err != nil {
		return nil, err
	}
	return re.ReplaceAllString(s, repl), nil
}

func regexpSubstringFn(a []any) (any, error) {
	s, re, err := compileRegexp("regexp_substring", a)
	if err != nil {
		return nil, err
	}
	return re.FindString(s), nil
}

// formatNumberFn is format(x, d[, locale]): x rounded to d decimals with thousands separators.
func formatNumberFn(a []any) (any, error) {
	x, err := num("format", a, 0)
	if err != nil {
		return nil, err
	}
	d, err := integer("format", a, 1)
	if err != nil || d < 0 || d > 30 {
		return nil, argError("format", 1, "a number of decimals from 0 to 30", a[1])
	}
	if len(a) == 3 {
		if loc, _ := a[2].(string); loc != "en_US" {
			return nil, fmt.Errorf("format: locale %v is not supported (use en_US)", a[2])
		}
	}
	s := strconv.FormatFloat(x, 'f', int(d), 64)
	intPart, frac, _ := strings.Cut(s, ".")
	sign := ""
	if strings.HasPrefix(intPart, "-") {
		sign, intPart = "-", intPart[1:]
	}
	var b strings.Builder
	for i, r := range intPart {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	out := sign + b.String()
	if frac != "" {
		out += "." + frac
	}
	return out, nil
}

// toString renders a value as text the way cast(x, "string") does.
func toString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case nil:
		return ""
	case bool:
		return strconv.FormatBool(x)
	case []byte:
		return string(x)
	}
	if value.IsInt(v) {
		n, _ := value.Int(v)
		return strconv.FormatInt(n, 10)
	}
	if f, ok := value.Number(v); ok {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	if b, err := jsonText(v); err == nil {
		return b
	}
	return fmt.Sprint(v)
}
