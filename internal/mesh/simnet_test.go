package mesh_test

import (
	"errors"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
)

// simNet is an in-memory network for memberlist: packets (its UDP) and streams (its TCP)
// between simulated hosts, with a one-way latency per pair of sites, random packet loss, hosts
// that crash (all their traffic is lost), and counters of what every host sends. It runs on
// whatever clock the caller's goroutines see: inside a testing/synctest bubble, simulated time.
type simNet struct {
	// latency is the one-way delay of a packet or of a stream's connection set-up.
	latency func(fromSite, toSite int) time.Duration
	loss    float64 // probability that a packet is lost

	mu    sync.Mutex
	hosts map[string]*simHost // by "ip:port"
	rng   *rand.Rand          // under mu
	cut   map[int]bool        // sites cut off from every other site (their WAN link is down)
}

// setCut cuts a site off from every other site (or heals it): its hosts still reach each other.
func (n *simNet) setCut(site int, cut bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cut == nil {
		n.cut = map[int]bool{}
	}
	n.cut[site] = cut
}

// blocked reports whether traffic between two hosts is lost to a cut.
func (n *simNet) blocked(a, b *simHost) bool {
	if a.site == b.site {
		return false
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.cut[a.site] || n.cut[b.site]
}

func newSimNet(seed uint64, loss float64, latency func(fromSite, toSite int) time.Duration) *simNet {
	return &simNet{latency: latency, loss: loss, hosts: map[string]*simHost{}, rng: rand.New(rand.NewPCG(seed, 1))}
}

// simHost is one host's end of the network: a memberlist.NodeAwareTransport.
type simHost struct {
	net  *simNet
	site int
	addr string
	ip   net.IP
	port int

	packets chan *memberlist.Packet
	streams chan net.Conn
	done    chan struct{} // closed by Shutdown
	once    sync.Once
	down    atomic.Bool // crashed or cut off: nothing in or out

	sentPackets atomic.Int64
	sentPacket  atomic.Int64 // payload bytes of packets sent (no IP/UDP headers)
	sentStream  atomic.Int64 // payload bytes written to streams (no IP/TCP headers)
	dials       atomic.Int64
	lost        atomic.Int64 // packets to this host that were dropped (loss, down, full queue)
}

var _ memberlist.NodeAwareTransport = (*simHost)(nil)

// host adds a host at addr ("ip:port") in site.
func (n *simNet) host(addr string, site int) *simHost {
	ipStr, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		panic(err)
	}
	port, _ := strconv.Atoi(portStr)
	h := &simHost{net: n, site: site, addr: addr, ip: net.ParseIP(ipStr), port: port,
		// The packet queue stands for a socket's receive buffer: when full, packets are lost.
		packets: make(chan *memberlist.Packet, 4096),
		streams: make(chan net.Conn, 256),
		done:    make(chan struct{}),
	}
	n.mu.Lock()
	n.hosts[addr] = h
	n.mu.Unlock()
	return h
}

func (n *simNet) lookup(addr string) *simHost {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.hosts[addr]
}

func (n *simNet) lose() bool {
	if n.loss <= 0 {
		return false
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.rng.Float64() < n.loss
}

// totals sums the counters of every host.
func (n *simNet) totals() (packets, packetBytes, streamBytes, dials, lost int64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, h := range n.hosts {
		packets += h.sentPackets.Load()
		packetBytes += h.sentPacket.Load()
		streamBytes += h.sentStream.Load()
		dials += h.dials.Load()
		lost += h.lost.Load()
	}
	return
}

func (h *simHost) FinalAdvertiseAddr(string, int) (net.IP, int, error) { return h.ip, h.port, nil }

func (h *simHost) WriteTo(b []byte, addr string) (time.Time, error) {
	return h.WriteToAddress(b, memberlist.Address{Addr: addr})
}

// WriteToAddress sends a packet: like UDP, it never fails for the sender, and it may be lost.
func (h *simHost) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	now := time.Now()
	if h.down.Load() {
		return now, nil
	}
	h.sentPackets.Add(1)
	h.sentPacket.Add(int64(len(b)))
	dst := h.net.lookup(a.Addr)
	if dst == nil {
		return now, nil
	}
	if dst.down.Load() || h.net.blocked(h, dst) || h.net.lose() {
		dst.lost.Add(1)
		return now, nil
	}
	buf := append([]byte(nil), b...)
	from := &net.UDPAddr{IP: h.ip, Port: h.port}
	time.AfterFunc(h.net.latency(h.site, dst.site), func() {
		if dst.down.Load() || h.net.blocked(h, dst) {
			dst.lost.Add(1)
			return
		}
		select {
		case dst.packets <- &memberlist.Packet{Buf: buf, From: from, Timestamp: time.Now()}:
		default:
			dst.lost.Add(1)
		}
	})
	return now, nil
}

func (h *simHost) PacketCh() <-chan *memberlist.Packet { return h.packets }

func (h *simHost) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	return h.DialAddressTimeout(memberlist.Address{Addr: addr}, timeout)
}

var errUnreachable = errors.New("simnet: host unreachable")

// DialAddressTimeout opens a stream after one round trip. A crashed or cut-off host never
// answers, so the dial takes the whole timeout (a lost SYN), as over a real network. Data on an
// open stream is not delayed (net.Pipe); only its set-up is.
func (h *simHost) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	dst := h.net.lookup(a.Addr)
	if dst == nil {
		return nil, errUnreachable
	}
	if h.down.Load() || dst.down.Load() || h.net.blocked(h, dst) {
		time.Sleep(timeout)
		return nil, errUnreachable
	}
	h.dials.Add(1)
	time.Sleep(2 * h.net.latency(h.site, dst.site))
	client, server := net.Pipe()
	select {
	case dst.streams <- countConn{server, &dst.sentStream}:
		select {
		case <-dst.done:
			// Queued as dst shut down: nobody will read it (see Shutdown).
			server.Close()
		default:
		}
		return countConn{client, &h.sentStream}, nil
	case <-dst.done:
	case <-time.After(timeout):
	}
	client.Close()
	server.Close()
	return nil, errUnreachable
}

func (h *simHost) StreamCh() <-chan net.Conn { return h.streams }

// Shutdown is memberlist's: the host stops taking packets and streams.
func (h *simHost) Shutdown() error {
	h.once.Do(func() {
		h.down.Store(true)
		close(h.done)
		// Streams queued but never accepted are closed, as a real host's kernel resets them:
		// a net.Pipe writer with no reader and no deadline would otherwise wait forever (a
		// table send blocked so in Mesh.Close: the bubble deadlocked, seen once in CI).
		for {
			select {
			case c := <-h.streams:
				c.Close()
			default:
				return
			}
		}
	})
	return nil
}

// countConn counts the bytes its owner writes.
type countConn struct {
	net.Conn
	n *atomic.Int64
}

func (c countConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.n.Add(int64(n))
	return n, err
}
