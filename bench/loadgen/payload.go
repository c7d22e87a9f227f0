package main

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
)

// stampEvery is the spacing of the unique stamps written into each body.
const stampEvery = 4 << 10

// payload makes object bodies for one worker. Bodies are random, and every
// 4 KiB block of each body starts with a stamp unique to that body, so no two
// bodies share a block: a server that deduplicates content-addressed chunks
// or compresses cannot do less work than for real data.
type payload struct {
	buf   []byte
	nonce uint64
}

// newPayload returns a generator of size-byte bodies. Its stamps start at a
// random 32-bit base, so generators never repeat each other's stamps in
// practice.
func newPayload(size int64) *payload {
	seed := rand.Uint64()
	p := &payload{buf: make([]byte, size), nonce: seed << 32}
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], seed)
	_, _ = rand.NewChaCha8(key).Read(p.buf) // never fails
	return p
}

// next stamps the buffer for a new body and returns a reader over it. The
// reader must be fully consumed or dropped before next is called again.
func (p *payload) next() *bytes.Reader {
	p.nonce++
	for off := 0; off+16 <= len(p.buf); off += stampEvery {
		binary.LittleEndian.PutUint64(p.buf[off:], p.nonce)
		binary.LittleEndian.PutUint64(p.buf[off+8:], uint64(off))
	}
	return bytes.NewReader(p.buf)
}
