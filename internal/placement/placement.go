// Package placement maps keys to partitions and partitions to the nodes that hold them. It is
// pure: every node computes the same answer from the same member list, so no placement service
// exists. It must not do I/O or keep state.
package placement

import "hash/fnv"

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
//
// It is on the request path (each GET and PUT asks it for its key's partition), so it hashes
// without allocating and keeps only the best rf while scanning instead of sorting the set:
// about 20 ns per node, one allocation for the answer. A caller that asks often for the same
// node set can build a Table once (about 6 ns per lookup).
func Replicas(p int, nodes []string, rf int) []string {
	rf = max(0, min(rf, len(nodes)))
	salt := mix(uint64(p) + 1)
	var topBuf [8]int
	var scoreBuf [8]uint64
	top, score := topBuf[:0], scoreBuf[:0] // best first, at most rf long
	if rf > len(topBuf) {
		top, score = make([]int, 0, rf), make([]uint64, 0, rf)
	}
	for i, n := range nodes {
		s := mix(fnv64a(n) ^ salt)
		j := len(top)
		for j > 0 && better(s, n, score[j-1], nodes[top[j-1]]) {
			j--
		}
		if j >= rf {
			continue
		}
		if len(top) < rf {
			top, score = append(top, 0), append(score, 0)
		}
		copy(top[j+1:], top[j:len(top)-1])
		copy(score[j+1:], score[j:len(score)-1])
		top[j], score[j] = i, s
	}
	out := make([]string, rf)
	for k, i := range top {
		out[k] = nodes[i]
	}
	return out
}

// fnv64a is FNV-1a (hash/fnv's New64a) of s, without allocating.
func fnv64a(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}
