package stack

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/synack-net/synack/clock"
	"github.com/synack-net/synack/ipfrag"
	"github.com/synack-net/synack/link"
	"github.com/synack-net/synack/wire"
)

// fragTable is the stack's IPv4 reassembly (package ipfrag, with its
// default bounds: 4 MiB, 1,024 datagrams, 64 fragments each, 30 s) and
// the clock timer that times its datagrams out. It has a lock of its
// own, taken with no other lock of the stack's held and with none taken
// under it: a datagram completed is delivered, and an ICMP error sent,
// after mu is let go.
type fragTable struct {
	mu      sync.Mutex
	r       *ipfrag.Reassembler // made at the first fragment
	timer   clock.Timer
	armedAt time.Time // when timer fires; zero when it is not armed
	closed  bool
}

// reassemble hands the fragment ip to the reassembler and, when it
// completes its datagram, delivers the datagram as if it had come whole
// (RFC 791 §3.2, RFC 1122 §3.3.2).
func (s *Stack) reassemble(ip wire.IPv4) {
	s.stats.ReasmReqds.Add(1)
	f := &s.frag
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return
	}
	if f.r == nil {
		f.r = ipfrag.New(ipfrag.Config{})
	}
	whole, res, evicted := f.r.Add(s.clk.Now(), ip)
	s.armFragLocked()
	f.mu.Unlock()
	s.countReasm(res, evicted)
	if whole == nil {
		return
	}
	s.transportInput(whole, nil, link.GSO{})
	f.mu.Lock()
	if f.r != nil { // else the stack closed meanwhile
		f.r.Release(whole)
	}
	f.mu.Unlock()
}

// countReasm counts what the reassembler did with a fragment.
func (s *Stack) countReasm(res ipfrag.Result, evicted int) {
	st := &s.stats
	if evicted > 0 {
		st.ReasmOverLimit.Add(uint64(evicted))
		st.ReasmFails.Add(uint64(evicted))
	}
	var why *atomic.Uint64
	switch res {
	case ipfrag.Held:
		return
	case ipfrag.Done:
		st.ReasmOKs.Add(1)
		return
	case ipfrag.Duplicate:
		st.ReasmDuplicates.Add(1)
		return
	case ipfrag.Overlap:
		why = &st.ReasmOverlaps
	case ipfrag.Oversize:
		why = &st.ReasmOversize
	case ipfrag.BadFragment:
		why = &st.ReasmBadFragments
	default: // ipfrag.OverLimit
		why = &st.ReasmOverLimit
	}
	why.Add(1)
	st.ReasmFails.Add(1)
}

// armFragLocked makes sure the clock timer fires by the reassembler's
// next deadline (f.mu held). Like a shard's, it is only ever moved
// earlier; firing early for nothing is harmless.
func (s *Stack) armFragLocked() {
	f := &s.frag
	d := f.r.Deadline()
	if d.IsZero() || (!f.armedAt.IsZero() && !d.Before(f.armedAt)) {
		return
	}
	f.armedAt = d
	wait := d.Sub(s.clk.Now())
	if f.timer == nil {
		f.timer = s.clk.AfterFunc(wait, s.fragTimeout)
	} else {
		f.timer.Reset(wait)
	}
}

// fragTimeout drops the datagrams whose time is up and answers each
// whose first fragment came with an ICMP time exceeded, code 1 (RFC 792;
// RFC 1122 §3.3.2: none when fragment 0 never came), rate limited.
func (s *Stack) fragTimeout() {
	f := &s.frag
	var quote [60 + 8]byte
	f.mu.Lock()
	f.armedAt = time.Time{}
	for !f.closed {
		q, ok := f.r.Expire(s.clk.Now())
		if !ok {
			s.armFragLocked()
			break
		}
		n := copy(quote[:], q)
		f.mu.Unlock()
		s.stats.ReasmTimeout.Add(1)
		s.stats.ReasmFails.Add(1)
		if n > 0 {
			s.sendTimeExceeded(quote[:n])
		}
		f.mu.Lock()
	}
	f.mu.Unlock()
}

// closeFrag drops every datagram in progress: the stack is closing.
func (s *Stack) closeFrag() {
	f := &s.frag
	f.mu.Lock()
	f.closed = true
	if f.timer != nil {
		f.timer.Stop()
	}
	f.r = nil
	f.mu.Unlock()
}

// sendTimeExceeded sends an ICMP time exceeded, fragment reassembly time
// exceeded, quoting q (a first fragment's header and 8 bytes of data) to
// its source, through the ICMP error rate limit (RFC 1812 §4.3.2.8).
func (s *Stack) sendTimeExceeded(q []byte) {
	if !s.udp.icmp.allow(s.clk.Now()) {
		s.stats.ICMPRateLimited.Add(1)
		return
	}
	n := wire.IPv4MinHeaderLen + wire.ICMPv4HeaderLen + len(q)
	var p []byte
	if s.hand != nil {
		p = s.hand.NewBuffer(n)
	} else {
		p = make([]byte, n) // rare and rate limited: not worth a pool
	}
	s.directIPv4Header(p, wire.ProtocolICMPv4, wire.IPv4(q).Src(), n)
	m := wire.ICMPv4(p[wire.IPv4MinHeaderLen:])
	(&wire.ICMPv4Fields{Type: wire.ICMPv4TimeExceeded, Code: icmpFragReassemblyExceeded}).Encode(m)
	copy(m[wire.ICMPv4HeaderLen:], q)
	m.FillChecksum()
	s.stats.ICMPOutTimeExcds.Add(1)
	s.writeDirect(p)
}

// icmpFragReassemblyExceeded is the time exceeded code for a datagram
// not reassembled in time (RFC 792).
const icmpFragReassemblyExceeded = 1
