package broker

import (
	"encoding/json"

	"github.com/wharfmq/wharf/broker/meta"
	"github.com/wharfmq/wharf/remoting/body"
)

// RecreatedTopicConfig is the config document `wharf replay --rebuild-meta`
// stores for a topic found in the CommitLog without a config: queues read
// and write queues (the highest queue id with records + 1), read and write
// permission, as an auto-created topic gets.
func RecreatedTopicConfig(topic string, queues int32) ([]byte, error) {
	return json.Marshal(meta.NewTopicConfig(topic, queues, body.PermRead|body.PermWrite))
}
