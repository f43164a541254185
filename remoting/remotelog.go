package remoting

import (
	"sync"
	"time"
)

// badFrameLogEvery is how often at most a client logs bad frames from one
// remote address.
const badFrameLogEvery = 10 * time.Second

// perRemoteLog lets one line per remote address through per
// badFrameLogEvery and counts the others. It forgets every address once
// it holds maxRemotes of them, so it stays small.
type perRemoteLog struct {
	mu sync.Mutex
	m  map[string]*remoteLog
}

type remoteLog struct {
	last    time.Time
	dropped int
}

const maxRemotes = 1024

func (p *perRemoteLog) allow(remote string) (bool, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m == nil || len(p.m) >= maxRemotes {
		p.m = map[string]*remoteLog{}
	}
	r := p.m[remote]
	if r == nil {
		r = &remoteLog{}
		p.m[remote] = r
	}
	now := time.Now()
	if !r.last.IsZero() && now.Sub(r.last) < badFrameLogEvery {
		r.dropped++
		return false, 0
	}
	d := r.dropped
	r.last, r.dropped = now, 0
	return true, d
}
