package body

import (
	"bytes"
	"cmp"
	"compress/flate"
	"compress/zlib"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
)

// inflateLimit bounds a compressed REGISTER_BROKER body once inflated, so
// a small frame cannot make a reader allocate without limit; tests lower it.
var inflateLimit = 64 << 20

// RegisterBody is what a REGISTER_BROKER body (Java RegisterBrokerBody)
// tells a name server: the broker's topic table, by topic name, and its
// data version. Wharf has no filter servers; their list is written empty
// and ignored when read.
type RegisterBody struct {
	TopicConfigTable map[string]TopicConfig
	DataVersion      DataVersion
}

// registerJSON is RegisterBrokerBody in its uncompressed, JSON form.
type registerJSON struct {
	TopicConfigSerializeWrapper *TopicConfigWrapper `json:"topicConfigSerializeWrapper"`
	FilterServerList            []string            `json:"filterServerList"`
}

// EncodeRegisterBody returns RegisterBrokerBody as JSON (uncompressed):
//
//	{"topicConfigSerializeWrapper":{"topicConfigTable":{...},"dataVersion":{...}},"filterServerList":[]}
//
// The configs are written as they are: give each its TopicName and a
// TopicFilterType, as Java peers need both.
func EncodeRegisterBody(table map[string]TopicConfig, dv DataVersion) []byte {
	if table == nil {
		table = map[string]TopicConfig{} // Java reads a null table as an error
	}
	b, err := json.Marshal(registerJSON{&TopicConfigWrapper{TopicConfigTable: table, DataVersion: dv}, []string{}})
	if err != nil {
		panic("body: topic configs do not marshal: " + err.Error()) // plain structs always do
	}
	return b
}

// zlibWriters reuses compressors: each holds about 1 MiB of state, too much
// to allocate for every one-topic increment.
var zlibWriters = sync.Pool{New: func() any { return zlib.NewWriter(nil) }}

// EncodeCompressedRegisterBody is Java's RegisterBrokerBody.encode(true):
// a zlib stream of big-endian length-prefixed items:
//
//	int32 n, n bytes of DataVersion JSON
//	int32 count, then count times: int32 n, n bytes of one topic config
//	int32 n, n bytes of the filter-server list as a JSON array ("[]")
//	int32 0: RocketMQ 5's topic-queue-mapping count, which 4.x ignores
//
// Each topic config is written as TopicConfig.encode does, "name read
// write perm filterType" (an empty filter type as SINGLE_TAG); the order
// flag and topicSysFlag do not travel, as in Java.
func EncodeCompressedRegisterBody(topics []TopicConfig, dv DataVersion) []byte {
	var out bytes.Buffer
	zw := zlibWriters.Get().(*zlib.Writer)
	defer zlibWriters.Put(zw)
	zw.Reset(&out)
	var n [4]byte
	put := func(b []byte) {
		binary.BigEndian.PutUint32(n[:], uint32(len(b)))
		zw.Write(n[:])
		zw.Write(b)
	}
	dvJSON, _ := json.Marshal(dv)
	put(dvJSON)
	binary.BigEndian.PutUint32(n[:], uint32(len(topics)))
	zw.Write(n[:])
	var item []byte
	for _, tc := range topics {
		item = append(item[:0], tc.TopicName...)
		item = append(item, ' ')
		item = strconv.AppendInt(item, int64(tc.ReadQueueNums), 10)
		item = append(item, ' ')
		item = strconv.AppendInt(item, int64(tc.WriteQueueNums), 10)
		item = append(item, ' ')
		item = strconv.AppendInt(item, int64(tc.Perm), 10)
		item = append(item, ' ')
		item = append(item, cmp.Or(tc.TopicFilterType, DefaultTopicFilterType)...)
		put(item)
	}
	put([]byte("[]"))
	zw.Write([]byte{0, 0, 0, 0})
	zw.Close() // writes to a bytes.Buffer cannot fail
	return out.Bytes()
}

// DecodeRegisterBody reads a REGISTER_BROKER body, compressed or JSON. An
// empty body, or JSON without a topicConfigSerializeWrapper, carries no
// topic information and yields nil, as Java treats it. A config without
// a name takes its key in the JSON table; one with no name at all or
// negative queue numbers is an error.
func DecodeRegisterBody(b []byte, compressed bool) (*RegisterBody, error) {
	if len(b) == 0 {
		return nil, nil
	}
	if compressed {
		return decodeCompressed(b)
	}
	var rj registerJSON
	if err := json.Unmarshal(b, &rj); err != nil {
		return nil, fmt.Errorf("register body is not RegisterBrokerBody JSON: %w", err)
	}
	if rj.TopicConfigSerializeWrapper == nil {
		return nil, nil
	}
	rb := &RegisterBody{TopicConfigTable: make(map[string]TopicConfig), DataVersion: rj.TopicConfigSerializeWrapper.DataVersion}
	for key, tc := range rj.TopicConfigSerializeWrapper.TopicConfigTable {
		if tc.TopicName == "" {
			tc.TopicName = key
		}
		if err := rb.add(tc); err != nil {
			return nil, err
		}
	}
	return rb, nil
}

// add validates tc and stores it under its name.
func (rb *RegisterBody) add(tc TopicConfig) error {
	if tc.TopicName == "" {
		return errors.New("register body has a topic config with no name")
	}
	if tc.ReadQueueNums < 0 || tc.WriteQueueNums < 0 {
		return fmt.Errorf("topic %q has negative queue numbers (read %d, write %d)",
			tc.TopicName, tc.ReadQueueNums, tc.WriteQueueNums)
	}
	rb.TopicConfigTable[tc.TopicName] = tc
	return nil
}

// decodeCompressed reads what EncodeCompressedRegisterBody writes; raw
// deflate is accepted when the zlib header is absent, and a topic config
// may be JSON instead of Java's space-separated form.
func decodeCompressed(body []byte) (*RegisterBody, error) {
	raw, err := inflate(body)
	if err != nil {
		return nil, err
	}
	r := &chunkReader{b: raw}
	dvJSON, err := r.chunk("data version")
	if err != nil {
		return nil, err
	}
	rb := &RegisterBody{TopicConfigTable: make(map[string]TopicConfig)}
	if err := json.Unmarshal(dvJSON, &rb.DataVersion); err != nil {
		return nil, fmt.Errorf("compressed register body: data version is not JSON: %w", err)
	}
	count, err := r.int32("topic count")
	if err != nil {
		return nil, err
	}
	if count < 0 {
		return nil, fmt.Errorf("compressed register body: negative topic count %d", count)
	}
	for i := range count {
		b, err := r.chunk("topic config")
		if err != nil {
			return nil, err
		}
		tc, err := parseTopicConfig(b)
		if err != nil {
			return nil, fmt.Errorf("compressed register body: topic config %d: %w", i, err)
		}
		if err := rb.add(tc); err != nil {
			return nil, err
		}
	}
	// The filter-server list is the last item a 4.x broker writes; a body
	// cut short before it is still an error.
	if _, err := r.chunk("filter server list"); err != nil {
		return nil, err
	}
	return rb, nil
}

func inflate(body []byte) ([]byte, error) {
	var src io.ReadCloser
	zr, err := zlib.NewReader(bytes.NewReader(body))
	if err == nil {
		src = zr
	} else {
		src = flate.NewReader(bytes.NewReader(body))
	}
	defer src.Close()
	raw, err := io.ReadAll(io.LimitReader(src, int64(inflateLimit)+1))
	if err != nil {
		return nil, fmt.Errorf("compressed register body does not inflate: %w", err)
	}
	if len(raw) > inflateLimit {
		return nil, fmt.Errorf("compressed register body inflates beyond %d bytes", inflateLimit)
	}
	return raw, nil
}

// parseTopicConfig reads one topic config of the compressed body, in
// Java's space-separated form ("name read write perm filterType[
// attributes]") or as JSON.
func parseTopicConfig(b []byte) (TopicConfig, error) {
	var tc TopicConfig
	s := strings.TrimSpace(string(b))
	if strings.HasPrefix(s, "{") {
		if err := json.Unmarshal(b, &tc); err != nil {
			return tc, fmt.Errorf("not JSON: %w", err)
		}
		return tc, nil
	}
	f := strings.SplitN(s, " ", 6)
	if len(f) < 5 {
		return tc, fmt.Errorf("%q: want \"name read write perm filterType\"", s)
	}
	var nums [3]int64
	for i, name := range []string{"readQueueNums", "writeQueueNums", "perm"} {
		n, err := strconv.ParseInt(f[i+1], 10, 32)
		if err != nil {
			return tc, fmt.Errorf("%q: bad %s: %w", s, name, err)
		}
		nums[i] = n
	}
	return TopicConfig{TopicName: f[0], ReadQueueNums: int32(nums[0]), WriteQueueNums: int32(nums[1]),
		Perm: int(nums[2]), TopicFilterType: f[4]}, nil
}

// chunkReader reads the length-prefixed items of an inflated body.
type chunkReader struct {
	b   []byte
	off int
}

func (r *chunkReader) int32(what string) (int32, error) {
	if len(r.b)-r.off < 4 {
		return 0, fmt.Errorf("compressed register body ends before the %s", what)
	}
	v := int32(binary.BigEndian.Uint32(r.b[r.off:]))
	r.off += 4
	return v, nil
}

func (r *chunkReader) chunk(what string) ([]byte, error) {
	n, err := r.int32(what + " length")
	if err != nil {
		return nil, err
	}
	if n < 0 || int(n) > len(r.b)-r.off {
		return nil, fmt.Errorf("compressed register body: %s length %d exceeds the %d bytes left",
			what, n, len(r.b)-r.off)
	}
	b := r.b[r.off : r.off+int(n)]
	r.off += int(n)
	return b, nil
}
