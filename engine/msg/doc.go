// Package msg is the CommitLog record format of RocketMQ 4.x ("V1"), byte for
// byte, so that a pull response can ship stored records unchanged and the
// official clients decode them.
//
// A record, all integers big-endian:
//
//	offset  size     field
//	0       4        TOTALSIZE      whole record, this field included
//	4       4        MAGICCODE      0xDAA320A7 (a record) or 0xCBD43194 (BLANK: end-of-segment filler)
//	8       4        BODYCRC        CRC32-IEEE of the stored body & 0x7FFFFFFF
//	12      4        QUEUEID
//	16      4        FLAG           producer's user flag
//	20      8        QUEUEOFFSET    dense offset in the (topic, queue) consume queue
//	28      8        PHYSICALOFFSET this record's CommitLog offset
//	36      4        SYSFLAG        compression, transaction and IPv6 bits
//	40      8        BORNTIMESTAMP  ms
//	48      8|20     BORNHOST       IPv4 (4) or IPv6 (16) address + int32 port; IPv6 when SYSFLAG&0x10
//	..      8        STORETIMESTAMP ms, set by the broker under the append lock
//	..      8|20     STOREHOST      IPv6 when SYSFLAG&0x20
//	..      4        RECONSUMETIMES
//	..      8        PREPARED TRANSACTION OFFSET
//	..      4+n      BODYLENGTH + BODY (stored as sent: compressed if SYSFLAG&0x1)
//	..      1+n      TOPICLENGTH + TOPIC (so a topic is at most 127 bytes)
//	..      2+n      PROPERTIESLENGTH + PROPERTIES (signed int16: at most 32767 bytes)
//
// A BLANK record has only TOTALSIZE (the bytes left in the segment) and the
// BLANK magic; the rest of it is undefined. Readers skip to the next segment.
//
// Properties are "name\x01value\x02name\x01value...": Java writes no trailing
// \x02, the Go client writes one; both parse.
//
// Encoding writes the record once, with zero queue offset, physical offset and
// store timestamp; the CommitLog patches those three fields in place under its
// append lock (SetOffsets, SetStoreTimestamp). BODYCRC covers the body only, so
// patching does not invalidate it.
package msg
