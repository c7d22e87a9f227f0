package sigv4

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"errors"
	"hash"
	"io"
	"strings"
	"sync"

	"github.com/minicloud/minicloud/internal/s3err"
)

// aws-chunked, as S3 clients send it:
//
//	<hex size>[;chunk-signature=<64 hex>]\r\n <data> \r\n   ... repeated ...
//	0[;chunk-signature=<64 hex>]\r\n
//	[<trailer name>:<value>\r\n ... [x-amz-trailer-signature:<64 hex>\r\n]]
//	\r\n
//
// Data is streamed through, never buffered per chunk, so a chunk's size only bounds a loop.
// A chunk's signature is checked when its last byte has been read, before the next chunk is
// touched; data of a forged chunk has then been handed out, but the error arrives before
// io.EOF, which is the only point where a caller may commit.
//
// AWS also refuses signed chunks under 8 KiB other than the last (InvalidChunkSizeError); that
// rule protects nothing here, so it is not enforced.
const (
	// maxChunkSize rejects absurd sizes early. Clients use 8 KiB to 1 MiB chunks.
	maxChunkSize = 64 << 20
	// lineBufSize bounds a chunk header or trailer line; real ones are under 100 bytes.
	lineBufSize = 1024
	// maxTrailerLines bounds the trailer section, blank lines included.
	maxTrailerLines = 16
)

var lineReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, lineBufSize) }}

type chunkedReader struct {
	br          *bufio.Reader // nil once finished
	signer      *chunkSigner  // nil for unsigned chunks
	chunkHash   hash.Hash     // SHA-256 of the current chunk, when signed
	wantSig     [32]byte      // the current chunk's signature
	left        int64         // bytes of the current chunk not yet read
	decodedLeft int64         // x-amz-decoded-content-length not yet accounted for
	trailers    bool          // a trailer section may follow the last chunk
	trailer     checksumAlg   // the trailer named by x-amz-trailer, if any
	err         error         // sticky
	sum         [32]byte      // scratch for hash sums, so that computing one does not allocate

	trailerValue string // the value of the trailer, once read
}

func newChunkedReader(src io.Reader, decodedLength int64, signer *chunkSigner, trailers bool, trailer checksumAlg) *chunkedReader {
	br := lineReaders.Get().(*bufio.Reader)
	br.Reset(src)
	c := &chunkedReader{br: br, signer: signer, decodedLeft: decodedLength, trailers: trailers, trailer: trailer}
	if signer != nil {
		c.chunkHash = sha256.New()
	}
	return c
}

func (c *chunkedReader) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	for c.left == 0 {
		if err := c.nextChunk(); err != nil {
			return 0, c.fail(err)
		}
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.br.Read(p)
	c.left -= int64(n)
	if c.chunkHash != nil {
		c.chunkHash.Write(p[:n])
	}
	if c.left == 0 {
		if err := c.endChunk(); err != nil {
			return n, c.fail(err)
		}
		return n, nil
	}
	if err != nil {
		return n, c.fail(eofIsIncomplete(err))
	}
	return n, nil
}

// fail records the terminal error and gives the line buffer back.
func (c *chunkedReader) fail(err error) error {
	c.err = err
	if c.br != nil {
		c.br.Reset(nil)
		lineReaders.Put(c.br)
		c.br = nil
	}
	return err
}

// nextChunk reads a chunk header; at the final chunk it reads the trailers and returns io.EOF.
func (c *chunkedReader) nextChunk() error {
	line, err := c.readLine()
	if err != nil {
		return eofIsIncomplete(err)
	}
	size, err := c.parseChunkHeader(line)
	if err != nil {
		return err
	}
	if size > c.decodedLeft {
		return s3err.InvalidRequest.With("The aws-chunked payload is longer than x-amz-decoded-content-length.")
	}
	if size == 0 {
		return c.finish()
	}
	c.left = size
	c.decodedLeft -= size
	if c.chunkHash != nil {
		c.chunkHash.Reset()
	}
	return nil
}

// parseChunkHeader parses "<hex size>[;chunk-signature=<sig>]". Unsigned bodies may carry
// other extensions, which are ignored; signed ones must carry exactly the signature.
func (c *chunkedReader) parseChunkHeader(line []byte) (int64, error) {
	sizeHex, ext, hasExt := bytes.Cut(line, []byte{';'})
	if len(sizeHex) == 0 || len(sizeHex) > 16 {
		return 0, malformedChunk
	}
	var size int64
	for _, d := range sizeHex {
		if !ishex(d) {
			return 0, malformedChunk
		}
		size = size<<4 | int64(unhex(d))
		if size > maxChunkSize {
			return 0, s3err.InvalidRequest.With("An aws-chunked chunk is larger than %d bytes.", maxChunkSize)
		}
	}
	if c.signer == nil {
		return size, nil
	}
	sig, ok := bytes.CutPrefix(ext, []byte("chunk-signature="))
	if !hasExt || !ok || !decodeSignature(sig, &c.wantSig) {
		return 0, s3err.SignatureDoesNotMatch.With("An aws-chunked chunk has no valid chunk-signature.")
	}
	return size, nil
}

var malformedChunk = s3err.InvalidRequest.With("Malformed aws-chunked chunk header.")

// endChunk consumes the CRLF after a chunk's data and checks the chunk's signature.
func (c *chunkedReader) endChunk() error {
	for _, want := range [2]byte{'\r', '\n'} {
		b, err := c.br.ReadByte()
		if err != nil {
			return eofIsIncomplete(err)
		}
		if b != want {
			return s3err.InvalidRequest.With("An aws-chunked chunk is not followed by CRLF.")
		}
	}
	return c.checkChunkSignature()
}

func (c *chunkedReader) checkChunkSignature() error {
	if c.signer == nil {
		return nil
	}
	if !c.signer.verifyChunk(c.chunkHash.Sum(c.sum[:0]), &c.wantSig) {
		return s3err.SignatureDoesNotMatch.With("The signature of an aws-chunked chunk does not match.")
	}
	return nil
}

// finish handles the final (empty) chunk: its signature, the decoded length, the trailer
// section and the end of the body. It returns io.EOF when all is well.
func (c *chunkedReader) finish() error {
	if c.decodedLeft != 0 {
		return s3err.IncompleteBody.With("The aws-chunked payload is %d bytes shorter than x-amz-decoded-content-length.", c.decodedLeft)
	}
	if c.chunkHash != nil {
		c.chunkHash.Reset()
	}
	if err := c.checkChunkSignature(); err != nil {
		return err
	}
	if err := c.readTrailers(); err != nil {
		return err
	}
	if err := c.checkEnd(); err != nil {
		return err
	}
	return io.EOF
}

// readLine returns the next line without its CRLF (or bare LF). A clean end of the body
// before any byte of a line is io.EOF; within a line, io.ErrUnexpectedEOF.
func (c *chunkedReader) readLine() ([]byte, error) {
	line, err := c.br.ReadSlice('\n')
	switch {
	case errors.Is(err, bufio.ErrBufferFull):
		return nil, s3err.InvalidRequest.With("An aws-chunked line is longer than %d bytes.", lineBufSize)
	case err == io.EOF && len(line) > 0:
		return nil, io.ErrUnexpectedEOF
	case err != nil:
		return nil, err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

// eofIsIncomplete turns a body that ended too soon into S3's IncompleteBody; other read errors
// (a reset connection, a size limit) go to the caller unchanged.
func eofIsIncomplete(err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return s3err.IncompleteBody.With("The aws-chunked body ended early.")
	}
	return err
}

// readTrailers reads the trailer section after the final chunk. Clients differ in the blank
// lines around trailers (some send one right after the final chunk, some end trailer lines
// with a bare LF and then CRLF), so blank lines are skipped until every expected line has been
// seen; the next blank line, or the end of the body, closes the section.
func (c *chunkedReader) readTrailers() error {
	signed := c.signer != nil && c.trailers
	haveValue, sigSeen := c.trailer == ckNone, false
	var sig [32]byte
	var th hash.Hash
	if signed {
		th = sha256.New()
	}
	for i := 0; ; i++ {
		if i == maxTrailerLines {
			return s3err.InvalidRequest.With("The aws-chunked trailer has too many lines.")
		}
		line, err := c.readLine()
		done := haveValue && (sigSeen || !signed)
		if err == io.EOF && done {
			break
		}
		if err == io.EOF {
			missing := "x-amz-trailer-signature"
			if !haveValue {
				missing = c.trailer.header()
			}
			return s3err.IncompleteBody.With("The aws-chunked body ended before its trailer %s.", missing)
		}
		if err != nil {
			return eofIsIncomplete(err)
		}
		if len(line) == 0 {
			if done {
				break
			}
			continue
		}
		name, value, ok := strings.Cut(string(line), ":")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		switch {
		case !ok:
			return s3err.InvalidRequest.With("Malformed aws-chunked trailer line.")
		case signed && !sigSeen && strings.EqualFold(name, "x-amz-trailer-signature"):
			if !decodeSignature(value, &sig) {
				return s3err.SignatureDoesNotMatch.With("The aws-chunked trailer signature is malformed.")
			}
			sigSeen = true
		case c.trailers && !haveValue && !sigSeen && strings.EqualFold(name, c.trailer.header()):
			c.trailerValue, haveValue = value, true
			if th != nil {
				// The signed form of a trailer is "name:value\n", name in lower case.
				th.Write([]byte(c.trailer.header() + ":" + value + "\n"))
			}
		default:
			return s3err.InvalidRequest.With("Unexpected aws-chunked trailer %q; x-amz-trailer must name every trailer, once.", name)
		}
	}
	if signed {
		if !c.signer.verifyTrailer(th.Sum(c.sum[:0]), &sig) {
			return s3err.SignatureDoesNotMatch.With("The aws-chunked trailer signature does not match.")
		}
	}
	return nil
}

// checkEnd makes sure nothing but stray line ends follows the trailer section: anything else
// means the client framed the body differently than we read it.
func (c *chunkedReader) checkEnd() error {
	for range 16 {
		b, err := c.br.ReadByte()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if b != '\r' && b != '\n' {
			break
		}
	}
	return s3err.InvalidRequest.With("Unexpected data after the aws-chunked body.")
}
