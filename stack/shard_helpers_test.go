package stack

// Test helpers that see through the shards.

// tryLockAll takes every shard's lock in order, or, if one is held, none
// and reports false.
func (s *Stack) tryLockAll() bool {
	for i, sh := range s.shards {
		if !sh.mu.TryLock() {
			for _, o := range s.shards[:i] {
				o.mu.Unlock()
			}
			return false
		}
	}
	return true
}

// unlockAll undoes tryLockAll.
func (s *Stack) unlockAll() {
	for _, sh := range s.shards {
		sh.mu.Unlock()
	}
}

// connsLocked is every shard's table in one map (every shard's lock held).
func (s *Stack) connsLocked() map[connKey]*TCPConn {
	m := map[connKey]*TCPConn{}
	for _, sh := range s.shards {
		for k, c := range sh.conns {
			m[k] = c
		}
	}
	return m
}

// lookup finds the connection of k, under its shard's lock.
func (s *Stack) lookup(k connKey) *TCPConn {
	sh := s.shardOf(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.conns[k]
}

// connCount is the number of connections in every shard.
func (s *Stack) connCount() int {
	n := 0
	for _, sh := range s.shards {
		sh.mu.Lock()
		n += len(sh.conns)
		sh.mu.Unlock()
	}
	return n
}

// twLookup finds the TIME-WAIT record of k, under its shard's lock.
func (s *Stack) twLookup(k connKey) *twEntry {
	sh := s.shardOf(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.tws[k]
}

// twCount is the number of TIME-WAIT records in every shard, and in
// their heaps.
func (s *Stack) twCount() (records, heaped int) {
	for _, sh := range s.shards {
		sh.mu.Lock()
		records += len(sh.tws)
		heaped += len(sh.twHeap)
		sh.mu.Unlock()
	}
	return records, heaped
}

// twRecords is the number of TIME-WAIT records in every shard.
func (s *Stack) twRecords() int {
	n, _ := s.twCount()
	return n
}
