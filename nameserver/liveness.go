package nameserver

import "time"

// expiryLoop drops brokers that have not registered for BrokerExpiry,
// checking every ScanInterval, until Close. Started by Start, owned by the
// Server.
func (s *Server) expiryLoop() {
	defer s.wg.Done()
	t := time.NewTicker(s.opts.ScanInterval)
	defer t.Stop()
	for {
		select {
		case <-s.quit:
			return
		case now := <-t.C:
			for _, addr := range s.reg.expire(now, s.opts.BrokerExpiry) {
				s.log.Info("broker dropped: not registered in time", "addr", addr, "expiry", s.opts.BrokerExpiry)
			}
		}
	}
}
