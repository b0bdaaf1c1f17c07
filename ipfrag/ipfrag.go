package ipfrag

import (
	"bytes"
	"encoding/binary"
	"time"

	"github.com/synack-net/synack/wire"
)

// Defaults of Config (see the package doc).
const (
	DefaultMaxBytes     = 4 << 20 // Linux's ipfrag_high_thresh
	DefaultMaxDatagrams = 1024
	DefaultMaxFragments = 64 // in the spirit of Linux's ipfrag_max_dist
	DefaultTimeout      = 30 * time.Second
)

// MaxDatagram is the longest datagram, header included, the IPv4 total
// length field can give (RFC 791 §3.1).
const MaxDatagram = 65535

// What a datagram and each fragment are charged besides their buffers:
// about what their bookkeeping takes (the datagram's struct and map entry,
// a fragment's entry in its list).
const (
	datagramOverhead = 256
	fragmentOverhead = 32
)

// Config bounds a Reassembler; zero fields take the defaults.
type Config struct {
	// MaxBytes bounds the bytes held for all datagrams in progress.
	MaxBytes int
	// MaxDatagrams bounds the datagrams in progress.
	MaxDatagrams int
	// MaxFragments bounds the fragments of one datagram.
	MaxFragments int
	// Timeout is how long a datagram may take to complete, from the
	// arrival of the first of its fragments to come.
	Timeout time.Duration
}

func (c Config) withDefaults() Config {
	if c.MaxBytes <= 0 {
		c.MaxBytes = DefaultMaxBytes
	}
	if c.MaxDatagrams <= 0 {
		c.MaxDatagrams = DefaultMaxDatagrams
	}
	if c.MaxFragments <= 0 {
		c.MaxFragments = DefaultMaxFragments
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	return c
}

// Result says what Add did with a fragment.
type Result uint8

const (
	// Held: the fragment is kept; its datagram is not complete yet.
	Held Result = iota
	// Done: the fragment completed its datagram, which Add returns.
	Done
	// Duplicate: an exact copy of a fragment held, dropped alone.
	Duplicate
	// Overlap: the fragment overlapped one held; it and its datagram
	// were dropped (RFC 5722).
	Overlap
	// BadFragment: the fragment's length is wrong (not a multiple of 8
	// with MF set, or empty), dropped alone; or it disagrees with the end
	// the last fragment gave, and its datagram was dropped with it.
	BadFragment
	// Oversize: the datagram would be longer than 65,535 bytes; it was
	// dropped.
	Oversize
	// OverLimit: the fragment would pass MaxFragments for its datagram,
	// or does not fit MaxBytes even with every other datagram evicted;
	// it and its datagram were dropped.
	OverLimit
)

var resultNames = [...]string{"held", "done", "duplicate", "overlap", "bad fragment", "oversize", "over limit"}

// String names the result.
func (r Result) String() string {
	if int(r) < len(resultNames) {
		return resultNames[r]
	}
	return "unknown"
}

// Key identifies the datagram a fragment belongs to (RFC 791 §3.2).
type Key struct {
	Src, Dst [4]byte
	Protocol uint8
	ID       uint16
}

// KeyOf is the key of the fragment ip.
func KeyOf(ip wire.IPv4) Key {
	return Key{Src: ip.Src().As4(), Dst: ip.Dst().As4(), Protocol: ip.Protocol(), ID: ip.ID()}
}

// piece is one fragment held: payload bytes [off, end) of the datagram,
// in buf[:end-off].
type piece struct {
	off, end int
	buf      []byte
}

func (p *piece) data() []byte { return p.buf[:p.end-p.off] }

// datagram is a datagram in progress.
type datagram struct {
	key        Key
	deadline   time.Time
	prev, next *datagram // in the order they began: oldest first
	frags      []piece   // by offset, never overlapping
	got        int       // payload bytes held
	total      int       // payload length, once the last fragment came; else -1
	hdr        [60]byte  // the first fragment's header, once it came
	hlen       int       // its length; 0 before
	charge     int       // what it is charged against MaxBytes
}

// Reassembler gathers fragments into datagrams within the bounds of its
// Config. It is not safe for concurrent use.
type Reassembler struct {
	cfg        Config
	m          map[Key]*datagram
	head, tail *datagram // the oldest and the newest
	n          int       // datagrams in progress
	bytes      int       // charged against MaxBytes
	spareDgs   []*datagram
	pool       pool
	quote      [60 + 8]byte // Expire's answer
}

// New returns a Reassembler bounded by cfg.
func New(cfg Config) *Reassembler {
	return &Reassembler{cfg: cfg.withDefaults(), m: make(map[Key]*datagram)}
}

// Config returns the bounds in force, defaults applied.
func (r *Reassembler) Config() Config { return r.cfg }

// Len is the number of datagrams in progress.
func (r *Reassembler) Len() int { return r.n }

// Bytes is what the datagrams in progress are charged against MaxBytes.
func (r *Reassembler) Bytes() int { return r.bytes }

// Deadline is when the oldest datagram in progress times out; the zero
// Time when there is none.
func (r *Reassembler) Deadline() time.Time {
	if r.head == nil {
		return time.Time{}
	}
	return r.head.deadline
}

// Add takes the fragment ip (a view from wire.ParseIPv4 with MF set or a
// nonzero offset) at now. It copies what it keeps; ip is not kept or
// modified. When the fragment completes its datagram, whole is the
// datagram in a buffer of the Reassembler's, which the caller hands back
// with Release once done with it. evicted is the number of other
// datagrams, oldest first, dropped to make room for this one.
func (r *Reassembler) Add(now time.Time, ip wire.IPv4) (whole wire.IPv4, res Result, evicted int) {
	payload := ip.Payload()
	off := int(ip.FragmentOffset())
	end := off + len(payload)
	more := ip.Flags()&wire.IPv4FlagMoreFragments != 0
	if len(payload) == 0 || (more && len(payload)%8 != 0) {
		return nil, BadFragment, 0 // RFC 791 §3.2: all but the last carry a multiple of 8 bytes
	}
	key := KeyOf(ip)
	d := r.m[key]
	if end > MaxDatagram-wire.IPv4MinHeaderLen {
		if d != nil {
			r.drop(d)
		}
		return nil, Oversize, 0
	}
	if d == nil {
		evicted = r.evictFor(datagramOverhead, nil)
		if r.n >= r.cfg.MaxDatagrams {
			r.drop(r.head)
			evicted++
		}
		d = r.begin(key, now)
	}
	if bad := d.total >= 0 && (end > d.total || (!more && end != d.total)); bad || (!more && end < d.maxEnd()) {
		r.drop(d) // the fragments disagree on where the datagram ends
		return nil, BadFragment, evicted
	}
	i := d.find(off)
	if i < len(d.frags) && d.frags[i].off == off && d.frags[i].end == end && bytes.Equal(d.frags[i].data(), payload) {
		return nil, Duplicate, evicted // network duplication: harmless
	}
	if (i > 0 && d.frags[i-1].end > off) || (i < len(d.frags) && d.frags[i].off < end) {
		r.drop(d) // RFC 5722 §4: any overlap drops the datagram
		return nil, Overlap, evicted
	}
	if len(d.frags) >= r.cfg.MaxFragments {
		r.drop(d)
		return nil, OverLimit, evicted
	}
	charge := classSize(len(payload)) + fragmentOverhead
	evicted += r.evictFor(charge, d)
	if r.bytes+charge > r.cfg.MaxBytes {
		r.drop(d)
		return nil, OverLimit, evicted
	}
	r.insert(d, i, piece{off: off, end: end, buf: r.pool.get(len(payload))}, payload, charge)
	if off == 0 {
		d.hlen = copy(d.hdr[:], ip[:ip.HeaderLen()])
	}
	if !more {
		d.total = end
	}
	if d.total < 0 || d.hlen == 0 || d.got != d.total {
		return nil, Held, evicted
	}
	if d.hlen+d.total > MaxDatagram {
		r.drop(d) // a first fragment with options can make it so
		return nil, Oversize, evicted
	}
	return r.assemble(d), Done, evicted
}

// find is the index of the first fragment of d at or after off.
func (d *datagram) find(off int) int {
	i := len(d.frags)
	for i > 0 && d.frags[i-1].off >= off { // fragments mostly come in order
		i--
	}
	return i
}

// maxEnd is the end of the furthest fragment held.
func (d *datagram) maxEnd() int {
	if len(d.frags) == 0 {
		return 0
	}
	return d.frags[len(d.frags)-1].end
}

// insert puts p, a copy of payload, at index i of d's fragments.
func (r *Reassembler) insert(d *datagram, i int, p piece, payload []byte, charge int) {
	copy(p.buf, payload)
	d.frags = append(d.frags, piece{})
	copy(d.frags[i+1:], d.frags[i:])
	d.frags[i] = p
	d.got += p.end - p.off
	d.charge += charge
	r.bytes += charge
}

// assemble copies the complete datagram d into one buffer, lets d go, and
// returns the buffer.
func (r *Reassembler) assemble(d *datagram) wire.IPv4 {
	n := d.hlen + d.total
	b := r.pool.get(n)[:n]
	copy(b, d.hdr[:d.hlen])
	for i := range d.frags {
		p := &d.frags[i]
		copy(b[d.hlen+p.off:], p.data())
	}
	binary.BigEndian.PutUint16(b[2:], uint16(n)) // RFC 791 §3.1: the total length
	flags := binary.BigEndian.Uint16(b[6:]) & (uint16(wire.IPv4FlagDontFragment) << 13)
	binary.BigEndian.PutUint16(b[6:], flags) // MF and the offset cleared, DF kept
	ip := wire.IPv4(b)
	ip.FillChecksum()
	r.drop(d)
	return ip
}

// Release gives back a buffer Add returned whole.
func (r *Reassembler) Release(whole wire.IPv4) { r.pool.put(whole) }

// Expire drops the oldest datagram in progress if its deadline is at or
// before now, and reports whether it did. If that datagram's first
// fragment had come, quote is that fragment's IP header and first 8 bytes
// of data, what an ICMP time exceeded quotes (RFC 792); it is valid until
// the next call. Call it until it reports false.
func (r *Reassembler) Expire(now time.Time) (quote []byte, expired bool) {
	d := r.head
	if d == nil || d.deadline.After(now) {
		return nil, false
	}
	if d.hlen > 0 {
		n := copy(r.quote[:], d.hdr[:d.hlen])
		first := d.frags[0].data() // offset 0 with MF set: at least 8 bytes
		n += copy(r.quote[n:], first[:min(8, len(first))])
		quote = r.quote[:n]
	}
	r.drop(d)
	return quote, true
}

// begin starts datagram key at now.
func (r *Reassembler) begin(key Key, now time.Time) *datagram {
	var d *datagram
	if k := len(r.spareDgs); k > 0 {
		d = r.spareDgs[k-1]
		r.spareDgs = r.spareDgs[:k-1]
	} else {
		d = &datagram{}
	}
	d.key, d.deadline, d.total, d.hlen = key, now.Add(r.cfg.Timeout), -1, 0
	d.charge = datagramOverhead
	r.bytes += datagramOverhead
	d.prev, d.next = r.tail, nil
	if r.tail != nil {
		r.tail.next = d
	} else {
		r.head = d
	}
	r.tail = d
	r.m[key] = d
	r.n++
	return d
}

// drop lets datagram d go, with its fragments.
func (r *Reassembler) drop(d *datagram) {
	for i := range d.frags {
		r.pool.put(d.frags[i].buf)
		d.frags[i] = piece{}
	}
	d.frags = d.frags[:0]
	d.got = 0
	r.bytes -= d.charge
	if d.prev != nil {
		d.prev.next = d.next
	} else {
		r.head = d.next
	}
	if d.next != nil {
		d.next.prev = d.prev
	} else {
		r.tail = d.prev
	}
	d.prev, d.next = nil, nil
	delete(r.m, d.key)
	r.n--
	if len(r.spareDgs) < maxSpareDatagrams {
		r.spareDgs = append(r.spareDgs, d)
	}
}

// maxSpareDatagrams bounds the datagram structs kept for reuse.
const maxSpareDatagrams = 64

// evictFor drops the oldest datagrams but keep until charge more bytes
// fit MaxBytes, or none but keep is left, and returns how many it
// dropped.
func (r *Reassembler) evictFor(charge int, keep *datagram) int {
	n := 0
	for r.bytes+charge > r.cfg.MaxBytes {
		d := r.head
		if d == keep {
			d = d.next
		}
		if d == nil {
			break
		}
		r.drop(d)
		n++
	}
	return n
}
