package cluster

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
)

// RaftLimits bounds what inbound raft connections may cost the node, for
// the plain TCP and the TLS transport alike and whoever the peer is (see
// doc.go, "Transport budgets"). Zero fields take DefaultRaftLimits.
type RaftLimits struct {
	// MaxConnections is the number of inbound raft connections open at
	// once, TLS handshakes in progress included; one accepted beyond it is
	// closed at once and counted.
	MaxConnections int
	// IdleTimeout closes an inbound connection that has not started a
	// request for that long since its last one (ReadTimeout before its
	// first).
	IdleTimeout time.Duration
	// ReadTimeout closes an inbound connection whose request (snapshot
	// body included) stops arriving for that long, and bounds each write
	// of a response.
	ReadTimeout time.Duration
	// MaxMessageBytes bounds one request's encoding (an InstallSnapshot
	// body is not part of it); 0 means MaxAppendEntries x 512 KiB + 1 MiB,
	// the largest AppendEntries this cluster sends.
	MaxMessageBytes int64
	// MaxMessageValues bounds the msgpack values of one request.
	MaxMessageValues int64
	// MaxInflightBytes bounds the bytes of requests being read or held
	// across all inbound connections.
	MaxInflightBytes int64
}

// DefaultRaftLimits returns the defaults; MaxMessageBytes is left 0 (it
// follows MaxAppendEntries).
func DefaultRaftLimits() RaftLimits {
	return RaftLimits{
		MaxConnections:   64,
		IdleTimeout:      10 * time.Minute,
		ReadTimeout:      30 * time.Second,
		MaxMessageValues: 1 << 18,
		MaxInflightBytes: 128 << 20,
	}
}

func (l RaftLimits) withDefaults(maxAppendEntries int) RaftLimits {
	d := DefaultRaftLimits()
	setDefault(&l.MaxConnections, d.MaxConnections)
	setDefault(&l.IdleTimeout, d.IdleTimeout)
	setDefault(&l.ReadTimeout, d.ReadTimeout)
	setDefault(&l.MaxMessageValues, d.MaxMessageValues)
	setDefault(&l.MaxInflightBytes, d.MaxInflightBytes)
	setDefault(&l.MaxMessageBytes, int64(maxAppendEntries)*maxEntryBytes+1<<20)
	return l
}

func (l RaftLimits) validate(bad func(string, ...any)) {
	if l.MaxConnections < 0 {
		bad("RaftLimits.MaxConnections %d is negative", l.MaxConnections)
	}
	if l.IdleTimeout < 0 || l.ReadTimeout < 0 {
		bad("RaftLimits.IdleTimeout %v and RaftLimits.ReadTimeout %v must not be negative", l.IdleTimeout, l.ReadTimeout)
	}
	if l.MaxMessageBytes < 0 || l.MaxMessageValues < 0 || l.MaxInflightBytes < 0 {
		bad("RaftLimits.MaxMessageBytes, MaxMessageValues and MaxInflightBytes must not be negative")
	}
	if l.MaxMessageBytes > 0 && l.MaxInflightBytes > 0 && l.MaxInflightBytes < l.MaxMessageBytes {
		bad("RaftLimits.MaxInflightBytes %d is below RaftLimits.MaxMessageBytes %d (which follows MaxAppendEntries), so our own largest AppendEntries would be refused", l.MaxInflightBytes, l.MaxMessageBytes)
	}
}

// RaftTransportStats is the raft transport budget's use.
type RaftTransportStats struct {
	Open, MaxConnections int
	InflightBytes        int64
	MaxInflightBytes     int64
	Refused              uint64 // connections closed at accept, over MaxConnections
	ClosedIdle           uint64 // closed after IdleTimeout between requests
	ClosedStalled        uint64 // closed after ReadTimeout inside a request or on a write
	RefusedTooLarge      uint64 // closed for a request over MaxMessageBytes/Values or the inflight budget
	RefusedMalformed     uint64 // closed for bytes that are not a raft request
}

// raftBudget is shared by a listener and the connections it accepted.
type raftBudget struct {
	lim RaftLimits
	log *slog.Logger

	open, inflight                                    atomic.Int64
	refused, idle, stalled, tooLarge, malformedClosed atomic.Uint64
}

func (b *raftBudget) stats() RaftTransportStats {
	return RaftTransportStats{
		Open: int(b.open.Load()), MaxConnections: b.lim.MaxConnections,
		InflightBytes: b.inflight.Load(), MaxInflightBytes: b.lim.MaxInflightBytes,
		Refused: b.refused.Load(), ClosedIdle: b.idle.Load(), ClosedStalled: b.stalled.Load(),
		RefusedTooLarge: b.tooLarge.Load(), RefusedMalformed: b.malformedClosed.Load(),
	}
}

func (b *raftBudget) charge(delta int64) error {
	if n := b.inflight.Add(delta); delta > 0 && n > b.lim.MaxInflightBytes {
		b.inflight.Add(-delta)
		return fmt.Errorf("%w: inbound raft requests hold %d bytes, limit %d (MaxInflightBytes)", ErrRaftMessageTooLarge, n-delta, b.lim.MaxInflightBytes)
	}
	return nil
}

// budgetListener counts inbound raft connections at accept, before any
// handshake, and closes those over MaxConnections.
type budgetListener struct {
	net.Listener
	b *raftBudget
}

func (l *budgetListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.b.open.Add(1) > int64(l.b.lim.MaxConnections) {
			l.b.open.Add(-1)
			if l.b.refused.Add(1)%100 == 1 {
				l.b.log.Warn("raft connection refused: over the connection budget", "remote", c.RemoteAddr().String(), "limit", l.b.lim.MaxConnections, "refused", l.b.refused.Load())
			}
			c.Close()
			continue
		}
		return &countedConn{Conn: c, b: l.b}, nil
	}
}

// countedConn gives its slot back when closed (once).
type countedConn struct {
	net.Conn
	b    *raftBudget
	once sync.Once
}

func (c *countedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.b.open.Add(-1) })
	return err
}

// budgetConn is an accepted raft connection past any handshake: it follows
// the requests raft reads (frameScanner), with a read deadline of
// IdleTimeout between requests and ReadTimeout inside one, and a write
// deadline of ReadTimeout.
type budgetConn struct {
	net.Conn
	b    *raftBudget
	scan frameScanner
	err  error // sticky: the connection is closed
	once sync.Once
	used bool // a request has started
}

func newBudgetConn(c net.Conn, b *raftBudget) *budgetConn {
	bc := &budgetConn{Conn: c, b: b}
	bc.scan = frameScanner{maxBytes: b.lim.MaxMessageBytes, maxValues: b.lim.MaxMessageValues, charge: b.charge}
	return bc
}

func (c *budgetConn) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	idle := c.scan.betweenRequests()
	// A connection that has never started a request gets ReadTimeout:
	// raft dials only to send at once, so a connection that sends nothing
	// holds a slot for seconds, not for IdleTimeout.
	timeout := c.b.lim.ReadTimeout
	if idle && c.used {
		timeout = c.b.lim.IdleTimeout
	}
	_ = c.Conn.SetReadDeadline(time.Now().Add(timeout))
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.used = true
		if serr := c.scan.scan(p[:n]); serr != nil {
			c.refuse(serr)
			return 0, serr
		}
	}
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		if idle && c.scan.betweenRequests() {
			c.b.idle.Add(1)
			err = fmt.Errorf("cluster: raft connection idle for %v (IdleTimeout): %w", timeout, err)
		} else {
			c.b.stalled.Add(1)
			err = fmt.Errorf("cluster: raft request stalled for %v (ReadTimeout): %w", timeout, err)
		}
		c.err = err
		c.Close()
	}
	return n, err
}

func (c *budgetConn) refuse(err error) {
	var n uint64
	if errors.Is(err, ErrRaftMessageMalformed) {
		n = c.b.malformedClosed.Add(1)
	} else {
		n = c.b.tooLarge.Add(1)
	}
	if n%100 == 1 { // the first of every hundred: a flood must not flood the log
		c.b.log.Warn("raft connection closed", "remote", c.RemoteAddr().String(), "error", err, "count", n)
	}
	c.err = err
	c.Close()
}

func (c *budgetConn) Write(p []byte) (int, error) {
	_ = c.Conn.SetWriteDeadline(time.Now().Add(c.b.lim.ReadTimeout))
	n, err := c.Conn.Write(p)
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		c.b.stalled.Add(1)
		err = fmt.Errorf("cluster: raft peer did not read a response for %v (ReadTimeout): %w", c.b.lim.ReadTimeout, err)
	}
	return n, err
}

func (c *budgetConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.scan.release)
	return err
}

// budgetStreamLayer hands raft budgetConns.
type budgetStreamLayer struct {
	raft.StreamLayer
	b *raftBudget
}

func (s *budgetStreamLayer) Accept() (net.Conn, error) {
	c, err := s.StreamLayer.Accept()
	if err != nil {
		return nil, err
	}
	return newBudgetConn(c, s.b), nil
}

// tcpStreamLayer is raft's stream layer over plain TCP.
type tcpStreamLayer struct {
	net.Listener
	advertise net.Addr
}

func newTCPStreamLayer(ln net.Listener, advertise net.Addr) (*tcpStreamLayer, error) {
	if advertise == nil {
		advertise = ln.Addr()
	}
	if a, ok := advertise.(*net.TCPAddr); !ok || a.IP == nil || a.IP.IsUnspecified() {
		return nil, errors.New("cluster: raft address is not advertisable (bound to all interfaces without AdvertiseAddr)")
	}
	return &tcpStreamLayer{Listener: ln, advertise: advertise}, nil
}

func (s *tcpStreamLayer) Addr() net.Addr { return s.advertise }

func (s *tcpStreamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	return net.DialTimeout("tcp", string(address), timeout)
}
