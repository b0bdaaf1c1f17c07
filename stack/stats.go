package stack

import "sync/atomic"

// Stats are the IP and ICMP counters of a stack, named after the IP-MIB
// (RFC 4293) and ICMP-MIB objects, and the TCP drops that happen before a
// segment reaches a connection. Every packet dropped is counted here or in
// tcp.Stats, by reason.
type Stats struct {
	// InReceives counts packets delivered by the link.
	InReceives atomic.Uint64
	// InHdrErrors counts packets dropped for a malformed IPv4 header or a
	// bad header checksum; a packet that is not IPv4 at all is InNotIPv4.
	InHdrErrors atomic.Uint64
	// InAddrErrors counts packets dropped for their addresses: not addressed
	// to this stack, or from a source no packet may come from (RFC 1122 §3.2.1.3).
	InAddrErrors atomic.Uint64
	// InUnknownProtos counts packets for a protocol this stack does not speak.
	InUnknownProtos atomic.Uint64
	// ReasmFails counts failures of reassembly (RFC 2011 ipReasmFails, as
	// Linux counts them): each datagram given up (timed out, overlapped,
	// oversize, over a bound, its fragments disagreeing on its end) and
	// each fragment dropped for a bad length. The reasons are counted
	// again below (ReasmTimeout, ReasmOverlaps, ...).
	ReasmFails atomic.Uint64
	// InDelivers counts packets handed to TCP or ICMP.
	InDelivers atomic.Uint64
	// OutRequests counts packets handed to the link.
	OutRequests atomic.Uint64
	// OutDiscards counts packets the link refused.
	OutDiscards atomic.Uint64
	// ReasmReqds counts fragments received (RFC 2011 ipReasmReqds).
	ReasmReqds atomic.Uint64
	// ReasmOKs counts datagrams reassembled (RFC 2011 ipReasmOKs).
	ReasmOKs atomic.Uint64
	// ReasmTimeout counts datagrams not complete within 30 s (Linux
	// ReasmTimeout); also in ReasmFails.
	ReasmTimeout atomic.Uint64
	// ReasmOverlaps counts datagrams dropped for overlapping fragments
	// (RFC 5722; Linux ReasmOverlaps); also in ReasmFails.
	ReasmOverlaps atomic.Uint64
	// ReasmDuplicates counts fragments dropped as exact copies of one
	// held; their datagram goes on (not a failure).
	ReasmDuplicates atomic.Uint64
	// ReasmOversize counts datagrams dropped for claiming more than
	// 65,535 bytes; also in ReasmFails.
	ReasmOversize atomic.Uint64
	// ReasmBadFragments counts fragments with a bad length (not a
	// multiple of 8 with MF set, or empty) and datagrams dropped for
	// fragments that disagree on where it ends; also in ReasmFails.
	ReasmBadFragments atomic.Uint64
	// ReasmOverLimit counts datagrams dropped for a bound of the
	// reassembler (package ipfrag): evicted, oldest first, to make room
	// for newer ones when the bytes or datagrams held are at their bound,
	// or past the fragments one datagram may have; also in ReasmFails.
	ReasmOverLimit atomic.Uint64
	// FragOKs counts datagrams sent in fragments (RFC 2011 ipFragOKs).
	FragOKs atomic.Uint64
	// FragCreates counts the fragments sent (RFC 2011 ipFragCreates).
	FragCreates atomic.Uint64
	// FragFails counts datagrams that needed fragmenting and could not
	// be: DF asked for (EMSGSIZE), or the link refused a fragment (RFC
	// 2011 ipFragFails).
	FragFails atomic.Uint64
	// ICMPInMsgs counts ICMP messages received.
	ICMPInMsgs atomic.Uint64
	// ICMPInErrors counts ICMP messages dropped as malformed or with a bad checksum.
	ICMPInErrors atomic.Uint64
	// ICMPOutEchoReps counts echo replies sent.
	ICMPOutEchoReps atomic.Uint64
	// ICMPOutDestUnreachs counts destination unreachables sent (port unreachable for UDP).
	ICMPOutDestUnreachs atomic.Uint64
	// ICMPRateLimited counts ICMP errors not sent for the rate limit (RFC 1812 §4.3.2.8; Linux IcmpOutRateLimitGlobal).
	ICMPRateLimited atomic.Uint64
	// ICMPOutEchos counts echo requests sent (Ping).
	ICMPOutEchos atomic.Uint64
	// ICMPInEchoReps counts echo replies received, matched to a ping or not.
	ICMPInEchoReps atomic.Uint64
	// ICMPOutTimeExcds counts time exceeded messages sent: fragment
	// reassembly time exceeded (Linux OutTimeExcds).
	ICMPOutTimeExcds atomic.Uint64
	// ICMPInDestUnreachs counts destination unreachables received (ICMP-MIB icmpInDestUnreachs).
	ICMPInDestUnreachs atomic.Uint64
	// ICMPInTimeExcds counts time exceededs received (ICMP-MIB icmpInTimeExcds).
	ICMPInTimeExcds atomic.Uint64
	// ICMPInErrorsBadCode counts destination unreachables dropped for a code RFC 792 and RFC 1812 do not define.
	ICMPInErrorsBadCode atomic.Uint64
	// ICMPInErrorsBadQuote counts ICMP errors dropped because their quote is not a datagram this stack sent: truncated, not from its address, not the first fragment, not TCP or UDP, or under 8 bytes of transport header.
	ICMPInErrorsBadQuote atomic.Uint64
	// ICMPInErrorsNoSocket counts ICMP errors whose quote names no connection, or no UDP socket that could have sent it.
	ICMPInErrorsNoSocket atomic.Uint64
	// ICMPInErrorsOutOfWindow counts ICMP errors dropped because the quoted TCP sequence number is outside SND.UNA..SND.MAX (RFC 5927 §4.1; Linux OutOfWindowIcmps).
	ICMPInErrorsOutOfWindow atomic.Uint64
	// ICMPHardErrors counts connects (and half-open passive connections) ended by an ICMP error (RFC 1122 §4.2.3.9).
	ICMPHardErrors atomic.Uint64
	// ICMPSoftErrors counts ICMP errors stored on a connection as its soft error, or on a connected UDP socket for its next call.
	ICMPSoftErrors atomic.Uint64
	// PMTUUpdates counts path MTUs lowered in the cache by a checked "fragmentation needed" (RFC 1191).
	PMTUUpdates atomic.Uint64
	// PMTUClamped counts "fragmentation needed" MTUs below 552 raised to it (Linux min_pmtu).
	PMTUClamped atomic.Uint64
	// PMTUIgnored counts checked "fragmentation needed" whose MTU is no lower than the path MTU already in use.
	PMTUIgnored atomic.Uint64
	// PMTUMSSLowered counts connections whose MSS a "fragmentation needed" lowered, resending what no longer fit.
	PMTUMSSLowered atomic.Uint64
	// PMTUCacheEvictions counts path MTU entries dropped unexpired because the cache held its bound (1024).
	PMTUCacheEvictions atomic.Uint64
	// GSOInPackets counts packets the link delivered as large segments or
	// with a partial checksum (link.GSODispatcher) and the stack took.
	GSOInPackets atomic.Uint64
	// GSOInErrors counts packets dropped because the link's description
	// of them (link.GSO) does not fit their headers.
	GSOInErrors atomic.Uint64
	// GSOOutMerged counts TCP segments sent within a larger one, to be
	// cut by the link's far end (gso.go); they are in OutRequests too.
	GSOOutMerged atomic.Uint64
	// TCPInErrs counts segments dropped for a bad header, checksum or option (TCP-MIB tcpInErrs).
	TCPInErrs atomic.Uint64
	// ConnLimitDrops counts SYNs and SYN cookie ACKs that opened no connection, and dials refused, because the stack held MaxConnections connections.
	ConnLimitDrops atomic.Uint64
	// TCPTimeWaitOverflow counts connections closed without TIME-WAIT because the stack held MaxTimeWait records (Linux TCPTimeWaitOverflow).
	TCPTimeWaitOverflow atomic.Uint64
	// TCPNoSocket counts segments that reached no connection and no listener.
	TCPNoSocket atomic.Uint64
	// InNotIPv4 counts packets dropped because their version nibble is
	// not 4: IPv6 (the kernel sends some on a TUN device, link-local
	// router and multicast listener solicitations) or junk. Not an
	// IP-MIB object (Linux's IPv4 stack never sees them, and counts none):
	// synack's own, in the Ip section so that they are not taken for
	// InHdrErrors.
	InNotIPv4 atomic.Uint64
	// OutShared counts TCP segments written with their text left in the
	// send buffer for the far end to read (link.TextSharer; share.go);
	// they are in OutRequests too.
	OutShared atomic.Uint64
	// InShared counts TCP segments delivered with their text apart, in
	// the sender's send buffer (link.SharedDispatcher); they are in
	// InReceives too.
	InShared atomic.Uint64
	// InSharedFlattened counts packets delivered with their text apart
	// that were not a TCP segment as a stack shares one (sendShared), and
	// so were copied whole and taken as any packet.
	InSharedFlattened atomic.Uint64
}
