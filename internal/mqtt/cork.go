package mqtt

import (
	"net"
	"sync"
)

// corkConn is a client connection whose writes the broker can hold back for a moment and send
// as one, as TCP_CORK does in the kernel but without a system call per packet. mochi writes
// every packet with its own write; the acker (acker.go) corks the connection, has mochi write
// each PUBACK that one group commit of the journal released, and uncorks it, which sends them
// all in one write: one system call per group commit instead of one per message.
//
// Every write to the connection passes here in order (mochi's own, from any goroutine, while
// corked too), so corking never reorders packets; it only delays them until Uncork, which
// the acker calls before it blocks on anything.
type corkConn struct {
	net.Conn
	mu     sync.Mutex
	corked bool
	buf    []byte // what was written while corked
}

// corkMax is the most a cork holds: beyond it the buffer is written at once (a 32 KiB write
// costs about as much CPU per byte as a bigger one).
const corkMax = 32 << 10

func newCorkConn(c net.Conn) *corkConn { return &corkConn{Conn: c} }

func (c *corkConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.corked {
		return c.Conn.Write(p) // not corked: buf is empty (Uncork wrote it)
	}
	c.buf = append(c.buf, p...)
	if len(c.buf) >= corkMax {
		if err := c.flushLocked(); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// Cork holds back writes until Uncork. On a nil corkConn it and Uncork do nothing.
func (c *corkConn) Cork() {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.corked = true
	c.mu.Unlock()
}

// Uncork writes what was held back, in one write, and lets later writes through.
func (c *corkConn) Uncork() error {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.corked = false
	return c.flushLocked()
}

func (c *corkConn) flushLocked() error {
	if len(c.buf) == 0 {
		return nil
	}
	_, err := c.Conn.Write(c.buf)
	if cap(c.buf) > 4<<10 { // a cork usually holds a few PUBACKs: keep no big buffer per connection
		c.buf = nil
	} else {
		c.buf = c.buf[:0]
	}
	// On an error the bytes are dropped: the connection is broken and mochi finds it out on
	// its next read or write (the client resends what was not acknowledged).
	return err
}
