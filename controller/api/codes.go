package api

// Request codes of the controller (Java RequestCode, 5.x). Part of the wire
// format.
const (
	// CodeBrokerHeartbeat: broker → every controller, oneway (Wharf also
	// answers it when it is sent two-way: see package controller's lease).
	CodeBrokerHeartbeat int16 = 904
	// CodeAlterSyncStateSet: master → leader.
	CodeAlterSyncStateSet int16 = 1001
	// CodeElectMaster: broker, admin or the controller itself → leader.
	CodeElectMaster int16 = 1002
	// CodeRegisterBroker: broker → leader (REGISTER_BROKER_TO_CONTROLLER).
	CodeRegisterBroker int16 = 1003
	// CodeGetReplicaInfo: broker → leader.
	CodeGetReplicaInfo int16 = 1004
	// CodeGetMetadataInfo: anyone → any controller; leader discovery.
	CodeGetMetadataInfo int16 = 1005
	// CodeGetSyncStateData: admin → leader; body is a JSON list of broker names.
	CodeGetSyncStateData int16 = 1006
	// CodeGetBrokerEpochCache: admin → broker.
	CodeGetBrokerEpochCache int16 = 1007
	// CodeNotifyBrokerRoleChanged: controller → broker, oneway.
	CodeNotifyBrokerRoleChanged int16 = 1008
	// CodeUpdateControllerConfig and CodeGetControllerConfig: admin → controller.
	CodeUpdateControllerConfig int16 = 1009
	CodeGetControllerConfig    int16 = 1010
	// CodeCleanBrokerData: admin → leader.
	CodeCleanBrokerData int16 = 1011
	// CodeGetNextBrokerID: broker → leader.
	CodeGetNextBrokerID int16 = 1012
	// CodeApplyBrokerID: broker → leader.
	CodeApplyBrokerID int16 = 1013
)

// Response codes of the controller (Java ResponseCode, 5.x). Part of the
// wire format.
const (
	RespFencedMasterEpoch        int16 = 2000
	RespFencedSyncStateSetEpoch  int16 = 2001
	RespInvalidMaster            int16 = 2002
	RespInvalidReplicas          int16 = 2003
	RespMasterNotAvailable       int16 = 2004
	RespInvalidRequest           int16 = 2005
	RespBrokerNotAlive           int16 = 2006
	RespNotLeader                int16 = 2007
	RespBrokerMetadataNotExist   int16 = 2008
	RespInvalidCleanBrokerData   int16 = 2009
	RespBrokerNeedToBeRegistered int16 = 2010
	RespMasterStillExist         int16 = 2011
	RespElectMasterFailed        int16 = 2012
	RespAlterSyncStateSetFailed  int16 = 2013
	RespBrokerIDInvalid          int16 = 2014
	RespJRaftInternalError       int16 = 2015
	RespBrokerLiveInfoNotExists  int16 = 2016
)

// Broker id conventions.
const (
	// NoMaster is the master broker id when a group has no master.
	NoMaster int64 = 0
	// FirstBrokerID is the first id the controller assigns
	// (MixAll.FIRST_BROKER_CONTROLLER_ID).
	FirstBrokerID int64 = 1
	// ControllerTriggered is the brokerId of an ELECT_MASTER the controller
	// sends itself, not on behalf of a broker.
	ControllerTriggered int64 = -1
	// DefaultElectionPriority is a heartbeat's electionPriority when the
	// broker sends none (Integer.MAX_VALUE; lower is preferred).
	DefaultElectionPriority int32 = 1<<31 - 1
)
