package rules

import (
	"errors"
	"fmt"
	"sort"
	"sync"

	"github.com/minicloud/minicloud/internal/rules/sql"
)

// Sentinel errors of the catalog, wrapped with the stream's name.
var (
	ErrStreamExists   = errors.New("stream already exists")
	ErrStreamNotFound = errors.New("stream not found")
	ErrNotStreamStmt  = errors.New("not a stream statement")
)

// Catalog holds stream definitions by name. It is safe for concurrent use. The mesh-table layer
// may replace it by anything that implements Streams.
type Catalog struct {
	mu      sync.RWMutex
	streams map[string]*Stream
}

// Streams finds stream definitions; Compile takes one.
type Streams interface {
	Stream(name string) (*Stream, bool)
}

var _ Streams = (*Catalog)(nil)

// NewCatalog returns an empty catalog.
func NewCatalog() *Catalog { return &Catalog{streams: map[string]*Stream{}} }

// Stream returns a definition by name.
func (c *Catalog) Stream(name string) (*Stream, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	s, ok := c.streams[name]
	return s, ok
}

// List returns the stream names, sorted.
func (c *Catalog) List() []string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]string, 0, len(c.streams))
	for n := range c.streams {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Put adds or replaces a definition (for a replicated table applying a remote change).
func (c *Catalog) Put(s *Stream) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.streams[s.Name] = s
}

// ExecResult is the outcome of a stream statement: a message for people and, for CREATE and
// DESCRIBE, the definition.
type ExecResult struct {
	Message string
	Stream  *Stream
}

// Exec runs CREATE STREAM, DROP STREAM or DESCRIBE STREAM. A SELECT is ErrNotStreamStmt.
func (c *Catalog) Exec(text string) (*ExecResult, error) {
	st, err := sql.Parse(text)
	if err != nil {
		return nil, err
	}
	switch st := st.(type) {
	case *sql.CreateStream:
		s, err := streamFromSQL(st, text)
		if err != nil {
			return nil, err
		}
		if err := c.create(s); err != nil {
			return nil, err
		}
		return &ExecResult{Message: fmt.Sprintf("Stream %s is created.", s.Name), Stream: s}, nil
	case *sql.DropStream:
		if err := c.drop(st.Name); err != nil {
			return nil, err
		}
		return &ExecResult{Message: fmt.Sprintf("Stream %s is dropped.", st.Name)}, nil
	case *sql.DescribeStream:
		s, ok := c.Stream(st.Name)
		if !ok {
			return nil, fmt.Errorf("describe stream %s: %w", st.Name, ErrStreamNotFound)
		}
		return &ExecResult{Message: s.Describe(), Stream: s}, nil
	}
	return nil, fmt.Errorf("%w: a SELECT is run as a rule", ErrNotStreamStmt)
}

func (c *Catalog) create(s *Stream) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.streams[s.Name]; ok {
		return fmt.Errorf("create stream %s: %w (drop it first)", s.Name, ErrStreamExists)
	}
	c.streams[s.Name] = s
	return nil
}

func (c *Catalog) drop(name string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.streams[name]; !ok {
		return fmt.Errorf("drop stream %s: %w", name, ErrStreamNotFound)
	}
	delete(c.streams, name)
	return nil
}
