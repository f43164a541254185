package nameserver

import (
	"hash/crc32"
	"net"
	"strconv"

	"github.com/wharfmq/wharf/remoting"
	"github.com/wharfmq/wharf/remoting/body"
)

// Permission bits of a topic (Java PermName). Part of the wire format.
const (
	PermPriority = body.PermPriority
	PermRead     = body.PermRead
	PermWrite    = body.PermWrite
	PermInherit  = body.PermInherit
)

// TopicConfig is Java's TopicConfig as a broker reports it in
// REGISTER_BROKER, and DataVersion the version of a broker's topic table;
// both are defined once, in remoting/body.
type (
	TopicConfig = body.TopicConfig
	DataVersion = body.DataVersion
)

// EncodeRegisterBody returns the uncompressed REGISTER_BROKER body for a
// broker's topic table and its data version, as a Wharf broker writes it
// (body.EncodeRegisterBody):
//
//	{"topicConfigSerializeWrapper":{"topicConfigTable":{...},"dataVersion":{...}},"filterServerList":[]}
//
// A config with no TopicName takes its map key, and an empty
// TopicFilterType becomes "SINGLE_TAG", because Java peers parse the field
// as an enum.
func EncodeRegisterBody(topics map[string]TopicConfig, dv DataVersion) ([]byte, error) {
	table := make(map[string]TopicConfig, len(topics))
	for name, tc := range topics {
		if tc.TopicName == "" {
			tc.TopicName = name
		}
		if tc.TopicFilterType == "" {
			tc.TopicFilterType = body.DefaultTopicFilterType
		}
		table[name] = tc
	}
	return body.EncodeRegisterBody(table, dv), nil
}

// RegisterRequest returns a REGISTER_BROKER (103) request carrying body
// uncompressed, with Java's RegisterBrokerRequestHeader fields. bodyCrc32
// is the masked CRC32 of body, so a name server can check it; haServerAddr
// is Java's default, the broker's port plus one (set it again with SetExt
// if the HA listener is elsewhere).
func RegisterRequest(brokerName, brokerAddr, cluster string, brokerID int64, body []byte) *remoting.Command {
	ha := ""
	if host, port, err := net.SplitHostPort(brokerAddr); err == nil {
		if p, err := strconv.Atoi(port); err == nil {
			ha = net.JoinHostPort(host, strconv.Itoa(p+1))
		}
	}
	return remoting.NewRequest(remoting.CodeRegisterBroker, map[string]string{
		"brokerName":   brokerName,
		"brokerAddr":   brokerAddr,
		"clusterName":  cluster,
		"haServerAddr": ha,
		"brokerId":     strconv.FormatInt(brokerID, 10),
		"compressed":   "false",
		"bodyCrc32":    strconv.FormatUint(uint64(bodyCRC(body)), 10),
	}, body)
}

// bodyCRC is Java's UtilAll.crc32: CRC-32 (IEEE) masked to 31 bits.
func bodyCRC(b []byte) uint32 { return crc32.ChecksumIEEE(b) & 0x7FFFFFFF }
