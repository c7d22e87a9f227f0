package object

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"hash"
	"hash/crc32"

	"github.com/minicloud/minicloud/internal/s3err"
)

func s3errMalformed(msg string) error { return s3err.MalformedXML.With("%s", msg) }

// compositeChecksum computes AWS's checksum of a multipart object: the checksum of the
// concatenated binary part checksums, with "-N". It is empty unless every part has one of the
// same algorithm.
func compositeChecksum(parts []Checksum) Checksum {
	if len(parts) == 0 || parts[0].Algorithm == "" {
		return Checksum{}
	}
	algo := parts[0].Algorithm
	var h hash.Hash
	switch algo {
	case "CRC32":
		h = crc32.NewIEEE()
	case "CRC32C":
		h = crc32.New(crc32.MakeTable(crc32.Castagnoli))
	case "SHA1":
		h = sha1.New()
	case "SHA256":
		h = sha256.New()
	default:
		return Checksum{}
	}
	for _, p := range parts {
		if p.Algorithm != algo {
			return Checksum{}
		}
		raw, err := base64.StdEncoding.DecodeString(p.Value)
		if err != nil {
			return Checksum{}
		}
		h.Write(raw)
	}
	return Checksum{Algorithm: algo, Value: fmt.Sprintf("%s-%d", base64.StdEncoding.EncodeToString(h.Sum(nil)), len(parts))}
}

var _ = binary.BigEndian
