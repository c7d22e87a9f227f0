package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"sync"
)

// maxCachedKeys bounds the signing-key cache. A key is valid for one (secret, day, region), so
// a server sees about one per access key per day; the bound only stops a flood of distinct
// (valid) keys from growing memory.
const maxCachedKeys = 1024

// keyCache remembers derived signing keys: deriving one costs four HMACs, more than the rest
// of verifying a small request.
type keyCache struct {
	mu sync.Mutex
	m  map[keyID][32]byte
}

type keyID struct{ secret, date, region string }

func (c *keyCache) get(secret, date, region string) [32]byte {
	id := keyID{secret, date, region}
	c.mu.Lock()
	k, ok := c.m[id]
	c.mu.Unlock()
	if ok {
		return k
	}
	k = deriveKey(secret, date, region)
	c.mu.Lock()
	if c.m == nil {
		c.m = make(map[keyID][32]byte)
	}
	if len(c.m) >= maxCachedKeys {
		for old := range c.m { // map order is random: this evicts an arbitrary entry
			delete(c.m, old)
			break
		}
	}
	c.m[id] = k
	c.mu.Unlock()
	return k
}

// deriveKey computes the SigV4 signing key for S3:
// HMAC(HMAC(HMAC(HMAC("AWS4"+secret, date), region), "s3"), "aws4_request").
func deriveKey(secret, date, region string) [32]byte {
	k := hmacSum([]byte("AWS4"+secret), []byte(date))
	k = hmacSum(k[:], []byte(region))
	k = hmacSum(k[:], []byte("s3"))
	return hmacSum(k[:], []byte("aws4_request"))
}

func hmacSum(key, data []byte) [32]byte {
	m := hmac.New(sha256.New, key)
	m.Write(data)
	var out [32]byte
	m.Sum(out[:0])
	return out
}

// signatureMatches computes the request signature over the string to sign
//
//	AWS4-HMAC-SHA256 \n <amz date> \n <scope> \n hex(sha256(canonical request))
//
// and compares it with want in constant time.
func signatureMatches(key *[32]byte, amzDate, scope string, canonical, want *[32]byte) bool {
	var stack [256]byte
	b := append(stack[:0], signingAlgorithm+"\n"...)
	b = append(b, amzDate...)
	b = append(b, '\n')
	b = append(b, scope...)
	b = append(b, '\n')
	b = hex.AppendEncode(b, canonical[:])
	got := hmacSum(key[:], b)
	return hmac.Equal(got[:], want[:])
}

// decodeSignature parses a signature: exactly 64 hex digits, any case. It decodes by hand
// because hex.Decode would need the string copied to a []byte, an allocation per chunk.
func decodeSignature[T string | []byte](s T, out *[32]byte) bool {
	if len(s) != 64 {
		return false
	}
	for i := range out {
		hi, lo := s[2*i], s[2*i+1]
		if !ishex(hi) || !ishex(lo) {
			return false
		}
		out[i] = unhex(hi)<<4 | unhex(lo)
	}
	return true
}

// emptySHA256 is hex(sha256("")), which stands for the (absent) chunk headers in a chunk's
// string to sign.
const emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// chunkSigner verifies the signature chain of an aws-chunked body: each chunk's signature signs
// the previous one, starting from the request's (seed) signature.
type chunkSigner struct {
	mac   hash.Hash
	date  string
	scope string
	prev  [32]byte
	got   [32]byte // scratch, in the struct so that Sum does not allocate
	buf   []byte
}

func newChunkSigner(key *[32]byte, amzDate, scope string, seed *[32]byte) *chunkSigner {
	return &chunkSigner{mac: hmac.New(sha256.New, key[:]), date: amzDate, scope: scope, prev: *seed}
}

// verifyChunk checks the signature of a chunk whose data hashes to sum:
//
//	AWS4-HMAC-SHA256-PAYLOAD \n date \n scope \n previous signature \n hex(sha256("")) \n hex(sum)
func (s *chunkSigner) verifyChunk(sum []byte, want *[32]byte) bool {
	return s.verify("AWS4-HMAC-SHA256-PAYLOAD", emptySHA256+"\n", sum, want)
}

// verifyTrailer checks the trailer signature, whose string to sign has no empty-hash line:
//
//	AWS4-HMAC-SHA256-TRAILER \n date \n scope \n previous signature \n hex(sha256(trailer lines))
func (s *chunkSigner) verifyTrailer(sum []byte, want *[32]byte) bool {
	return s.verify("AWS4-HMAC-SHA256-TRAILER", "", sum, want)
}

func (s *chunkSigner) verify(algorithm, extra string, sum []byte, want *[32]byte) bool {
	b := append(s.buf[:0], algorithm...)
	b = append(b, '\n')
	b = append(b, s.date...)
	b = append(b, '\n')
	b = append(b, s.scope...)
	b = append(b, '\n')
	b = hex.AppendEncode(b, s.prev[:])
	b = append(b, '\n')
	b = append(b, extra...)
	b = hex.AppendEncode(b, sum)
	s.buf = b
	s.mac.Reset()
	s.mac.Write(b)
	s.mac.Sum(s.got[:0])
	if !hmac.Equal(s.got[:], want[:]) {
		return false
	}
	s.prev = s.got
	return true
}
