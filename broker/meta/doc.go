// Package meta owns a broker's metadata tables: the topic table (Topics)
// and the subscription group table (Groups), kept in the engine's metadata
// store as one JSON document per name; the topics a broker creates at start
// (System.Builtins); the name rules of topics and groups; the data version
// of the topic table; and the change hook through which the registrar
// learns what to register next (Topics.Drain, TopicsOptions.OnChange).
//
// Which names are system topics is defined in package systopic; System
// only applies that definition to one broker's names. The wire types
// (TopicConfig, SubscriptionGroupConfig, DataVersion and their wrappers)
// are those of remoting/body. The package takes and returns plain values:
// package broker turns them into responses.
//
// Lock order: Topics.mu and Groups.mu are independent and never held
// together; each is held across the store write of its change, so the
// table and the store agree, and released before OnChange runs. The
// function GetOrCreate derives a new topic with is called unlocked, so it
// may read the topic table or the group table.
package meta
