// Package dashboard serves Wharf's web dashboard: a small JSON API over
// tools/admin's client (cluster, topics, consumer groups and their lag,
// producers, message query, dead-letter queues) and static pages embedded
// with go:embed (plain HTML, JavaScript and CSS, no build step and nothing
// fetched at run time).
//
// It is read-only unless Options.Admin is set: then topics can be created
// and deleted, offsets reset and dead-lettered messages resent. Mutating
// endpoints take POST only, with a JSON body and an Origin that matches
// the Host (a cross-site form or script cannot use them); a read-only
// dashboard answers them 403. Every request's Host must be an IP address,
// localhost, this machine's name or one of Options.AllowHosts, so a page
// on another site cannot reach a loopback dashboard by DNS rebinding.
//
// The pages build every element with textContent: message bodies, keys
// and properties are untrusted input and never parsed as HTML.
//
// `wharf dashboard` runs it against a name server; `wharf standalone`
// serves it on 127.0.0.1:8080 by default.
package dashboard
