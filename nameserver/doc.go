// Package nameserver is Wharf's name server: brokers register their topics
// with it, and clients ask it where a topic's queues are (PROTOCOL.md §2.3,
// §2.6, §6). It speaks the RocketMQ 4.x remoting protocol through package
// remoting and keeps everything in memory, as Java's name server does.
//
// # Tables
//
// The registry mirrors Java's RouteInfoManager:
//
//	cluster name  → broker names
//	broker name   → BrokerData{cluster, brokerName, brokerAddrs: id → "ip:port"} (id 0 = master)
//	topic         → broker name → QueueData{read/write queue nums, perm, topicSysFlag}
//	broker addr   → liveness: last registration time, DataVersion, registering connection
//
// A broker name with no address left disappears with its queue data, and a
// topic with no queue data left disappears too, so a route is never
// returned without a broker to serve it.
//
// # Requests
//
//	103 REGISTER_BROKER               record a broker; topics from brokerId 0 only
//	104 UNREGISTER_BROKER             remove one broker address
//	105 GET_ROUTEINFO_BY_TOPIC        TopicRouteData, or 17 TOPIC_NOT_EXIST
//	106 GET_BROKER_CLUSTER_INFO       ClusterInfo
//	206 GET_ALL_TOPIC_LIST_FROM_NAMESERVER  {"topicList":[...]}
//	216 DELETE_TOPIC_IN_NAMESRV       forget a topic; system topics are refused
//	322 QUERY_DATA_VERSION            ext changed=true|false
//
// Other codes get 3 REQUEST_CODE_NOT_SUPPORTED from the remoting server. A
// request that cannot be decoded (a missing or malformed ext field, a body
// that is not the expected JSON, a bodyCrc32 that does not match) gets 1
// SYSTEM_ERROR with a remark saying what was wrong, and changes nothing.
//
// # Choices
//
// These are where Wharf differs from, or pins down, the Java 4.9.8 name server:
//
//   - Route bodies are always compact standard JSON with quoted map keys
//     ({"0":"127.0.0.1:10911"}), whatever the request's version; queueDatas
//     and brokerDatas are arrays sorted by broker name, filterServerTable is
//     {} and orderTopicConf is omitted (trap T10).
//   - A master's topic table replaces what its broker name served before,
//     so a topic deleted on the broker leaves the route at its next
//     registration with a new DataVersion. Java 4.x only adds and updates,
//     keeping deleted topics until DELETE_TOPIC_IN_NAMESRV.
//   - As in Java, topics are re-read only when the DataVersion changed or
//     the address registers for the first time; an empty body carries no
//     topic information.
//   - A registration with ext wharfBaseDataVersion (a Wharf broker's
//     increment) is partial: its topics are merged into the broker's instead
//     of replacing them. Its DataVersion is kept only if the stored one is
//     that base; otherwise none is kept and the reply carries
//     wharfNeedTable=true, so the broker sends its whole table (and
//     QUERY_DATA_VERSION says changed until it does).
//   - A whole table split by the broker's splitRegistrationSize comes as
//     registrations marked wharfPart "i/k", each after the first built on
//     the one before (wharfBaseDataVersion). Every part merges at once, so
//     no route disappears while they arrive; the last drops the topics no
//     part named. A part that does not follow its predecessor removes
//     nothing and asks for the table as above. A k above 2^20 is refused
//     with SYSTEM_ERROR.
//   - DELETE_TOPIC_IN_NAMESRV refuses system topics (package systopic: the
//     fixed names, rmq_sys_*, registered cluster and broker names and each
//     cluster's reply topic) with SYSTEM_ERROR, where Java deletes them.
//   - The compressed body is read as Java writes it: a zlib stream whose
//     topic configs are TopicConfig.encode strings ("name read write perm
//     filterType"), not the JSON PROTOCOL.md §2.6 suggests; JSON topic
//     configs, and raw deflate without the zlib header, are accepted too.
//   - As in RocketMQ 5, a brokerId held by another live address whose
//     dataVersion.stateVersion (its master epoch) is higher than the
//     registration's is not taken: the registration is answered SUCCESS
//     with an empty header and ignored, and the claimant, whose entries
//     under other ids go first, is left registered under no id. So a
//     deposed master that still registers as brokerId 0 cannot take the
//     route back from its successor. An address that registers under a
//     new id leaves its old one (a slave promoted, a master demoted).
//   - UNREGISTER_BROKER removes an address only if it is the one registered
//     under that name and id, so a late unregister from a replaced address
//     cannot remove its successor.
//   - A registration whose connection closed while it was being served is
//     refused, so no broker stays bound to a dead connection.
//   - The REGISTER_BROKER reply carries masterAddr and haServerAddr only for
//     a slave whose master is registered, as Java leaves them null
//     otherwise; its body is empty (no order-topic KV config).
//   - REGISTER_BROKER and UNREGISTER_BROKER run on the connection's reader,
//     so a broker's register and the unregister behind it apply in the
//     order it sent them (other requests run concurrently).
//
// # Liveness
//
// A broker address is dropped when it has not registered for
// Options.BrokerExpiry (checked every Options.ScanInterval by one goroutine
// the Server owns), when the connection that last registered it closes, or
// when it unregisters. A QUERY_DATA_VERSION whose version is unchanged
// counts as a registration for liveness, as in Java.
//
// # ACL
//
// With Options.ACLFile the server checks requests with package acl (scope
// NameServer): route, cluster, topic-list and KV reads are open to all;
// registration and other requests need a signed request of an account of
// the file; topic delete, KV put/delete and write-permission changes need
// an admin account. Refusals are NO_PERMISSION (16).
//
// # Client side
//
// EncodeRegisterBody and RegisterRequest build a REGISTER_BROKER request
// for a broker; TopicConfig and DataVersion are the JSON shapes it carries.
package nameserver
