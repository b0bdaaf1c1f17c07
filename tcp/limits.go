package tcp

// This file holds the bounds on what a peer can make a connection send,
// hold or compute that do not belong to one mechanism: the smallest MSS
// a peer may ask for. The others sit with what they bound: held
// out-of-order text in reassembly.go, the SACK scoreboard in
// scoreboard.go, and the stack-wide buffer memory in memory.go.

// peerMSS is the MSS a peer's SYN announces: 536 when it carries no MSS
// option (RFC 9293 §3.7.1, RFC 879), or one of 0, which Linux ignores too;
// an option below Config.MinSendMSS is taken as MinSendMSS (48, Linux
// tcp_min_snd_mss, added after CVE-2019-11479), so a peer announcing MSS 1
// gets segments of 48 bytes, not of one. As in Linux, the floor applies to
// the MSS before options: with timestamps every segment carries 12 bytes
// of them and 36 of data (learnPeer), which still bounds the segments per
// byte sent to one per 36.
func (e *Env) peerMSS(seg *Segment) int {
	o := &seg.Options
	if !o.HasMSS || o.MSS == 0 {
		return DefaultMSS
	}
	if m := int(o.MSS); m >= e.Config.MinSendMSS {
		return m
	}
	e.Stats.MinMSSRaised.Add(1)
	return e.Config.MinSendMSS
}
