package rules

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"text/template"
	"time"
)

// Action is one entry of a rule's "actions": its kind (the single key of the JSON object), the
// properties common to all kinds (eKuiper's sink properties) and the kind's own. Delivery is the
// wiring layer's job; Render gives it the payloads.
type Action struct {
	Kind  string
	Props map[string]any // every property as written, for the delivery layer

	SendSingle   bool     // one payload per row; otherwise one JSON array (or template) per batch
	DataTemplate string   // Go text/template over the row (sendSingle) or the rows
	OmitIfEmpty  bool     // skip empty results
	Fields       []string // keep only these columns

	MQTT   *MQTTAction   `json:",omitempty"`
	REST   *RESTAction   `json:",omitempty"`
	Object *ObjectAction `json:",omitempty"`
	Stream *StreamAction `json:",omitempty"`

	tmpl      *template.Template
	topicTmpl *template.Template
	keyTmpl   *template.Template
}

// MQTTAction publishes to a topic; an empty Server means the node's own broker.
type MQTTAction struct {
	Topic    string `json:"topic"`
	Server   string `json:"server,omitempty"`
	Qos      int    `json:"qos,omitempty"`
	Retained bool   `json:"retained,omitempty"`
	ClientID string `json:"clientId,omitempty"`
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`
}

// RESTAction calls a webhook.
type RESTAction struct {
	URL      string            `json:"url"`
	Method   string            `json:"method,omitempty"`
	Headers  map[string]string `json:"headers,omitempty"`
	BodyType string            `json:"bodyType,omitempty"`
	Timeout  int64             `json:"timeout,omitempty"` // milliseconds
}

// ObjectAction writes results to a bucket, batched: many rows per object, one row a line
// (format "ndjson", the default) or one JSON array ("json"). Key is a template over each row; rows
// whose keys render alike share objects, and every flushed batch gets a unique name under the
// rendered key: KEY + UTC time of its first row + "-" + a sequence + ".ndjson". A batch is
// flushed once it holds BatchSize rows (the common "batchSize" property, default 1000) or its
// oldest row is FlushInterval old (default 5s).
type ObjectAction struct {
	Bucket        string `json:"bucket"`
	Key           string `json:"key,omitempty"`
	FlushInterval string `json:"flushInterval,omitempty"`
	Format        string `json:"-"` // the common "format" property

	BatchSize int           `json:"-"`
	Flush     time.Duration `json:"-"`
}

// StreamAction appends results to the log of a persisted stream (internal/stream), each as a
// message on Topic (default "rules/RULE").
type StreamAction struct {
	Name  string `json:"name"`
	Topic string `json:"topic,omitempty"`
}

// actionKinds lists the kinds and how to check each one's properties.
var actionKinds = map[string]func(a *Action, raw []byte) error{
	"mqtt":   func(a *Action, raw []byte) error { a.MQTT = &MQTTAction{}; return decodeProps(raw, a.MQTT) },
	"rest":   func(a *Action, raw []byte) error { a.REST = &RESTAction{}; return decodeProps(raw, a.REST) },
	"object": func(a *Action, raw []byte) error { a.Object = &ObjectAction{}; return decodeProps(raw, a.Object) },
	"stream": func(a *Action, raw []byte) error { a.Stream = &StreamAction{}; return decodeProps(raw, a.Stream) },
	"log":    func(*Action, []byte) error { return nil },
	"nop":    func(*Action, []byte) error { return nil },
}

// commonProps are accepted by every kind (eKuiper's common sink properties).
var commonProps = []string{"sendSingle", "dataTemplate", "omitIfEmpty", "fields", "format", "bufferLength",
	"runAsync", "enableCache", "retryInterval", "retryCount", "resendInterval", "concurrency", "batchSize", "lingerInterval"}

// UnmarshalJSON reads {"kind": {props}}.
func (a *Action) UnmarshalJSON(data []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return fmt.Errorf("an action must be an object such as {\"log\": {}}")
	}
	if len(m) != 1 {
		return fmt.Errorf("an action must have exactly one kind (one of %s), found %d keys", strings.Join(sortedActionKinds(), ", "), len(m))
	}
	for kind, raw := range m {
		a.Kind = kind
		if string(raw) == "null" {
			raw = []byte("{}")
		}
		if err := json.Unmarshal(raw, &a.Props); err != nil {
			return fmt.Errorf("action %s: properties must be an object", kind)
		}
		return a.decodeCommon(raw)
	}
	return nil
}

// MarshalJSON writes the action back in eKuiper's shape.
func (a *Action) MarshalJSON() ([]byte, error) {
	props := a.Props
	if props == nil {
		props = map[string]any{}
	}
	return json.Marshal(map[string]any{a.Kind: props})
}

func (a *Action) decodeCommon(raw []byte) error {
	var c struct {
		SendSingle   bool     `json:"sendSingle"`
		DataTemplate string   `json:"dataTemplate"`
		OmitIfEmpty  bool     `json:"omitIfEmpty"`
		Fields       []string `json:"fields"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return fmt.Errorf("action %s: %s", a.Kind, jsonMessage(err))
	}
	a.SendSingle, a.DataTemplate, a.OmitIfEmpty, a.Fields = c.SendSingle, c.DataTemplate, c.OmitIfEmpty, c.Fields
	return nil
}

// decodeProps fills a kind's struct, rejecting properties that are neither the kind's nor common.
func decodeProps(raw []byte, into any) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return err
	}
	for _, p := range commonProps {
		delete(m, p)
	}
	clean, _ := json.Marshal(m)
	dec := json.NewDecoder(bytes.NewReader(clean))
	dec.DisallowUnknownFields()
	if err := dec.Decode(into); err != nil {
		return errors.New(jsonMessage(err))
	}
	return nil
}

func (a *Action) validate() error {
	check, ok := actionKinds[a.Kind]
	if !ok {
		return fmt.Errorf("unknown action kind %q (known: %s)", a.Kind, strings.Join(sortedActionKinds(), ", "))
	}
	raw, _ := json.Marshal(a.Props)
	if err := check(a, raw); err != nil {
		return err
	}
	if err := a.validateKind(); err != nil {
		return err
	}
	if a.DataTemplate != "" {
		t, err := template.New("dataTemplate").Funcs(templateFuncs).Option("missingkey=zero").Parse(a.DataTemplate)
		if err != nil {
			return fmt.Errorf("dataTemplate: %w", err)
		}
		a.tmpl = t
	}
	return nil
}

func (a *Action) validateKind() error {
	switch {
	case a.MQTT != nil:
		return a.validateMQTT()
	case a.REST != nil:
		return validateREST(a.REST)
	case a.Object != nil:
		return a.validateObject()
	case a.Stream != nil:
		return validateStreamAction(a.Stream)
	}
	return nil
}

func (a *Action) validateObject() error {
	o := a.Object
	if o.Bucket == "" {
		return errors.New(`bucket is required, e.g. {"object": {"bucket": "results", "key": "alerts/{{.device}}/"}}`)
	}
	if v, ok := a.Props["format"]; ok { // a common property, so not decoded into o
		f, ok := v.(string)
		if !ok {
			return fmt.Errorf("format must be a string: ndjson or json")
		}
		o.Format = f
	}
	switch o.Format {
	case "":
		o.Format = "ndjson"
	case "ndjson", "json":
	default:
		return fmt.Errorf("format %q must be ndjson or json", o.Format)
	}
	o.BatchSize = 1000
	if v, ok := a.Props["batchSize"]; ok {
		n, ok := v.(float64)
		if !ok || n < 1 || n > 1e6 || n != float64(int(n)) {
			return fmt.Errorf("batchSize must be a whole number from 1 to 1000000, not %v", v)
		}
		o.BatchSize = int(n)
	}
	o.Flush = 5 * time.Second
	if o.FlushInterval != "" {
		d, err := time.ParseDuration(o.FlushInterval)
		if err != nil || d < 10*time.Millisecond || d > 24*time.Hour {
			return fmt.Errorf("flushInterval %q must be a duration from 10ms to 24h, such as 5s or 1m", o.FlushInterval)
		}
		o.Flush = d
	}
	if strings.HasPrefix(o.Key, "/") {
		return fmt.Errorf("key %q must not start with /", o.Key)
	}
	if strings.Contains(o.Key, "{{") {
		t, err := template.New("key").Funcs(templateFuncs).Option("missingkey=zero").Parse(o.Key)
		if err != nil {
			return fmt.Errorf("key: %w", err)
		}
		a.keyTmpl = t
	}
	return nil
}

func validateStreamAction(s *StreamAction) error {
	if s.Name == "" {
		return errors.New(`name is required: the persisted stream to append to, e.g. {"stream": {"name": "alerts"}}`)
	}
	if strings.ContainsAny(s.Topic, "+#") || strings.HasPrefix(s.Topic, "$") {
		return fmt.Errorf("topic %q must not contain the wildcards + or # nor start with $", s.Topic)
	}
	return nil
}

func (a *Action) validateMQTT() error {
	m := a.MQTT
	if m.Topic == "" {
		return errors.New(`topic is required, e.g. {"mqtt": {"topic": "alerts"}}`)
	}
	if m.Qos < 0 || m.Qos > 2 {
		return errors.New("qos must be 0, 1 or 2")
	}
	if strings.ContainsAny(m.Topic, "+#") {
		return fmt.Errorf("topic %q must not contain the wildcards + or #", m.Topic)
	}
	if strings.Contains(m.Topic, "{{") {
		t, err := template.New("topic").Funcs(templateFuncs).Parse(m.Topic)
		if err != nil {
			return fmt.Errorf("topic: %w", err)
		}
		a.topicTmpl = t
	}
	return nil
}

func validateREST(r *RESTAction) error {
	u, err := url.Parse(r.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("url %q must be an absolute http or https URL", r.URL)
	}
	if r.Method == "" {
		r.Method = "POST"
	}
	r.Method = strings.ToUpper(r.Method)
	switch r.Method {
	case "GET", "POST", "PUT", "PATCH", "DELETE":
	default:
		return fmt.Errorf("method %q must be GET, POST, PUT, PATCH or DELETE", r.Method)
	}
	if r.BodyType == "" {
		r.BodyType = "json"
	}
	if r.BodyType != "json" && r.BodyType != "text" {
		return fmt.Errorf("bodyType %q must be json or text", r.BodyType)
	}
	if r.Timeout < 0 {
		return errors.New("timeout must not be negative")
	}
	return nil
}
