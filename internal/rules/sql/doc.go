// Package sql holds the lexer, parser and syntax tree of minicloud's streaming SQL, a dialect that
// follows LF Edge eKuiper wherever the two overlap: CREATE/DROP/DESCRIBE STREAM and a SELECT with
// windows in GROUP BY, analytic functions with OVER, and JSON field access with '.', '->' and '[]'.
//
// It only parses: it knows nothing of functions, types of values or evaluation, so that the fuzzer
// and tools can use it alone. Every error is an *Error with the line and column of the offending
// token and a message that says what was expected.
package sql
