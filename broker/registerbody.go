package broker

import (
	"bytes"
	"cmp"
	"compress/zlib"
	"encoding/binary"
	"encoding/json"
	"strconv"
	"sync"
)

// encodeRegisterBody is Java's RegisterBrokerBody as JSON (uncompressed).
func encodeRegisterBody(table map[string]TopicConfig, dv DataVersion) []byte {
	b, err := json.Marshal(struct {
		TopicConfigSerializeWrapper topicConfigWrapper `json:"topicConfigSerializeWrapper"`
		FilterServerList            []string           `json:"filterServerList"`
	}{topicConfigWrapper{TopicConfigTable: table, DataVersion: dv}, []string{}})
	if err != nil {
		panic("broker: topic configs do not marshal: " + err.Error()) // plain structs always do
	}
	return b
}

// zlibWriters reuses compressors: each holds about 1 MiB of state, too much
// to allocate for every one-topic increment.
var zlibWriters = sync.Pool{New: func() any { return zlib.NewWriter(nil) }}

// encodeCompressedRegisterBody is Java's RegisterBrokerBody.encode(true): a
// zlib stream of big-endian length-prefixed items: the DataVersion JSON,
// the topic count and each topic as TopicConfig.encode writes it ("name
// read write perm filterType"; the order flag and topicSysFlag do not
// travel, as in Java), the filter-server list JSON, and RocketMQ 5's
// topic-queue-mapping count (0), which 4.x name servers ignore.
func encodeCompressedRegisterBody(topics []TopicConfig, dv DataVersion) []byte {
	var out bytes.Buffer
	zw := zlibWriters.Get().(*zlib.Writer)
	defer zlibWriters.Put(zw)
	zw.Reset(&out)
	var item []byte
	put := func(b []byte) {
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(b)))
		zw.Write(n[:])
		zw.Write(b)
	}
	dvJSON, _ := json.Marshal(dv)
	put(dvJSON)
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(topics)))
	zw.Write(n[:])
	for _, tc := range topics {
		item = append(item[:0], tc.TopicName...)
		item = append(item, ' ')
		item = strconv.AppendInt(item, int64(tc.ReadQueueNums), 10)
		item = append(item, ' ')
		item = strconv.AppendInt(item, int64(tc.WriteQueueNums), 10)
		item = append(item, ' ')
		item = strconv.AppendInt(item, int64(tc.Perm), 10)
		item = append(item, ' ')
		item = append(item, cmp.Or(tc.TopicFilterType, "SINGLE_TAG")...)
		put(item)
	}
	put([]byte("[]"))
	zw.Write([]byte{0, 0, 0, 0})
	zw.Close() // writes to a bytes.Buffer cannot fail
	return out.Bytes()
}
