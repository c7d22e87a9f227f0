package sql

import (
	"strconv"
	"strings"
)

// Format renders an expression back to SQL text, fully parenthesised where precedence could be in
// doubt. Parsing the result yields the same tree (the fuzzer checks this).
func Format(e Expr) string {
	var b strings.Builder
	format(&b, e)
	return b.String()
}

func format(b *strings.Builder, e Expr) {
	switch e := e.(type) {
	case nil:
		b.WriteString("NULL")
	case *Ident:
		formatName(b, e.Name)
	case *Literal:
		formatLiteral(b, e.Value)
	case *Wildcard:
		b.WriteString("*")
	case *Unary:
		b.WriteString("(")
		b.WriteString(e.Op)
		if e.Op == "NOT" {
			b.WriteString(" ")
		}
		format(b, e.X)
		b.WriteString(")")
	case *Binary:
		b.WriteString("(")
		format(b, e.L)
		b.WriteString(" " + e.Op + " ")
		format(b, e.R)
		b.WriteString(")")
	case *In:
		formatIn(b, e)
	case *Between:
		b.WriteString("(")
		format(b, e.X)
		if e.Not {
			b.WriteString(" NOT")
		}
		b.WriteString(" BETWEEN ")
		format(b, e.Lo)
		b.WriteString(" AND ")
		format(b, e.Hi)
		b.WriteString(")")
	case *Case:
		formatCase(b, e)
	case *Call:
		formatCall(b, e)
	case *Field:
		format(b, e.X)
		b.WriteString("->")
		formatName(b, e.Name)
	case *Index:
		format(b, e.X)
		b.WriteString("[")
		format(b, e.Index)
		b.WriteString("]")
	case *Slice:
		format(b, e.X)
		b.WriteString("[")
		if e.Lo != nil {
			format(b, e.Lo)
		}
		b.WriteString(":")
		if e.Hi != nil {
			format(b, e.Hi)
		}
		b.WriteString("]")
	}
}

// formatName writes a bare name when it would lex back as the same identifier, else backquotes it.
func formatName(b *strings.Builder, name string) {
	bare := name != "" && !reserved[strings.ToUpper(name)] && !strings.ContainsRune(name, '`')
	for i, r := range name {
		if !(isIdentPart(r) && (i > 0 || isIdentStart(r))) {
			bare = false
		}
	}
	switch strings.ToUpper(name) {
	case "TRUE", "FALSE", "NULL", "CASE":
		bare = false
	}
	if bare {
		b.WriteString(name)
		return
	}
	b.WriteString("`" + name + "`")
}

func formatLiteral(b *strings.Builder, v any) {
	switch v := v.(type) {
	case nil:
		b.WriteString("NULL")
	case bool:
		b.WriteString(strings.ToUpper(strconv.FormatBool(v)))
	case int64:
		if v < 0 {
			b.WriteString("(" + strconv.FormatInt(v, 10) + ")")
			return
		}
		b.WriteString(strconv.FormatInt(v, 10))
	case float64:
		s := strconv.FormatFloat(v, 'e', -1, 64)
		if v < 0 {
			s = "(" + s + ")"
		}
		b.WriteString(s)
	case string:
		b.WriteString(`"`)
		b.WriteString(strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\t", `\t`, "\r", `\r`).Replace(v))
		b.WriteString(`"`)
	}
}

func formatIn(b *strings.Builder, e *In) {
	b.WriteString("(")
	format(b, e.X)
	if e.Not {
		b.WriteString(" NOT")
	}
	b.WriteString(" IN (")
	for i, x := range e.List {
		if i > 0 {
			b.WriteString(", ")
		}
		format(b, x)
	}
	b.WriteString("))")
}

func formatCase(b *strings.Builder, e *Case) {
	b.WriteString("CASE")
	if e.Operand != nil {
		b.WriteString(" ")
		format(b, e.Operand)
	}
	for _, w := range e.Whens {
		b.WriteString(" WHEN ")
		format(b, w.Cond)
		b.WriteString(" THEN ")
		format(b, w.Result)
	}
	if e.Else != nil {
		b.WriteString(" ELSE ")
		format(b, e.Else)
	}
	b.WriteString(" END")
}

func formatCall(b *strings.Builder, e *Call) {
	b.WriteString(e.Name)
	b.WriteString("(")
	for i, a := range e.Args {
		if i > 0 {
			b.WriteString(", ")
		}
		format(b, a)
	}
	b.WriteString(")")
	if e.Over == nil {
		return
	}
	b.WriteString(" OVER (")
	if len(e.Over.Partition) > 0 {
		b.WriteString("PARTITION BY ")
		for i, p := range e.Over.Partition {
			if i > 0 {
				b.WriteString(", ")
			}
			format(b, p)
		}
	}
	if e.Over.When != nil {
		if len(e.Over.Partition) > 0 {
			b.WriteString(" ")
		}
		b.WriteString("WHEN ")
		format(b, e.Over.When)
	}
	b.WriteString(")")
}
