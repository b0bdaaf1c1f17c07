package stack

import "sync"

// Writing a shard's packets to the link.
//
// One goroutine at a time writes a shard's batch (flusher.writing, under
// the shard's mu), so the batches leave in the order they were made. The
// goroutine that queued packets and finds no write under way swaps the
// batch for the empty spare and writes it with mu free. One that finds a
// write under way waits for it on a condition variable, which lets mu go
// while it waits, and then writes what is still queued (the previous
// writer may have taken its packets along). So nobody waits for the link
// holding mu: the shard's connections (an application copying into its
// send buffer, the ACKs the link delivers) go on while it is written. And
// when unlockAndFlush returns, the packets queued before it are on the
// link, which is what lets a test see an idle pipe as a quiet network. A
// shard has just two batches, taking turns: they and their buffers are
// its own, so no collection of the heap takes them away and a steady flow
// allocates nothing.
type flusher struct {
	writing bool      // a batch is being written to the link
	idle    sync.Cond // signalled when a write ends (on the shard's mu)
}

// unlockAndFlush releases the shard's mu and sees the packets produced
// under it written to the link, in order (see above).
func (s *shard) unlockAndFlush() {
	// Once it has packets queued, it returns only when no write is under
	// way and nothing is queued: the writer it waited for may have taken
	// its packets along in a write of its own, which must end first.
	for queued := len(s.outq.pkts) > 0; queued; {
		if s.writing {
			s.idle.Wait()
			continue
		}
		if len(s.outq.pkts) == 0 {
			break
		}
		s.writing = true
		q := s.outq
		s.outq = s.spareBatch()
		mark := s.tcp.HeldCount() // storage let go before now is read by q at most
		s.mu.Unlock()
		for i := range q.pkts {
			if err := s.writeOut(q, i); err != nil {
				s.stats.OutDiscards.Add(1)
			}
		}
		q.empty()
		s.mu.Lock()
		s.spare = q
		if s.outq.held { // gather.go: what q alone could read is free now
			s.tcp.PoolHeld(mark)
		} else { // and nothing queued holds text
			s.tcp.EndTextHold()
		}
		s.writing = false
		s.idle.Broadcast()
	}
	s.mu.Unlock()
}
