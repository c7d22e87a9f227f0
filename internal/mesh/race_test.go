//go:build race

package mesh_test

// The race detector's runtime crashed once (SIGSEGV in its stack depot) under the default
// 40-node simulation with the current gossip timings, which start many short-lived goroutines;
// race builds simulate fewer nodes (see TestMeshSim). Runs without -race keep the default.
func init() { raceBuild = true }
