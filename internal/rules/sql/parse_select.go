package sql

import (
	"strconv"
	"strings"
)

func (p *parser) parseSelect() (*Select, *Error) {
	s := &Select{Pos: p.next().pos, Limit: -1}
	var err *Error
	if s.Fields, err = p.selectList(); err != nil {
		return nil, err
	}
	if err := p.expectKw("FROM"); err != nil {
		return nil, err
	}
	if s.From, s.FromPos, err = p.name("a stream name"); err != nil {
		return nil, err
	}
	if p.isKw("JOIN") || p.isKw("LEFT") || p.isKw("INNER") || p.isKw("RIGHT") || p.isKw("FULL") || p.isKw("CROSS") {
		return nil, p.errAt(p.peek(), "joins are not supported yet: a rule reads one stream")
	}
	if p.acceptKw("AS") {
		if s.FromAlias, _, err = p.name("an alias"); err != nil {
			return nil, err
		}
	}
	return s, p.selectClauses(s)
}

// selectClauses reads the optional WHERE, GROUP BY, HAVING, ORDER BY and LIMIT, in that order.
func (p *parser) selectClauses(s *Select) *Error {
	var err *Error
	if p.acceptKw("WHERE") {
		if s.Where, err = p.expr(); err != nil {
			return err
		}
	}
	if p.acceptKw("GROUP") {
		if err := p.expectKw("BY"); err != nil {
			return err
		}
		if err := p.groupBy(s); err != nil {
			return err
		}
	}
	if p.acceptKw("HAVING") {
		if s.Having, err = p.expr(); err != nil {
			return err
		}
	}
	if p.acceptKw("ORDER") {
		if err := p.expectKw("BY"); err != nil {
			return err
		}
		if s.OrderBy, err = p.orderBy(); err != nil {
			return err
		}
	}
	if p.acceptKw("LIMIT") {
		t := p.peek()
		n, convErr := strconv.Atoi(t.text)
		if t.kind != tInt || convErr != nil || n < 0 {
			return p.unexpected("a row count after LIMIT")
		}
		p.next()
		s.Limit = n
	}
	return nil
}

func (p *parser) selectList() ([]SelectField, *Error) {
	var out []SelectField
	for {
		var f SelectField
		if t := p.peek(); t.kind == tOp && t.text == "*" {
			p.next()
			f.Expr = &Wildcard{Pos: t.pos}
		} else {
			e, err := p.expr()
			if err != nil {
				return nil, err
			}
			f.Expr = e
			if p.acceptKw("AS") {
				if f.Alias, _, err = p.name("an alias after AS"); err != nil {
					return nil, err
				}
			}
		}
		out = append(out, f)
		if !p.acceptOp(",") {
			if t := p.peek(); t.kind == tIdent && near(strings.ToUpper(t.text), "FROM") {
				return nil, p.unexpected("FROM", "FROM")
			}
			if t := p.peek(); t.kind == tIdent && !reserved[strings.ToUpper(t.text)] {
				return nil, p.errAt(t, "expected \",\" or FROM, found %s (write AS to name a column)", t.describe())
			}
			return out, nil
		}
	}
}

var windowKinds = map[string]WindowKind{
	"tumblingwindow": Tumbling, "hoppingwindow": Hopping, "slidingwindow": Sliding,
	"sessionwindow": Session, "countwindow": Count,
}

// windowArity is the allowed number of integer arguments after the unit.
var windowArity = map[WindowKind][2]int{
	Tumbling: {1, 1}, Hopping: {2, 2}, Sliding: {1, 2}, Session: {2, 2}, Count: {1, 2},
}

func (p *parser) groupBy(s *Select) *Error {
	for {
		e, err := p.expr()
		if err != nil {
			return err
		}
		if c, ok := e.(*Call); ok && windowKinds[c.Name] != "" {
			if s.Window != nil {
				return errorf(c.Pos, "a rule can have only one window; found a second %s", windowKinds[c.Name])
			}
			if s.Window, err = windowOf(c); err != nil {
				return err
			}
			if p.acceptKw("FILTER") {
				if s.Window.Filter, err = p.windowFilter(); err != nil {
					return err
				}
			}
		} else {
			s.GroupBy = append(s.GroupBy, e)
		}
		if !p.acceptOp(",") {
			return nil
		}
	}
}

func (p *parser) windowFilter() (Expr, *Error) {
	if err := p.expectOp("("); err != nil {
		return nil, err
	}
	if err := p.expectKw("WHERE"); err != nil {
		return nil, err
	}
	e, err := p.expr()
	if err != nil {
		return nil, err
	}
	return e, p.expectOp(")")
}

var timeUnits = map[string]bool{"DD": true, "HH": true, "MI": true, "SS": true, "MS": true}

// windowOf checks a window call's arguments: a time unit (except COUNTWINDOW) then positive integers.
func windowOf(c *Call) (*Window, *Error) {
	kind := windowKinds[c.Name]
	w := &Window{Pos: c.Pos, Kind: kind}
	args := c.Args
	if kind != Count {
		if len(args) == 0 {
			return nil, errorf(c.Pos, "%s needs a time unit (DD, HH, MI, SS or MS) and a length, e.g. %s(ss, 10)", kind, kind)
		}
		id, ok := args[0].(*Ident)
		if !ok || !timeUnits[strings.ToUpper(id.Name)] {
			return nil, errorf(args[0].Position(), "%s: the first argument must be a time unit: DD, HH, MI, SS or MS", kind)
		}
		w.Unit = strings.ToUpper(id.Name)
		args = args[1:]
	}
	ar := windowArity[kind]
	if len(args) < ar[0] || len(args) > ar[1] {
		return nil, errorf(c.Pos, "%s takes %s", kind, arityText(kind))
	}
	for _, a := range args {
		lit, ok := a.(*Literal)
		n, isInt := lit.valueInt()
		if !ok || !isInt || n <= 0 {
			return nil, errorf(a.Position(), "%s: lengths must be positive integer constants", kind)
		}
		w.Args = append(w.Args, n)
	}
	return w, nil
}

func (l *Literal) valueInt() (int64, bool) {
	if l == nil {
		return 0, false
	}
	n, ok := l.Value.(int64)
	return n, ok
}

func arityText(k WindowKind) string {
	switch k {
	case Tumbling:
		return "(unit, length), e.g. TUMBLINGWINDOW(ss, 10)"
	case Hopping:
		return "(unit, length, hop), e.g. HOPPINGWINDOW(ss, 10, 5)"
	case Sliding:
		return "(unit, length[, delay]), e.g. SLIDINGWINDOW(ss, 10)"
	case Session:
		return "(unit, timeout, max duration), e.g. SESSIONWINDOW(mi, 2, 10)"
	}
	return "(count[, interval]), e.g. COUNTWINDOW(5) or COUNTWINDOW(5, 1)"
}

func (p *parser) orderBy() ([]OrderItem, *Error) {
	var out []OrderItem
	for {
		e, err := p.expr()
		if err != nil {
			return nil, err
		}
		item := OrderItem{Expr: e}
		if p.acceptKw("DESC") {
			item.Desc = true
		} else {
			p.acceptKw("ASC")
		}
		out = append(out, item)
		if !p.acceptOp(",") {
			return out, nil
		}
	}
}
