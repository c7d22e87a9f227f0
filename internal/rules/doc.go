// Package rules is minicloud's streaming SQL engine as a library: stream definitions (CREATE,
// DROP, DESCRIBE STREAM), rules compiled from one SELECT each, windows, aggregates, analytic and
// anomaly functions, checkpoints, and the eKuiper-shaped rule JSON with its action templates.
//
// A Rule is a deterministic state machine: the caller feeds it events with Process and the passage
// of time with Advance (NextDeadline says when), and gets result rows back. Time comes only from
// the injected Clock, so a fake clock replays a recorded input exactly. A Rule starts no goroutine,
// does no I/O and is not safe for concurrent use: the wiring layer (broker subscription, stream
// log, action delivery) owns one goroutine per rule and calls it from there.
package rules
