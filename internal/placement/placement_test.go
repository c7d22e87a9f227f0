package placement

import (
	"fmt"
	"sort"
	"testing"
)

func TestReplicasDeterministicAndDistinct(t *testing.T) {
	nodes := []string{"a", "b", "c", "d", "e"}
	for p := 0; p < Partitions; p++ {
		r1 := Replicas(p, nodes, 3)
		r2 := Replicas(p, []string{"e", "d", "c", "b", "a"}, 3)
		if fmt.Sprint(r1) != fmt.Sprint(r2) {
			t.Fatalf("partition %d: order of input changed the answer: %v vs %v", p, r1, r2)
		}
		seen := map[string]bool{}
		for _, n := range r1 {
			if seen[n] {
				t.Fatalf("partition %d: %s twice", p, n)
			}
			seen[n] = true
		}
	}
}

// Adding a fourth node to three must move one replica of about 3/4 of partitions and no more:
// the new node takes ~RF/N of all replica slots, and nothing moves between old nodes.
func TestJoinMovesMinimum(t *testing.T) {
	old := []string{"n1", "n2", "n3", "n4"}
	grown := append(append([]string{}, old...), "n5")
	moved, slots := 0, 0
	for p := 0; p < Partitions; p++ {
		before := map[string]bool{}
		for _, n := range Replicas(p, old, 3) {
			before[n] = true
		}
		for _, n := range Replicas(p, grown, 3) {
			slots++
			if !before[n] {
				moved++
				if n != "n5" {
					t.Fatalf("partition %d: a replica moved to old node %s", p, n)
				}
			}
		}
	}
	ideal := float64(slots) / 5
	ratio := float64(moved) / ideal
	t.Logf("moved %d of %d replica slots; ideal %.0f; ratio %.2f", moved, slots, ideal, ratio)
	if ratio < 0.7 || ratio > 1.3 {
		t.Fatalf("moved/ideal = %.2f, want close to 1", ratio)
	}
}

func BenchmarkReplicas(b *testing.B) {
	nodes := []string{"n1", "n2", "n3", "n4", "n5", "n6", "n7", "n8", "n9", "n10"}
	for i := 0; i < b.N; i++ {
		Replicas(i%Partitions, nodes, 3)
	}
}

// replicasSorted is the straightforward form of Replicas (score every node, sort, take rf): the
// reference the scanning form must agree with, and the baseline of its benchmark.
func replicasSorted(p int, nodes []string, rf int) []string {
	type scored struct {
		id    string
		score uint64
	}
	s := make([]scored, len(nodes))
	for i, n := range nodes {
		s[i] = scored{n, mix(fnv64a(n) ^ mix(uint64(p)+1))}
	}
	sort.Slice(s, func(i, j int) bool {
		if s[i].score != s[j].score {
			return s[i].score > s[j].score
		}
		return s[i].id < s[j].id
	})
	rf = max(0, min(rf, len(s)))
	out := make([]string, rf)
	for i := range out {
		out[i] = s[i].id
	}
	return out
}

func TestReplicasMatchesSorted(t *testing.T) {
	for _, n := range []int{0, 1, 3, 10, 40} {
		nodes := nodeIDs(n)
		if n > 2 {
			nodes = append(nodes, nodes[1]) // a duplicate id
		}
		for _, rf := range []int{-1, 0, 1, 3, 9, 12, 50} {
			for p := 0; p < Partitions; p++ {
				if got, want := Replicas(p, nodes, rf), replicasSorted(p, nodes, rf); fmt.Sprint(got) != fmt.Sprint(want) {
					t.Fatalf("%d nodes, rf %d, partition %d: %v, want %v", n, rf, p, got, want)
				}
			}
		}
	}
}

// Replicas against the sort-based form, side by side in one run (ratio, not absolute figures:
// the machine is shared).
func BenchmarkReplicasVsSorted(b *testing.B) {
	for _, n := range []int{10, 1000} {
		nodes := nodeIDs(n)
		b.Run(fmt.Sprintf("scan/nodes=%d", n), func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				Replicas(i%Partitions, nodes, 3)
			}
		})
		b.Run(fmt.Sprintf("sort/nodes=%d", n), func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				replicasSorted(i%Partitions, nodes, 3)
			}
		})
	}
}
