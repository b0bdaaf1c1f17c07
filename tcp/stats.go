package tcp

import "sync/atomic"

// Stats are a stack's TCP counters, named after the TCP-MIB objects
// (RFC 4022) so that a netstat -s view maps one to one, plus one counter per
// reason a segment is dropped. They are updated by the engine and may be
// read at any time from any goroutine.
type Stats struct {
	// ActiveOpens counts transitions CLOSED -> SYN-SENT.
	ActiveOpens atomic.Uint64
	// PassiveOpens counts transitions LISTEN -> SYN-RECEIVED.
	PassiveOpens atomic.Uint64
	// AttemptFails counts SYN-SENT/SYN-RECEIVED -> CLOSED, and SYN-RECEIVED -> LISTEN.
	AttemptFails atomic.Uint64
	// EstabResets counts ESTABLISHED/CLOSE-WAIT -> CLOSED (reset, abort or timeout).
	EstabResets atomic.Uint64
	// CurrEstab is the number of connections in ESTABLISHED or CLOSE-WAIT.
	CurrEstab atomic.Int64
	// InSegs counts segments handed to the engine.
	InSegs atomic.Uint64
	// OutSegs counts segments sent, excluding retransmissions.
	OutSegs atomic.Uint64
	// RetransSegs counts segments retransmitted.
	RetransSegs atomic.Uint64
	// OutRsts counts segments sent with RST.
	OutRsts atomic.Uint64
	// Timeouts counts retransmission-timer expirations.
	Timeouts atomic.Uint64
	// ChallengeACKs counts ACKs sent for an in-window RST or a SYN (RFC 5961).
	ChallengeACKs atomic.Uint64
	// AbortOnData counts connections reset because data arrived after the user closed them (Linux TCPAbortOnData).
	AbortOnData atomic.Uint64
	// DropOutOfWindow counts segments failing the sequence check (RFC 9293 §3.10.7.4 first).
	DropOutOfWindow atomic.Uint64
	// OutOfOrderQueued counts segments beyond RCV.NXT held for reassembly (Linux TCPOFOQueue).
	OutOfOrderQueued atomic.Uint64
	// FastRetransmits counts losses repaired after three duplicate ACKs (RFC 5681 §3.2).
	FastRetransmits atomic.Uint64
	// DropOutOfOrder counts data segments beyond RCV.NXT whose text was not kept.
	DropOutOfOrder atomic.Uint64
	// DropNoACK counts synchronized-state segments without ACK (step five).
	DropNoACK atomic.Uint64
	// DropBadACK counts segments whose ACK acknowledges nothing sent.
	DropBadACK atomic.Uint64
	// ListenOverflows counts final ACKs (plain, or with a valid SYN cookie) dropped because the accept queue was full (Linux ListenOverflows, which also counts the SYNs ListenDrops counts for that reason).
	ListenOverflows atomic.Uint64
	// ListenDrops counts SYNs a listener refused for a queue reason: the accept queue full, or the SYN queue full with cookies off (Linux ListenDrops).
	ListenDrops atomic.Uint64
	// TCPReqQFullDrop counts SYNs dropped because the SYN queue was full and SYN cookies were off (Linux TCPReqQFullDrop).
	TCPReqQFullDrop atomic.Uint64
	// TCPReqQFullDoCookies counts SYNs answered with a SYN cookie because the SYN queue was full (Linux TCPReqQFullDoCookies).
	TCPReqQFullDoCookies atomic.Uint64
	// SyncookiesSent counts SYN,ACKs sent with a SYN cookie (Linux SyncookiesSent).
	SyncookiesSent atomic.Uint64
	// SyncookiesRecv counts ACKs that carried a valid SYN cookie (Linux SyncookiesRecv).
	SyncookiesRecv atomic.Uint64
	// SyncookiesFailed counts ACKs checked as SYN cookies and found invalid (Linux SyncookiesFailed).
	SyncookiesFailed atomic.Uint64
	// SYNQueuePruned counts half-open connections dropped before SYNACKRetries because the SYN queue was under pressure.
	SYNQueuePruned atomic.Uint64
	// DropPAWS counts segments dropped as old duplicates by their timestamp (RFC 7323 §5; Linux PAWSEstabRejected).
	DropPAWS atomic.Uint64
	// DropNoTimestamp counts non-RST segments without timestamps after both sides agreed to send them (RFC 7323 §3.2).
	DropNoTimestamp atomic.Uint64
	// WindowScaleClamped counts SYNs whose window scale exceeded 14 and was taken as 14 (RFC 7323 §2.3).
	WindowScaleClamped atomic.Uint64
	// WindowShrunk counts window updates that moved the peer's right edge left (RFC 9293 §3.8.6.2.2).
	WindowShrunk atomic.Uint64
	// BadSACKBlocks counts SACK blocks ignored as impossible: empty, reversed, beyond SND.MAX or far below SND.UNA.
	BadSACKBlocks atomic.Uint64
	// DSACKsReceived counts duplicate reports received (RFC 2883; Linux TCPDSACKRecv).
	DSACKsReceived atomic.Uint64
	// DSACKsSent counts duplicate reports sent (Linux TCPDSACKOldSent).
	DSACKsSent atomic.Uint64
	// ReceiveBufferGrown counts receive-buffer autotuning steps .
	ReceiveBufferGrown atomic.Uint64
	// ReceiveKept counts segments whose text the receive buffer kept in
	// the buffer the host lent (Segment.Lent) instead of copying it.
	ReceiveKept atomic.Uint64
	// DropBadFlags counts segments with an impossible flag combination for their state.
	DropBadFlags atomic.Uint64
}
