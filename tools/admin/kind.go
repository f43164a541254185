package admin

import (
	"context"
	"errors"
	"fmt"

	"github.com/wharfmq/wharf/controller/api"
	"github.com/wharfmq/wharf/remoting"
)

// ErrWrongServer: the request went to a server of another kind (a broker
// request to a name server, ...), which answered REQUEST_CODE_NOT_SUPPORTED.
var ErrWrongServer = errors.New("wrong kind of server")

// Server kinds, as serverKind tells them apart.
const (
	kindUnknown    = ""
	kindNamesrv    = "name server"
	kindBroker     = "broker"
	kindController = "controller"
)

// serverKind asks addr requests only one kind of server answers: the
// cluster table (name servers), the runtime table (brokers) and the
// controller metadata (controllers). A name server hosting a controller
// counts as a name server.
func (c *Client) serverKind(ctx context.Context, addr string) string {
	for _, probe := range []struct {
		code int16
		kind string
	}{
		{remoting.CodeGetBrokerClusterInfo, kindNamesrv},
		{remoting.CodeGetBrokerRuntimeInfo, kindBroker},
		{api.CodeGetMetadataInfo, kindController},
	} {
		ctx, cancel := context.WithTimeout(ctx, c.timeout)
		resp, err := c.rc.Invoke(ctx, addr, remoting.NewRequest(probe.code, map[string]string{}, nil))
		cancel()
		if err != nil {
			return kindUnknown
		}
		if resp.Code != remoting.RespRequestCodeNotSupported {
			return probe.kind
		}
	}
	return kindUnknown
}

// wrongServer turns a REQUEST_CODE_NOT_SUPPORTED answer of addr into words
// when addr is another kind of server than want: which kind it is and
// which flag takes it. It returns se unchanged otherwise.
func (c *Client) wrongServer(ctx context.Context, addr, want string, se *ServerError) error {
	kind := c.serverKind(ctx, addr)
	if kind == kindUnknown || kind == want {
		return se
	}
	flag := map[string]string{kindNamesrv: "-n", kindBroker: "-b", kindController: "-a (wharf admin controller)"}[kind]
	return fmt.Errorf("%w: %s is a %s, not a %s; give it with %s (%s answered code %d: %s)",
		ErrWrongServer, addr, kind, want, flag, se.Op, se.Code, se.Remark)
}
