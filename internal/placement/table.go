package placement

import (
	"hash/fnv"
	"slices"
)

// Table is the placement of every partition over one node set, computed once, so that a lookup
// is an array index instead of hashing and sorting the set. It gives exactly the answers of
// Replicas for the same nodes and rf. A Table is immutable and safe for concurrent use; when the
// node set changes, build a new one (callers can compare Nodes with the current set).
type Table struct {
	nodes []string // as given, copied
	rf    int
	parts [Partitions][]string // each clipped (len == cap) into one backing array
}

// NewTable computes the replicas of every partition over nodes. It costs about
// Partitions × len(nodes) hashes; Replicas would cost that for every lookup.
func NewTable(nodes []string, rf int) *Table {
	t := &Table{nodes: slices.Clone(nodes), rf: rf}
	if rf > len(nodes) {
		rf = len(nodes)
	}
	if rf < 0 {
		rf = 0
	}
	hs := make([]uint64, len(nodes))
	for i, n := range nodes {
		h := fnv.New64a()
		h.Write([]byte(n))
		hs[i] = h.Sum64()
	}
	backing := make([]string, Partitions*rf)
	top := make([]int, 0, rf) // indexes into nodes, best first
	score := make([]uint64, len(nodes))
	for p := 0; p < Partitions; p++ {
		salt := mix(uint64(p) + 1)
		top = top[:0]
		for i := range nodes {
			score[i] = mix(hs[i] ^ salt)
			// Insert i into top (kept sorted best first, at most rf long), with Replicas'
			// order: higher score first, then the smaller id.
			j := len(top)
			for j > 0 && better(score[i], nodes[i], score[top[j-1]], nodes[top[j-1]]) {
				j--
			}
			if j >= rf {
				continue
			}
			if len(top) < rf {
				top = append(top, 0)
			}
			copy(top[j+1:], top[j:len(top)-1])
			top[j] = i
		}
		out := backing[p*rf : (p+1)*rf : (p+1)*rf]
		for k, i := range top {
			out[k] = nodes[i]
		}
		t.parts[p] = out
	}
	return t
}

// better reports whether (s1, id1) comes before (s2, id2) in preference order.
func better(s1 uint64, id1 string, s2 uint64, id2 string) bool {
	if s1 != s2 {
		return s1 > s2
	}
	return id1 < id2
}

// Lookup returns the replicas of partition p (0 <= p < Partitions) in preference order. The
// slice is shared by every caller: read it, never modify it (appending to it is safe).
func (t *Table) Lookup(p int) []string { return t.parts[p] }

// Nodes returns the node set the table was built from (shared; do not modify).
func (t *Table) Nodes() []string { return t.nodes }

// RF returns the replica count the table was built with.
func (t *Table) RF() int { return t.rf }
