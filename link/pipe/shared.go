package pipe

import "github.com/synack-net/synack/link"

// WriteShared queues for the peer the packet whose headers are hdr, a
// buffer from NewBuffer taken over as WriteOwned takes it, and whose text
// is text, which stays where the writer keeps it until ref is released
// (link.TextSharer). The packet is len(hdr)+len(text) bytes: past the MTU
// it is refused with ErrTooBig; after Close, with ErrClosed. The pipe
// releases ref exactly once, whatever becomes of the packet: when the
// packet is dropped (refused, a full queue, nobody attached, Close with it
// queued), when it is copied whole for a Dispatcher that takes packets
// whole, or after the peer's link.SharedDispatcher has returned without
// keeping it. A drop releases ref before WriteShared returns, so its
// Release must not wait for locks the writer holds. A nil ref is a text
// with no hold to give back.
func (e *Endpoint) WriteShared(hdr, text []byte, ref link.Releaser) error {
	if ref == nil {
		ref = noHold{}
	}
	if e.closed.Load() {
		e.peer.discard(hdr, true, ref)
		return link.ErrClosed
	}
	if len(hdr)+len(text) > e.MTU() {
		e.tooBig.Add(1)
		e.peer.discard(hdr, true, ref)
		return link.ErrTooBig
	}
	e.sent.Add(1)
	e.shared.Add(1)
	if len(text) == 0 {
		// Nothing lies apart from the headers: an owned packet.
		ref.Release()
		e.peer.enqueue(hdr, true, 0, nil, nil)
		return nil
	}
	e.peer.enqueue(hdr, true, 0, text, ref)
	return nil
}

// noHold is the Releaser of a shared text written with a nil ref.
type noHold struct{}

func (noHold) Release() {}

// discard keeps an owned buffer that was not queued, for reuse, and
// releases the hold on its shared text if it has one.
func (e *Endpoint) discard(pkt []byte, owned bool, ref link.Releaser) {
	e.putBack(pkt, owned)
	if ref != nil {
		ref.Release()
	}
}

// releaseAll releases the holds in refs and clears them.
func releaseAll(refs []link.Releaser) {
	for i, r := range refs {
		if r != nil {
			r.Release()
			refs[i] = nil
		}
	}
}

// flatten copies each shared packet of b.pkts[i:j] whole, headers then
// text, into a buffer from e's free list, which takes the place of its
// headers' buffer; that one goes back to the free list, the hold is
// released and the text forgotten. It is for a Dispatcher that takes
// packets whole. The headers are copied under the free list's lock,
// before their buffer joins it; the text, the long part, after.
func (e *Endpoint) flatten(b *batch, i, j int) {
	size := e.peer.MTU()
	n := 0
	e.mu.Lock()
	for k := i; k < j; k++ {
		if b.refs[k] == nil {
			continue
		}
		hdr, total := b.pkts[k], len(b.pkts[k])+len(b.texts[k])
		buf := e.getBuf(max(size, total))[:total]
		copy(buf, hdr)
		e.keep(hdr)
		b.pkts[k] = buf
		n++
	}
	e.mu.Unlock()
	for k := i; k < j; k++ {
		if b.refs[k] == nil {
			continue
		}
		p, text := b.pkts[k], b.texts[k]
		copy(p[len(p)-len(text):], text)
		b.refs[k].Release()
		b.refs[k], b.texts[k] = nil, nil
	}
	e.flattened.Add(uint64(n))
}
