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

// frameWriter writes the frames of many goroutines to one connection through one goroutine of
// its own (run): callers only append to a buffer, and run writes everything queued since its last
// write in one go. Callers thus never make the write syscall nor the TLS encryption themselves
// (both grew every short-lived request goroutine's stack: 10% of a site node's CPU on GETs), and
// frames queued while a write is in progress share the next one.
type frameWriter struct {
	mu    sync.Mutex
	space sync.Cond // signalled when the queue drains below frameQueueMax
	buf   []byte    // queued frames
	spare []byte    // the previous write's buffer, reused
	err   error     // sticky: the connection is broken or closed
	wake  chan struct{}
}

// frameQueueMax bounds the queued bytes: beyond it writers wait for the connection (backpressure
// instead of unbounded memory behind a slow peer).
const frameQueueMax = 8 << 20

func newFrameWriter() *frameWriter {
	fw := &frameWriter{wake: make(chan struct{}, 1)}
	fw.space.L = &fw.mu
	return fw
}

// write queues f. It fails only when the connection already broke; a failure of the write
// itself is reported by run (its caller breaks the connection, failing whoever waits).
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
	fw.mu.Unlock()
	select {
	case fw.wake <- struct{}{}:
	default: // run is already due to look
	}
	return nil
}

// close stops run and fails later writes with err.
func (fw *frameWriter) close(err error) {
	fw.mu.Lock()
	if fw.err == nil {
		fw.err = err
	}
	fw.space.Broadcast()
	fw.mu.Unlock()
	select {
	case fw.wake <- struct{}{}:
	default:
	}
}

// run writes queued frames to w until close or a failed write, whose error it returns.
func (fw *frameWriter) run(w io.Writer) error {
	for range fw.wake {
		for {
			fw.mu.Lock()
			if fw.err != nil {
				err := fw.err
				fw.mu.Unlock()
				return err
			}
			batch := fw.buf
			if len(batch) == 0 {
				fw.mu.Unlock()
				break
			}
			fw.buf, fw.spare = fw.spare[:0], nil
			fw.space.Broadcast()
			fw.mu.Unlock()
			if _, err := w.Write(batch); err != nil {
				fw.close(err)
				return err
			}
			if cap(batch) <= 1<<20 { // do not keep a large batch's buffer for every small frame after it
				fw.mu.Lock()
				fw.spare = batch[:0]
				fw.mu.Unlock()
			}
		}
	}
	return nil
}
