package nameserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/wharfmq/wharf/remoting"
	"github.com/wharfmq/wharf/remoting/body"
	"github.com/wharfmq/wharf/systopic"
)

// handlers returns the request handlers by code.
func (s *Server) handlers() map[int16]remoting.Handler {
	return map[int16]remoting.Handler{
		remoting.CodeRegisterBroker:                s.handleRegisterBroker,
		remoting.CodeUnregisterBroker:              s.handleUnregisterBroker,
		remoting.CodeGetRouteInfoByTopic:           s.handleGetRoute,
		remoting.CodeGetBrokerClusterInfo:          s.handleClusterInfo,
		remoting.CodeGetAllTopicListFromNameServer: s.handleTopicList,
		remoting.CodeDeleteTopicInNameServer:       s.handleDeleteTopic,
		remoting.CodeQueryDataVersion:              s.handleQueryDataVersion,
	}
}

// refuse answers a bad request with SYSTEM_ERROR, as Java answers a header
// that fails to decode, and a remark that says what was wrong.
func (s *Server) refuse(req *remoting.Command, what string, err error) *remoting.Command {
	s.log.Debug("request refused", "request", what, "err", err)
	return remoting.NewResponse(req, remoting.RespSystemError, what+": "+err.Error())
}

// ok returns a SUCCESS reply with body marshalled as JSON.
func (s *Server) ok(req *remoting.Command, what string, body any) *remoting.Command {
	b, err := json.Marshal(body)
	if err != nil {
		// Our own types always marshal; this is a bug, not bad input.
		s.log.Error("cannot encode reply", "request", what, "err", err)
		return remoting.NewResponse(req, remoting.RespSystemError, what+": cannot encode reply")
	}
	if len(b) > maxReplyBody {
		// A reply that cannot be sent would leave the caller waiting.
		return remoting.NewResponse(req, remoting.RespSystemError,
			fmt.Sprintf("%s: reply of %d bytes exceeds the %d-byte frame limit", what, len(b), remoting.MaxFrameSize))
	}
	resp := remoting.NewResponse(req, remoting.RespSuccess, "")
	resp.Body = b
	return resp
}

// maxReplyBody is the largest reply body that fits in a frame, with room
// for the header; a variable so tests can lower it.
var maxReplyBody = remoting.MaxFrameSize - 64<<10

func (s *Server) handleRegisterBroker(_ context.Context, c *remoting.Conn, req *remoting.Command) *remoting.Command {
	const what = "REGISTER_BROKER"
	reg, err := decodeRegistration(req)
	if err != nil {
		// Worth a warning: a broker that cannot register drops out of
		// every route once it expires.
		s.log.Warn("broker registration refused", "remote", remoteAddr(c), "err", err)
		return s.refuse(req, what, err)
	}
	if c != nil {
		reg.connID, reg.connDone = c.ID(), c.Done()
	}
	res, err := s.reg.register(reg, time.Now())
	if err != nil {
		return s.refuse(req, what, err)
	}
	switch {
	case res.stale:
		// Java answers SUCCESS with nothing in the header; so does Wharf.
		s.log.Warn("registration ignored: another address holds this brokerId with a higher stateVersion (master epoch)",
			"cluster", reg.cluster, "broker", reg.name, "id", reg.id, "addr", reg.addr, "stateVersion", reg.stateVersion(),
			"holder", res.staleHolder, "holderStateVersion", res.staleVersion)
		return remoting.NewResponse(req, remoting.RespSuccess, "")
	case res.displaced != "":
		s.idClaims.Warn(brokerID{reg.name, reg.id}, s.log, idClaimLogEvery,
			"brokerId taken from another live broker; if this repeats, two brokers have this brokerName and brokerId in their configs",
			"cluster", reg.cluster, "broker", reg.name, "id", reg.id, "addr", reg.addr, "was", res.displaced)
	case res.first:
		s.log.Info("broker registered", "cluster", reg.cluster, "broker", reg.name, "id", reg.id, "addr", reg.addr)
	default:
		s.log.Debug("broker re-registered", "broker", reg.name, "id", reg.id, "addr", reg.addr)
	}
	resp := remoting.NewResponse(req, remoting.RespSuccess, "")
	if res.needTable {
		resp.SetExtBool(needTableField, true)
	}
	// Java fills these for slaves only and omits null header fields.
	if res.masterAddr != "" {
		resp.SetExt("masterAddr", res.masterAddr)
		resp.SetExt("haServerAddr", res.haServerAddr)
	}
	return resp
}

// brokerID names one brokerId of a broker name.
type brokerID struct {
	name string
	id   int64
}

// idClaimLogEvery bounds the warning of two live brokers taking one
// brokerId from each other: one line per brokerId per interval.
const idClaimLogEvery = 10 * time.Second

func remoteAddr(c *remoting.Conn) string {
	if c == nil {
		return ""
	}
	return c.RemoteAddr()
}

// baseVersionField marks a partial registration (Wharf only): the topics
// in the body are merged into what the broker registered before, and the
// value is the DataVersion JSON they build on.
const baseVersionField = "wharfBaseDataVersion"

// partField marks one part of a table split in several registrations,
// "i/k" (Wharf only): parts merge, and the last removes the broker's
// topics that no part named.
const partField = "wharfPart"

// maxParts bounds k in wharfPart "i/k". A Wharf broker sends
// ceil(topics / splitRegistrationSize) parts, 20 at the defaults
// (maxTopicNums 200,000, splitRegistrationSize 10,000), and never more
// parts than topics; 1<<20 lets even a broker of a million topics send one
// topic per part. The bound is a sanity check on untrusted input, not what
// keeps memory low: the name server never sizes anything by k.
const maxParts = 1 << 20

// parsePart reads wharfPart "i/k", 1 <= i <= k <= maxParts.
func parsePart(v string) (part, parts int, err error) {
	is, ks, ok := strings.Cut(v, "/")
	if ok {
		part, err = strconv.Atoi(is)
		if err == nil {
			parts, err = strconv.Atoi(ks)
		}
	}
	switch {
	case !ok || err != nil || part < 1 || part > parts:
		return 0, 0, fmt.Errorf("ext field %s %q: want i/k with 1 <= i <= k", partField, v)
	case parts > maxParts:
		return 0, 0, fmt.Errorf("ext field %s %q: %d parts, more than the %d a broker sends", partField, v, parts, maxParts)
	}
	return part, parts, nil
}

// needTableField in the reply to a partial registration asks the broker
// for its whole table (Wharf only).
const needTableField = "wharfNeedTable"

// decodeRegistration reads RegisterBrokerRequestHeader and the body.
func decodeRegistration(req *remoting.Command) (registration, error) {
	var reg registration
	var err error
	if reg.name, reg.cluster, reg.addr, reg.id, err = brokerIdentity(req); err != nil {
		return reg, err
	}
	reg.haServerAddr = req.ExtStringOr("haServerAddr", "")
	compressed := req.ExtBoolOr("compressed", false)
	crc, err := req.ExtInt32Or("bodyCrc32", 0)
	if err != nil {
		return reg, err
	}
	if got := int32(bodyCRC(req.Body)); crc != 0 && got != crc {
		return reg, fmt.Errorf("body CRC32 %d does not match bodyCrc32 %d", got, crc)
	}
	if reg.topics, err = body.DecodeRegisterBody(req.Body, compressed); err != nil {
		return reg, err
	}
	if part := req.ExtStringOr(partField, ""); part != "" {
		if reg.part, reg.parts, err = parsePart(part); err != nil {
			return reg, err
		}
	}
	if base := req.ExtStringOr(baseVersionField, ""); base != "" {
		reg.base = new(DataVersion)
		if err := json.Unmarshal([]byte(base), reg.base); err != nil {
			return reg, fmt.Errorf("ext field %s is not DataVersion JSON: %w", baseVersionField, err)
		}
	}
	return reg, nil
}

// brokerIdentity reads the ext fields REGISTER_BROKER and
// UNREGISTER_BROKER share, all required, as Java's @CFNotNull.
func brokerIdentity(req *remoting.Command) (name, cluster, addr string, id int64, err error) {
	for _, f := range []struct {
		key string
		dst *string
	}{{"brokerName", &name}, {"clusterName", &cluster}, {"brokerAddr", &addr}} {
		if *f.dst, err = req.ExtString(f.key); err != nil {
			return
		}
		if *f.dst == "" {
			err = fmt.Errorf("ext field %q is empty", f.key)
			return
		}
	}
	if err = checkBrokerAddr(addr); err != nil {
		return
	}
	if id, err = req.ExtInt64("brokerId"); err != nil {
		return
	}
	if id < 0 {
		err = fmt.Errorf("negative brokerId %d", id)
	}
	return
}

// checkBrokerAddr accepts "host:port". The Go client splits brokerAddrs
// as raw text on commas and strips quotes, so those and whitespace would
// hand it a wrong address (PROTOCOL.md §6).
func checkBrokerAddr(addr string) error {
	if strings.ContainsAny(addr, " \t\r\n,\"{}") {
		return fmt.Errorf("brokerAddr %q contains a space, comma, quote or brace", addr)
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("brokerAddr %q is not host:port: %w", addr, err)
	}
	if p, err := strconv.Atoi(port); err != nil || p <= 0 || p > 65535 || host == "" {
		return fmt.Errorf("brokerAddr %q has no valid host and port", addr)
	}
	return nil
}

func (s *Server) handleUnregisterBroker(_ context.Context, _ *remoting.Conn, req *remoting.Command) *remoting.Command {
	const what = "UNREGISTER_BROKER"
	name, cluster, addr, id, err := brokerIdentity(req)
	if err != nil {
		return s.refuse(req, what, err)
	}
	if s.reg.unregister(name, addr, id) {
		s.log.Info("broker unregistered", "cluster", cluster, "broker", name, "id", id, "addr", addr)
	}
	// Java answers SUCCESS whether or not the broker was known.
	return remoting.NewResponse(req, remoting.RespSuccess, "")
}

func (s *Server) handleGetRoute(_ context.Context, _ *remoting.Conn, req *remoting.Command) *remoting.Command {
	const what = "GET_ROUTEINFO_BY_TOPIC"
	topic, err := requiredTopic(req)
	if err != nil {
		return s.refuse(req, what, err)
	}
	rd, ok := s.reg.route(topic)
	if !ok {
		return remoting.NewResponse(req, remoting.RespTopicNotExist,
			"No topic route info in name server for the topic: "+topic)
	}
	return s.ok(req, what, rd)
}

func requiredTopic(req *remoting.Command) (string, error) {
	topic, err := req.ExtString("topic")
	if err == nil && topic == "" {
		err = errors.New(`ext field "topic" is empty`)
	}
	return topic, err
}

// Topic name rules of Java's TopicValidator.
const maxTopicLength = 127

var topicPattern = regexp.MustCompile(`^[%|a-zA-Z0-9_-]+$`)

// checkTopicName refuses a name no broker can hold, so an admin's typo in a
// delete is reported instead of answered with SUCCESS.
func checkTopicName(topic string) error {
	if len(topic) > maxTopicLength {
		return fmt.Errorf("topic of %d bytes is longer than the topic max length %d", len(topic), maxTopicLength)
	}
	if !topicPattern.MatchString(topic) {
		return fmt.Errorf("topic %q contains illegal characters, allowing only ^[%%|a-zA-Z0-9_-]+$", topic)
	}
	return nil
}

func (s *Server) handleClusterInfo(_ context.Context, _ *remoting.Conn, req *remoting.Command) *remoting.Command {
	return s.ok(req, "GET_BROKER_CLUSTER_INFO", s.reg.clusterInfo())
}

func (s *Server) handleTopicList(_ context.Context, _ *remoting.Conn, req *remoting.Command) *remoting.Command {
	return s.ok(req, "GET_ALL_TOPIC_LIST_FROM_NAMESERVER", TopicList{TopicList: s.reg.topicList()})
}

func (s *Server) handleDeleteTopic(_ context.Context, _ *remoting.Conn, req *remoting.Command) *remoting.Command {
	const what = "DELETE_TOPIC_IN_NAMESRV"
	topic, err := requiredTopic(req)
	if err == nil {
		err = checkTopicName(topic)
	}
	if err != nil {
		return s.refuse(req, what, err)
	}
	if systopic.Is(topic, s.reg) {
		return remoting.NewResponse(req, remoting.RespSystemError, systopic.Remark(topic))
	}
	if s.reg.deleteTopic(topic) {
		s.log.Info("topic deleted", "topic", topic)
	}
	return remoting.NewResponse(req, remoting.RespSuccess, "")
}

// handleQueryDataVersion answers whether a broker's topic table changed
// since it last registered. Only brokerAddr of QueryDataVersionRequestHeader
// matters; the body is the broker's DataVersion.
func (s *Server) handleQueryDataVersion(_ context.Context, _ *remoting.Conn, req *remoting.Command) *remoting.Command {
	const what = "QUERY_DATA_VERSION"
	addr, err := req.ExtString("brokerAddr")
	if err != nil {
		return s.refuse(req, what, err)
	}
	var dv DataVersion
	if err := json.Unmarshal(req.Body, &dv); err != nil {
		return s.refuse(req, what, fmt.Errorf("body is not DataVersion JSON: %w", err))
	}
	changed, stored, known := s.reg.queryDataVersion(addr, dv, time.Now())
	resp := remoting.NewResponse(req, remoting.RespSuccess, "")
	resp.SetExtBool("changed", changed)
	if known {
		b, err := json.Marshal(stored)
		if err != nil {
			return s.refuse(req, what, err)
		}
		resp.Body = b
	}
	return resp
}
