package replicate

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
)

// Framed RPC: the binary operations (ops.go) over one long-lived mutual-TLS connection per peer,
// many requests in flight on it, answered in any order. It is chosen by ALPN on the same listener
// as the HTTP routes (a peer that does not offer it is spoken to over HTTP), and it is encrypted
// and authenticated exactly like them: the TLS handshake with the mesh certificate comes first.
//
// A small request over HTTP/1.1 cost a goroutine hand-off each way on the client, a request
// parse, a background read and a header write on the server, and one write and one read
// syscall per message on each side; a frame costs its bytes, and writers that find others
// waiting leave the flush to the last of them, so concurrent requests share syscalls.
//
// A frame is: length (4 bytes, big endian, of what follows), request id (8 bytes), kind (1 byte),
// then for a request the operation name (uvarint length, bytes) and its body, for an answer its
// body (kindOK) or an error message (kindErr, kindBadRequest).

const framedProto = "minicloud-rpc/1"

const (
	kindRequest    = 1
	kindOK         = 2
	kindErr        = 3
	kindBadRequest = 4
)

// maxFrame bounds a frame's length: a body of maxRPCBody and its header.
const maxFrame = maxRPCBody + 1024

type frame struct {
	id   uint64
	kind byte
	op   string // requests only
	body []byte
}

var errFrame = errors.New("malformed rpc frame")

// readFrame reads one frame. A frame longer than maxFrame, or whose fields do not add up, is an
// error (and the connection is dropped by the caller: framing is lost).
func readFrame(r *bufio.Reader) (frame, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return frame{}, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n < 9 || n > maxFrame {
		return frame{}, fmt.Errorf("%w: length %d", errFrame, n)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return frame{}, fmt.Errorf("read rpc frame: %w", io.ErrUnexpectedEOF)
	}
	return parseFrame(b)
}

// parseFrame decodes a frame's bytes after the length.
func parseFrame(b []byte) (frame, error) {
	if len(b) < 9 {
		return frame{}, errFrame
	}
	f := frame{id: binary.BigEndian.Uint64(b[:8]), kind: b[8]}
	rest := b[9:]
	switch f.kind {
	case kindRequest:
		d := dec{b: rest}
		f.op = d.str()
		if d.err != nil || len(f.op) == 0 || len(f.op) > 64 {
			return frame{}, fmt.Errorf("%w: operation name", errFrame)
		}
		f.body = d.b
	case kindOK, kindErr, kindBadRequest:
		f.body = rest
	default:
		return frame{}, fmt.Errorf("%w: kind %d", errFrame, f.kind)
	}
	return f, nil
}

// appendFrame lays out a frame.
func appendFrame(b []byte, f frame) []byte {
	start := len(b)
	b = append(b, 0, 0, 0, 0)
	b = binary.BigEndian.AppendUint64(b, f.id)
	b = append(b, f.kind)
	if f.kind == kindRequest {
		b = binary.AppendUvarint(b, uint64(len(f.op)))
		b = append(b, f.op...)
	}
	b = append(b, f.body...)
	binary.BigEndian.PutUint32(b[start:], uint32(len(b)-start-4))
	return b
}

// frameWriter writes frames to a connection from many goroutines. A writer that sees others
// waiting for the lock leaves the flush to them: the last one flushes everything at once.
type frameWriter struct {
	waiting atomic.Int32
	mu      sync.Mutex
	w       *bufio.Writer
	buf     []byte
	err     error // sticky: the connection is broken
}

func newFrameWriter(w io.Writer) *frameWriter {
	return &frameWriter{w: bufio.NewWriterSize(w, 64<<10)}
}

func (fw *frameWriter) write(f frame) error {
	if len(f.body)+len(f.op)+32 > maxFrame {
		return fmt.Errorf("rpc frame of %d bytes is too large", len(f.body))
	}
	fw.waiting.Add(1)
	fw.mu.Lock()
	defer fw.mu.Unlock()
	last := fw.waiting.Add(-1) == 0
	if fw.err != nil {
		return fw.err
	}
	fw.buf = appendFrame(fw.buf[:0], f)
	if _, err := fw.w.Write(fw.buf); err != nil {
		fw.err = err
		return err
	}
	if cap(fw.buf) > 1<<20 {
		fw.buf = nil // do not keep a large batch's buffer for every small frame after it
	}
	if last {
		if err := fw.w.Flush(); err != nil {
			fw.err = err
			return err
		}
	}
	return nil
}
