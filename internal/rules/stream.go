package rules

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/minicloud/minicloud/internal/rules/funcs"
	"github.com/minicloud/minicloud/internal/rules/sql"
)

// Stream is a stream definition: where its messages come from and, optionally, their schema.
// It is plain data so that the mesh tables can replicate it; SQL holds the CREATE statement.
type Stream struct {
	Name            string
	Fields          []Field // empty for a schemaless stream
	DataSource      string  // MQTT topic filter
	Format          string  // JSON
	Timestamp       string  // field holding the event time; empty for processing time
	TimestampFormat string  // pattern for a string timestamp, e.g. "YYYY-MM-dd HH:mm:ss"
	Options         map[string]string
	SQL             string
}

// Field is one column of a stream schema. Type is bigint, float, string, datetime, boolean, bytea,
// array or struct; Elem and Fields describe arrays and structs.
type Field struct {
	Name   string
	Type   string
	Elem   *Field  `json:",omitempty"`
	Fields []Field `json:",omitempty"`
}

// streamOptions lists the WITH options a stream accepts, as eKuiper's. Those minicloud does not
// act on (TYPE, SHARED, ...) are kept so that eKuiper definitions load unchanged.
var streamOptions = map[string]bool{
	"DATASOURCE": true, "FORMAT": true, "TIMESTAMP": true, "TIMESTAMP_FORMAT": true, "KEY": true,
	"TYPE": true, "SHARED": true, "CONF_KEY": true, "STRICT_VALIDATION": true, "SCHEMAID": true,
	"DELIMITER": true, "RETAIN_SIZE": true,
}

// streamFromSQL builds a Stream from a parsed CREATE STREAM, checking its options.
func streamFromSQL(cs *sql.CreateStream, text string) (*Stream, error) {
	s := &Stream{Name: cs.Name, Format: "JSON", Options: map[string]string{}, SQL: strings.TrimSpace(text)}
	for _, f := range cs.Fields {
		s.Fields = append(s.Fields, fieldFromSQL(f))
	}
	for _, o := range cs.Options {
		if !streamOptions[o.Key] {
			return nil, &sql.Error{Pos: o.Pos, Msg: fmt.Sprintf("unknown stream option %s (known: %s)", o.Key, strings.Join(sortedKeys(streamOptions), ", "))}
		}
		s.Options[o.Key] = o.Value
	}
	s.DataSource = s.Options["DATASOURCE"]
	s.Timestamp = s.Options["TIMESTAMP"]
	s.TimestampFormat = s.Options["TIMESTAMP_FORMAT"]
	if f, ok := s.Options["FORMAT"]; ok {
		s.Format = strings.ToUpper(f)
	}
	if s.DataSource == "" {
		return nil, &sql.Error{Pos: cs.Pos, Msg: `stream needs a DATASOURCE option naming its topic filter, e.g. WITH (DATASOURCE="sensors/#")`}
	}
	if s.Format != "JSON" {
		return nil, &sql.Error{Pos: cs.Pos, Msg: fmt.Sprintf("FORMAT %q is not supported: use JSON", s.Format)}
	}
	if s.Timestamp != "" && len(s.Fields) > 0 && s.field(s.Timestamp) == nil {
		return nil, &sql.Error{Pos: cs.Pos, Msg: fmt.Sprintf("TIMESTAMP field %q is not a field of the stream", s.Timestamp)}
	}
	return s, nil
}

func fieldFromSQL(f sql.FieldDef) Field {
	return Field{Name: f.Name, Type: f.Type.Name, Elem: elemFromSQL(f.Type.Elem), Fields: fieldsFromSQL(f.Type.Fields)}
}

func elemFromSQL(t *sql.FieldType) *Field {
	if t == nil {
		return nil
	}
	return &Field{Type: t.Name, Elem: elemFromSQL(t.Elem), Fields: fieldsFromSQL(t.Fields)}
}

func fieldsFromSQL(fs []sql.FieldDef) []Field {
	var out []Field
	for _, f := range fs {
		out = append(out, fieldFromSQL(f))
	}
	return out
}

func (s *Stream) field(name string) *Field {
	for i := range s.Fields {
		if s.Fields[i].Name == name {
			return &s.Fields[i]
		}
	}
	return nil
}

func (s *Stream) schemaless() bool { return len(s.Fields) == 0 }

// decode applies the schema to a payload: declared fields are converted to their types, others
// dropped, as eKuiper does. A schemaless stream passes the payload through untouched.
func (s *Stream) decode(data map[string]any) (map[string]any, error) {
	if s.schemaless() {
		return data, nil
	}
	out := make(map[string]any, len(s.Fields))
	for i := range s.Fields {
		f := &s.Fields[i]
		v, ok := data[f.Name]
		if !ok {
			continue
		}
		cv, err := convert(v, f)
		if err != nil {
			return nil, fmt.Errorf("field %s: %w", f.Name, err)
		}
		out[f.Name] = cv
	}
	return out, nil
}

func convert(v any, f *Field) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch f.Type {
	case "array":
		arr, ok := v.([]any)
		if !ok {
			return nil, fmt.Errorf("expected an array")
		}
		if f.Elem == nil {
			return arr, nil
		}
		out := make([]any, len(arr))
		for i, e := range arr {
			ce, err := convert(e, f.Elem)
			if err != nil {
				return nil, fmt.Errorf("element %d: %w", i, err)
			}
			out[i] = ce
		}
		return out, nil
	case "struct":
		m, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("expected an object")
		}
		sub := Stream{Fields: f.Fields}
		return sub.decode(m)
	}
	return funcs.Cast(v, f.Type)
}

// eventTime reads the TIMESTAMP field: milliseconds since the epoch, a datetime, or a string in
// TIMESTAMP_FORMAT (RFC 3339 when none is given).
func (s *Stream) eventTime(data map[string]any) (time.Time, error) {
	v, ok := data[s.Timestamp]
	if !ok || v == nil {
		return time.Time{}, fmt.Errorf("event has no timestamp field %q", s.Timestamp)
	}
	if str, ok := v.(string); ok && s.TimestampFormat != "" {
		t, err := parseJava(str, s.TimestampFormat)
		if err != nil {
			return time.Time{}, fmt.Errorf("timestamp field %q: %w", s.Timestamp, err)
		}
		return t, nil
	}
	t, err := funcs.ToTime(v)
	if err != nil {
		return time.Time{}, fmt.Errorf("timestamp field %q: %w", s.Timestamp, err)
	}
	return t, nil
}

// parseJava parses s with a Java-style pattern by formatting a reference time with it, which
// yields the equivalent Go layout.
func parseJava(s, pattern string) (time.Time, error) {
	ref := time.Date(2006, 1, 2, 15, 4, 5, 0, time.FixedZone("MST", -7*3600))
	return time.Parse(funcs.FormatJava(ref, pattern), s)
}

// Describe renders the definition for DESCRIBE STREAM.
func (s *Stream) Describe() string {
	var b strings.Builder
	b.WriteString("Fields\n--------------------------------------------------------------------------------\n")
	if s.schemaless() {
		b.WriteString("(schemaless)\n")
	}
	for _, f := range s.Fields {
		fmt.Fprintf(&b, "%s\t%s\n", f.Name, typeText(&f))
	}
	b.WriteString("\n")
	for _, k := range sortedStrings(s.Options) {
		fmt.Fprintf(&b, "%s: %s\n", k, s.Options[k])
	}
	return b.String()
}

func typeText(f *Field) string {
	switch f.Type {
	case "array":
		if f.Elem != nil {
			return "array(" + typeText(f.Elem) + ")"
		}
	case "struct":
		parts := make([]string, len(f.Fields))
		for i := range f.Fields {
			parts[i] = f.Fields[i].Name + " " + typeText(&f.Fields[i])
		}
		return "struct(" + strings.Join(parts, ", ") + ")"
	}
	return f.Type
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func sortedStrings(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
