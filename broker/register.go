package broker

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/wharfmq/wharf/remoting"
)

// registerTimeout bounds one REGISTER_BROKER or UNREGISTER_BROKER call.
const registerTimeout = 5 * time.Second

// registrar keeps the broker registered with every name server: at start,
// every period, and at once when rung (a topic was created or changed).
// It owns one goroutine, started by start and stopped by stop.
type registrar struct {
	b      *Broker
	log    *slog.Logger
	addrs  []string
	period time.Duration
	client *remoting.Client

	bell    chan struct{}
	quit    chan struct{}
	done    chan struct{}
	started bool
	// mu serializes registrations, so an unregister never races a register.
	mu sync.Mutex
}

func newRegistrar(b *Broker) *registrar {
	period := min(max(b.cfg.RegisterNameServerPeriod, 10*time.Second), 60*time.Second)
	return &registrar{
		b: b, log: b.log.With("component", "register"), addrs: b.cfg.NameServers(), period: period,
		client: remoting.NewClient(remoting.ClientOptions{Logger: b.log}),
		bell:   make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{}),
	}
}

// ring asks for a registration soon; it never blocks.
func (r *registrar) ring() {
	select {
	case r.bell <- struct{}{}:
	default:
	}
}

// registerWithin registers at once and waits for it at most d (Java
// registers synchronously when a send auto-creates a topic, so the
// producer's next route query, and a consumer started right after, find
// it). It never waits once the broker is closing.
func (r *registrar) registerWithin(d time.Duration) {
	if len(r.addrs) == 0 {
		return
	}
	done := make(chan struct{})
	if !r.b.goAsync(func() {
		defer close(done)
		r.registerAll()
	}) {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	}
}

func (r *registrar) start() {
	r.started = true
	go r.loop()
}

func (r *registrar) loop() {
	defer close(r.done)
	if len(r.addrs) == 0 {
		<-r.quit
		return
	}
	t := time.NewTicker(r.period)
	defer t.Stop()
	for {
		r.registerAll()
		select {
		case <-r.quit:
			return
		case <-t.C:
		case <-r.bell:
		}
	}
}

// registerAll registers with every name server, in parallel, and logs
// failures (the next round retries).
func (r *registrar) registerAll() {
	r.mu.Lock()
	defer r.mu.Unlock()
	body, err := r.b.registerBody()
	if err != nil {
		r.log.Error("cannot encode the registration body", "err", err)
		return
	}
	var wg sync.WaitGroup
	for _, addr := range r.addrs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := r.b.registerRequest(body)
			ctx, cancel := context.WithTimeout(context.Background(), registerTimeout)
			defer cancel()
			resp, err := r.client.Invoke(ctx, addr, req)
			switch {
			case err != nil:
				r.log.Warn("register with name server failed", "namesrv", addr, "err", err)
			case resp.Code != remoting.RespSuccess:
				r.log.Warn("name server refused registration", "namesrv", addr, "code", resp.Code, "remark", resp.Remark)
			default:
				r.log.Debug("registered", "namesrv", addr)
			}
		}()
	}
	wg.Wait()
}

// stop ends the loop, unregisters from every name server and closes the
// client.
func (r *registrar) stop() {
	if r.started {
		close(r.quit)
		<-r.done
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.started {
		var wg sync.WaitGroup
		for _, addr := range r.addrs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(context.Background(), registerTimeout)
				defer cancel()
				if _, err := r.client.Invoke(ctx, addr, r.b.unregisterRequest()); err != nil {
					r.log.Warn("unregister from name server failed", "namesrv", addr, "err", err)
				}
			}()
		}
		wg.Wait()
	}
	r.client.Close()
}

// registerBody is Java's RegisterBrokerBody, uncompressed.
func (b *Broker) registerBody() ([]byte, error) {
	table, v := b.topics.snapshot()
	return json.Marshal(struct {
		TopicConfigSerializeWrapper topicConfigWrapper `json:"topicConfigSerializeWrapper"`
		FilterServerList            []string           `json:"filterServerList"`
	}{topicConfigWrapper{TopicConfigTable: table, DataVersion: v}, []string{}})
}

// registerRequest builds REGISTER_BROKER (103) with Java's
// RegisterBrokerRequestHeader.
func (b *Broker) registerRequest(body []byte) *remoting.Command {
	host, port, _ := net.SplitHostPort(b.addr)
	p, _ := strconv.Atoi(port)
	req := remoting.NewRequest(remoting.CodeRegisterBroker, map[string]string{
		"brokerName":   b.cfg.BrokerName,
		"brokerAddr":   b.addr,
		"clusterName":  b.cfg.BrokerClusterName,
		"haServerAddr": net.JoinHostPort(host, strconv.Itoa(p+1)),
		"brokerId":     strconv.FormatInt(b.cfg.BrokerID, 10),
		"compressed":   "false",
		"bodyCrc32":    strconv.FormatUint(uint64(crc32.ChecksumIEEE(body)&0x7FFFFFFF), 10),
	}, body)
	return req
}

func (b *Broker) unregisterRequest() *remoting.Command {
	return remoting.NewRequest(remoting.CodeUnregisterBroker, map[string]string{
		"brokerName":  b.cfg.BrokerName,
		"brokerAddr":  b.addr,
		"clusterName": b.cfg.BrokerClusterName,
		"brokerId":    fmt.Sprint(b.cfg.BrokerID),
	}, nil)
}
