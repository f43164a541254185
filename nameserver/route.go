package nameserver

// The JSON bodies the name server sends. Fields are in alphabetical order,
// as Java's fastjson writes them; encoding/json writes map keys quoted and
// sorted, with no whitespace (PROTOCOL.md §6, trap T10).

// TopicRouteData is the GET_ROUTEINFO_BY_TOPIC reply body.
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
	// BrokerAddrs is never nil: the Go client panics on a missing
	// brokerAddrs.
	BrokerAddrs map[int64]string `json:"brokerAddrs"`
	BrokerName  string           `json:"brokerName"`
	Cluster     string           `json:"cluster"`
}

// QueueData is one broker's share of a topic.
type QueueData struct {
	BrokerName     string `json:"brokerName"`
	Perm           int    `json:"perm"`
	ReadQueueNums  int    `json:"readQueueNums"`
	TopicSysFlag   int    `json:"topicSysFlag"`
	WriteQueueNums int    `json:"writeQueueNums"`
}

// ClusterInfo is the GET_BROKER_CLUSTER_INFO reply body.
type ClusterInfo struct {
	BrokerAddrTable  map[string]BrokerData `json:"brokerAddrTable"`
	ClusterAddrTable map[string][]string   `json:"clusterAddrTable"`
}

// TopicList is the GET_ALL_TOPIC_LIST_FROM_NAMESERVER reply body.
type TopicList struct {
	TopicList []string `json:"topicList"`
}

func (bd *BrokerData) clone() BrokerData {
	c := BrokerData{BrokerName: bd.BrokerName, Cluster: bd.Cluster, BrokerAddrs: make(map[int64]string, len(bd.BrokerAddrs))}
	for id, a := range bd.BrokerAddrs {
		c.BrokerAddrs[id] = a
	}
	return c
}
