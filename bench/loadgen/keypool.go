package main

import (
	"math/rand/v2"
	"sync"
)

// keyPool tracks which prepared objects exist during the mixed workload and
// lends each key to one operation at a time, so that a GET or STAT never
// races a DELETE of the same key (which would show up as a false error).
type keyPool struct {
	mu      sync.Mutex
	rng     *rand.Rand
	present []int // keys that exist and are not lent out
	absent  []int // keys deleted and not lent out
}

// newKeyPool returns a pool in which keys 0..n-1 exist.
func newKeyPool(n int) *keyPool {
	p := &keyPool{rng: rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())), present: make([]int, n)}
	for i := range p.present {
		p.present[i] = i
	}
	return p
}

// takePresent lends out a random existing key; ok is false if none is free.
func (p *keyPool) takePresent() (key int, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.takeFrom(&p.present)
}

// takeForPut lends out a deleted key if there is one, so that deleted
// objects are written again, and otherwise a random existing key to
// overwrite. wasPresent tells which.
func (p *keyPool) takeForPut() (key int, wasPresent, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if key, ok := p.takeFrom(&p.absent); ok {
		return key, false, true
	}
	key, ok = p.takeFrom(&p.present)
	return key, true, ok
}

// takeFrom removes a random element of *s (swap with the last). Callers
// hold mu.
func (p *keyPool) takeFrom(s *[]int) (int, bool) {
	n := len(*s)
	if n == 0 {
		return 0, false
	}
	i := p.rng.IntN(n)
	key := (*s)[i]
	(*s)[i] = (*s)[n-1]
	*s = (*s)[:n-1]
	return key, true
}

// give returns a lent key, saying whether the object now exists.
func (p *keyPool) give(key int, exists bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if exists {
		p.present = append(p.present, key)
	} else {
		p.absent = append(p.absent, key)
	}
}
