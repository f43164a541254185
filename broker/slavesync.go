package broker

import (
	"context"
	"fmt"
	"strings"

	"github.com/wharfmq/wharf/broker/slavesync"
	"github.com/wharfmq/wharf/remoting"
	"github.com/wharfmq/wharf/remoting/body"
)

// A slave's SlaveSynchronize (package slavesync) and the master's side of
// it: GET_ALL_CONSUMER_OFFSET (43) and GET_ALL_DELAY_OFFSET (45); 21 and
// 201 are in admin.go. An empty table is answered SUCCESS with an empty
// body table, not Java's SYSTEM_ERROR "No ... in this broker" (which Java
// sends only when encoding fails): a slave then learns that the table is
// empty. A Wharf slave reads both answers.

// handleGetAllConsumerOffset serves GET_ALL_CONSUMER_OFFSET (43): every
// committed offset of every client group, in Java's
// ConsumerOffsetManager shape. Wharf's reserved groups stay out
// (slavesync.Reserved).
func (b *Broker) handleGetAllConsumerOffset(_ context.Context, _ *remoting.Conn, req *remoting.Command) *remoting.Command {
	all, err := b.offsets.All()
	if err != nil {
		return remoting.NewResponse(req, remoting.RespSystemError, err.Error())
	}
	table := body.ConsumerOffsetTable{}
	for group, refs := range all {
		if slavesync.Reserved(group) {
			continue
		}
		for ref, off := range refs {
			if off < 0 {
				continue
			}
			k := body.ConsumerOffsetKey{Topic: ref.Topic, Group: group}
			if table[k] == nil {
				table[k] = map[int32]int64{}
			}
			table[k][ref.QueueID] = off
		}
	}
	return b.replyBody(req, "consumer offset", body.AppendConsumerOffsets(nil, table))
}

// handleGetAllDelayOffset serves GET_ALL_DELAY_OFFSET (45): per delay
// level, the offset of its next message to deliver.
func (b *Broker) handleGetAllDelayOffset(_ context.Context, _ *remoting.Conn, req *remoting.Command) *remoting.Command {
	levels, err := b.sched.Progress()
	if err != nil {
		return remoting.NewResponse(req, remoting.RespSystemError, err.Error())
	}
	return b.replyBody(req, "delay offset", body.AppendDelayOffsets(nil, levels))
}

// replyBody answers SUCCESS with data, or SYSTEM_ERROR when it cannot fit
// a frame (a reply that cannot be sent would leave the caller waiting).
func (b *Broker) replyBody(req *remoting.Command, what string, data []byte) *remoting.Command {
	if len(data) > maxReplyBody {
		return remoting.NewResponse(req, remoting.RespSystemError, fmt.Sprintf(
			"the %s table (%d bytes as JSON) exceeds the %d-byte frame limit", what, len(data), remoting.MaxFrameSize))
	}
	resp := remoting.NewResponse(req, remoting.RespSuccess, "")
	resp.Body = data
	return resp
}

// syncFetcher fetches a master's tables for the Syncer.
type syncFetcher struct{ client *remoting.Client }

var syncCodes = [...]int16{
	slavesync.TopicConfigs:       remoting.CodeGetAllTopicConfig,
	slavesync.SubscriptionGroups: remoting.CodeGetAllSubscriptionGroupConfig,
	slavesync.ConsumerOffsets:    remoting.CodeGetAllConsumerOffset,
	slavesync.DelayOffsets:       remoting.CodeGetAllDelayOffset,
}

// Fetch sends the table's request to the master's listen port. Wharf
// masters serve 21 there; a Java master serves it on its VIP port
// (listenPort-2) as well, but also on the listen port.
func (f syncFetcher) Fetch(ctx context.Context, addr string, t slavesync.Table) ([]byte, error) {
	if int(t) < 0 || int(t) >= len(syncCodes) {
		return nil, fmt.Errorf("broker: no request for %v", t)
	}
	resp, err := f.client.Invoke(ctx, addr, remoting.NewRequest(syncCodes[t], nil, nil))
	if err != nil {
		return nil, err
	}
	switch {
	case resp.Code == remoting.RespSuccess:
		return resp.Body, nil
	case resp.Code == remoting.RespSystemError && strings.HasPrefix(resp.Remark, "No ") && strings.HasSuffix(resp.Remark, " in this broker"):
		return nil, slavesync.ErrEmpty
	}
	return nil, fmt.Errorf("master answered code %d: %s", resp.Code, resp.Remark)
}

// setSyncMaster makes the broker pull its metadata from the master whose
// listen address is addr (a slave's SlaveSynchronize), starting the Syncer
// on first use; "" pauses the pulls. The role and registration code
// connects it; Close stops the Syncer. It does nothing after Close.
func (b *Broker) setSyncMaster(addr string) {
	b.syncMaster.Store(&addr)
	if addr == "" {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed || b.syncer != nil {
		return
	}
	b.syncClient = remoting.NewClient(b.clientOptions())
	b.syncer = slavesync.New(slavesync.Options{
		MasterAddr: func() string {
			if p := b.syncMaster.Load(); p != nil {
				return *p
			}
			return ""
		},
		Fetcher: syncFetcher{b.syncClient},
		Topics:  b.topics, Groups: b.groups, Offsets: b.offsets, Delay: b.sched,
		Forget: b.store.DeleteTopicQueues, Logger: b.log,
	})
	b.syncer.Start()
}

// stopSync stops the Syncer and its client, if they were started; a later
// setSyncMaster starts new ones (a broker that becomes master stops
// pulling; one that becomes slave again starts). It waits for a round
// under way, so no table of the old master is applied after it returns.
func (b *Broker) stopSync() {
	empty := ""
	b.syncMaster.Store(&empty)
	b.mu.Lock()
	syncer, client := b.syncer, b.syncClient
	b.syncer, b.syncClient = nil, nil
	b.mu.Unlock()
	if syncer != nil {
		syncer.Close()
		client.Close()
	}
}
