package nameserver

import (
	"encoding/json"
	"fmt"
	"hash/crc32"
	"net"
	"strconv"

	"github.com/wharfmq/wharf/remoting"
)

// Permission bits of a topic (Java PermName). Part of the wire format.
const (
	PermPriority = 8
	PermRead     = 4
	PermWrite    = 2
	PermInherit  = 1
)

// TopicConfig is Java's TopicConfig as a broker reports it in
// REGISTER_BROKER. The JSON names are Java's.
type TopicConfig struct {
	TopicName       string `json:"topicName"`
	ReadQueueNums   int    `json:"readQueueNums"`
	WriteQueueNums  int    `json:"writeQueueNums"`
	Perm            int    `json:"perm"`
	TopicSysFlag    int    `json:"topicSysFlag"`
	Order           bool   `json:"order"`
	TopicFilterType string `json:"topicFilterType"`
}

// DataVersion is Java's DataVersion: a broker bumps it whenever its topic
// table changes, and the name server re-reads the table only when it did.
type DataVersion struct {
	Timestamp int64 `json:"timestamp"`
	Counter   int64 `json:"counter"`
}

// registerBody is Java's RegisterBrokerBody in its uncompressed, JSON form.
type registerBody struct {
	TopicConfigSerializeWrapper *topicWrapper `json:"topicConfigSerializeWrapper"`
	FilterServerList            []string      `json:"filterServerList"`
}

// topicWrapper is Java's TopicConfigSerializeWrapper.
type topicWrapper struct {
	TopicConfigTable map[string]TopicConfig `json:"topicConfigTable"`
	DataVersion      DataVersion            `json:"dataVersion"`
}

// EncodeRegisterBody returns the uncompressed REGISTER_BROKER body for a
// broker's topic table and its data version:
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
			tc.TopicFilterType = "SINGLE_TAG"
		}
		table[name] = tc
	}
	b, err := json.Marshal(registerBody{
		TopicConfigSerializeWrapper: &topicWrapper{TopicConfigTable: table, DataVersion: dv},
		FilterServerList:            []string{},
	})
	if err != nil {
		return nil, fmt.Errorf("nameserver: encode register body: %w", err)
	}
	return b, nil
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
