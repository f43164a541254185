package remoting

// Request codes (Java RequestCode.java, 4.9.8). Only the ones Wharf serves
// or sends are listed; numbers are part of the wire format.
const (
	CodeSendMessage                      int16 = 10
	CodePullMessage                      int16 = 11
	CodeQueryMessage                     int16 = 12
	CodeQueryConsumerOffset              int16 = 14
	CodeUpdateConsumerOffset             int16 = 15
	CodeUpdateAndCreateTopic             int16 = 17
	CodeGetAllTopicConfig                int16 = 21
	CodeGetBrokerConfig                  int16 = 26
	CodeGetBrokerRuntimeInfo             int16 = 28
	CodeSearchOffsetByTimestamp          int16 = 29
	CodeGetMaxOffset                     int16 = 30
	CodeGetMinOffset                     int16 = 31
	CodeGetEarliestMsgStoreTime          int16 = 32
	CodeViewMessageByID                  int16 = 33
	CodeHeartBeat                        int16 = 34
	CodeUnregisterClient                 int16 = 35
	CodeConsumerSendMsgBack              int16 = 36
	CodeEndTransaction                   int16 = 37
	CodeGetConsumerListByGroup           int16 = 38
	CodeCheckTransactionState            int16 = 39 // broker → client, oneway
	CodeNotifyConsumerIDsChanged         int16 = 40 // broker → client, oneway
	CodeLockBatchMQ                      int16 = 41
	CodeUnlockBatchMQ                    int16 = 42
	CodeGetAllConsumerOffset             int16 = 43
	CodeGetAllDelayOffset                int16 = 45
	CodeRegisterBroker                   int16 = 103
	CodeUnregisterBroker                 int16 = 104
	CodeGetRouteInfoByTopic              int16 = 105
	CodeGetBrokerClusterInfo             int16 = 106
	CodeUpdateAndCreateSubscriptionGroup int16 = 200
	CodeGetAllSubscriptionGroupConfig    int16 = 201
	CodeGetTopicStatsInfo                int16 = 202
	CodeGetConsumerConnectionList        int16 = 203
	CodeGetProducerConnectionList        int16 = 204
	CodeGetAllTopicListFromNameServer    int16 = 206
	CodeDeleteSubscriptionGroup          int16 = 207
	CodeGetConsumeStats                  int16 = 208
	CodeDeleteTopicInBroker              int16 = 215
	CodeDeleteTopicInNameServer          int16 = 216
	CodeResetConsumerClientOffset        int16 = 220 // broker → client, oneway
	CodeGetConsumerStatusFromClient      int16 = 221 // broker → client
	CodeInvokeBrokerToResetOffset        int16 = 222
	CodeGetConsumerRunningInfo           int16 = 307 // broker → client
	CodeConsumeMessageDirectly           int16 = 309 // broker → client
	CodeSendMessageV2                    int16 = 310
	CodeSendBatchMessage                 int16 = 320
	CodeQueryDataVersion                 int16 = 322
	CodeSendReplyMessage                 int16 = 324
	CodeSendReplyMessageV2               int16 = 325
	CodePushReplyMessageToClient         int16 = 326 // broker → client
)

// Response codes (Java RemotingSysResponseCode and ResponseCode). Numbers are
// part of the wire format.
const (
	RespSuccess                   int16 = 0
	RespSystemError               int16 = 1
	RespSystemBusy                int16 = 2
	RespRequestCodeNotSupported   int16 = 3
	RespTransactionFailed         int16 = 4
	RespFlushDiskTimeout          int16 = 10
	RespSlaveNotAvailable         int16 = 11
	RespFlushSlaveTimeout         int16 = 12
	RespMessageIllegal            int16 = 13
	RespServiceNotAvailable       int16 = 14
	RespVersionNotSupported       int16 = 15
	RespNoPermission              int16 = 16
	RespTopicNotExist             int16 = 17
	RespTopicExistAlready         int16 = 18
	RespPullNotFound              int16 = 19
	RespPullRetryImmediately      int16 = 20
	RespPullOffsetMoved           int16 = 21
	RespQueryNotFound             int16 = 22
	RespSubscriptionParseFailed   int16 = 23
	RespSubscriptionNotExist      int16 = 24
	RespSubscriptionNotLatest     int16 = 25
	RespSubscriptionGroupNotExist int16 = 26
	RespConsumerNotOnline         int16 = 206
)
