package mqtt

// AckerQueued is how many PUBACKs of the client wait in its acker's queue (not counting one
// the acker is waiting for), or -1 when it has no acker.
func (b *Broker) AckerQueued(clientID string) int {
	cl, ok := b.srv.Clients.Get(clientID)
	if !ok {
		return -1
	}
	b.ackers.mu.Lock()
	k := b.ackers.m[cl]
	b.ackers.mu.Unlock()
	if k == nil {
		return -1
	}
	return len(k.jobs)
}
