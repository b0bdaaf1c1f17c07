package tcp

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"net/netip"
	"time"

	"github.com/synack-net/synack/seqnum"
	"github.com/synack-net/synack/wire"
)

// SYN cookies (RFC 4987 §3.6), the classic scheme Linux uses: a listener
// whose SYN queue is full answers a SYN with a SYN,ACK whose ISS encodes
// what it would have kept, and keeps nothing. The ACK that completes the
// handshake gives the ISS back (SEG.ACK-1) and the connection is made from
// it directly in ESTABLISHED.
//
// The cookie is
//
//	ISS = H + (count << 24 | mssIndex)
//
// where count is the minute counter at the time the SYN,ACK was sent (its
// low 8 bits), mssIndex the peer's MSS rounded down to an entry of
// cookieMSS, and H the first 32 bits of SHA-256(secret ‖ local address ‖
// remote address ‖ local port ‖ remote port ‖ the peer's ISN ‖ count).
// The secret belongs to the counter value: it rotates every minute, and
// the listener keeps the current one and the previous one, so a cookie is
// valid for between one and two minutes (Linux: MAX_SYNCOOKIE_AGE 2 steps
// of 60 s). A cookie is checked by recomputing H for each of the two
// counter values and secrets and looking for count and an index in range;
// a guess passes with probability about 2 * 2^-8 * 8/2^24 = 2^-28.
//
// Keyed SHA-256 over a fixed-length input is a pseudo-random function (no
// length extension can apply when every input has one length); Go's
// standard library has no SipHash, which Linux uses, and hash/maphash is
// not meant to resist an adversary who sees its outputs. The secrets come
// from crypto/rand.
//
// The ISS has no room for the options a SYN may carry. When the peer sent
// timestamps (RFC 7323), the low 6 bits of our TSval carry them, as Linux's
// cookie_init_timestamp does: bits 0-3 the peer's window scale (15: none),
// bit 4 SACK-permitted, bit 5 ECN (never set: this stack does not do ECN).
// The ACK echoes them in TSecr. Without timestamps the connection runs
// without window scaling and SACK, and the SYN,ACK offers neither.

// SYNCookieMode says when a listener answers a SYN with a SYN cookie.
type SYNCookieMode uint8

// The modes of Config.SYNCookies, Linux's tcp_syncookies values.
const (
	// SYNCookiesWhenNeeded sends cookies when the SYN queue is full
	// (tcp_syncookies = 1, the default).
	SYNCookiesWhenNeeded SYNCookieMode = iota
	// SYNCookiesOff never sends cookies: a SYN that finds the SYN queue
	// full is dropped (tcp_syncookies = 0).
	SYNCookiesOff
	// SYNCookiesAlways answers every SYN with a cookie and keeps no
	// half-open connection at all (tcp_syncookies = 2).
	SYNCookiesAlways
)

// cookieMSS are the MSS values a cookie can carry (3 bits): common ones,
// as Linux's msstab, from the floor of 48 (Linux tcp_min_snd_mss) to
// Ethernet's 1460. The peer's MSS is rounded down to one of them.
var cookieMSS = [8]uint16{48, 536, 1200, 1220, 1360, 1400, 1440, 1460}

const (
	cookiePeriod  = time.Minute // the counter's step (Linux: 60 s)
	cookieBits    = 24          // the low bits of the encoded word hold the MSS index
	tsOptBits     = 6           // the low bits of TSval that carry options
	tsOptMask     = 1<<tsOptBits - 1
	tsOptNoWScale = 0xf // bits 0-3: no window scale
	tsOptSACK     = 1 << 4
	tsOptECN      = 1 << 5 // never set by this stack
	// cookieRecent is how long after the last cookie sent an ACK for no
	// connection is checked as a cookie: as long as one stays valid
	// (Linux tcp_synq_no_recent_overflow, TCP_SYNCOOKIE_VALID).
	cookieRecent = 2 * cookiePeriod
)

// cookieSecrets are a listener's rotating cookie keys.
type cookieSecrets struct {
	count     uint32 // the counter value cur belongs to
	set       bool
	cur, prev [16]byte
}

// rotate brings the secrets to counter value count: one step makes the
// current secret the previous one, more replace both.
func (s *cookieSecrets) rotate(count uint32) {
	switch d := count - s.count; {
	case s.set && d == 0, s.set && int32(d) < 0:
		return // same period, or a clock that went back: keep the keys
	case s.set && d == 1:
		s.prev = s.cur
		_, _ = rand.Read(s.cur[:])
	default:
		_, _ = rand.Read(s.cur[:])
		_, _ = rand.Read(s.prev[:])
	}
	s.count, s.set = count, true
}

// key is the secret of counter value count, if it is still kept.
func (s *cookieSecrets) key(count uint32) (*[16]byte, bool) {
	switch count {
	case s.count:
		return &s.cur, true
	case s.count - 1:
		return &s.prev, true
	}
	return nil, false
}

// cookieCount is the counter at now: minutes (Linux tcp_cookie_time).
func cookieCount(now time.Time) uint32 { return uint32(now.Unix() / int64(cookiePeriod/time.Second)) }

// cookieHash is H: the keyed hash of the 4-tuple, the peer's ISN and the counter.
func cookieHash(key *[16]byte, local, remote netip.AddrPort, peerISN seqnum.Value, count uint32) uint32 {
	var buf [64]byte
	b := append(buf[:0], key[:]...)
	b = appendAddr(b, local.Addr())
	b = appendAddr(b, remote.Addr())
	b = binary.BigEndian.AppendUint16(b, local.Port())
	b = binary.BigEndian.AppendUint16(b, remote.Port())
	b = binary.BigEndian.AppendUint32(b, uint32(peerISN))
	b = binary.BigEndian.AppendUint32(b, count)
	sum := sha256.Sum256(b)
	return binary.BigEndian.Uint32(sum[:4])
}

func appendAddr(b []byte, a netip.Addr) []byte {
	if a.Is4() {
		v := a.As4()
		return append(b, v[:]...)
	}
	v := a.As16()
	return append(b, v[:]...)
}

// cookieMSSIndex is the largest entry of cookieMSS not above mss (the
// first when all are).
func cookieMSSIndex(mss int) uint32 {
	for i := len(cookieMSS) - 1; i > 0; i-- {
		if int(cookieMSS[i]) <= mss {
			return uint32(i)
		}
	}
	return 0
}

// makeCookie is the ISS of a cookie SYN,ACK to a SYN with ISN peerISN.
func (s *cookieSecrets) makeCookie(now time.Time, local, remote netip.AddrPort, peerISN seqnum.Value, mssIndex uint32) seqnum.Value {
	count := cookieCount(now)
	s.rotate(count)
	h := cookieHash(&s.cur, local, remote, peerISN, count)
	return seqnum.Value(h + (count<<cookieBits | mssIndex))
}

// checkCookie validates iss, the ISS of a SYN,ACK to a SYN with ISN
// peerISN, and returns the MSS index it holds.
func (s *cookieSecrets) checkCookie(now time.Time, local, remote netip.AddrPort, peerISN, iss seqnum.Value) (uint32, bool) {
	now0 := cookieCount(now)
	s.rotate(now0)
	for _, count := range [2]uint32{now0, now0 - 1} {
		key, ok := s.key(count)
		if !ok {
			continue
		}
		v := uint32(iss) - cookieHash(key, local, remote, peerISN, count)
		if v>>cookieBits == count&0xff && v&(1<<cookieBits-1) < uint32(len(cookieMSS)) {
			return v & (1<<cookieBits - 1), true
		}
	}
	return 0, false
}

// encodeTSOptions puts the options of a SYN into the low bits of tsval,
// taking it back by up to 63 ms rather than into the future (Linux's
// cookie_init_timestamp).
func encodeTSOptions(tsval uint32, wsOK bool, ws uint8, sack bool) uint32 {
	opts := uint32(tsOptNoWScale)
	if wsOK {
		opts = uint32(min(ws, maxWindowShift))
	}
	if sack {
		opts |= tsOptSACK
	}
	v := tsval&^tsOptMask | opts
	if int32(v-tsval) > 0 {
		v -= tsOptMask + 1
	}
	return v
}

// Cookie is what a valid SYN cookie said about the SYN it answered: the
// peer's options and our ISS. OpenFromCookie makes the connection from it.
type Cookie struct {
	iss        seqnum.Value
	mss        uint16
	ws         uint8
	wsOK, sack bool
	ts         bool
}

// cookieSYNOptions are the options of the SYN a cookie stands for, and
// whether the SYN,ACK may carry timestamps: only then can wscale and SACK
// survive in it.
func (l *Listener) cookieSYNOptions(o *wire.TCPOptions) (ts, ws, sack bool) {
	cfg := &l.env.Config
	ts = o.HasTimestamps && !cfg.NoTimestamps
	return ts, ts && o.HasWindowScale && !cfg.NoWindowScaling, ts && o.SACKPermitted && !cfg.NoSACK
}

// CookieSYNACK is the SYN,ACK that answers seg, a SYN from remote to local
// that Classify gave ListenCookie, with a SYN cookie as its ISS; nothing
// is kept. tsOffset is the timestamp offset the connection would have
// (Conn.SetTimestampOffset). The caller sends the segment.
func (l *Listener) CookieSYNACK(now time.Time, seg *Segment, local, remote netip.AddrPort, tsOffset uint32) wire.TCPFields {
	cfg := &l.env.Config
	l.cookieAt = now // Linux tcp_synq_overflow: ACKs are checked as cookies for a while
	l.env.Stats.SyncookiesSent.Add(1)
	h := wire.TCPFields{SrcPort: local.Port(), DstPort: remote.Port(), Flags: wire.FlagSYN | wire.FlagACK,
		Seq: l.secrets.makeCookie(now, local, remote, seg.Seq, cookieMSSIndex(l.env.peerMSS(seg))), Ack: seg.Seq.Add(1),
		Window: uint16(min(cfg.ReceiveBufferSize, 65535))} // what OpenFromCookie's advertise gives again
	o := &h.Options
	o.HasMSS, o.MSS = true, uint16(min(cfg.MSS, 65535))
	ts, ws, sack := l.cookieSYNOptions(&seg.Options)
	if ws {
		o.HasWindowScale, o.WindowScale = true, windowShift(cfg.MaxReceiveBufferSize)
	}
	o.SACKPermitted = sack
	if ts {
		o.HasTimestamps, o.TSEcr = true, seg.Options.TSVal
		o.TSVal = encodeTSOptions(tsClock(now, tsOffset), ws, seg.Options.WindowScale, sack)
	}
	return h
}

// CheckCookie looks at seg, an ACK for no connection that reached this
// listener (Classify gave ListenReset), as the last segment of a handshake
// answered with a cookie. It gives ListenReset when seg is no cookie ACK
// (cookies are off, none was sent in the last two minutes, or its flags
// are others) or holds an invalid cookie (counted in SyncookiesFailed):
// answer as LISTEN does. It gives ListenDrop for a valid cookie while the
// accept queue is full (ListenOverflows; the peer's retransmission may
// find room), and ListenOpen with the cookie for a valid one: make a
// connection and call OpenFromCookie.
func (l *Listener) CheckCookie(now time.Time, seg *Segment, local, remote netip.AddrPort) (Cookie, ListenAction) {
	cfg, st := &l.env.Config, l.env.Stats
	if cfg.SYNCookies == SYNCookiesOff || seg.Flags&(wire.FlagSYN|wire.FlagRST|wire.FlagACK) != wire.FlagACK ||
		l.cookieAt.IsZero() || now.Sub(l.cookieAt) > cookieRecent {
		return Cookie{}, ListenReset
	}
	iss := seg.Ack.Sub(1)
	idx, ok := l.secrets.checkCookie(now, local, remote, seg.Seq.Sub(1), iss)
	ck := Cookie{iss: iss, mss: cookieMSS[idx]}
	if ok && seg.Options.HasTimestamps && !cfg.NoTimestamps {
		// The options the SYN offered, echoed in TSecr (Linux cookie_timestamp_decode).
		opts := seg.Options.TSEcr & tsOptMask
		ck.ts, ck.sack = true, opts&tsOptSACK != 0
		if w := uint8(opts & 0xf); w != tsOptNoWScale {
			ck.wsOK, ck.ws = true, w
			ok = !cfg.NoWindowScaling && w <= maxWindowShift
		}
		if ck.sack && cfg.NoSACK {
			ok = false // we never offered it: not our TSval
		}
	}
	if !ok {
		l.env.dropFor(&st.SyncookiesFailed, "SyncookiesFailed", local, remote, seg, StateListen)
		return Cookie{}, ListenReset
	}
	st.SyncookiesRecv.Add(1)
	if l.acceptQueueFull() {
		l.env.dropFor(&st.ListenOverflows, "ListenOverflows", local, remote, seg, StateListen) // as a final ACK to a half-open connection
		return Cookie{}, ListenDrop
	}
	return ck, ListenOpen
}

// OpenFromCookie makes c, a new connection in CLOSED for seg's 4-tuple,
// the connection a valid cookie stands for (ck from CheckCookie): it is
// made in SYN-RECEIVED as if it had sent the SYN,ACK, with the peer's MSS
// and options from the cookie, and then seg is processed as usual: its ACK
// establishes c and puts it on the accept queue, and its text and FIN, if
// any, are taken.
func (l *Listener) OpenFromCookie(now time.Time, c *Conn, seg *Segment, ck Cookie) {
	c.state = StateListen
	c.passive, c.listener = true, l
	l.addHalfOpen()
	c.now = now
	syn := Segment{Seq: seg.Seq.Sub(1), Flags: wire.FlagSYN, Window: seg.Window}
	// The table's MSS, rounded down from one already raised to MinSendMSS
	// (and counted) when the cookie was made, goes back up to it uncounted.
	mss := max(ck.mss, uint16(min(l.env.Config.MinSendMSS, 65535)))
	syn.Options = wire.TCPOptions{HasMSS: true, MSS: mss, HasWindowScale: ck.wsOK, WindowScale: ck.ws,
		SACKPermitted: ck.sack, HasTimestamps: ck.ts, TSVal: seg.Options.TSVal}
	c.learnPeer(now, &syn)
	c.iss, c.sndUna, c.sndNxt, c.sndMax, c.recover = ck.iss, ck.iss, ck.iss.Add(1), ck.iss.Add(1), ck.iss
	c.advertise(true) // the window the cookie SYN,ACK offered: RCV.WND
	c.lastAckSent = c.rcvNxt
	l.env.Stats.PassiveOpens.Add(1)
	c.setState(StateSynReceived, "rcv ACK of SYN cookie")
	// The ACK's TSecr echoes the cookie SYN,ACK's TSval, which was taken
	// back by up to 63 ms to carry the options: as an RTT sample it would
	// be up to 63 ms long. So it gives none, as Linux takes none from a
	// cookie handshake (its request carries no SYN,ACK send time); the
	// first ACK of data gives the first.
	ack := *seg
	ack.Options.TSEcr = 0 // tsRTT: no echo
	c.HandleSegment(now, &ack)
	seg.Kept = ack.Kept // the host must know its buffer was kept
}
