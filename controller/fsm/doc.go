// Package fsm is the controller's replicated state: for each broker name
// (a replica group) its replicas and register check codes, the next id to
// assign, the master, the master epoch, the SyncStateSet and its epoch. It
// follows RocketMQ 5's ReplicasInfoManager (HA.md §5.2, §5.5) with our own
// code.
//
// The package has two halves:
//
//   - Decisions (decide.go): given a request and, where liveness matters,
//     what the leader knows about alive brokers, either refuse with a
//     controller response code or produce the Event to replicate plus the
//     reply. Decisions read the state and never change it.
//   - Apply (state.go): an Event, once committed by Raft, changes the state.
//     Apply is deterministic and depends on nothing but the state and the
//     event, so every controller ends with the same state. An event that no
//     longer fits (its group was cleaned meanwhile) changes nothing.
//
// State is not safe for concurrent use; package controller guards it.
//
// Epochs are int32, as in RocketMQ. Each ElectMaster event adds one to the
// master epoch (also when it records "no master"); each new SyncStateSet
// (an AlterSyncStateSet event or a new master) adds one to the
// SyncStateSet epoch.
package fsm
