package synack_test

import (
	"context"
	"net"
	"testing"

	"golang.org/x/net/nettest"
)

// TestEstablishedNetTestConn runs x/net/nettest's net.Conn conformance suite
// (basic I/O, ping-pong, racy reads and writes, deadlines, close while
// blocked, concurrent methods) on a connection between two stacks.
func TestEstablishedNetTestConn(t *testing.T) {
	nettest.TestConn(t, func() (c1, c2 net.Conn, stop func(), err error) {
		p := newPair(t, pairConfig{})
		l, err := p.server.Listen("tcp", ":7")
		if err != nil {
			return nil, nil, nil, err
		}
		type result struct {
			c   net.Conn
			err error
		}
		ch := make(chan result, 1)
		go func() {
			c, err := l.Accept()
			ch <- result{c, err}
		}()
		c1, err = p.client.DialContext(context.Background(), "tcp", "10.0.0.2:7")
		r := <-ch
		l.Close()
		if err != nil {
			return nil, nil, nil, err
		}
		if r.err != nil {
			c1.Close()
			return nil, nil, nil, r.err
		}
		stop = func() {
			c1.Close()
			r.c.Close()
			p.client.Close()
			p.server.Close()
		}
		return c1, r.c, stop, nil
	})
}
