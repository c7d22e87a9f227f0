package sql

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// lexer turns statement text into tokens. It never fails: bad input becomes a tIllegal token (or an
// unterminated string/comment error token) that the parser reports with its position.
type lexer struct {
	src  string
	off  int
	line int
	col  int
}

func newLexer(src string) *lexer { return &lexer{src: src, line: 1, col: 1} }

func (l *lexer) peekRune(ahead int) rune {
	off := l.off
	for i := 0; ; i++ {
		if off >= len(l.src) {
			return -1
		}
		r, n := utf8.DecodeRuneInString(l.src[off:])
		if i == ahead {
			return r
		}
		off += n
	}
}

func (l *lexer) advance() rune {
	r, n := utf8.DecodeRuneInString(l.src[l.off:])
	l.off += n
	if r == '\n' {
		l.line++
		l.col = 1
	} else {
		l.col++
	}
	return r
}

func (l *lexer) pos() Pos { return Pos{Line: l.line, Col: l.col} }

// next returns the next token, skipping white space and comments.
func (l *lexer) next() token {
	if t, bad := l.skipSpace(); bad {
		return t
	}
	start := l.pos()
	if l.off >= len(l.src) {
		return token{kind: tEOF, pos: start}
	}
	r := l.peekRune(0)
	switch {
	case isIdentStart(r):
		return l.ident(start)
	case r >= '0' && r <= '9', r == '.' && isDigit(l.peekRune(1)):
		return l.number(start)
	case r == '"' || r == '\'':
		return l.str(start, r)
	case r == '`':
		return l.quotedIdent(start)
	}
	return l.operator(start)
}

// skipSpace skips blanks and comments; an unterminated block comment is returned as a bad token.
func (l *lexer) skipSpace() (token, bool) {
	for l.off < len(l.src) {
		r := l.peekRune(0)
		switch {
		case unicode.IsSpace(r):
			l.advance()
		case r == '-' && l.peekRune(1) == '-':
			for l.off < len(l.src) && l.peekRune(0) != '\n' {
				l.advance()
			}
		case r == '/' && l.peekRune(1) == '*':
			start := l.pos()
			l.advance()
			l.advance()
			if !l.skipBlockComment() {
				return token{kind: tIllegal, text: "/*", pos: start}, true
			}
		default:
			return token{}, false
		}
	}
	return token{}, false
}

func (l *lexer) skipBlockComment() bool {
	for l.off < len(l.src) {
		if l.peekRune(0) == '*' && l.peekRune(1) == '/' {
			l.advance()
			l.advance()
			return true
		}
		l.advance()
	}
	return false
}

func isIdentStart(r rune) bool { return r == '_' || unicode.IsLetter(r) }
func isIdentPart(r rune) bool  { return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) }
func isDigit(r rune) bool      { return r >= '0' && r <= '9' }

func (l *lexer) ident(start Pos) token {
	from := l.off
	for l.off < len(l.src) && isIdentPart(l.peekRune(0)) {
		l.advance()
	}
	return token{kind: tIdent, text: l.src[from:l.off], pos: start}
}

func (l *lexer) number(start Pos) token {
	from := l.off
	k := tInt
	for isDigit(l.peekRune(0)) {
		l.advance()
	}
	if l.peekRune(0) == '.' && isDigit(l.peekRune(1)) {
		k = tFloat
		l.advance()
		for isDigit(l.peekRune(0)) {
			l.advance()
		}
	}
	if r := l.peekRune(0); r == 'e' || r == 'E' {
		n := 1
		if s := l.peekRune(1); s == '+' || s == '-' {
			n = 2
		}
		if isDigit(l.peekRune(n)) {
			k = tFloat
			for i := 0; i < n; i++ {
				l.advance()
			}
			for isDigit(l.peekRune(0)) {
				l.advance()
			}
		}
	}
	return token{kind: k, text: l.src[from:l.off], pos: start}
}

// str reads a string quoted with ' or ", with backslash escapes and a doubled quote standing for
// one quote, as both styles appear in eKuiper rules.
func (l *lexer) str(start Pos, quote rune) token {
	l.advance()
	var b strings.Builder
	for l.off < len(l.src) {
		r := l.advance()
		switch {
		case r == quote && l.peekRune(0) == quote:
			l.advance()
			b.WriteRune(quote)
		case r == quote:
			return token{kind: tString, text: b.String(), pos: start}
		case r == '\\' && l.off < len(l.src):
			b.WriteRune(unescape(l.advance()))
		default:
			b.WriteRune(r)
		}
	}
	return token{kind: tIllegal, text: string(quote), pos: start}
}

func unescape(r rune) rune {
	switch r {
	case 'n':
		return '\n'
	case 't':
		return '\t'
	case 'r':
		return '\r'
	}
	return r
}

func (l *lexer) quotedIdent(start Pos) token {
	l.advance()
	from := l.off
	for l.off < len(l.src) {
		if l.peekRune(0) == '`' {
			text := l.src[from:l.off]
			l.advance()
			return token{kind: tQIdent, text: text, pos: start}
		}
		l.advance()
	}
	return token{kind: tIllegal, text: "`", pos: start}
}

var twoCharOps = []string{"!=", "<>", "<=", ">=", "->"}

func (l *lexer) operator(start Pos) token {
	rest := l.src[l.off:]
	for _, op := range twoCharOps {
		if strings.HasPrefix(rest, op) {
			l.advance()
			l.advance()
			return token{kind: tOp, text: op, pos: start}
		}
	}
	r := l.advance()
	if strings.ContainsRune("+-*/%&|^=<>()[],.:;", r) {
		return token{kind: tOp, text: string(r), pos: start}
	}
	return token{kind: tIllegal, text: string(r), pos: start}
}
