package dashboard

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/wharfmq/wharf/remoting/body"
	"github.com/wharfmq/wharf/systopic"
	"github.com/wharfmq/wharf/tools/admin"
)

// Topic name prefixes of retry and dead-letter topics.
const (
	retryPrefix = "%RETRY%"
	dlqPrefix   = "%DLQ%"
)

// systemGroups are the consumer and producer groups RocketMQ's own tools
// and services use (Java MixAll); the pages list them apart.
var systemGroups = map[string]bool{
	admin.ToolsGroup: true, admin.ToolsProducerGroup: true, "FILTERSRV_CONSUMER": true, "__MONITOR_CONSUMER": true,
	"CLIENT_INNER_PRODUCER": true, "SELF_TEST_P_GROUP": true, "SELF_TEST_C_GROUP": true,
	"CID_ONS-HTTP-PROXY": true, "CID_ONSAPI_PERMISSION": true, "CID_ONSAPI_OWNER": true, "CID_ONSAPI_PULL": true,
	"CID_SYS_RMQ_TRANS": true, "CID_RMQ_SYS_TRANS": true,
}

func isSystemGroup(g string) bool { return systemGroups[g] || strings.HasPrefix(g, "CID_RMQ_SYS_") }

// names is a cluster view's cluster and broker names, which are system
// topics.
type names struct{ ci body.ClusterInfo }

func (n names) IsCluster(s string) bool { _, ok := n.ci.ClusterAddrTable[s]; return ok }
func (n names) IsBroker(s string) bool  { _, ok := n.ci.BrokerAddrTable[s]; return ok }

// topicKind is how the pages group a topic.
func topicKind(t string, n names) string {
	switch {
	case strings.HasPrefix(t, retryPrefix):
		return "retry"
	case strings.HasPrefix(t, dlqPrefix):
		return "dlq"
	case systopic.Is(t, n):
		return "system"
	}
	return "normal"
}

func (s *Server) info(context.Context, query) (any, error) {
	return map[string]any{"admin": s.opts.Admin, "namesrv": s.ac.Namesrv()}, nil
}

// brokerView is one broker of the cluster page.
type brokerView struct {
	Cluster    string            `json:"cluster"`
	BrokerName string            `json:"brokerName"`
	BrokerID   int64             `json:"brokerId"`
	Addr       string            `json:"addr"`
	Role       string            `json:"role"`
	Runtime    map[string]string `json:"runtime,omitempty"`
	Error      string            `json:"error,omitempty"`
}

// brokers lists every broker the name server knows, sorted.
func (s *Server) brokers(ctx context.Context) ([]brokerView, body.ClusterInfo, error) {
	ci, err := s.ac.ClusterInfo(ctx)
	if err != nil {
		return nil, ci, err
	}
	var out []brokerView
	for cl, bns := range ci.ClusterAddrTable {
		for _, bn := range bns {
			for id, a := range ci.BrokerAddrTable[bn].BrokerAddrs {
				role := "SLAVE"
				if id == 0 {
					role = "MASTER"
				}
				out = append(out, brokerView{Cluster: cl, BrokerName: bn, BrokerID: id, Addr: a, Role: role})
			}
		}
	}
	slices.SortFunc(out, func(a, b brokerView) int {
		return cmp.Or(cmp.Compare(a.Cluster, b.Cluster), cmp.Compare(a.BrokerName, b.BrokerName), cmp.Compare(a.BrokerID, b.BrokerID))
	})
	return out, ci, nil
}

// masters returns the master brokers; none is an error.
func (s *Server) masters(ctx context.Context) ([]brokerView, names, error) {
	bs, ci, err := s.brokers(ctx)
	if err != nil {
		return nil, names{}, err
	}
	bs = slices.DeleteFunc(bs, func(b brokerView) bool { return b.BrokerID != 0 })
	if len(bs) == 0 {
		return nil, names{ci}, fmt.Errorf("the name server knows no master broker: %w", admin.ErrNotFound)
	}
	return bs, names{ci}, nil
}

// knownBroker refuses an address the name server does not list, so the
// API never connects where a request says.
func (s *Server) knownBroker(ctx context.Context, addr string) error {
	bs, _, err := s.brokers(ctx)
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(bs, func(b brokerView) bool { return b.Addr == addr }) {
		return badRequest("broker %q is not registered with the name server", addr)
	}
	return nil
}

func (s *Server) cluster(ctx context.Context, _ query) (any, error) {
	bs, _, err := s.brokers(ctx)
	if err != nil {
		return nil, err
	}
	for i := range bs {
		rt, err := s.ac.BrokerRuntimeInfo(ctx, bs[i].Addr)
		if err != nil {
			bs[i].Error = err.Error()
			continue
		}
		bs[i].Runtime = rt
		if r := rt["brokerRole"]; r != "" {
			bs[i].Role = r
		}
	}
	return map[string]any{"brokers": bs}, nil
}

// topicView is one topic of the topics page, summed over its brokers.
type topicView struct {
	Topic          string   `json:"topic"`
	Kind           string   `json:"kind"`
	Brokers        []string `json:"brokers"`
	ReadQueues     int      `json:"readQueues"`
	WriteQueues    int      `json:"writeQueues"`
	Perm           int      `json:"perm"`
	Messages       int64    `json:"messages"`  // sum of max-min over its queues
	MaxOffsets     int64    `json:"maxOffset"` // sum of max offsets: its rate's counter
	LastUpdateTime int64    `json:"lastUpdateTime"`
	Groups         []string `json:"groups"` // groups with committed offsets
	Error          string   `json:"error,omitempty"`
}

// allTopics reads every master's topic table and queue offsets.
func (s *Server) allTopics(ctx context.Context) ([]*topicView, error) {
	ms, n, err := s.masters(ctx)
	if err != nil {
		return nil, err
	}
	byName := map[string]*topicView{}
	for _, m := range ms {
		tcs, err := s.ac.TopicConfigs(ctx, m.Addr)
		if err != nil {
			return nil, err
		}
		offs, err := s.ac.ConsumerOffsets(ctx, m.Addr)
		if err != nil {
			return nil, err
		}
		for name, tc := range tcs {
			tv := byName[name]
			if tv == nil {
				tv = &topicView{Topic: name, Kind: topicKind(name, n), Groups: []string{}}
				byName[name] = tv
			}
			tv.Brokers = append(tv.Brokers, m.BrokerName)
			tv.ReadQueues += int(tc.ReadQueueNums)
			tv.WriteQueues += int(tc.WriteQueueNums)
			tv.Perm = tc.Perm
			qs, err := s.ac.TopicStats(ctx, m.Addr, name)
			if err != nil {
				tv.Error = err.Error()
				continue
			}
			for _, q := range qs {
				tv.Messages += max(q.MaxOffset-q.MinOffset, 0)
				tv.MaxOffsets += q.MaxOffset
				tv.LastUpdateTime = max(tv.LastUpdateTime, q.LastUpdateTimestamp)
			}
		}
		for k := range offs {
			if tv := byName[k.Topic]; tv != nil && !slices.Contains(tv.Groups, k.Group) {
				tv.Groups = append(tv.Groups, k.Group)
			}
		}
	}
	out := make([]*topicView, 0, len(byName))
	for _, tv := range byName {
		slices.Sort(tv.Groups)
		out = append(out, tv)
	}
	slices.SortFunc(out, func(a, b *topicView) int { return cmp.Compare(a.Topic, b.Topic) })
	return out, nil
}

func (s *Server) topics(ctx context.Context, _ query) (any, error) {
	ts, err := s.allTopics(ctx)
	if err != nil {
		return nil, err
	}
	return map[string]any{"topics": ts}, nil
}

// groupLag is a group's total lag on one topic.
type groupLag struct {
	Group string `json:"group"`
	Lag   int64  `json:"lag"`
	Error string `json:"error,omitempty"`
}

func (s *Server) topic(ctx context.Context, q query) (any, error) {
	topic, err := q.need("topic")
	if err != nil {
		return nil, err
	}
	qs, err := s.ac.TopicStatus(ctx, topic, "")
	if err != nil {
		return nil, err
	}
	ms, _, err := s.masters(ctx)
	if err != nil {
		return nil, err
	}
	var groups []string
	for _, m := range ms {
		offs, err := s.ac.ConsumerOffsets(ctx, m.Addr)
		if err != nil {
			return nil, err
		}
		for k := range offs {
			if k.Topic == topic && !slices.Contains(groups, k.Group) {
				groups = append(groups, k.Group)
			}
		}
	}
	slices.Sort(groups)
	lags := []groupLag{}
	for _, g := range groups {
		gl := groupLag{Group: g}
		ps, err := s.ac.GroupProgress(ctx, g, topic, "")
		if err != nil {
			gl.Error = err.Error()
		}
		for _, p := range ps {
			gl.Lag += p.Lag
		}
		lags = append(lags, gl)
	}
	return map[string]any{"topic": topic, "queues": qs, "groups": lags}, nil
}

// groupView is one consumer group of the groups page.
type groupView struct {
	Group      string   `json:"group"`
	System     bool     `json:"system"`
	Brokers    []string `json:"brokers"`
	Topics     []string `json:"topics"`
	Lag        int64    `json:"lag"`
	ConsumeTps float64  `json:"consumeTps"`
	Clients    int      `json:"clients"`
	Error      string   `json:"error,omitempty"`
}

func (s *Server) groups(ctx context.Context, _ query) (any, error) {
	ms, _, err := s.masters(ctx)
	if err != nil {
		return nil, err
	}
	byName := map[string]*groupView{}
	for _, m := range ms {
		gcs, err := s.ac.GroupConfigs(ctx, m.Addr)
		if err != nil {
			return nil, err
		}
		for g := range gcs {
			gv := byName[g]
			if gv == nil {
				gv = &groupView{Group: g, System: isSystemGroup(g), Topics: []string{}}
				byName[g] = gv
			}
			gv.Brokers = append(gv.Brokers, m.BrokerName)
			if gv.System {
				continue // their stats are noise; listed by name only
			}
			cs, err := s.ac.ConsumeStats(ctx, m.Addr, g, "")
			if err != nil && !errors.Is(err, admin.ErrNotFound) {
				gv.Error = err.Error()
			}
			gv.ConsumeTps += cs.ConsumeTps
			for _, q := range cs.Queues {
				gv.Lag += max(q.BrokerOffset-q.ConsumerOffset, 0)
				if !slices.Contains(gv.Topics, q.Topic) {
					gv.Topics = append(gv.Topics, q.Topic)
				}
			}
			cc, err := s.ac.ConsumerConnections(ctx, m.Addr, g)
			if err != nil && !errors.Is(err, admin.ErrNotFound) {
				gv.Error = err.Error()
			}
			gv.Clients = max(gv.Clients, len(cc.ConnectionSet))
		}
	}
	out := make([]*groupView, 0, len(byName))
	for _, gv := range byName {
		slices.Sort(gv.Topics)
		out = append(out, gv)
	}
	slices.SortFunc(out, func(a, b *groupView) int { return cmp.Compare(a.Group, b.Group) })
	return map[string]any{"groups": out}, nil
}

func (s *Server) group(ctx context.Context, q query) (any, error) {
	g, err := q.need("group")
	if err != nil {
		return nil, err
	}
	ps, err := s.ac.GroupProgress(ctx, g, q.str("topic"), "")
	if err != nil {
		return nil, err
	}
	ms, _, err := s.masters(ctx)
	if err != nil {
		return nil, err
	}
	clients := []clientView{}
	subs := map[string]string{}
	var model, ctype string
	for _, m := range ms {
		cc, err := s.ac.ConsumerConnections(ctx, m.Addr, g)
		if errors.Is(err, admin.ErrNotFound) {
			continue // none online on this broker
		}
		if err != nil {
			return nil, err
		}
		model, ctype = cmp.Or(model, cc.MessageModel), cmp.Or(ctype, cc.ConsumeType)
		for t, sd := range cc.SubscriptionTable {
			subs[t] = sd.SubString
		}
		for _, c := range cc.ConnectionSet {
			if !slices.ContainsFunc(clients, func(v clientView) bool { return v.ClientID == c.ClientID }) {
				clients = append(clients, clientView{c, m.BrokerName})
			}
		}
	}
	slices.SortFunc(clients, func(a, b clientView) int { return cmp.Compare(a.ClientID, b.ClientID) })
	var lag int64
	for _, p := range ps {
		lag += p.Lag
	}
	return map[string]any{"group": g, "lag": lag, "queues": ps, "clients": clients, "subscriptions": subs,
		"messageModel": model, "consumeType": ctype}, nil
}

// clientView is one client connection and the broker it is connected to.
type clientView struct {
	admin.Connection
	Broker string `json:"broker"`
}

// producers shows the write side of every topic and, for a producer group
// (the brokers cannot list producer groups), its connections.
func (s *Server) producers(ctx context.Context, q query) (any, error) {
	ts, err := s.allTopics(ctx)
	if err != nil {
		return nil, err
	}
	type row struct {
		Topic          string `json:"topic"`
		MaxOffset      int64  `json:"maxOffset"`
		LastUpdateTime int64  `json:"lastUpdateTime"`
	}
	rows := []row{}
	for _, t := range ts {
		if t.Kind == "normal" {
			rows = append(rows, row{t.Topic, t.MaxOffsets, t.LastUpdateTime})
		}
	}
	conns := []clientView{}
	if g := q.str("group"); g != "" {
		ms, _, err := s.masters(ctx)
		if err != nil {
			return nil, err
		}
		for _, m := range ms {
			pc, err := s.ac.ProducerConnections(ctx, m.Addr, g)
			var se *admin.ServerError
			if errors.As(err, &se) {
				continue // "the producer group[...] not exist" on this broker
			}
			if err != nil {
				return nil, err
			}
			for _, c := range pc.ConnectionSet {
				conns = append(conns, clientView{c, m.BrokerName})
			}
		}
		slices.SortFunc(conns, func(a, b clientView) int {
			return cmp.Or(cmp.Compare(a.ClientID, b.ClientID), cmp.Compare(a.Broker, b.Broker))
		})
	}
	return map[string]any{"topics": rows, "group": q.str("group"), "connections": conns}, nil
}

// parseInt reads an optional integer parameter.
func parseInt(q query, name string) (int64, bool, error) {
	v := q.str(name)
	if v == "" {
		return 0, false, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, false, badRequest("parameter %q: not an integer: %q", name, v)
	}
	return n, true, nil
}
