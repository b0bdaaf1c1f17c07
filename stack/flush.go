package stack

import "sync"

// Writing a shard's packets to the link.
//
// One goroutine at a time writes a shard's batch (flusher.writing, under
// the shard's mu), so the batches leave in the order they were made. Who
// writes depends on the link:
//
//   - On a link that queues in memory (link/pipe), the goroutine that
//     queued packets writes them: finding no write under way, it swaps the
//     batch for the empty spare and writes it with mu free; finding one, it
//     waits for it on a condition variable, which lets mu go while it
//     waits, and then writes what is still queued (the previous writer may
//     have taken its packets along). So when unlockAndFlush returns, the
//     packets queued before it are on the link, which is what lets a test
//     see an idle pipe as a quiet network.
//   - On a link whose writes wait in the kernel (link.BlockingWriter, a
//     TUN device), a writer goroutine of the shard's own writes each batch,
//     and unlockAndFlush only hands the batch over: an application copying
//     its next write into the send buffer, or the link delivering the next
//     ACK, does not wait for the system call that writes the last segment
//     (a kernel's qdisc and driver do the same for its senders). The
//     writer starts with the shard's first packet and ends when the stack
//     closes, once it has written everything queued. What waits for it is
//     bounded: a flush that leaves maxQueuedForWriter packets or more
//     queued waits until the writer has taken them, as a sender waits on a
//     full device queue, so the queue holds at most that many and what one
//     call into the engine makes.
//
// Either way nobody waits for the link holding mu: the shard's connections
// go on while it is written. A shard has just two batches, taking turns:
// they and their buffers are its own, so no collection of the heap takes
// them away and a steady flow allocates nothing.
type flusher struct {
	writing bool      // a batch is being written to the link
	idle    sync.Cond // signalled when a write to the link ends, and when a Write's copying does (endFill); on the shard's mu

	// The writer goroutine, on a link whose writes block (Stack.blocking).
	writer bool      // it is running
	work   sync.Cond // signalled when it has a batch to write or the stack closed
}

// maxQueuedForWriter is the most packets a shard queues for its writer
// goroutine before the flushing goroutine waits: with packets of at most
// link.MaxGSOSize bytes, 8 MiB a shard, and in a bulk transfer on a TUN
// device (segments of up to 64 KB whose text is written from the send
// buffer) a few headers. A stack of the default 64 shards may so hold
// 8,192 packets for its writers: 12 MB at MTU 1500 without offloads, a
// few hundred KB of headers for segments gathered from send buffers, and
// 512 MiB only if every shard's writer fell behind with a queue of 64 KB
// datagrams built whole (UDP segmentation offload). A bound of 16 a shard
// (1,024 a stack) was tried and cut a TUN upload without offloads from
// 6.0 to 4.3 Gbit/s: the goroutine delivering the data then waits on the
// writer for its ACKs.
const maxQueuedForWriter = 128

// unlockAndFlush releases the shard's mu and sees the packets produced
// under it written to the link, in order (see above).
func (s *shard) unlockAndFlush() {
	if s.blocking && !s.closed {
		s.handToWriter()
		s.mu.Unlock()
		return
	}
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
		s.writeBatch()
	}
	s.mu.Unlock()
}

// writeBatch writes the queued batch with mu let go meanwhile (mu held,
// no write under way).
func (s *shard) writeBatch() {
	s.writing = true
	q := s.outq
	s.outq = s.spareBatch()
	s.mu.Unlock()
	for i := range q.pkts {
		if err := s.writeOut(q, i); err != nil {
			s.stats.OutDiscards.Add(1)
		}
	}
	q.empty()
	s.mu.Lock()
	s.spare = q
	s.writing = false
	s.idle.Broadcast()
}

// handToWriter gives what is queued to the shard's writer goroutine,
// starting it with the first packets, and waits while maxQueuedForWriter
// packets are queued (mu held).
func (s *shard) handToWriter() {
	if len(s.outq.pkts) == 0 {
		return
	}
	if !s.writer {
		s.writer = true
		go s.writeLoop()
	} else if !s.writing {
		s.work.Signal()
	}
	for len(s.outq.pkts) >= maxQueuedForWriter && s.writer {
		s.idle.Wait()
	}
}

// writeLoop is the shard's writer goroutine: it writes each batch queued,
// in order, until the stack has closed and nothing is left to write.
func (s *shard) writeLoop() {
	s.mu.Lock()
	for {
		if s.writing { // a flush of the closing stack's own (closed set): its end is signalled on idle
			s.idle.Wait()
			continue
		}
		if len(s.outq.pkts) == 0 && !s.closed {
			s.work.Wait()
			continue
		}
		if len(s.outq.pkts) == 0 { // closed, and all written
			s.writer = false
			s.idle.Broadcast()
			s.mu.Unlock()
			return
		}
		s.writeBatch()
	}
}

// stopWriter has the writer goroutine write what is queued and end, and
// waits for both (mu held, closed set): the link is closed next.
func (s *shard) stopWriter() {
	if s.writer {
		s.work.Signal()
	}
	for s.writing || s.writer {
		s.idle.Wait()
	}
}
