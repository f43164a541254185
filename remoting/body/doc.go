// Package body holds the Java body types of the RocketMQ remoting protocol
// that more than one Wharf program reads or writes: topic and subscription
// group configs, DataVersion, the route data, MessageQueue, and the
// REGISTER_BROKER body. The broker, the name server and the tools all use
// these definitions, so a body has one Go shape and one set of JSON bytes.
//
// Struct fields are declared in the order fastjson writes them
// (alphabetical), so encoding/json writes what a Java peer would, except
// where a field's comment says otherwise. Java writes maps keyed by
// MessageQueue with the key object itself in key position, which is not
// RFC 8259 JSON; fastjson.go writes and reads that shape.
//
// The package uses the standard library only, and depends on no other
// Wharf package: remoting's header codec uses its string writer.
package body
