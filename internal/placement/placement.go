// Package placement maps keys to partitions and partitions to the nodes that hold them. It is
// pure: every node computes the same answer from the same member list, so no placement service
// exists. It must not do I/O or keep state.
package placement

import (
	"hash/fnv"
	"sort"
)

// Partitions is the number of partitions of the key space.
const Partitions = 256

// Partition returns the partition of bucket/key.
func Partition(bucket, key string) int {
	h := fnv.New64a()
	h.Write([]byte(bucket))
	h.Write([]byte{0})
	h.Write([]byte(key))
	return int(mix(h.Sum64()) % Partitions)
}

func mix(x uint64) uint64 { // splitmix64 finaliser: spreads fnv's weak low bits
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// Replicas returns the rf nodes that hold partition p, in preference order, chosen by
// rendezvous hashing over nodes (ids). Adding or removing one node moves only the partitions
// whose top rf change, about rf/len(nodes) of them: the minimum.
func Replicas(p int, nodes []string, rf int) []string {
	type scored struct {
		id    string
		score uint64
	}
	s := make([]scored, len(nodes))
	for i, n := range nodes {
		h := fnv.New64a()
		h.Write([]byte(n))
		s[i] = scored{n, mix(h.Sum64() ^ mix(uint64(p)+1))}
	}
	sort.Slice(s, func(i, j int) bool {
		if s[i].score != s[j].score {
			return s[i].score > s[j].score
		}
		return s[i].id < s[j].id
	})
	if rf > len(s) {
		rf = len(s)
	}
	out := make([]string, rf)
	for i := 0; i < rf; i++ {
		out[i] = s[i].id
	}
	return out
}
