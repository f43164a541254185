package remoting

// interned holds the ext keys the Go and Java clients send on every request,
// and their most common values. Decoders look names up here so that a
// SEND_MESSAGE header costs a dozen fewer string allocations.
var interned = func() map[string]string {
	m := make(map[string]string)
	for _, s := range []string{
		// SEND_MESSAGE and its V2 one-letter form.
		"producerGroup", "topic", "defaultTopic", "defaultTopicQueueNums", "queueId", "sysFlag",
		"bornTimestamp", "flag", "properties", "reconsumeTimes", "unitMode", "maxReconsumeTimes",
		"batch", "bname", "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n",
		// PULL_MESSAGE, offsets, send-back, transactions.
		"consumerGroup", "queueOffset", "maxMsgNums", "commitOffset", "suspendTimeoutMillis",
		"subscription", "subVersion", "expressionType", "offset", "timestamp", "group",
		"delayLevel", "originMsgId", "originTopic", "tranStateTableOffset", "commitLogOffset",
		"commitOrRollback", "fromTransactionCheck", "msgId", "transactionId",
		// Responses and registration.
		"nextBeginOffset", "minOffset", "maxOffset", "suggestWhichBrokerId", "MSG_REGION", "TRACE_ON",
		"brokerName", "brokerAddr", "clusterName", "haServerAddr", "brokerId", "compressed", "bodyCrc32",
		"masterAddr",
		// Common values.
		"", "0", "1", "2", "3", "4", "5", "6", "7", "8", "-1", "true", "false", "TBW102", "TAG",
		"DefaultRegion", "DefaultCluster",
	} {
		m[s] = s
	}
	return m
}()

// intern returns b as a string, shared when it is a well-known name.
func intern(b []byte) string {
	if s, ok := interned[string(b)]; ok { // this lookup does not allocate
		return s
	}
	return string(b)
}
