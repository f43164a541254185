// Package acl is RocketMQ 4.x's plain ACL: the accounts of a plain_acl.yml,
// the request signature, and the decision, for one request, whether it may
// run. It takes plain values (request code, ext fields, body, the peer's
// address) and imports nothing of the protocol packages, so the broker and
// the name server wrap it in their own remoting hooks.
//
// # The file
//
// plain_acl.yml is read in RocketMQ's format, so a RocketMQ user's file works
// unchanged:
//
//	globalWhiteRemoteAddresses: [10.10.103.*]   # these peers need nothing more
//	accounts:
//	  - accessKey: RocketMQ
//	    secretKey: "12345678"
//	    whiteRemoteAddress: 192.168.0.*          # this account needs no signature from here
//	    admin: false
//	    defaultTopicPerm: DENY                   # DENY, PUB, SUB, PUB|SUB or SUB|PUB
//	    defaultGroupPerm: SUB
//	    topicPerms: [topicA=DENY, topicB=PUB|SUB]
//	    groupPerms: [groupA=SUB]
//
// An accessKey or secretKey of 6 characters or fewer is refused, as RocketMQ
// refuses it. So is what RocketMQ reads silently as DENY or as not admin: a
// permission word other than those above (PUBLISH, pub) and an admin other
// than true or false (any case).
// Errors name the file, the account and the value (never a secretKey).
//
// Address patterns are RocketMQ's: an exact address, "*" (everyone),
// "192.168.0.{1,2}", "192.168.1.1-5", "192.168.*", or a comma-separated list
// of exact addresses. IPv6 is matched exactly (after expansion) only.
//
// # The decision (as PlainPermissionManager.validate)
//
//  1. A peer matching a global white address is let in.
//  2. Otherwise the request must carry an AccessKey of a known account.
//  3. A peer matching that account's whiteRemoteAddress is let in: in
//     RocketMQ the account's address pattern waives the signature and the
//     permissions, it does not restrict the account to those addresses.
//  4. Otherwise the Signature must be HMAC-SHA1 (secretKey as key, base64) of
//     the values of the ext fields sorted by key, Signature itself left out,
//     followed by the body.
//  5. Admin codes need admin: true; each resource the request names (see
//     resources.go) needs its permission: the account's own entry for it,
//     else defaultTopicPerm or defaultGroupPerm. An admin account with no
//     topicPerms and groupPerms may do everything.
//
// A refusal is a *Denied error whose text names the missing right (never a
// secret); the remoting hooks answer NO_PERMISSION (16) with it.
//
// # Reload
//
// A Checker reads the file again every PollInterval (1 s): a poll reads the
// few hundred bytes and compares a hash, which costs nothing measurable,
// needs no dependency, and also sees a file replaced by rename (editors,
// Kubernetes config maps), which an inotify watch on the old inode misses.
// A file that does not parse keeps the rules in force and logs one line
// naming the file and the error (once per distinct broken content).
package acl
