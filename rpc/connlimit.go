package rpc

import (
	"net"
	"sync"
	"sync/atomic"
)

// connLimiter is a listener that holds at most max connections open: one
// accepted beyond them is closed at once, so a flood of connections costs
// the node a socket each for a moment, not a goroutine and buffers for
// good, and a client over the limit fails fast instead of hanging in the
// accept backlog.
type connLimiter struct {
	net.Listener
	max     int64
	open    atomic.Int64
	refused atomic.Uint64
}

func (l *connLimiter) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.open.Add(1) > l.max {
			l.open.Add(-1)
			l.refused.Add(1)
			c.Close()
			continue
		}
		return &limitedConn{Conn: c, l: l}, nil
	}
}

// limitedConn gives its slot back when closed (once).
type limitedConn struct {
	net.Conn
	l    *connLimiter
	once sync.Once
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.open.Add(-1) })
	return err
}
