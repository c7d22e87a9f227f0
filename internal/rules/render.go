package rules

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"text/template"
)

// templateFuncs are available in dataTemplate and templated topics, beyond text/template's own.
var templateFuncs = template.FuncMap{
	"json": func(v any) (string, error) {
		b, err := json.Marshal(v)
		return string(b), err
	},
	"base64": func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) },
	"upper":  strings.ToUpper,
	"lower":  strings.ToLower,
}

// Payload is one message for an action to deliver. Topic is set when the MQTT topic is templated;
// Key is an object action's rendered key (prefix).
type Payload struct {
	Topic string
	Key   string
	Body  []byte
}

// Render turns a batch of result rows into the action's payloads: one per row with sendSingle,
// else one for the whole batch. Without a dataTemplate the body is the JSON of the row(s).
func (a *Action) Render(rows []Row) ([]Payload, error) {
	rows = a.shape(rows)
	if len(rows) == 0 && a.OmitIfEmpty {
		return nil, nil
	}
	if !a.SendSingle && a.Object == nil { // an object action batches rows itself: one line each
		data := make([]map[string]any, len(rows))
		for i, r := range rows {
			data[i] = r
		}
		var topicData any
		if len(rows) > 0 {
			topicData = map[string]any(rows[0])
		}
		p, err := a.payload(data, topicData)
		if err != nil {
			return nil, err
		}
		return []Payload{p}, nil
	}
	out := make([]Payload, 0, len(rows))
	for _, r := range rows {
		p, err := a.payload(map[string]any(r), map[string]any(r))
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// shape applies fields and omitIfEmpty to the rows.
func (a *Action) shape(rows []Row) []Row {
	if len(a.Fields) == 0 && !a.OmitIfEmpty {
		return rows
	}
	out := make([]Row, 0, len(rows))
	for _, r := range rows {
		if len(a.Fields) > 0 {
			kept := make(Row, len(a.Fields))
			for _, f := range a.Fields {
				if v, ok := r[f]; ok {
					kept[f] = v
				}
			}
			r = kept
		}
		if a.OmitIfEmpty && len(r) == 0 {
			continue
		}
		out = append(out, r)
	}
	return out
}

func (a *Action) payload(data, topicData any) (Payload, error) {
	var p Payload
	var err error
	if a.topicTmpl != nil {
		var b strings.Builder
		if err := a.topicTmpl.Execute(&b, topicData); err != nil {
			return Payload{}, fmt.Errorf("action %s: topic: %w", a.Kind, err)
		}
		p.Topic = b.String()
	} else if a.MQTT != nil {
		p.Topic = a.MQTT.Topic
	}
	if a.Object != nil {
		p.Key = a.Object.Key
		if a.keyTmpl != nil {
			var b strings.Builder
			if err := a.keyTmpl.Execute(&b, topicData); err != nil {
				return Payload{}, fmt.Errorf("action %s: key: %w", a.Kind, err)
			}
			p.Key = b.String()
		}
	}
	if a.tmpl == nil && a.DataTemplate != "" {
		return Payload{}, fmt.Errorf("action %s: call Validate (or ParseRule) before Render", a.Kind)
	}
	if a.tmpl == nil {
		p.Body, err = appendJSON(make([]byte, 0, 64), data) // as json.Marshal, faster
		return p, err
	}
	var b bytes.Buffer
	if err := a.tmpl.Execute(&b, data); err != nil {
		return Payload{}, fmt.Errorf("action %s: dataTemplate: %w", a.Kind, err)
	}
	p.Body = b.Bytes()
	return p, nil
}
