package s3api

import (
	"fmt"
	"io"

	"github.com/minicloud/minicloud/internal/s3err"
)

// Caps on request documents. AWS's own are similar; anything larger is refused before it is parsed.
const (
	maxXMLBody       = 1 << 20 // configuration documents
	maxDeleteBody    = 2 << 20 // DeleteObjects: 1000 keys of up to 1024 bytes, escaped
	maxCompleteBody  = 4 << 20 // CompleteMultipartUpload: 10,000 parts with checksums
	maxPolicyBody    = 20 << 10
	maxDeleteObjects = 1000
)

// readBody reads a request document of at most limit bytes. Reading it to the end makes the SigV4
// layer verify its payload hash, Content-MD5 and checksum before the document is used.
func readBody(rq *request, limit int64) ([]byte, error) {
	if rq.r.ContentLength > limit || rq.size > limit {
		return nil, s3err.MaxMessageLengthExceeded.With("Your request was too big: the limit is %d bytes.", limit)
	}
	b, err := io.ReadAll(io.LimitReader(rq.body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read request body: %w", err)
	}
	if int64(len(b)) > limit {
		return nil, s3err.MaxMessageLengthExceeded.With("Your request was too big: the limit is %d bytes.", limit)
	}
	return b, nil
}
