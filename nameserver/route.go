package nameserver

import "github.com/wharfmq/wharf/remoting/body"

// The JSON bodies the name server sends, defined once in remoting/body.
// Fields are in alphabetical order, as Java's fastjson writes them;
// encoding/json writes map keys quoted and sorted, with no whitespace
// (PROTOCOL.md §6, trap T10).
type (
	// TopicRouteData is the GET_ROUTEINFO_BY_TOPIC reply body.
	TopicRouteData = body.TopicRouteData
	// BrokerData is one broker name (a master and its slaves) and its
	// addresses by broker id, 0 being the master.
	BrokerData = body.BrokerData
	// QueueData is one broker's share of a topic.
	QueueData = body.QueueData
	// ClusterInfo is the GET_BROKER_CLUSTER_INFO reply body.
	ClusterInfo = body.ClusterInfo
	// TopicList is the GET_ALL_TOPIC_LIST_FROM_NAMESERVER reply body.
	TopicList = body.TopicList
)
