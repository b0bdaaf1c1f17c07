package main

import (
	"fmt"
	"net/netip"

	"github.com/synack-net/synack"
)

// listenUDP starts a UDP service on port: echo sends each datagram back
// to its source (RFC 862), discard reads and drops them (RFC 863). The
// socket is closed by shutdown.
func (s *server) listenUDP(port int, name string, echo bool) error {
	c, err := s.st.ListenUDP(netip.AddrPortFrom(netip.IPv4Unspecified(), uint16(port)))
	if err != nil {
		return fmt.Errorf("UDP %s service: %w", name, err)
	}
	s.mu.Lock()
	s.udp = append(s.udp, c)
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		serveUDP(c, echo)
	}()
	return nil
}

// serveUDP answers c's datagrams until it is closed.
func serveUDP(c *synack.UDPConn, echo bool) {
	buf := make([]byte, 65536)
	for {
		n, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			return // closed: an unconnected socket has no other error
		}
		if echo {
			c.WriteToUDPAddrPort(buf[:n], from) // a datagram lost is lost: UDP
		}
	}
}
