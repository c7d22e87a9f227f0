package object

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strconv"

	"github.com/minicloud/minicloud/internal/crdt"
)

// Metadata key layout in the metastore. Every key starts with a one-byte table tag; bucket names
// cannot contain 0x00 and object keys are refused if they do, so 0x00 separates fields and keeps
// the S3 key order.
//
//	'b' bucket                                 -> bucket JSON
//	'o' bucket 0 key 0 ^ts(8) ^node(8)         -> version record (newest first within a key)
//	'u' bucket 0 key 0 uploadID                -> upload record (multipart.go)
//	'q' bucket 0 key 0 uploadID 0 part(5)      -> part record
//	'r' chunkID 0 ownerKey                     -> empty: ownerKey references chunkID
const (
	tagBucket  = 'b'
	tagVersion = 'o'
	tagUpload  = KindUpload
	tagPart    = KindPart
	tagRef     = 'r'
)

func bucketKey(name string) []byte { return append([]byte{tagBucket}, name...) }

// objPrefix is the prefix of all version keys of a bucket.
func objPrefix(bucket string) []byte {
	k := make([]byte, 0, len(bucket)+2)
	k = append(k, tagVersion)
	k = append(k, bucket...)
	return append(k, 0)
}

// keyPrefix is the prefix of all versions of one key.
func keyPrefix(bucket, key string) []byte {
	k := objPrefix(bucket)
	k = append(k, key...)
	return append(k, 0)
}

// versionKey is the storage key of a version. Both fields are inverted so that a key's versions
// sort newest first by crdt.Version.Less, node id included: two nodes may stamp the same
// timestamp, and then the larger id is the newer version everywhere (replicas, coordinators,
// listings).
func versionKey(bucket, key string, v crdt.Version) []byte {
	return appendVersion(keyPrefix(bucket, key), v)
}

func appendVersion(k []byte, v crdt.Version) []byte {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], ^uint64(v.TS))
	binary.BigEndian.PutUint64(b[8:], ^v.Node)
	return append(k, b[:]...)
}

func parseVersionSuffix(suf []byte) crdt.Version {
	return crdt.Version{TS: crdt.Timestamp(^binary.BigEndian.Uint64(suf[:8])), Node: ^binary.BigEndian.Uint64(suf[8:16])}
}

// splitVersionKey parses a version key below objPrefix(bucket) into the object key and version.
func splitVersionKey(k []byte, prefixLen int) (string, crdt.Version, bool) {
	if len(k) < prefixLen+17 {
		return "", crdt.Version{}, false
	}
	rest := k[prefixLen:]
	key := rest[:len(rest)-17]
	if rest[len(rest)-17] != 0 {
		return "", crdt.Version{}, false
	}
	return string(key), parseVersionSuffix(rest[len(rest)-16:]), true
}

// versionID renders a version as the opaque id S3 clients see.
func versionID(v crdt.Version) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(v.TS))
	binary.BigEndian.PutUint64(b[8:], v.Node)
	return hex.EncodeToString(b[:])
}

func parseVersionID(id string) (crdt.Version, error) {
	b, err := hex.DecodeString(id)
	if err != nil || len(b) != 16 {
		return crdt.Version{}, fmt.Errorf("bad version id %q", id)
	}
	return crdt.Version{TS: crdt.Timestamp(binary.BigEndian.Uint64(b[:8])), Node: binary.BigEndian.Uint64(b[8:])}, nil
}

func uploadPrefix(bucket string) []byte {
	k := []byte{tagUpload}
	k = append(k, bucket...)
	return append(k, 0)
}

func uploadKey(bucket, key, uploadID string) []byte {
	k := uploadPrefix(bucket)
	k = append(k, key...)
	k = append(k, 0)
	return append(k, uploadID...)
}

func partPrefix(bucket, key, uploadID string) []byte {
	k := []byte{tagPart}
	k = append(k, bucket...)
	k = append(k, 0)
	k = append(k, key...)
	k = append(k, 0)
	k = append(k, uploadID...)
	return append(k, 0)
}

func partKey(bucket, key, uploadID string, n int) []byte {
	return append(partPrefix(bucket, key, uploadID), fmt.Sprintf("%05d", n)...)
}

func refPrefix(chunkID string) []byte {
	k := []byte{tagRef}
	k = append(k, chunkID...)
	return append(k, 0)
}

func refKey(chunkID string, owner []byte) []byte {
	return append(refPrefix(chunkID), owner...)
}

// prefixEnd returns the smallest key greater than every key with prefix p (nil: no bound).
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

func itoa(n int) string { return strconv.Itoa(n) }
