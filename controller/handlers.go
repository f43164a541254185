package controller

import (
	"context"
	"errors"
	"fmt"

	"github.com/wharfmq/wharf/controller/api"
	"github.com/wharfmq/wharf/controller/fsm"
	"github.com/wharfmq/wharf/remoting"
)

// Register adds the controller's request handlers to rs: its own peer-port
// server, or a name server's. A server that registers them must also call
// ConnClosed for each connection that closes.
func (c *Controller) Register(rs *remoting.Server) {
	for code, h := range map[int16]remoting.Handler{
		api.CodeBrokerHeartbeat:        c.handleHeartbeat,
		api.CodeAlterSyncStateSet:      c.leaderOnly(c.handleAlterSyncStateSet),
		api.CodeElectMaster:            c.leaderOnly(c.handleElectMaster),
		api.CodeRegisterBroker:         c.leaderOnly(c.handleRegisterBroker),
		api.CodeGetReplicaInfo:         c.leaderOnly(c.handleGetReplicaInfo),
		api.CodeGetMetadataInfo:        c.handleGetMetadata,
		api.CodeGetSyncStateData:       c.leaderOnly(c.handleGetSyncStateData),
		api.CodeCleanBrokerData:        c.leaderOnly(c.handleCleanBrokerData),
		api.CodeGetNextBrokerID:        c.leaderOnly(c.handleGetNextBrokerID),
		api.CodeApplyBrokerID:          c.leaderOnly(c.handleApplyBrokerID),
		api.CodeGetControllerConfig:    c.handleGetConfig,
		api.CodeUpdateControllerConfig: c.handleUpdateConfig,
	} {
		rs.Handle(code, h)
	}
}

// leaderOnly answers NOT_LEADER (2007) on a follower, naming the leader
// in the remark, and refreshes the sender's liveness on any controller.
func (c *Controller) leaderOnly(h remoting.Handler) remoting.Handler {
	return func(ctx context.Context, conn *remoting.Conn, req *remoting.Command) *remoting.Command {
		c.live.touch(conn.ID())
		if !c.leading.Load() {
			return c.notLeader(req)
		}
		return h(ctx, conn, req)
	}
}

func (c *Controller) notLeader(req *remoting.Command) *remoting.Command {
	id, addr := c.Leader()
	remark := "this controller is not the leader"
	if addr != "" {
		remark = fmt.Sprintf("%s; the leader is %s at %s", remark, id, addr)
	}
	return remoting.NewResponse(req, api.RespNotLeader, remark)
}

// reply answers err: a refusal's code and remark, or SYSTEM_ERROR.
func reply(req *remoting.Command, err error) *remoting.Command {
	var r *fsm.Refusal
	if errors.As(err, &r) {
		return remoting.NewResponse(req, r.Code, r.Remark)
	}
	if errors.Is(err, ErrNotLeader) {
		return remoting.NewResponse(req, api.RespNotLeader, err.Error())
	}
	return remoting.NewResponse(req, remoting.RespSystemError, err.Error())
}

func badRequest(req *remoting.Command, err error) *remoting.Command {
	return remoting.NewResponse(req, api.RespInvalidRequest, err.Error())
}

func ok(req *remoting.Command, ext map[string]string, body []byte) *remoting.Command {
	resp := remoting.NewResponse(req, remoting.RespSuccess, "")
	resp.ExtFields = ext
	resp.Body = body
	return resp
}

// handleHeartbeat records a BROKER_HEARTBEAT on every controller. Sent
// two-way, it is a lease renewal: only the leader, after confirming its
// leadership with a quorum, answers success, with the group's master (the
// GET_REPLICA_INFO header) and SyncStateSet.
func (c *Controller) handleHeartbeat(_ context.Context, conn *remoting.Conn, req *remoting.Command) *remoting.Command {
	hb, err := api.ParseBrokerHeartbeat(req)
	if err != nil {
		c.log.Debug("controller: bad heartbeat", "remote", conn.RemoteAddr(), "err", err)
		if req.IsOneway() {
			return nil
		}
		return badRequest(req, err)
	}
	// Only a replica the group knows (APPLY_BROKER_ID recorded its id)
	// enters the heartbeat table: anyone can send heartbeats, and one
	// for each invented broker name or id would grow the table, on every
	// controller, for ever.
	var known bool
	c.fsm.read(func(s *fsm.State) {
		if g := s.Group(hb.BrokerName); g != nil {
			_, known = g.Replicas[hb.BrokerID]
		}
	})
	if known {
		c.mu.Lock()
		c.mu.conns[conn.ID()] = conn
		c.mu.Unlock()
		c.live.heartbeat(hb, conn.ID())
	}
	if req.IsOneway() {
		return nil
	}
	if !c.verifyLeader() {
		return c.notLeader(req)
	}
	var mi api.MasterInfo
	var sss api.SyncStateSet
	c.fsm.read(func(s *fsm.State) { mi, sss, err = s.ReplicaInfo(hb.BrokerName) })
	if err != nil {
		return reply(req, err)
	}
	return ok(req, mi.ReplicaInfoExt(), sss.Encode())
}

func (c *Controller) handleGetMetadata(_ context.Context, conn *remoting.Conn, req *remoting.Command) *remoting.Command {
	c.live.touch(conn.ID())
	id, addr := c.Leader()
	md := api.Metadata{Group: c.cfg.Group, ControllerLeaderID: id, ControllerLeaderAddress: addr,
		IsLeader: c.leading.Load(), Peers: FormatPeers(c.cfg.Peers)}
	return ok(req, md.Ext(), nil)
}

// handleGetConfig answers this controller's configuration as properties
// text (mqadmin getControllerConfig).
func (c *Controller) handleGetConfig(_ context.Context, _ *remoting.Conn, req *remoting.Command) *remoting.Command {
	return ok(req, nil, c.cfg.Properties())
}

// handleUpdateConfig refuses, changing nothing: the controller reads its
// configuration once, at start (timeouts and the lease are in use by the
// liveness table and the elections), so a change takes a restart.
func (c *Controller) handleUpdateConfig(_ context.Context, _ *remoting.Conn, req *remoting.Command) *remoting.Command {
	return remoting.NewResponse(req, remoting.RespSystemError,
		"nothing changed: the controller reads its configuration at start; edit its file and restart it, one controller at a time")
}

func (c *Controller) handleGetNextBrokerID(_ context.Context, _ *remoting.Conn, req *remoting.Command) *remoting.Command {
	h, err := api.ParseGetNextBrokerIDRequest(req)
	if err != nil {
		return badRequest(req, err)
	}
	var next int64
	c.fsm.read(func(s *fsm.State) { next = s.NextBrokerID(h.BrokerName) })
	return ok(req, api.GetNextBrokerIDResponse{ClusterName: h.ClusterName, BrokerName: h.BrokerName, NextBrokerID: next}.Ext(), nil)
}

func (c *Controller) handleApplyBrokerID(_ context.Context, _ *remoting.Conn, req *remoting.Command) *remoting.Command {
	h, err := api.ParseApplyBrokerIDRequest(req)
	if err != nil {
		return badRequest(req, err)
	}
	c.decideMu.Lock()
	defer c.decideMu.Unlock()
	var ev fsm.Event
	c.fsm.read(func(s *fsm.State) { ev, err = s.DecideApplyBrokerID(h) })
	if err == nil {
		err = c.propose(ev)
	}
	if err != nil {
		return reply(req, err)
	}
	return ok(req, api.GroupExt(h.ClusterName, h.BrokerName), nil)
}

func (c *Controller) handleRegisterBroker(_ context.Context, _ *remoting.Conn, req *remoting.Command) *remoting.Command {
	h, err := api.ParseRegisterBrokerRequest(req)
	if err != nil {
		return badRequest(req, err)
	}
	c.decideMu.Lock()
	defer c.decideMu.Unlock()
	var resp api.RegisterBrokerResponse
	var sss api.SyncStateSet
	var ev *fsm.Event
	c.fsm.read(func(s *fsm.State) { resp, sss, ev, err = s.DecideRegisterBroker(h, c.live) })
	if err == nil && ev != nil {
		err = c.propose(*ev)
	}
	if err != nil {
		return reply(req, err)
	}
	return ok(req, resp.Ext(), sss.Encode())
}

func (c *Controller) handleAlterSyncStateSet(_ context.Context, _ *remoting.Conn, req *remoting.Command) *remoting.Command {
	h, err := api.ParseAlterSyncStateSetRequest(req)
	if err != nil {
		return badRequest(req, err)
	}
	proposed, err := api.DecodeSyncStateSet(req.Body)
	if err != nil {
		return badRequest(req, err)
	}
	c.decideMu.Lock()
	defer c.decideMu.Unlock()
	var ev fsm.Event
	var epoch int32
	c.fsm.read(func(s *fsm.State) { ev, epoch, err = s.DecideAlterSyncStateSet(h, proposed, c.live) })
	if err == nil {
		err = c.propose(ev)
	}
	if err != nil {
		return reply(req, err)
	}
	c.log.Info("controller: SyncStateSet changed", "broker_name", h.BrokerName, "sync_state_set", ev.SyncStateSet, "epoch", epoch)
	body := api.SyncStateSet{SyncStateSet: ev.SyncStateSet, SyncStateSetEpoch: epoch}.Encode()
	return ok(req, api.AlterSyncStateSetResponse{NewSyncStateSetEpoch: epoch}.Ext(), body)
}

func (c *Controller) handleElectMaster(_ context.Context, _ *remoting.Conn, req *remoting.Command) *remoting.Command {
	h, err := api.ParseElectMasterRequest(req)
	if err != nil {
		return badRequest(req, err)
	}
	out, code, err := c.elect(h)
	if err != nil {
		return reply(req, err)
	}
	resp := remoting.NewResponse(req, code, out.Remark)
	resp.ExtFields = out.Master.Ext()
	resp.Body = out.Body.Encode()
	return resp
}

func (c *Controller) handleGetReplicaInfo(_ context.Context, _ *remoting.Conn, req *remoting.Command) *remoting.Command {
	h, err := api.ParseGetReplicaInfoRequest(req)
	if err != nil {
		return badRequest(req, err)
	}
	var mi api.MasterInfo
	var sss api.SyncStateSet
	c.fsm.read(func(s *fsm.State) { mi, sss, err = s.ReplicaInfo(h.BrokerName) })
	if err != nil {
		return reply(req, err)
	}
	return ok(req, mi.ReplicaInfoExt(), sss.Encode())
}

func (c *Controller) handleGetSyncStateData(_ context.Context, _ *remoting.Conn, req *remoting.Command) *remoting.Command {
	names, err := api.DecodeBrokerNames(req.Body)
	if err != nil {
		return badRequest(req, err)
	}
	var info api.BrokerReplicasInfo
	c.fsm.read(func(s *fsm.State) { info = s.SyncStateData(names, c.live) })
	return ok(req, nil, info.Encode())
}

func (c *Controller) handleCleanBrokerData(_ context.Context, _ *remoting.Conn, req *remoting.Command) *remoting.Command {
	h, err := api.ParseCleanBrokerDataRequest(req)
	if err != nil {
		return badRequest(req, err)
	}
	c.decideMu.Lock()
	defer c.decideMu.Unlock()
	var ev fsm.Event
	c.fsm.read(func(s *fsm.State) { ev, err = s.DecideCleanBrokerData(h, c.live) })
	if err == nil {
		err = c.propose(ev)
	}
	if err != nil {
		return reply(req, err)
	}
	c.log.Info("controller: broker data cleaned", "broker_name", h.BrokerName, "ids", ev.IDs)
	return ok(req, nil, nil)
}
