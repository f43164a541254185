package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/wharfmq/wharf/remoting"
	"github.com/wharfmq/wharf/remoting/body"
	"github.com/wharfmq/wharf/systopic"
)

// DefaultNamesrv is where routes are asked when no broker is given.
const DefaultNamesrv = "127.0.0.1:9876"

// adminTimeout bounds each route and topic request.
const adminTimeout = 5 * time.Second

// target is one queue of the topic on one broker.
type target struct {
	addr    string
	queueID int32
	qid     string // queueID in decimal, formatted once
}

// Route says where to send or pull: a name server to ask, or a broker to
// use directly (which wins).
type Route struct {
	Namesrv string // default DefaultNamesrv
	Broker  string // "host:port"; skips the name server
	Topic   string
	// Queues is the queue count for a topic that does not exist yet;
	// 0 means 8. Producers create the topic; consumers never do.
	Queues int
}

func invoke(ctx context.Context, cli *remoting.Client, addr string, req *remoting.Command) (*remoting.Command, error) {
	ctx, cancel := context.WithTimeout(ctx, adminTimeout)
	defer cancel()
	return cli.Invoke(ctx, addr, req)
}

// resolve returns every queue of the topic to write (write=true) or read,
// creating the topic with r.Queues queues when write is set and no broker
// has it.
func resolve(ctx context.Context, cli *remoting.Client, r Route, write bool) ([]target, error) {
	if r.Topic == "" {
		return nil, errors.New("bench: no topic")
	}
	brokers := []string{r.Broker}
	if r.Broker == "" {
		ns := r.Namesrv
		if ns == "" {
			ns = DefaultNamesrv
		}
		rd, found, err := queryRoute(ctx, cli, ns, r.Topic)
		if err != nil {
			return nil, err
		}
		if found {
			if ts := routeTargets(rd, write); len(ts) > 0 {
				return ts, nil
			}
			return nil, fmt.Errorf("bench: topic %s has no %s queues in the route from %s", r.Topic, rw(write), ns)
		}
		if !write {
			return nil, fmt.Errorf("bench: topic %s not found on name server %s", r.Topic, ns)
		}
		// Unknown topic: create it on the brokers that allow auto-creation
		// (each registers TBW102 with the name server when it may).
		rd, found, err = queryRoute(ctx, cli, ns, systopic.AutoCreate)
		if err != nil {
			return nil, err
		}
		if !found {
			return nil, fmt.Errorf("bench: topic %s not found and name server %s knows no broker; pass --broker", r.Topic, ns)
		}
		brokers = brokers[:0]
		for _, bd := range rd.BrokerDatas {
			if a := bd.BrokerAddrs[0]; a != "" {
				brokers = append(brokers, a)
			}
		}
		if len(brokers) == 0 {
			return nil, fmt.Errorf("bench: name server %s lists no master broker", ns)
		}
	}
	var out []target
	for _, addr := range brokers {
		tc, ok, err := brokerTopic(ctx, cli, addr, r.Topic)
		if err != nil {
			return nil, err
		}
		if !ok {
			if !write {
				return nil, fmt.Errorf("bench: topic %s does not exist on broker %s", r.Topic, addr)
			}
			q := r.Queues
			if q <= 0 {
				q = 8
			}
			if err := createTopic(ctx, cli, addr, r.Topic, q); err != nil {
				return nil, err
			}
			tc = body.TopicConfig{ReadQueueNums: int32(q), WriteQueueNums: int32(q), Perm: body.PermRead | body.PermWrite}
		}
		n := tc.ReadQueueNums
		if write {
			n = tc.WriteQueueNums
		}
		out = appendTargets(out, addr, n)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("bench: topic %s has no %s queues", r.Topic, rw(write))
	}
	return out, nil
}

func rw(write bool) string {
	if write {
		return "writable"
	}
	return "readable"
}

func appendTargets(out []target, addr string, n int32) []target {
	for q := range n {
		out = append(out, target{addr: addr, queueID: q, qid: strconv.Itoa(int(q))})
	}
	return out
}

// queryRoute asks GET_ROUTEINFO_BY_TOPIC; found is false on TOPIC_NOT_EXIST.
func queryRoute(ctx context.Context, cli *remoting.Client, ns, topic string) (body.TopicRouteData, bool, error) {
	var rd body.TopicRouteData
	resp, err := invoke(ctx, cli, ns, remoting.NewRequest(remoting.CodeGetRouteInfoByTopic, map[string]string{"topic": topic}, nil))
	if err != nil {
		return rd, false, fmt.Errorf("bench: route of %s from %s: %w", topic, ns, err)
	}
	switch resp.Code {
	case remoting.RespSuccess:
	case remoting.RespTopicNotExist:
		return rd, false, nil
	default:
		return rd, false, fmt.Errorf("bench: route of %s from %s: code %d: %s", topic, ns, resp.Code, resp.Remark)
	}
	if err := json.Unmarshal(resp.Body, &rd); err != nil {
		return rd, false, fmt.Errorf("bench: route of %s from %s: %w", topic, ns, err)
	}
	return rd, true, nil
}

// routeTargets lists the queues of a route on master brokers.
func routeTargets(rd body.TopicRouteData, write bool) []target {
	masters := make(map[string]string, len(rd.BrokerDatas))
	for _, bd := range rd.BrokerDatas {
		if a := bd.BrokerAddrs[0]; a != "" {
			masters[bd.BrokerName] = a
		}
	}
	var out []target
	for _, qd := range rd.QueueDatas {
		addr := masters[qd.BrokerName]
		if addr == "" {
			continue
		}
		if write && qd.Perm&body.PermWrite != 0 {
			out = appendTargets(out, addr, qd.WriteQueueNums)
		} else if !write && qd.Perm&body.PermRead != 0 {
			out = appendTargets(out, addr, qd.ReadQueueNums)
		}
	}
	return out
}

// brokerTopic reads the topic's config from the broker's topic table.
func brokerTopic(ctx context.Context, cli *remoting.Client, addr, topic string) (body.TopicConfig, bool, error) {
	resp, err := invoke(ctx, cli, addr, remoting.NewRequest(remoting.CodeGetAllTopicConfig, nil, nil))
	if err != nil {
		return body.TopicConfig{}, false, fmt.Errorf("bench: topic table of %s: %w", addr, err)
	}
	if resp.Code != remoting.RespSuccess {
		return body.TopicConfig{}, false, fmt.Errorf("bench: topic table of %s: code %d: %s", addr, resp.Code, resp.Remark)
	}
	var w body.TopicConfigWrapper
	if err := json.Unmarshal(resp.Body, &w); err != nil {
		return body.TopicConfig{}, false, fmt.Errorf("bench: topic table of %s: %w", addr, err)
	}
	tc, ok := w.TopicConfigTable[topic]
	return tc, ok, nil
}

// createTopic sends UPDATE_AND_CREATE_TOPIC with n read and write queues.
func createTopic(ctx context.Context, cli *remoting.Client, addr, topic string, n int) error {
	ext := map[string]string{
		"topic": topic, "defaultTopic": systopic.AutoCreate,
		"readQueueNums": strconv.Itoa(n), "writeQueueNums": strconv.Itoa(n),
		"perm": strconv.Itoa(body.PermRead | body.PermWrite), "topicFilterType": body.DefaultTopicFilterType,
		"topicSysFlag": "0", "order": "false",
	}
	resp, err := invoke(ctx, cli, addr, remoting.NewRequest(remoting.CodeUpdateAndCreateTopic, ext, nil))
	if err != nil {
		return fmt.Errorf("bench: create topic %s on %s: %w", topic, addr, err)
	}
	if resp.Code != remoting.RespSuccess {
		return fmt.Errorf("bench: create topic %s on %s: code %d: %s", topic, addr, resp.Code, resp.Remark)
	}
	return nil
}
