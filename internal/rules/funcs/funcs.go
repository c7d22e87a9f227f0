// Package funcs is the library of scalar SQL functions (math, string, time, hash, conversion and
// miscellaneous), named as in eKuiper. A function sees its evaluated arguments and an Env for the
// clock and the current event; it never reads the wall clock itself, so rules stay deterministic
// under a fake clock.
//
// Aggregates, analytic (stateful) and anomaly functions live elsewhere: they keep state per rule.
package funcs

import (
	"fmt"
	"sort"
	"time"
)

// Env is what a function may know besides its arguments.
type Env interface {
	Now() time.Time         // the rule's clock
	EventTime() time.Time   // the timestamp of the event being evaluated
	WindowStart() time.Time // zero outside a window
	WindowEnd() time.Time
	RuleID() string
}

// Func is one scalar function. MaxArgs < 0 means variadic.
type Func struct {
	Name             string
	MinArgs, MaxArgs int
	Call             func(env Env, args []any) (any, error)
}

var registry = map[string]*Func{}

func register(name string, minArgs, maxArgs int, call func(Env, []any) (any, error)) {
	registry[name] = &Func{Name: name, MinArgs: minArgs, MaxArgs: maxArgs, Call: call}
}

// pure registers a function that needs no Env.
func pure(name string, minArgs, maxArgs int, call func([]any) (any, error)) {
	register(name, minArgs, maxArgs, func(_ Env, args []any) (any, error) { return call(args) })
}

// Lookup finds a function by lower-case name.
func Lookup(name string) (*Func, bool) {
	f, ok := registry[name]
	return f, ok
}

// Names lists every scalar function, sorted.
func Names() []string {
	out := make([]string, 0, len(registry))
	for n := range registry {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// CheckArity returns a message-ready error when n arguments do not fit f.
func (f *Func) CheckArity(n int) error {
	switch {
	case n != f.MinArgs && f.MinArgs == f.MaxArgs:
		return fmt.Errorf("%s takes %d argument(s), got %d", f.Name, f.MinArgs, n)
	case n < f.MinArgs:
		return fmt.Errorf("%s takes at least %d argument(s), got %d", f.Name, f.MinArgs, n)
	case f.MaxArgs >= 0 && n > f.MaxArgs:
		return fmt.Errorf("%s takes at most %d argument(s), got %d", f.Name, f.MaxArgs, n)
	}
	return nil
}
