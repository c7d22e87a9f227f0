package sql

// Statement is one parsed SQL statement: *CreateStream, *DropStream, *DescribeStream or *Select.
type Statement interface{ statement() }

// CreateStream is CREATE STREAM name (fields) WITH (options). An empty field list is a schemaless
// stream.
type CreateStream struct {
	Pos     Pos
	Name    string
	Fields  []FieldDef
	Options []StreamOption // in the order written; keys upper-cased
}

// FieldDef is one column of a stream schema.
type FieldDef struct {
	Pos  Pos
	Name string
	Type FieldType
}

// FieldType is a column type: a scalar (bigint, float, string, datetime, boolean, bytea),
// ARRAY(elem) or STRUCT(fields).
type FieldType struct {
	Name   string     // lower case: bigint, float, string, datetime, boolean, bytea, array, struct
	Elem   *FieldType // for array
	Fields []FieldDef // for struct
}

// StreamOption is KEY="value" in a WITH clause.
type StreamOption struct {
	Pos   Pos
	Key   string
	Value string
}

// DropStream is DROP STREAM name.
type DropStream struct {
	Pos  Pos
	Name string
}

// DescribeStream is DESCRIBE STREAM name.
type DescribeStream struct {
	Pos  Pos
	Name string
}

// Select is a rule's query.
type Select struct {
	Pos       Pos
	Fields    []SelectField
	From      string
	FromAlias string
	FromPos   Pos
	Where     Expr
	GroupBy   []Expr // keys, without the window
	Window    *Window
	Having    Expr
	OrderBy   []OrderItem
	Limit     int // -1 when absent
}

// SelectField is one item of the select list: an expression with an optional alias, or '*'.
type SelectField struct {
	Expr  Expr // *Wildcard for '*'
	Alias string
}

// OrderItem is one ORDER BY key.
type OrderItem struct {
	Expr Expr
	Desc bool
}

// WindowKind names a window function of GROUP BY.
type WindowKind string

// The window kinds, named as the SQL functions.
const (
	Tumbling WindowKind = "TUMBLINGWINDOW"
	Hopping  WindowKind = "HOPPINGWINDOW"
	Sliding  WindowKind = "SLIDINGWINDOW"
	Session  WindowKind = "SESSIONWINDOW"
	Count    WindowKind = "COUNTWINDOW"
)

// Window is the window of GROUP BY with its integer arguments (after the time unit) and the
// optional FILTER(WHERE ...) condition.
type Window struct {
	Pos    Pos
	Kind   WindowKind
	Unit   string  // DD, HH, MI, SS, MS; empty for COUNTWINDOW
	Args   []int64 // lengths in Unit (or event counts for COUNTWINDOW)
	Filter Expr
}

func (*CreateStream) statement()   {}
func (*DropStream) statement()     {}
func (*DescribeStream) statement() {}
func (*Select) statement()         {}

// Expr is an expression node.
type Expr interface{ Position() Pos }

// Ident is a column or a name, possibly backquoted.
type Ident struct {
	Pos    Pos
	Name   string
	Quoted bool
}

// Literal is a constant: int64, float64, string, bool or nil.
type Literal struct {
	Pos   Pos
	Value any
}

// Unary is -x or NOT x.
type Unary struct {
	Pos Pos
	Op  string // "-" or "NOT"
	X   Expr
}

// Binary is l op r. Op is the operator text upper-cased: + - * / % & | ^ = != < <= > >= AND OR LIKE.
// "<>" is normalised to "!=". NOT LIKE is Unary NOT over LIKE.
type Binary struct {
	Pos  Pos
	Op   string
	L, R Expr
}

// In is x [NOT] IN (list) or x [NOT] IN expr (an array).
type In struct {
	Pos  Pos
	X    Expr
	List []Expr
	Not  bool
}

// Between is x [NOT] BETWEEN lo AND hi.
type Between struct {
	Pos       Pos
	X, Lo, Hi Expr
	Not       bool
}

// Case is CASE [operand] WHEN ... THEN ... [ELSE ...] END.
type Case struct {
	Pos     Pos
	Operand Expr // nil for a searched CASE
	Whens   []When
	Else    Expr
}

// When is one WHEN cond THEN result arm.
type When struct {
	Cond, Result Expr
}

// Call is name(args) [OVER (...)]. Name is lower case.
type Call struct {
	Pos  Pos
	Name string
	Args []Expr
	Over *Over
}

// Over is OVER (PARTITION BY keys WHEN cond) of an analytic function.
type Over struct {
	Pos       Pos
	Partition []Expr
	When      Expr
}

// Wildcard is '*' as a select item or a function argument.
type Wildcard struct {
	Pos Pos
}

// Field is x.name or x->name: a key of a JSON object (or, for a stream name, its column).
type Field struct {
	Pos  Pos
	X    Expr
	Name string
}

// Index is x[i]; a negative index counts from the end.
type Index struct {
	Pos   Pos
	X     Expr
	Index Expr
}

// Slice is x[lo:hi]; either bound may be nil.
type Slice struct {
	Pos    Pos
	X      Expr
	Lo, Hi Expr
}

// Position implementations.
func (e *Ident) Position() Pos    { return e.Pos }
func (e *Literal) Position() Pos  { return e.Pos }
func (e *Unary) Position() Pos    { return e.Pos }
func (e *Binary) Position() Pos   { return e.Pos }
func (e *In) Position() Pos       { return e.Pos }
func (e *Between) Position() Pos  { return e.Pos }
func (e *Case) Position() Pos     { return e.Pos }
func (e *Call) Position() Pos     { return e.Pos }
func (e *Wildcard) Position() Pos { return e.Pos }
func (e *Field) Position() Pos    { return e.Pos }
func (e *Index) Position() Pos    { return e.Pos }
func (e *Slice) Position() Pos    { return e.Pos }

// Walk calls fn for e and every expression below it, parents first, until fn returns false for a
// node (its children are then skipped). OVER clauses are visited as children of their call.
func Walk(e Expr, fn func(Expr) bool) {
	if e == nil || !fn(e) {
		return
	}
	for _, c := range children(e) {
		Walk(c, fn)
	}
}

func children(e Expr) []Expr {
	switch e := e.(type) {
	case *Unary:
		return []Expr{e.X}
	case *Binary:
		return []Expr{e.L, e.R}
	case *In:
		return append([]Expr{e.X}, e.List...)
	case *Between:
		return []Expr{e.X, e.Lo, e.Hi}
	case *Case:
		out := []Expr{e.Operand}
		for _, w := range e.Whens {
			out = append(out, w.Cond, w.Result)
		}
		return append(out, e.Else)
	case *Call:
		out := append([]Expr(nil), e.Args...)
		if e.Over != nil {
			out = append(out, e.Over.Partition...)
			out = append(out, e.Over.When)
		}
		return out
	case *Field:
		return []Expr{e.X}
	case *Index:
		return []Expr{e.X, e.Index}
	case *Slice:
		return []Expr{e.X, e.Lo, e.Hi}
	}
	return nil
}
