package broker

import (
	"fmt"

	"github.com/wharfmq/wharf/acl"
	"github.com/wharfmq/wharf/remoting"
)

// openACL opens the plain_acl.yml of aclEnable=true; nil when ACL is off.
func openACL(cfg configACL, o *options) (*acl.Checker, error) {
	if !cfg.enable {
		return nil, nil
	}
	c, err := acl.Open(cfg.file, acl.Options{Scope: acl.Broker, Logger: o.logger})
	if err != nil {
		return nil, fmt.Errorf("broker: aclEnable=true: %w", err)
	}
	return c, nil
}

// configACL is what openACL reads of the config.
type configACL struct {
	enable bool
	file   string
}

// ACLHook returns the remoting hook that refuses, with NO_PERMISSION (16)
// and the reason as remark, what c refuses.
func ACLHook(c *acl.Checker) func(*remoting.Conn, *remoting.Command) *remoting.Command {
	return func(conn *remoting.Conn, req *remoting.Command) *remoting.Command {
		err := c.Check(acl.Request{Code: req.Code, Ext: req.ExtFields, Body: req.Body, RemoteAddr: conn.RemoteAddr()})
		if err == nil {
			return nil
		}
		return remoting.NewResponse(req, remoting.RespNoPermission, err.Error())
	}
}

// clientOptions are the options of every remoting client the broker
// opens: its logger, and its signature when broker.conf gives accessKey.
func (b *Broker) clientOptions() remoting.ClientOptions {
	return remoting.ClientOptions{Logger: b.log, Sign: acl.Signer(b.cfg.AccessKey, b.cfg.SecretKey), TLS: b.tls.client}
}

// account returns, when ACL is on, the account req on conn was let in as
// (acl.Checker.Account), which the client registry records with the
// client ids a peer claims; "" when ACL is off. It allocates nothing.
func (b *Broker) account(conn *remoting.Conn, req *remoting.Command) string {
	if b.acl == nil {
		return ""
	}
	return b.acl.Account(acl.Request{Code: req.Code, Ext: req.ExtFields, RemoteAddr: conn.RemoteAddr()})
}

// ACL returns the broker's ACL checker (its Stats for metrics), or nil
// when aclEnable is off.
func (b *Broker) ACL() *acl.Checker { return b.acl }

// authorizeTopic decides, when ACL is on, whether the sender of req may use
// topic with permission p, for requests that reach a topic through a
// CommitLog offset instead of naming it (the remoting hook saw only the
// header). It returns nil to go on, else the NO_PERMISSION response the
// hook would have sent.
func (b *Broker) authorizeTopic(conn *remoting.Conn, req *remoting.Command, topic string, p acl.Perm) *remoting.Command {
	if b.acl == nil {
		return nil
	}
	err := b.acl.CheckTopic(acl.Request{Code: req.Code, Ext: req.ExtFields, Body: req.Body, RemoteAddr: conn.RemoteAddr()}, topic, p)
	if err == nil {
		return nil
	}
	return remoting.NewResponse(req, remoting.RespNoPermission, err.Error())
}
