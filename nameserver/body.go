package nameserver

import (
	"bytes"
	"compress/flate"
	"compress/zlib"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// maxInflatedBody bounds a compressed REGISTER_BROKER body once inflated,
// so a small frame cannot make us allocate without limit.
const maxInflatedBody = 64 << 20

// brokerTopics is what a REGISTER_BROKER body tells the name server.
type brokerTopics struct {
	table map[string]TopicConfig // by topic name
	dv    DataVersion
}

// decodeRegisterBody decodes a REGISTER_BROKER body. An empty body carries
// no topic information and yields nil, as Java treats it.
func decodeRegisterBody(body []byte, compressed bool) (*brokerTopics, error) {
	if len(body) == 0 {
		return nil, nil
	}
	if compressed {
		return decodeCompressedBody(body)
	}
	var rb registerBody
	if err := json.Unmarshal(body, &rb); err != nil {
		return nil, fmt.Errorf("register body is not RegisterBrokerBody JSON: %w", err)
	}
	if rb.TopicConfigSerializeWrapper == nil {
		return nil, nil
	}
	bt := &brokerTopics{table: make(map[string]TopicConfig), dv: rb.TopicConfigSerializeWrapper.DataVersion}
	for key, tc := range rb.TopicConfigSerializeWrapper.TopicConfigTable {
		if tc.TopicName == "" {
			tc.TopicName = key
		}
		if err := bt.add(tc); err != nil {
			return nil, err
		}
	}
	return bt, nil
}

// add validates tc and stores it under its name.
func (bt *brokerTopics) add(tc TopicConfig) error {
	if tc.TopicName == "" {
		return errors.New("register body has a topic config with no name")
	}
	if tc.ReadQueueNums < 0 || tc.WriteQueueNums < 0 {
		return fmt.Errorf("topic %q has negative queue numbers (read %d, write %d)",
			tc.TopicName, tc.ReadQueueNums, tc.WriteQueueNums)
	}
	bt.table[tc.TopicName] = tc
	return nil
}

// decodeCompressedBody decodes Java's compressed RegisterBrokerBody: a zlib
// stream (raw deflate is tried when the zlib header is absent) holding,
// big-endian,
//
//	int32 n, n bytes of DataVersion JSON
//	int32 count, then count times: int32 n, n bytes of one topic config
//	int32 n, n bytes of the filter-server list as a JSON array
//
// Java writes each topic config with TopicConfig.encode, which is not JSON
// but "name read write perm filterType[ attributes]" separated by spaces,
// and loses topicSysFlag and order on the way; a JSON object is accepted
// as well.
func decodeCompressedBody(body []byte) (*brokerTopics, error) {
	raw, err := inflate(body)
	if err != nil {
		return nil, err
	}
	r := &chunkReader{b: raw}
	dvJSON, err := r.chunk("data version")
	if err != nil {
		return nil, err
	}
	bt := &brokerTopics{table: make(map[string]TopicConfig)}
	if err := json.Unmarshal(dvJSON, &bt.dv); err != nil {
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
		if err := bt.add(tc); err != nil {
			return nil, err
		}
	}
	// The filter-server list is the last item; Wharf has no filter servers
	// and ignores it, but a body cut short before it is still an error.
	if _, err := r.chunk("filter server list"); err != nil {
		return nil, err
	}
	return bt, nil
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
	raw, err := io.ReadAll(io.LimitReader(src, maxInflatedBody+1))
	if err != nil {
		return nil, fmt.Errorf("compressed register body does not inflate: %w", err)
	}
	if len(raw) > maxInflatedBody {
		return nil, fmt.Errorf("compressed register body inflates beyond %d bytes", maxInflatedBody)
	}
	return raw, nil
}

// parseTopicConfig reads one topic config of the compressed body, in
// Java's space-separated form or as JSON.
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
	nums := [3]int{}
	for i, name := range []string{"readQueueNums", "writeQueueNums", "perm"} {
		n, err := strconv.ParseInt(f[i+1], 10, 32)
		if err != nil {
			return tc, fmt.Errorf("%q: bad %s: %w", s, name, err)
		}
		nums[i] = int(n)
	}
	tc = TopicConfig{TopicName: f[0], ReadQueueNums: nums[0], WriteQueueNums: nums[1], Perm: nums[2], TopicFilterType: f[4]}
	return tc, nil
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
