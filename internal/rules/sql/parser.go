package sql

import (
	"strings"
)

// maxDepth bounds expression nesting so that hostile input cannot exhaust the stack.
const maxDepth = 200

// reserved words cannot be bare column names (quote them with backticks), as in eKuiper.
var reserved = map[string]bool{
	"SELECT": true, "FROM": true, "WHERE": true, "GROUP": true, "ORDER": true, "HAVING": true,
	"BY": true, "ASC": true, "DESC": true, "AND": true, "OR": true, "NOT": true, "CASE": true,
	"WHEN": true, "THEN": true, "ELSE": true, "END": true, "IN": true, "BETWEEN": true,
	"LIKE": true, "OVER": true, "PARTITION": true, "AS": true, "LIMIT": true, "FILTER": true,
	"JOIN": true, "LEFT": true, "INNER": true, "ON": true,
}

type parser struct {
	toks  []token
	i     int
	depth int
}

func newParser(src string) *parser {
	l := newLexer(src)
	p := &parser{}
	for {
		t := l.next()
		p.toks = append(p.toks, t)
		if t.kind == tEOF || t.kind == tIllegal {
			if t.kind == tIllegal {
				p.toks = append(p.toks, token{kind: tEOF, pos: t.pos})
			}
			return p
		}
	}
}

// Parse parses one statement: CREATE STREAM, DROP STREAM, DESCRIBE STREAM or SELECT.
func Parse(src string) (Statement, error) {
	p := newParser(src)
	var st Statement
	var err *Error
	switch {
	case p.isKw("SELECT"):
		st, err = p.parseSelect()
	case p.isKw("CREATE"):
		st, err = p.parseCreate()
	case p.isKw("DROP"):
		st, err = p.parseDrop()
	case p.isKw("DESCRIBE"):
		st, err = p.parseDescribe()
	default:
		err = p.unexpected("SELECT, CREATE, DROP or DESCRIBE", "SELECT", "CREATE", "DROP", "DESCRIBE")
	}
	if err != nil {
		return nil, err
	}
	if err := p.end(); err != nil {
		return nil, err
	}
	return st, nil
}

// ParseSelect parses a rule's query, which must be a SELECT.
func ParseSelect(src string) (*Select, error) {
	p := newParser(src)
	if !p.isKw("SELECT") {
		return nil, p.unexpected("SELECT", "SELECT")
	}
	s, err := p.parseSelect()
	if err != nil {
		return nil, err
	}
	if err := p.end(); err != nil {
		return nil, err
	}
	return s, nil
}

// ParseExpr parses a lone expression (used by tools and tests).
func ParseExpr(src string) (Expr, error) {
	p := newParser(src)
	e, err := p.expr()
	if err != nil {
		return nil, err
	}
	if err := p.end(); err != nil {
		return nil, err
	}
	return e, nil
}

func (p *parser) end() *Error {
	if p.isOp(";") {
		p.next()
	}
	if t := p.peek(); t.kind != tEOF {
		return p.errAt(t, "unexpected %s after the end of the statement", t.describe())
	}
	return nil
}

func (p *parser) peek() token { return p.toks[p.i] }
func (p *parser) peekAt(n int) token {
	if p.i+n < len(p.toks) {
		return p.toks[p.i+n]
	}
	return p.toks[len(p.toks)-1]
}

func (p *parser) next() token {
	t := p.toks[p.i]
	if p.i < len(p.toks)-1 {
		p.i++
	}
	return t
}

func (p *parser) isKw(kw string) bool {
	t := p.peek()
	return t.kind == tIdent && strings.EqualFold(t.text, kw)
}

func (p *parser) isOp(op string) bool {
	t := p.peek()
	return t.kind == tOp && t.text == op
}

func (p *parser) acceptKw(kw string) bool {
	if p.isKw(kw) {
		p.next()
		return true
	}
	return false
}

func (p *parser) acceptOp(op string) bool {
	if p.isOp(op) {
		p.next()
		return true
	}
	return false
}

func (p *parser) expectKw(kw string) *Error {
	if p.acceptKw(kw) {
		return nil
	}
	return p.unexpected(kw, kw)
}

func (p *parser) expectOp(op string) *Error {
	if p.acceptOp(op) {
		return nil
	}
	return p.unexpected(`"` + op + `"`)
}

// unexpected reports the current token against what was wanted, suggesting the keyword the user
// probably meant when the token is a near miss ("SELEC" → SELECT).
func (p *parser) unexpected(want string, keywords ...string) *Error {
	t := p.peek()
	if t.kind == tIllegal {
		return p.errAt(t, "%s", illegalMessage(t))
	}
	msg := "expected " + want + ", found " + t.describe()
	if t.kind == tIdent {
		for _, kw := range keywords {
			if near(strings.ToUpper(t.text), kw) {
				msg += " (did you mean " + kw + "?)"
				break
			}
		}
	}
	return p.errAt(t, "%s", msg)
}

func illegalMessage(t token) string {
	switch t.text {
	case `"`, "'":
		return "string is not terminated: add the closing " + t.text
	case "`":
		return "quoted name is not terminated: add the closing `"
	case "/*":
		return "comment is not terminated: add the closing */"
	}
	return t.describe() + " is not allowed here"
}

func (p *parser) errAt(t token, format string, args ...any) *Error {
	return errorf(t.pos, format, args...)
}

// name reads an identifier (bare or backquoted) that names a stream, field or alias.
func (p *parser) name(what string) (string, Pos, *Error) {
	t := p.peek()
	switch {
	case t.kind == tQIdent:
		p.next()
		return t.text, t.pos, nil
	case t.kind == tIdent && reserved[strings.ToUpper(t.text)]:
		return "", t.pos, p.errAt(t, "expected %s, found keyword %s (quote it with backticks to use it as a name)", what, strings.ToUpper(t.text))
	case t.kind == tIdent:
		p.next()
		return t.text, t.pos, nil
	}
	return "", t.pos, p.unexpected(what)
}

// near reports whether a is within edit distance 2 of b, for "did you mean" hints.
func near(a, b string) bool {
	if a == b || len(a) < 3 {
		return false
	}
	if d := len(a) - len(b); d > 2 || d < -2 {
		return false
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)] <= 2
}
