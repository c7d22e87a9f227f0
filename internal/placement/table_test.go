package placement

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

func nodeIDs(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("node-%04d", i)
	}
	return out
}

// A Table must give exactly Replicas' answers, whatever the set, its order and rf.
func TestTableMatchesReplicas(t *testing.T) {
	seed := rand.Uint64()
	rng := rand.New(rand.NewPCG(seed, 0))
	for _, n := range []int{0, 1, 2, 3, 4, 10, 33, 100} {
		for _, rf := range []int{0, 1, 2, 3, 5, 12} {
			nodes := nodeIDs(n)
			rng.Shuffle(len(nodes), func(i, j int) { nodes[i], nodes[j] = nodes[j], nodes[i] })
			if n > 2 {
				nodes = append(nodes, nodes[0]) // a duplicate id behaves as in Replicas too
			}
			tab := NewTable(nodes, rf)
			for p := 0; p < Partitions; p++ {
				want := Replicas(p, nodes, rf)
				if got := tab.Lookup(p); !slices.Equal(got, want) {
					t.Fatalf("seed %d, %d nodes, rf %d, partition %d: table %v, Replicas %v", seed, n, rf, p, got, want)
				}
			}
			if tab.RF() != rf || !slices.Equal(tab.Nodes(), nodes) {
				t.Fatalf("table keeps rf %d and nodes %v; built with %d and %v", tab.RF(), tab.Nodes(), rf, nodes)
			}
		}
	}
}

// Appending to a looked-up slice must not change the next partition's answer.
func TestTableLookupClipped(t *testing.T) {
	tab := NewTable(nodeIDs(10), 3)
	next := slices.Clone(tab.Lookup(1))
	_ = append(tab.Lookup(0), "x")
	if !slices.Equal(tab.Lookup(1), next) {
		t.Fatalf("append to partition 0's replicas changed partition 1's: %v, was %v", tab.Lookup(1), next)
	}
}

// Lookup cost, per node-set size: a site of 10 nodes (what the replication layer passes) and
// all 1,000 nodes of a 100-site mesh. KeyToTable adds hashing the bucket and key to a partition.
func BenchmarkLookup(b *testing.B) {
	for _, n := range []int{10, 1000} {
		nodes := nodeIDs(n)
		b.Run(fmt.Sprintf("Replicas/nodes=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				Replicas(i%Partitions, nodes, 3)
			}
		})
		tab := NewTable(nodes, 3)
		b.Run(fmt.Sprintf("Table/nodes=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				tab.Lookup(i % Partitions)
			}
		})
		keys := nodeIDs(Partitions) // as object keys: "node-0000" ...
		b.Run(fmt.Sprintf("KeyToTable/nodes=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				tab.Lookup(Partition("bucket", keys[i%len(keys)]))
			}
		})
		b.Run(fmt.Sprintf("NewTable/nodes=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				NewTable(nodes, 3)
			}
		})
	}
}
