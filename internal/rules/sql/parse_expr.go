package sql

import (
	"strconv"
	"strings"
)

// expr parses an expression. Precedence, lowest first: OR; AND; NOT; comparison, LIKE, IN,
// BETWEEN; + - | ^; * / % &; unary minus; postfix . -> [].
func (p *parser) expr() (Expr, *Error) {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > maxDepth {
		return nil, p.errAt(p.peek(), "expression is nested too deeply")
	}
	return p.or()
}

func (p *parser) or() (Expr, *Error) {
	l, err := p.and()
	for err == nil && p.isKw("OR") {
		t := p.next()
		var r Expr
		if r, err = p.and(); err == nil {
			l = &Binary{Pos: t.pos, Op: "OR", L: l, R: r}
		}
	}
	return l, err
}

func (p *parser) and() (Expr, *Error) {
	l, err := p.not()
	for err == nil && p.isKw("AND") {
		t := p.next()
		var r Expr
		if r, err = p.not(); err == nil {
			l = &Binary{Pos: t.pos, Op: "AND", L: l, R: r}
		}
	}
	return l, err
}

func (p *parser) not() (Expr, *Error) {
	if p.isKw("NOT") {
		t := p.next()
		p.depth++
		defer func() { p.depth-- }()
		if p.depth > maxDepth {
			return nil, p.errAt(t, "expression is nested too deeply")
		}
		x, err := p.not()
		if err != nil {
			return nil, err
		}
		return &Unary{Pos: t.pos, Op: "NOT", X: x}, nil
	}
	return p.comparison()
}

var comparisonOps = map[string]bool{"=": true, "!=": true, "<>": true, "<": true, "<=": true, ">": true, ">=": true}

func (p *parser) comparison() (Expr, *Error) {
	l, err := p.additive()
	if err != nil {
		return nil, err
	}
	t := p.peek()
	if t.kind == tOp && comparisonOps[t.text] {
		p.next()
		r, err := p.additive()
		if err != nil {
			return nil, err
		}
		op := t.text
		if op == "<>" {
			op = "!="
		}
		return &Binary{Pos: t.pos, Op: op, L: l, R: r}, nil
	}
	not := false
	if p.isKw("NOT") && (p.peekKwAt(1, "LIKE") || p.peekKwAt(1, "IN") || p.peekKwAt(1, "BETWEEN")) {
		p.next()
		not = true
	}
	switch {
	case p.isKw("LIKE"):
		return p.like(l, not)
	case p.isKw("IN"):
		return p.in(l, not)
	case p.isKw("BETWEEN"):
		return p.between(l, not)
	}
	return l, nil
}

func (p *parser) peekKwAt(n int, kw string) bool {
	t := p.peekAt(n)
	return t.kind == tIdent && strings.EqualFold(t.text, kw)
}

func (p *parser) like(l Expr, not bool) (Expr, *Error) {
	t := p.next()
	r, err := p.additive()
	if err != nil {
		return nil, err
	}
	var e Expr = &Binary{Pos: t.pos, Op: "LIKE", L: l, R: r}
	if not {
		e = &Unary{Pos: t.pos, Op: "NOT", X: e}
	}
	return e, nil
}

func (p *parser) in(l Expr, not bool) (Expr, *Error) {
	t := p.next()
	in := &In{Pos: t.pos, X: l, Not: not}
	if !p.isOp("(") {
		r, err := p.additive()
		if err != nil {
			return nil, err
		}
		in.List = []Expr{r}
		return in, nil
	}
	p.next()
	for {
		e, err := p.expr()
		if err != nil {
			return nil, err
		}
		in.List = append(in.List, e)
		if p.acceptOp(")") {
			return in, nil
		}
		if !p.acceptOp(",") {
			return nil, p.unexpected(`"," or ")" in the IN list`)
		}
	}
}

func (p *parser) between(l Expr, not bool) (Expr, *Error) {
	t := p.next()
	lo, err := p.additive()
	if err != nil {
		return nil, err
	}
	if err := p.expectKw("AND"); err != nil {
		return nil, err
	}
	hi, err := p.additive()
	if err != nil {
		return nil, err
	}
	return &Between{Pos: t.pos, X: l, Lo: lo, Hi: hi, Not: not}, nil
}

func (p *parser) additive() (Expr, *Error) {
	l, err := p.multiplicative()
	for err == nil {
		t := p.peek()
		if t.kind != tOp || (t.text != "+" && t.text != "-" && t.text != "|" && t.text != "^") {
			break
		}
		p.next()
		var r Expr
		if r, err = p.multiplicative(); err == nil {
			l = &Binary{Pos: t.pos, Op: t.text, L: l, R: r}
		}
	}
	return l, err
}

func (p *parser) multiplicative() (Expr, *Error) {
	l, err := p.unary()
	for err == nil {
		t := p.peek()
		if t.kind != tOp || (t.text != "*" && t.text != "/" && t.text != "%" && t.text != "&") {
			break
		}
		p.next()
		var r Expr
		if r, err = p.unary(); err == nil {
			l = &Binary{Pos: t.pos, Op: t.text, L: l, R: r}
		}
	}
	return l, err
}

func (p *parser) unary() (Expr, *Error) {
	t := p.peek()
	if t.kind == tOp && (t.text == "-" || t.text == "+") {
		p.next()
		p.depth++
		defer func() { p.depth-- }()
		if p.depth > maxDepth {
			return nil, p.errAt(t, "expression is nested too deeply")
		}
		x, err := p.unary()
		if err != nil {
			return nil, err
		}
		if t.text == "+" {
			return x, nil
		}
		if lit, ok := x.(*Literal); ok {
			if v, ok := negate(lit.Value); ok {
				return &Literal{Pos: t.pos, Value: v}, nil
			}
		}
		return &Unary{Pos: t.pos, Op: "-", X: x}, nil
	}
	return p.postfix()
}

// negate folds "-literal" so that -9223372036854775808 and window lengths stay literals.
func negate(v any) (any, bool) {
	switch n := v.(type) {
	case int64:
		return -n, true
	case float64:
		return -n, true
	}
	return nil, false
}

func (p *parser) postfix() (Expr, *Error) {
	x, err := p.primary()
	for err == nil {
		t := p.peek()
		switch {
		case t.kind == tOp && (t.text == "." || t.text == "->"):
			p.next()
			var name string
			if name, err = p.fieldName(); err == nil {
				x = &Field{Pos: t.pos, X: x, Name: name}
			}
		case t.kind == tOp && t.text == "[":
			p.next()
			x, err = p.indexOrSlice(t.pos, x)
		default:
			return x, nil
		}
	}
	return nil, err
}

// fieldName reads the key after '.' or '->'; keywords are fine here (a.end), as is `any key`.
func (p *parser) fieldName() (string, *Error) {
	t := p.peek()
	if t.kind == tIdent || t.kind == tQIdent {
		p.next()
		return t.text, nil
	}
	return "", p.unexpected("a field name")
}

func (p *parser) indexOrSlice(pos Pos, x Expr) (Expr, *Error) {
	var lo, hi Expr
	var err *Error
	if !p.isOp(":") {
		if lo, err = p.expr(); err != nil {
			return nil, err
		}
		if p.acceptOp("]") {
			return &Index{Pos: pos, X: x, Index: lo}, nil
		}
	}
	if err := p.expectOp(":"); err != nil {
		return nil, p.unexpected(`"]" or ":"`)
	}
	if !p.isOp("]") {
		if hi, err = p.expr(); err != nil {
			return nil, err
		}
	}
	if err := p.expectOp("]"); err != nil {
		return nil, err
	}
	return &Slice{Pos: pos, X: x, Lo: lo, Hi: hi}, nil
}

func (p *parser) primary() (Expr, *Error) {
	t := p.peek()
	switch t.kind {
	case tInt:
		p.next()
		n, err := strconv.ParseInt(t.text, 10, 64)
		if err != nil {
			f, _ := strconv.ParseFloat(t.text, 64)
			return &Literal{Pos: t.pos, Value: f}, nil
		}
		return &Literal{Pos: t.pos, Value: n}, nil
	case tFloat:
		p.next()
		f, err := strconv.ParseFloat(t.text, 64)
		if err != nil {
			return nil, p.errAt(t, "number %s is out of range", t.text)
		}
		return &Literal{Pos: t.pos, Value: f}, nil
	case tString:
		p.next()
		return &Literal{Pos: t.pos, Value: t.text}, nil
	case tQIdent:
		p.next()
		return &Ident{Pos: t.pos, Name: t.text, Quoted: true}, nil
	case tIdent:
		return p.identOrCall()
	case tOp:
		if t.text == "(" {
			p.next()
			e, err := p.expr()
			if err != nil {
				return nil, err
			}
			return e, p.expectOp(")")
		}
	}
	return nil, p.unexpected("an expression")
}

func (p *parser) identOrCall() (Expr, *Error) {
	t := p.peek()
	up := strings.ToUpper(t.text)
	switch up {
	case "TRUE", "FALSE":
		p.next()
		return &Literal{Pos: t.pos, Value: up == "TRUE"}, nil
	case "NULL":
		p.next()
		return &Literal{Pos: t.pos, Value: nil}, nil
	case "CASE":
		return p.caseExpr()
	}
	if reserved[up] {
		return nil, p.errAt(t, "expected an expression, found keyword %s", up)
	}
	p.next()
	if !p.isOp("(") {
		return &Ident{Pos: t.pos, Name: t.text}, nil
	}
	return p.call(t)
}

func (p *parser) call(name token) (Expr, *Error) {
	p.next() // (
	c := &Call{Pos: name.pos, Name: strings.ToLower(name.text)}
	for !p.acceptOp(")") {
		if t := p.peek(); t.kind == tOp && t.text == "*" && (p.peekAt(1).text == ")" || p.peekAt(1).text == ",") {
			p.next()
			c.Args = append(c.Args, &Wildcard{Pos: t.pos})
		} else {
			e, err := p.expr()
			if err != nil {
				return nil, err
			}
			c.Args = append(c.Args, e)
		}
		if !p.acceptOp(",") && !p.isOp(")") {
			return nil, p.unexpected(`"," or ")" in the arguments of ` + c.Name)
		}
	}
	if p.isKw("OVER") {
		over, err := p.over()
		if err != nil {
			return nil, err
		}
		c.Over = over
	}
	return c, nil
}

func (p *parser) over() (*Over, *Error) {
	o := &Over{Pos: p.next().pos}
	if err := p.expectOp("("); err != nil {
		return nil, err
	}
	if p.acceptKw("PARTITION") {
		if err := p.expectKw("BY"); err != nil {
			return nil, err
		}
		for {
			e, err := p.expr()
			if err != nil {
				return nil, err
			}
			o.Partition = append(o.Partition, e)
			if !p.acceptOp(",") {
				break
			}
		}
	}
	if p.acceptKw("WHEN") {
		e, err := p.expr()
		if err != nil {
			return nil, err
		}
		o.When = e
	}
	if !p.acceptOp(")") {
		return nil, p.unexpected(`PARTITION BY, WHEN or ")" in OVER`, "PARTITION", "WHEN")
	}
	return o, nil
}

func (p *parser) caseExpr() (Expr, *Error) {
	c := &Case{Pos: p.next().pos}
	var err *Error
	if !p.isKw("WHEN") {
		if c.Operand, err = p.expr(); err != nil {
			return nil, err
		}
	}
	for p.acceptKw("WHEN") {
		var w When
		if w.Cond, err = p.expr(); err != nil {
			return nil, err
		}
		if err := p.expectKw("THEN"); err != nil {
			return nil, err
		}
		if w.Result, err = p.expr(); err != nil {
			return nil, err
		}
		c.Whens = append(c.Whens, w)
	}
	if len(c.Whens) == 0 {
		return nil, p.unexpected("WHEN after CASE", "WHEN")
	}
	if p.acceptKw("ELSE") {
		if c.Else, err = p.expr(); err != nil {
			return nil, err
		}
	}
	if err := p.expectKw("END"); err != nil {
		return nil, err
	}
	return c, nil
}
