package broker

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"time"

	"github.com/wharfmq/wharf/broker/meta"
	"github.com/wharfmq/wharf/remoting"
	"github.com/wharfmq/wharf/remoting/body"
	"github.com/wharfmq/wharf/systopic"
)

// handleUpdateTopic serves UPDATE_AND_CREATE_TOPIC (17).
func (b *Broker) handleUpdateTopic(_ context.Context, _ *remoting.Conn, req *remoting.Command) *remoting.Command {
	topic, err := req.ExtString("topic")
	if err != nil {
		return badRequest(req, err)
	}
	if remark, ok := meta.ValidateTopic(topic); !ok {
		return remoting.NewResponse(req, remoting.RespSystemError, remark)
	}
	if topic == systopic.AutoCreate || topic == b.cfg.BrokerClusterName {
		return remoting.NewResponse(req, remoting.RespSystemError,
			fmt.Sprintf("the topic[%s] is conflict with system reserved words.", topic))
	}
	tc := meta.NewTopicConfig(topic, 0, body.PermRead|body.PermWrite)
	if tc.ReadQueueNums, err = req.ExtInt32Or("readQueueNums", 16); err != nil {
		return badRequest(req, err)
	}
	if tc.WriteQueueNums, err = req.ExtInt32Or("writeQueueNums", 16); err != nil {
		return badRequest(req, err)
	}
	perm, err := req.ExtInt32Or("perm", body.PermRead|body.PermWrite)
	if err != nil {
		return badRequest(req, err)
	}
	sysFlag, err := req.ExtInt32Or("topicSysFlag", 0)
	if err != nil {
		return badRequest(req, err)
	}
	if perm < 0 || perm > body.PermPriority|body.PermRead|body.PermWrite|body.PermInherit {
		return remoting.NewResponse(req, remoting.RespSystemError, fmt.Sprintf("perm %d is not a combination of the permission bits 0..15", perm))
	}
	tc.Perm, tc.TopicSysFlag = int(perm), int(sysFlag)
	tc.TopicFilterType = req.ExtStringOr("topicFilterType", "SINGLE_TAG")
	if tc.TopicFilterType != "SINGLE_TAG" && tc.TopicFilterType != "MULTI_TAG" {
		return remoting.NewResponse(req, remoting.RespSystemError,
			fmt.Sprintf("topicFilterType %q: want SINGLE_TAG or MULTI_TAG", tc.TopicFilterType))
	}
	tc.Order = req.ExtBoolOr("order", false)
	if err := tc.CheckQueueNums(); err != nil {
		return remoting.NewResponse(req, remoting.RespSystemError, err.Error())
	}
	if err := b.topics.Put(tc); err != nil {
		return remoting.NewResponse(req, remoting.RespSystemError, err.Error())
	}
	b.log.Info("topic created or updated by admin", "topic", topic, "read", tc.ReadQueueNums, "write", tc.WriteQueueNums, "perm", tc.Perm)
	// In controller mode answer once the name servers have it, as
	// RocketMQ's registerIncrementBrokerData does: a replica promoted
	// after this master dies takes the topic from them (topicrecover.go).
	if b.cm != nil && !b.reg.registerWithin(topicRegisterWait) {
		b.log.Warn("topic stored, but the name servers have not confirmed it yet; registration goes on in the background",
			"topic", topic, "waited", topicRegisterWait)
	}
	return remoting.NewResponse(req, remoting.RespSuccess, "")
}

// topicRegisterWait bounds how long CREATE_TOPIC waits for the name
// servers: below the 5 s admin clients give the call (mqadmin's and the Go
// client's), so a slow name server delays the answer but never turns a
// stored topic into a client timeout.
const topicRegisterWait = 3 * time.Second

// handleDeleteTopic serves DELETE_TOPIC_IN_BROKER (215): the config and
// every queue of the topic go.
func (b *Broker) handleDeleteTopic(_ context.Context, _ *remoting.Conn, req *remoting.Command) *remoting.Command {
	topic, err := req.ExtString("topic")
	if err != nil {
		return badRequest(req, err)
	}
	if remark, ok := meta.ValidateTopic(topic); !ok {
		return remoting.NewResponse(req, remoting.RespSystemError, remark)
	}
	if b.system().IsSystem(topic) {
		return remoting.NewResponse(req, remoting.RespSystemError, systopic.Remark(topic))
	}
	// The queues first: a crash or failure between the two steps then
	// leaves an empty topic (delete it again), never queues without a
	// config, which the next start would restore as a topic
	// (restoreTopicsOfStoredQueues).
	if err := b.store.DeleteTopicQueues(topic); err != nil {
		return remoting.NewResponse(req, remoting.RespSystemError, err.Error())
	}
	if _, err := b.topics.Remove(topic); err != nil {
		return remoting.NewResponse(req, remoting.RespSystemError, err.Error())
	}
	b.log.Info("topic deleted by admin", "topic", topic)
	return remoting.NewResponse(req, remoting.RespSuccess, "")
}

// maxReplyBody is the largest reply body that fits in a frame, with room
// for the header; a variable so tests can lower it.
var maxReplyBody = remoting.MaxFrameSize - 64<<10

// handleGetAllTopicConfig serves GET_ALL_TOPIC_CONFIG (21). A table too
// large for one frame is refused with a remark; a reply that cannot be
// sent would leave the caller waiting for its timeout.
func (b *Broker) handleGetAllTopicConfig(_ context.Context, _ *remoting.Conn, req *remoting.Command) *remoting.Command {
	body, err := b.topics.WrapperJSON()
	if err != nil {
		return remoting.NewResponse(req, remoting.RespSystemError, err.Error())
	}
	if len(body) > maxReplyBody {
		table, _ := b.topics.Snapshot()
		return remoting.NewResponse(req, remoting.RespSystemError, fmt.Sprintf(
			"the topic table (%d topics, %d bytes as JSON) exceeds the %d-byte frame limit; list the topics through the name server",
			len(table), len(body), remoting.MaxFrameSize))
	}
	resp := remoting.NewResponse(req, remoting.RespSuccess, "")
	resp.Body = body
	return resp
}

// handleGetAllGroupConfig serves GET_ALL_SUBSCRIPTIONGROUP_CONFIG (201).
func (b *Broker) handleGetAllGroupConfig(_ context.Context, _ *remoting.Conn, req *remoting.Command) *remoting.Command {
	body, err := b.groups.WrapperJSON()
	if err != nil {
		return remoting.NewResponse(req, remoting.RespSystemError, err.Error())
	}
	resp := remoting.NewResponse(req, remoting.RespSuccess, "")
	resp.Body = body
	return resp
}

// handleGetBrokerConfig serves GET_BROKER_CONFIG (26): the broker.conf
// keys with the values the broker runs with, as Java's properties text,
// and the config's data version in the header ("version"). The config does
// not change while the broker runs (Wharf has no UPDATE_BROKER_CONFIG), so
// the version is the boot time with counter 0. listenPort is the port
// listened on, which --listen may have chosen instead.
func (b *Broker) handleGetBrokerConfig(_ context.Context, _ *remoting.Conn, req *remoting.Command) *remoting.Command {
	cfg := b.cfg
	if tcp, ok := b.ln.Addr().(*net.TCPAddr); ok {
		cfg.ListenPort = tcp.Port
	}
	version, _ := json.Marshal(body.DataVersion{Timestamp: b.stats.boot.UnixMilli()})
	resp := remoting.NewResponse(req, remoting.RespSuccess, "")
	resp.ExtFields = map[string]string{"version": string(version)}
	resp.Body = []byte(cfg.PropertiesText())
	return resp
}
