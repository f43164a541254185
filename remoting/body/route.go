package body

import "maps"

// TopicRouteData is the GET_ROUTEINFO_BY_TOPIC reply: which brokers hold
// a topic and with how many queues.
type TopicRouteData struct {
	BrokerDatas []BrokerData `json:"brokerDatas"`
	// FilterServerTable is always empty; Java clients expect the key.
	FilterServerTable map[string][]string `json:"filterServerTable"`
	// OrderTopicConf is omitted when empty: a non-empty value makes the Go
	// producer ignore QueueDatas.
	OrderTopicConf string      `json:"orderTopicConf,omitempty"`
	QueueDatas     []QueueData `json:"queueDatas"`
}

// BrokerData is one broker name (a master and its slaves) and its
// addresses by broker id, 0 being the master.
type BrokerData struct {
	// BrokerAddrs is never nil in a reply: the Go client panics on a
	// missing brokerAddrs. Java writes the ids unquoted ({0:"..."});
	// encoding/json quotes them, which every client reads.
	BrokerAddrs map[int64]string `json:"brokerAddrs"`
	BrokerName  string           `json:"brokerName"`
	Cluster     string           `json:"cluster"`
}

// Clone returns a copy that shares no map with bd.
func (bd BrokerData) Clone() BrokerData {
	bd.BrokerAddrs = maps.Clone(bd.BrokerAddrs)
	if bd.BrokerAddrs == nil {
		bd.BrokerAddrs = map[int64]string{}
	}
	return bd
}

// QueueData is one broker's share of a topic.
type QueueData struct {
	BrokerName     string `json:"brokerName"`
	Perm           int    `json:"perm"`
	ReadQueueNums  int32  `json:"readQueueNums"`
	TopicSysFlag   int    `json:"topicSysFlag"`
	WriteQueueNums int32  `json:"writeQueueNums"`
}

// ClusterInfo is the GET_BROKER_CLUSTER_INFO reply.
type ClusterInfo struct {
	BrokerAddrTable  map[string]BrokerData `json:"brokerAddrTable"`
	ClusterAddrTable map[string][]string   `json:"clusterAddrTable"`
}

// TopicList is the GET_ALL_TOPIC_LIST_FROM_NAMESERVER reply.
type TopicList struct {
	TopicList []string `json:"topicList"`
}
