// Package ha is master–slave replication in the classic RocketMQ 4.9 form
// (issue 11): the two messages of the HA protocol (wire.go), the master's
// choice of what to send next (batch.go), the master's service on the HA
// port with its SYNC_MASTER waits (master.go, masterconn.go) and the
// slave's client (slave.go). It reads and appends CommitLog bytes through
// two narrow interfaces (MasterLog, SlaveLog) that engine.Store
// implements; the broker root wires it to the roles, the send path and the
// name servers (broker/replication.go).
//
// # What each side does
//
// Master: a connection per slave; a reader checks each 8-byte report
// (CheckReport) and records it as the slave's acknowledged offset; a
// sender ships every readable byte from where the first report says
// (Planner.Start) in frames that never cross a segment (Planner.Next),
// woken by the store when its readable end grows, and a heartbeat frame
// after haSendHeartbeatInterval of silence. A frame shorter than a batch
// waits while the slave has not reported the frames before it, for at
// most haFrameHoldMicros (Hold, hold.go: Nagle's rule clocked by the
// slave's reports), so the sends of one replication round trip share a
// frame and a report; RocketMQ sends on every wake-up. The bytes on the
// wire are the same either way. Only the readable end is
// shipped (durable under SYNC_FLUSH, written under ASYNC_FLUSH), so a
// slave never holds a byte its master could lose in a crash and keep
// serving without. Notify is the SYNC_MASTER wait (WaitReplicated its
// blocking form): ErrNoSlave at once when no trusted slave is connected
// within haMaxGapNotInSync, ErrSlaveTimeout after slaveTimeout, and
// otherwise the goroutine that reads a report answers every waiter it
// covers (Waiters, waiters.go: the group commit of replication, with no
// goroutine parked per send). A report counts only from a
// peer the name servers list as a slave of this broker name (Trusted);
// at most MaxUntrusted connections of other peers are kept open at once,
// and warnings about them are logged at most once per 10 s.
//
// Slave: dials the master's HA address, reports its end at once (a
// RocketMQ 4.9 slave waits a heartbeat interval first), appends each
// frame's bytes at the master's offsets through engine.Store.AppendReplica,
// which verifies every record as recovery does and refuses bytes that do
// not fit its segments, and reports the new end after the append is
// acknowledged under its own flush mode. A frame may end inside a record:
// those bytes wait in memory until the rest arrives, so the log only ever
// holds whole records and its recovery and dispatcher need nothing new. It
// redials every second after any failure and logs each state once.
//
// An empty slave takes the offset of the master's first frame as its
// log's start (engine.Store.Rebase), so it copies from the master's oldest
// retained segment, or from the last one when the master runs with
// syncFromLastFile=true.
//
// Limits: a slave holding bytes its master no longer has (the master lost
// its tail to a power loss under ASYNC_FLUSH, or was restored from an
// older copy) is refused by the master's check of the first report
// (CheckFirstReport: beyond what the master had when it started and has
// shipped since) and stays refused, even once the master's end passes the
// slave's, until an operator moves the slave's store aside; RocketMQ 4.9
// refuses it only while it is beyond the master's end, then appends the
// master's records after the foreign ones. The check is per master
// process: a slave that reconnects after another slave was shipped past
// its end is not caught. Failover mode (issue 12) truncates instead: its
// protocol, RocketMQ 5's AutoSwitch, is package broker/ha/autoswitch, with
// the epoch file in broker/ha/epoch.
//
// # Goal: byte compatibility with RocketMQ 4.9
//
// Wharf's CommitLog has RocketMQ's record layout, its segment size
// (mappedFileSizeCommitLog) and its BLANK filler at the end of a segment.
// The HA protocol copies CommitLog bytes as they are, at the same offsets.
// So if Wharf speaks the protocol exactly, a RocketMQ 4.9 slave can follow
// a Wharf master, and a Wharf slave can follow a RocketMQ 4.9 master, as
// long as both sides use the same segment size. That is a goal of this
// package (and a migration path for users), not an accident: keep the
// bytes below unchanged.
//
// # The connection
//
// The slave dials the master's HA port: listenPort+1 (RocketMQ 4.9
// replaces a configured haListenPort with it; Wharf honours the key, as
// 5.x does). There is no handshake: the first thing on the wire is the
// slave's first offset report. All integers are big-endian (Java's
// ByteBuffer order). Each direction carries one kind of message only.
//
// # Slave to master: the offset report (ReportSize = 8 bytes)
//
//	offset  size  field
//	0       8     int64: the end of the slave's CommitLog (the offset after
//	              the last byte it has written, not necessarily flushed)
//
// There is nothing else. The same message is the heartbeat and the
// acknowledgement:
//
//   - The first report on a connection says where the slave wants to
//     resume. 0 means an empty slave; see Planner.Start for where the
//     master then begins.
//   - The slave reports again after each frame that made its end grow,
//     and resends its last value when it has written nothing for
//     haSendHeartbeatInterval. (A RocketMQ 4.9 slave also waits that long
//     before its first report, so a Java slave starts receiving about 5 s
//     after it connects; a Wharf slave may report at once.)
//   - Every report is the slave's acknowledged offset: SYNC_MASTER counts
//     a send as replicated when a report reaches the end of its record.
//     Wharf counts it only for records the master shipped on that
//     connection (ending after where its frames began): the first report
//     says where the slave's log ends, not that it holds this master's
//     bytes before it (its log may have diverged), so a send waiting for
//     an earlier record is left to another slave or to slaveTimeout.
//
// RocketMQ 4.9 closes the connection when a report after the first
// exceeds the master's end, but takes the first report unchecked, so any
// TCP peer can claim an offset and release SYNC_MASTER waits for bytes no
// slave holds (apache/rocketmq#3015). Wharf checks every report
// (CheckReport): one beyond the master's end, one below the previous
// report, or a negative one closes the connection, and so does a first
// report beyond what the slave can have from this master
// (CheckFirstReport, above).
//
// # Master to slave: transfer frames (HeaderSize = 12 bytes + body)
//
//	offset  size      field
//	0       8         int64 phyOffset: CommitLog offset of the first body byte
//	8       4         int32 bodySize: number of body bytes; 0 for a heartbeat
//	12      bodySize  the CommitLog bytes [phyOffset, phyOffset+bodySize),
//	                  copied as stored
//
// The master sends nothing until it has the slave's first report. Then:
//
//   - A body is raw CommitLog bytes: whole records, parts of records (a
//     frame may end inside a record; the slave appends the bytes and its
//     dispatcher waits for the rest) and the BLANK filler at a segment's
//     end.
//   - A body never crosses a segment end: a batch is cut at the end of
//     the segment that holds phyOffset, at haTransferBatchSize bytes, and
//     at the master's readable end, whichever comes first
//     (Planner.Next). A Wharf master sends a slave that is a batch or
//     more behind frames of up to haCatchUpBatchSize (a Wharf key, 1 MiB)
//     instead: fewer, larger frames for a backlog, which a RocketMQ slave
//     reads as well; a value up to haTransferBatchSize keeps RocketMQ's.
//   - A heartbeat is a header with bodySize 0 and phyOffset the next
//     offset the master would send. The master sends one when it has
//     written nothing for haSendHeartbeatInterval.
//
// The slave checks every header before appending: phyOffset must be its
// own end (an empty slave accepts a segment start), the body must fit its
// read limit and must stay within one segment. A mismatch closes the
// connection; the slave reconnects and reports its end again
// (FrameReader). RocketMQ 4.9's slave makes the same continuity check
// (except that an empty one accepts any offset); it has no truncation, so a slave ahead of its master never recovers
// without an operator.
//
// # Closing an idle connection
//
// The master closes a connection from which it has read nothing for
// haHousekeepingInterval; the slave's reports every
// haSendHeartbeatInterval keep it open. A Wharf slave likewise closes a
// connection from which it has read nothing (not even a heartbeat) for
// haHousekeepingInterval, then redials. (RocketMQ 4.9's slave redials at
// once after a close and every 5 s while dialling fails. Its
// housekeeping times its own writes instead of reads, so it does not
// notice a silent master; 5.x times reads, as Wharf does.)
//
// # Defaults (RocketMQ 4.9.8 MessageStoreConfig; see defaults.go)
//
//	haSendHeartbeatInterval  5 s      both directions
//	haHousekeepingInterval   20 s     idle close
//	haTransferBatchSize      32 KiB   largest body a master sends (Wharf:
//	                                  haCatchUpBatchSize, 1 MiB, to a slave behind)
//	haSlaveFallbehindMax     256 MiB  a slave further behind is not "in sync"
//	slaveTimeout             3 s      SYNC_MASTER wait (4.9.3 and later)
//	haListenPort             10912    in 4.9 always replaced by listenPort+1
//
// A RocketMQ 4.9 slave reads into a 4 MiB buffer that must hold a whole
// frame, so no frame body may exceed MaxBodySize (4 MiB − 12 bytes),
// whatever haTransferBatchSize or haCatchUpBatchSize says.
//
// # What a caller must do
//
// The master: read reports with ReadReport and check each with
// CheckReport; choose the first offset with Planner.Start and each batch
// with Planner.Next against the CommitLog's readable end; send
// PutHeader's bytes and then the body. The slave: report its end with
// PutReport; read frames with FrameReader.Next, passing its end; append
// each body at its offset; report the new end.
package ha
