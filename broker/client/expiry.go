package client

import "time"

// Expired is told, on the scan goroutine, what a scan dropped: the consumer
// groups that lost a member and the connections no longer in any group.
type Expired[C Conn] func(groups []string, dead []C)

// Start begins the expiry scan: every interval, memberships without a
// heartbeat for longer than expiry are dropped and onExpired told. The
// scan runs until Close. Call Start at most once.
func (r *Registry[C]) Start(expiry, interval time.Duration, onExpired Expired[C]) {
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-r.quit:
				return
			case now := <-t.C:
				groups, dead := r.Expire(now.Add(-expiry))
				if len(groups) > 0 || len(dead) > 0 {
					onExpired(groups, dead)
				}
			}
		}
	}()
}

// Close stops the expiry scan and waits for it. The registry still answers
// lookups.
func (r *Registry[C]) Close() {
	r.once.Do(func() { close(r.quit) })
	r.wg.Wait()
}
