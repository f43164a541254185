package nameserver

import "github.com/wharfmq/wharf/remoting/body"

// brokerTopics is what a REGISTER_BROKER body tells the name server.
type brokerTopics struct {
	table map[string]TopicConfig // by topic name
	dv    DataVersion
}

// decodeRegisterBody decodes a REGISTER_BROKER body (body.DecodeRegisterBody).
// An empty body carries no topic information and yields nil, as Java
// treats it.
func decodeRegisterBody(b []byte, compressed bool) (*brokerTopics, error) {
	rb, err := body.DecodeRegisterBody(b, compressed)
	if rb == nil || err != nil {
		return nil, err
	}
	return &brokerTopics{table: rb.TopicConfigTable, dv: rb.DataVersion}, nil
}
