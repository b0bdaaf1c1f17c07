// Package ipfrag puts IPv4 datagrams back together from their fragments
// (RFC 791 §2.3 and §3.2, reassembly on receive) and cuts datagrams into
// fragments (RFC 791 §3.2, fragmentation on send).
//
// It is the IPv4 layer and nothing above or below it: it knows nothing of
// TCP, UDP, sockets or links. It is sans-I/O: it starts no goroutine, takes
// no lock and never reads a clock. The caller hands it fragments and the
// time, asks Deadline when the next datagram times out, calls Expire then,
// and serialises its calls (package stack holds a lock of its own around
// them). It counts nothing itself: each call says what happened, and the
// caller keeps the counters (RFC 2011 / Linux names: ReasmReqds, ReasmOKs,
// ReasmFails, ReasmTimeout, ReasmOverlaps).
//
// # Reassembly
//
// Fragments are gathered by (source, destination, protocol, ID), RFC 791's
// key. A datagram is complete when its fragments cover every byte from 0
// to the end the last fragment (MF clear) gives; it then comes back whole,
// with the first fragment's header (its options included), MF and offset
// cleared, its total length and checksum rewritten.
//
// Overlaps. Following RFC 5722 (written for IPv6, and what Linux does for
// IPv4), a fragment that overlaps one already held drops the whole
// datagram: overlapping fragments are how a forger makes two hosts, or a
// host and a firewall, see different bytes. One case is let through: an
// exact duplicate (same offset, same length, same bytes), which a network
// that duplicates packets produces, is dropped alone and the datagram
// goes on (Linux drops any fragment that lies within one held, even with
// other bytes, alone; we drop the datagram when the bytes differ).
//
// Bad fragments are dropped and the datagram they would join kept: a
// fragment with MF set whose length is not a multiple of 8 (RFC 791 §3.2),
// one with no data. A fragment that disagrees with the end the last
// fragment gave (it ends past it, or a second last fragment gives another
// end) drops the datagram, as Linux does. So does one that makes the
// datagram claim more than 65,535 bytes (the total length field's limit;
// Linux drops these too, as "oversized").
//
// # Bounds
//
// What peers can make a Reassembler hold is bounded (Config, with these
// defaults):
//
//   - MaxBytes, 4 MiB (Linux's ipfrag_high_thresh): the bytes held for all
//     datagrams in progress, each fragment charged the pooled buffer that
//     holds it (its length rounded up to a power of two, at least 256)
//     plus fragmentOverhead, each datagram datagramOverhead. A fragment
//     that would pass it first evicts the oldest datagrams in progress;
//     Linux instead drops new fragments above the threshold, which lets a
//     flood of never-completed datagrams lock everything else out for 30 s.
//   - MaxDatagrams, 1,024: datagrams in progress; a new one past it
//     evicts the oldest.
//   - MaxFragments, 64 (in the spirit of Linux's ipfrag_max_dist, 64):
//     fragments per datagram; one more drops the datagram. 64 fragments
//     carry a 65,535-byte datagram across any link with an MTU of 1,048
//     bytes or more; a largest datagram over a 576-byte path needs 120 and
//     is not reassembled.
//   - 65,535 bytes, header included: a datagram claiming more is dropped.
//   - Timeout, 30 s (Linux's ipfrag_time): from its first fragment's
//     arrival, after which Expire drops it, and reports the first
//     fragment's header and first 8 bytes of data, when fragment 0 came,
//     for an ICMP time exceeded (code 1, fragment reassembly time
//     exceeded; RFC 792, RFC 1122 §3.3.2 says to send none otherwise).
//
// Buffers come from free lists of power-of-two sizes kept by the
// Reassembler (at most maxSpare bytes of them), so a steady flow of
// fragmented datagrams allocates nothing once they are warm.
package ipfrag
