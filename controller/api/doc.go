// Package api is the wire vocabulary of the controller: RocketMQ 5's
// controller request and response codes, the request and response headers
// with the exact ext-field names of RocketMQ's
// remoting/protocol/header/controller classes (HA.md §5.3), and the JSON
// bodies (SyncStateSet, ElectMasterResponseBody, BrokerReplicasInfo).
//
// Every header type has an Ext method that writes it into a command's ext
// fields and a Parse function that reads it back; parsing never panics and
// reports a missing or malformed field as an error wrapping
// remoting.ErrMissingField or remoting.ErrBadField.
//
// Broker ids are the controller-assigned replica ids (1, 2, ...; the first
// is [FirstBrokerID]). A master broker id of 0 ([NoMaster]) means "no
// master": Java leaves the field null, and Wharf omits it from the ext
// fields in that case, so a Java reader also sees null.
//
// The package depends on remoting only, so brokers, the name server and the
// tools can all use it.
package api
