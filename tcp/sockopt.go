package tcp

import (
	"math"
	"time"

	"github.com/synack-net/synack/seqnum"
)

// This file is what a socket's options and shutdown(SHUT_RD) change in the
// engine: the read side shut (CloseRead), and buffer sizes the user fixed
// (SetReceiveBufferSize, SetSendBufferSize), which autotuning then leaves
// alone, as Linux's SO_RCVBUF and SO_SNDBUF lock theirs (SOCK_RCVBUF_LOCK,
// SOCK_SNDBUF_LOCK), and the bound on bytes written and not yet sent
// (SetNotSentLowat, Linux's TCP_NOTSENT_LOWAT).

// userFlags are the user's settings a Conn keeps in one byte.
type userFlags uint8

const (
	userReadShut userFlags = 1 << iota // CloseRead: reads end, text is discarded
	userRcvBuf                         // the receive buffer's size was set: no autotuning
	userSndBuf                         // the send buffer's size was set: no growing
	userMSS                            // TCP_MAXSEG set before the handshake: mss holds it until then
)

// SetMaxSegment clamps the segments of the connection to n bytes of
// payload, as Linux's TCP_MAXSEG does (the caller checks n against Linux's
// bounds, 88 to 32,767). Set before Connect, the SYN announces at most n
// (RFC 9293 §3.7.1) and the MSS the handshake settles on is at most n;
// set later, the MSS in use is lowered to n (less the options every
// segment carries, RFC 6691) when it is larger, and never raised.
func (c *Conn) SetMaxSegment(n int) {
	if n <= 0 {
		return
	}
	if c.state == StateClosed {
		c.mss, c.user = n, c.user|userMSS
		return
	}
	if c.tsOK {
		n = max(n-tsLen, 1)
	}
	c.mss = min(c.mss, n)
}

// userMaxSegment is the TCP_MAXSEG set before the handshake, or 0 (only
// until the peer's SYN is learned: mss then holds what was settled).
func (c *Conn) userMaxSegment() int {
	if c.user&userMSS == 0 {
		return 0
	}
	return c.mss
}

// MinUserBufferSize is the least a buffer size set by the user is raised
// to: about the payload room of Linux's smallest socket buffer
// (SOCK_MIN_RCVBUF, which counts the kernel's per-packet overhead too).
const MinUserBufferSize = 2304

// CloseRead shuts the receiving side (shutdown SHUT_RD): text queued and
// not read is discarded, reads return io.EOF from now on, and the peer is
// not told. Text arriving afterwards is acknowledged and discarded, so the
// window stays open and the peer can finish (BSD's behaviour, with
// sorflush; Linux instead goes on queueing it, and its reads return it).
// Once the sending side is closed too (FIN-WAIT-1, FIN-WAIT-2), new text is
// answered with a RST, as Linux does for a socket shut both ways
// (TCPAbortOnData; RFC 1122 §4.2.2.13).
func (c *Conn) CloseRead(now time.Time) error {
	c.now = now
	switch c.state {
	case StateClosed, StateListen:
		if c.err != nil {
			return c.err
		}
		return ErrNotConnected
	}
	c.user |= userReadShut
	c.rcvBuf.Reset()
	c.dropHeld()
	c.rcvSACK = sackBlocks{}
	c.events |= EventReadable
	c.charge()
	return nil
}

// ReadShut reports whether CloseRead was called.
func (c *Conn) ReadShut() bool { return c.user&userReadShut != 0 }

// discardText is step seven for text at RCV.NXT after CloseRead in
// ESTABLISHED: acknowledged as if read at once, queued nowhere.
func (c *Conn) discardText(now time.Time, payload []byte) {
	c.drop(&c.env.Stats.ReadShutDiscards, "ReadShutDiscards")
	c.rcvNxt = c.rcvNxt.Add(seqnum.Size(len(payload)))
	c.bytesRcvd += uint64(len(payload))
	c.unacked += len(payload)
	c.delayAck(now)
}

// SetReceiveBufferSize fixes the receive buffer's limit at n bytes (as
// Linux's SO_RCVBUF, without its doubling for overhead): n is raised to
// MinUserBufferSize and capped at what the window can offer (the stack's
// MaxReceiveBufferSize, 65,535 without window scaling). Autotuning leaves
// it alone from then on. The window follows: a larger buffer is announced
// at once; a smaller one shrinks the window as the peer fills it, never
// moving its right edge back (RFC 9293 §3.8.6.2.2).
func (c *Conn) SetReceiveBufferSize(now time.Time, n int) {
	c.now = now
	before := c.rcvWnd()
	c.user |= userRcvBuf
	c.rcvBuf.ring.limit = min(max(n, MinUserBufferSize), c.rcvLimit())
	if c.state.synchronized() && !c.ReadShut() {
		c.windowUpdate(before)
	}
}

// SetSendBufferSize fixes the send buffer's limit at n bytes (as Linux's
// SO_SNDBUF, without its doubling): raised to MinUserBufferSize, capped at
// MaxSendBufferSize, and no longer grown with the window. Bytes already
// queued past a smaller limit stay; Write waits until they drain below it.
func (c *Conn) SetSendBufferSize(now time.Time, n int) {
	c.now = now
	c.user |= userSndBuf
	c.sndBuf.limit = min(max(n, MinUserBufferSize), c.cfg.MaxSendBufferSize)
	if c.sndBuf.Free() > 0 {
		c.writeSpace()
	}
}

// ReceiveBufferSize and SendBufferSize are the buffer limits in force.
func (c *Conn) ReceiveBufferSize() int { return c.rcvBuf.ring.limit }

// SendBufferSize is the send buffer's limit in force.
func (c *Conn) SendBufferSize() int { return c.sndBuf.limit }

// SetNotSentLowat bounds the bytes written and not yet sent at n, as
// Linux's TCP_NOTSENT_LOWAT does (0, the default, for no bound: Linux's
// sysctl default is UINT_MAX). Write queues bytes only while fewer than n
// are unsent, and at most up to n, as it queues at most what the send
// buffer has room for; the send buffer's limit still holds as well.
// Writable, and with it EventWritable and poll's POLLOUT, wait until fewer
// than n/2 are unsent (Linux's tcp_stream_memory_free with wake set, for
// poll and for waking a blocked writer alike), so a writer comes back with
// room for a sizeable write. The bytes the application writes ahead of the
// window stay few, and fresh in the caches when they are sent.
func (c *Conn) SetNotSentLowat(now time.Time, n uint32) {
	c.now = now
	c.lowat = n
	c.writeSpace() // as Linux's setsockopt calls sk_write_space
}

// NotSentLowat is the bound SetNotSentLowat set, 0 for none.
func (c *Conn) NotSentLowat() uint32 { return c.lowat }

// NotSent is the number of bytes written and not yet sent once: Linux's
// write_seq - snd_nxt, counted here up to SND.MAX, since a go-back-N
// rewind of SND.NXT resends bytes that were sent already (Linux's snd_nxt
// does not go back).
func (c *Conn) NotSent() int {
	switch c.state {
	case StateSynSent, StateSynReceived:
		return c.sndBuf.Len() // only the SYN has gone
	}
	if end := c.dataEnd(); c.sndMax.LessThan(end) {
		return int(c.sndMax.Size(end))
	}
	return 0
}

// lowatRoom is how many more bytes Write may queue under TCP_NOTSENT_LOWAT
// (Linux's sendmsg goes on while write_seq - snd_nxt < the bound).
func (c *Conn) lowatRoom() int {
	if c.lowat == 0 {
		return math.MaxInt
	}
	return max(int(c.lowat)-c.NotSent(), 0)
}

// lowatWake reports whether the bytes not yet sent are below half the
// TCP_NOTSENT_LOWAT bound, or no bound is set: when a waiting writer is
// woken and poll reports POLLOUT (Linux compares notsent << 1 with the
// bound when sk_stream_write_space or tcp_poll asks).
func (c *Conn) lowatWake() bool {
	return c.lowat == 0 || uint64(c.NotSent())<<1 < uint64(c.lowat)
}

// writeSpace raises EventWritable for room made in the send buffer, unless
// TCP_NOTSENT_LOWAT holds writers back: then transmit raises it once the
// unsent bytes fall below half the bound.
func (c *Conn) writeSpace() {
	if c.lowatWake() {
		c.events |= EventWritable
	}
}
