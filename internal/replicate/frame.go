package replicate

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
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

// frameWriter writes the frames of many goroutines to one connection without a goroutine of its
// own: a caller appends its frame to the queue and, unless another caller is already writing,
// writes the queue itself until it is empty (frames queued meanwhile by others go out in the
// same write). A dedicated writer goroutine would cost a wake-up (a context switch between
// threads, expensive here) per frame; writing under a lock would make callers wait for each
// other's syscalls instead of sharing them.
type frameWriter struct {
	w       io.Writer
	mu      sync.Mutex
	space   sync.Cond // signalled when the queue drains below frameQueueMax
	buf     []byte    // queued frames
	spare   []byte    // the previous write's buffer, reused
	writing bool      // some caller is writing the queue
	err     error     // sticky: the connection is broken or closed
}

// frameQueueMax bounds the queued bytes: beyond it writers wait for the connection (backpressure
// instead of unbounded memory behind a slow peer).
const frameQueueMax = 8 << 20

func newFrameWriter(w io.Writer) *frameWriter {
	fw := &frameWriter{w: w}
	fw.space.L = &fw.mu
	return fw
}

// write queues f and, unless another caller is writing, writes the queue. An error means the
// connection broke (now or before); the frame may then not have been sent.
func (fw *frameWriter) write(f frame) error {
	if len(f.body)+len(f.op)+32 > maxFrame {
		return fmt.Errorf("rpc frame of %d bytes is too large", len(f.body))
	}
	fw.mu.Lock()
	for fw.err == nil && len(fw.buf) > frameQueueMax {
		fw.space.Wait()
	}
	if fw.err != nil {
		err := fw.err
		fw.mu.Unlock()
		return err
	}
	fw.buf = appendFrame(fw.buf, f)
	if fw.writing {
		fw.mu.Unlock()
		return nil // the writing caller sends it with what it finds queued
	}
	fw.writing = true
	for len(fw.buf) > 0 && fw.err == nil {
		batch := fw.buf
		fw.buf, fw.spare = fw.spare[:0], nil
		fw.space.Broadcast()
		fw.mu.Unlock()
		_, err := fw.w.Write(batch)
		fw.mu.Lock()
		if err != nil && fw.err == nil {
			fw.err = err
			fw.space.Broadcast()
		}
		if cap(batch) <= 1<<20 { // do not keep a large batch's buffer for every small frame after it
			fw.spare = batch[:0]
		}
	}
	fw.writing = false
	err := fw.err
	fw.mu.Unlock()
	return err
}

// close fails later writes with err.
func (fw *frameWriter) close(err error) {
	fw.mu.Lock()
	if fw.err == nil {
		fw.err = err
	}
	fw.space.Broadcast()
	fw.mu.Unlock()
}
