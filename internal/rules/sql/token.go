package sql

import "fmt"

// Pos is a position in the statement text, 1-based.
type Pos struct {
	Line, Col int
}

func (p Pos) String() string { return fmt.Sprintf("line %d, column %d", p.Line, p.Col) }

// kind classifies a token. Keywords are not a kind of their own: they are identifiers that the
// parser compares case-insensitively, so that a backquoted `select` stays a plain name.
type kind int

const (
	tEOF kind = iota
	tIllegal
	tIdent  // name or keyword
	tQIdent // `quoted name`
	tInt
	tFloat
	tString
	tOp // punctuation and operators: + - * / % & | ^ = != <> < <= > >= ( ) [ ] , . -> : ;
)

type token struct {
	kind kind
	text string // identifier, operator or literal text (strings unquoted)
	pos  Pos
}

// describe renders a token for an error message: `"SELEC"`, `end of input`.
func (t token) describe() string {
	switch t.kind {
	case tEOF:
		return "end of input"
	case tString:
		return fmt.Sprintf("string %q", t.text)
	case tQIdent:
		return fmt.Sprintf("`%s`", t.text)
	case tIllegal:
		return fmt.Sprintf("invalid character %q", t.text)
	default:
		return fmt.Sprintf("%q", t.text)
	}
}
