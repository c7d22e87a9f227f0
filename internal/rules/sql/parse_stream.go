package sql

import (
	"strings"
)

func (p *parser) parseCreate() (*CreateStream, *Error) {
	pos := p.next().pos
	if p.isKw("TABLE") {
		return nil, p.errAt(p.peek(), "CREATE TABLE is not supported: use CREATE STREAM")
	}
	if err := p.expectKw("STREAM"); err != nil {
		return nil, err
	}
	name, _, err := p.name("a stream name")
	if err != nil {
		return nil, err
	}
	st := &CreateStream{Pos: pos, Name: name}
	if err := p.expectOp("("); err != nil {
		return nil, err
	}
	if st.Fields, err = p.fieldDefs(); err != nil {
		return nil, err
	}
	if err := p.expectKw("WITH"); err != nil {
		return nil, err
	}
	if st.Options, err = p.streamOptions(); err != nil {
		return nil, err
	}
	return st, nil
}

// fieldDefs reads "name type, ..." up to and including ")". A trailing comma is allowed.
func (p *parser) fieldDefs() ([]FieldDef, *Error) {
	var out []FieldDef
	for !p.acceptOp(")") {
		name, pos, err := p.name("a field name or \")\"")
		if err != nil {
			return nil, err
		}
		typ, err := p.fieldType()
		if err != nil {
			return nil, err
		}
		out = append(out, FieldDef{Pos: pos, Name: name, Type: typ})
		if !p.acceptOp(",") && !p.isOp(")") {
			return nil, p.unexpected(`"," or ")"`)
		}
	}
	return out, nil
}

var scalarTypes = map[string]bool{
	"bigint": true, "float": true, "string": true, "datetime": true, "boolean": true, "bytea": true,
}

func (p *parser) fieldType() (FieldType, *Error) {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > maxDepth {
		return FieldType{}, p.errAt(p.peek(), "type nested too deeply")
	}
	t := p.peek()
	name := strings.ToLower(t.text)
	if t.kind != tIdent || !(scalarTypes[name] || name == "array" || name == "struct") {
		return FieldType{}, p.unexpected("a type (BIGINT, FLOAT, STRING, DATETIME, BOOLEAN, BYTEA, ARRAY(type) or STRUCT(fields))",
			"BIGINT", "FLOAT", "STRING", "DATETIME", "BOOLEAN", "BYTEA", "ARRAY", "STRUCT")
	}
	p.next()
	ft := FieldType{Name: name}
	switch name {
	case "array":
		if err := p.expectOp("("); err != nil {
			return ft, err
		}
		elem, err := p.fieldType()
		if err != nil {
			return ft, err
		}
		ft.Elem = &elem
		return ft, p.expectOp(")")
	case "struct":
		if err := p.expectOp("("); err != nil {
			return ft, err
		}
		fields, err := p.fieldDefs()
		ft.Fields = fields
		return ft, err
	}
	return ft, nil
}

func (p *parser) streamOptions() ([]StreamOption, *Error) {
	if err := p.expectOp("("); err != nil {
		return nil, err
	}
	var out []StreamOption
	for {
		t := p.peek()
		if t.kind != tIdent {
			return nil, p.unexpected(`an option such as DATASOURCE="topic"`)
		}
		p.next()
		if err := p.expectOp("="); err != nil {
			return nil, err
		}
		v := p.peek()
		switch v.kind {
		case tString, tIdent, tInt, tFloat, tQIdent:
			p.next()
		default:
			return nil, p.unexpected(`a quoted value such as "topic/#"`)
		}
		out = append(out, StreamOption{Pos: t.pos, Key: strings.ToUpper(t.text), Value: v.text})
		if p.acceptOp(")") {
			return out, nil
		}
		if err := p.expectOp(","); err != nil {
			return nil, p.unexpected(`"," or ")"`)
		}
	}
}

func (p *parser) parseDrop() (*DropStream, *Error) {
	pos := p.next().pos
	if err := p.expectKw("STREAM"); err != nil {
		return nil, err
	}
	name, _, err := p.name("a stream name")
	if err != nil {
		return nil, err
	}
	return &DropStream{Pos: pos, Name: name}, nil
}

func (p *parser) parseDescribe() (*DescribeStream, *Error) {
	pos := p.next().pos
	if err := p.expectKw("STREAM"); err != nil {
		return nil, err
	}
	name, _, err := p.name("a stream name")
	if err != nil {
		return nil, err
	}
	return &DescribeStream{Pos: pos, Name: name}, nil
}
