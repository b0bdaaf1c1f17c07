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
	// Timeouts counts retransmission-timer expirations (Linux TCPTimeouts).
	Timeouts atomic.Uint64
	// TCPLossProbes counts tail loss probes sent (RFC 8985 §7; Linux TCPLossProbes).
	TCPLossProbes atomic.Uint64
	// TCPLossProbeRecovery counts losses a tail loss probe repaired (Linux TCPLossProbeRecovery).
	TCPLossProbeRecovery atomic.Uint64
	// TCPLostRetransmit counts retransmissions RACK found lost (RFC 8985 §6.2; Linux TCPLostRetransmit).
	TCPLostRetransmit atomic.Uint64
	// TCPSackRecovery counts fast recoveries with SACK (Linux TCPSackRecovery).
	TCPSackRecovery atomic.Uint64
	// TCPRenoRecovery counts fast recoveries without SACK, by NewReno (Linux TCPRenoRecovery).
	TCPRenoRecovery atomic.Uint64
	// TCPSpuriousRTOs counts retransmission timeouts F-RTO found spurious (RFC 5682; Linux TCPSpuriousRTOs).
	TCPSpuriousRTOs atomic.Uint64
	// TCPDSACKUndo counts reductions undone because D-SACKs showed every retransmission needless (Linux TCPDSACKUndo).
	TCPDSACKUndo atomic.Uint64
	// TCPFullUndo counts fast recoveries undone by timestamps (Eifel, RFC 3522; Linux TCPFullUndo).
	TCPFullUndo atomic.Uint64
	// TCPLossUndo counts timeouts undone, by timestamps or F-RTO (Linux TCPLossUndo).
	TCPLossUndo atomic.Uint64
	// TCPChallengeACK counts challenge ACKs sent: for an in-window RST not at RCV.NXT, a SYN, or an unacceptable SEG.ACK (RFC 5961; Linux TCPChallengeACK).
	TCPChallengeACK atomic.Uint64
	// TCPChallengeACKOverBudget counts challenge ACKs not sent because the stack's budget for the second was spent (Config.ChallengeACKLimit).
	TCPChallengeACKOverBudget atomic.Uint64
	// TCPACKSkippedChallenge counts challenge ACKs not sent by the per-connection rate limit (Linux TCPACKSkippedChallenge).
	TCPACKSkippedChallenge atomic.Uint64
	// TCPACKSkippedSeq counts ACKs for out-of-window segments not sent by the per-connection rate limit (Linux TCPACKSkippedSeq).
	TCPACKSkippedSeq atomic.Uint64
	// TCPACKSkippedPAWS counts ACKs for PAWS-rejected segments not sent by the per-connection rate limit (Linux TCPACKSkippedPAWS).
	TCPACKSkippedPAWS atomic.Uint64
	// TCPACKSkippedSynRecv counts ACKs (or SYN,ACKs) for invalid segments in SYN-RECEIVED not sent by the rate limit (Linux TCPACKSkippedSynRecv).
	TCPACKSkippedSynRecv atomic.Uint64
	// TCPACKSkippedTimeWait counts ACKs for invalid segments in TIME-WAIT not sent by the rate limit (Linux TCPACKSkippedTimeWait).
	TCPACKSkippedTimeWait atomic.Uint64
	// OutOfWindowACKs counts duplicate ACKs sent in answer to out-of-window or PAWS-rejected segments.
	OutOfWindowACKs atomic.Uint64
	// DropACKTooOld counts segments whose ACK lies below SND.UNA - MAX.SND.WND (RFC 5961 §5.2; Linux drop reason TCP_TOO_OLD_ACK).
	DropACKTooOld atomic.Uint64
	// AbortOnData counts connections reset because data arrived after the user closed them (Linux TCPAbortOnData).
	AbortOnData atomic.Uint64
	// DropOutOfWindow counts segments failing the sequence check (RFC 9293 §3.10.7.4 first).
	DropOutOfWindow atomic.Uint64
	// OutOfOrderQueued counts segments beyond RCV.NXT held for reassembly (Linux TCPOFOQueue).
	OutOfOrderQueued atomic.Uint64
	// FastRetransmits counts losses repaired after three duplicate ACKs (RFC 5681 §3.2).
	FastRetransmits atomic.Uint64
	// DropOutOfOrder counts data segments beyond RCV.NXT whose text was not kept, and held text dropped because a FIN before it ended the stream.
	DropOutOfOrder atomic.Uint64
	// DropNoACK counts synchronized-state segments without ACK (step five).
	DropNoACK atomic.Uint64
	// DropBadACK counts segments whose ACK acknowledges nothing sent.
	DropBadACK atomic.Uint64
	// ListenOverflows counts SYNs and final ACKs (plain, or with a valid SYN cookie) dropped because the accept queue was full (Linux ListenOverflows); those SYNs count in ListenDrops too.
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
	// ReceiveShared counts segments whose text the receive buffer kept in
	// the sender's send buffer, lent across an in-memory link
	// (Segment.Shared), instead of copying it.
	ReceiveShared atomic.Uint64
	// MinMSSRaised counts SYNs whose MSS option was below Config.MinSendMSS and taken as it (Linux tcp_min_snd_mss).
	MinMSSRaised atomic.Uint64
	// OfoPruned counts held out-of-order ranges dropped to make room (Linux OfoPruned, tcp_prune_ofo_queue).
	OfoPruned atomic.Uint64
	// OFODrop counts out-of-order segments not held for want of room in the receive buffer or the range cap (Linux TCPOFODrop).
	OFODrop atomic.Uint64
	// RcvQDrop counts in-order segments dropped because the stack's receive memory was full (Linux TCPRcvQDrop).
	RcvQDrop atomic.Uint64
	// RcvMemoryLimited counts text refused or buffers kept from growing at the stack's receive memory limit (Linux TCPMemoryPressures).
	RcvMemoryLimited atomic.Uint64
	// SndMemoryLimited counts send buffers kept from growing at the stack's send memory limit.
	SndMemoryLimited atomic.Uint64
	// SACKScoreboardFull counts SACK blocks not recorded (none of a block is) at the scoreboard's range cap.
	SACKScoreboardFull atomic.Uint64
	// DropBadFlags counts segments with an impossible flag combination for their state.
	DropBadFlags atomic.Uint64

	// Reaping (reap.go).

	// AbortOnTimeout counts connections ended because the peer stopped answering: retransmission, zero-window probe, keepalive or user timeout (Linux TCPAbortOnTimeout).
	AbortOnTimeout atomic.Uint64
	// AbortOnClose counts connections reset because the user closed them with unread data (Linux TCPAbortOnClose).
	AbortOnClose atomic.Uint64
	// WinProbes counts zero-window probes sent (Linux TCPWinProbe).
	WinProbes atomic.Uint64
	// WinProbeAborts counts connections ended because zero-window probes went unanswered or outlasted the user timeout.
	WinProbeAborts atomic.Uint64
	// FinWait2Timeouts counts orphaned FIN-WAIT-2 connections reset at Config.FinWait2Timeout (Linux tcp_fin_timeout).
	FinWait2Timeouts atomic.Uint64
	// ReadShutDiscards counts in-order segments whose text was acknowledged and discarded because the user shut the reading side (CloseRead).
	ReadShutDiscards atomic.Uint64
}
