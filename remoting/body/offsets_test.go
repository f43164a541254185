package body

import (
	"errors"
	"maps"
	"testing"
)

// TestConsumerOffsetsGolden pins the bytes of GET_ALL_CONSUMER_OFFSET and
// GET_ALL_DELAY_OFFSET (unquoted number keys, as fastjson writes a
// Map<Integer,Long>) and reads them back.
func TestConsumerOffsetsGolden(t *testing.T) {
	tbl := ConsumerOffsetTable{
		{"T", "G"}:        {1: 7, 0: 12},
		{"%RETRY%G", "G"}: {0: 0},
	}
	got := string(AppendConsumerOffsets(nil, tbl))
	want := `{"offsetTable":{"%RETRY%G@G":{0:0},"T@G":{0:12,1:7}}}`
	if got != want {
		t.Fatalf("43 body\n got %s\nwant %s", got, want)
	}
	back, err := DecodeConsumerOffsets([]byte(got))
	if err != nil || len(back) != 2 || !maps.Equal(back[ConsumerOffsetKey{"T", "G"}], tbl[ConsumerOffsetKey{"T", "G"}]) {
		t.Fatalf("read back %v %v", back, err)
	}
	got = string(AppendDelayOffsets(nil, map[int32]int64{2: 37, 1: 0}))
	if want := `{"offsetTable":{1:0,2:37}}`; got != want {
		t.Fatalf("45 body\n got %s\nwant %s", got, want)
	}
	levels, err := DecodeDelayOffsets([]byte(got))
	if err != nil || !maps.Equal(levels, map[int32]int64{1: 0, 2: 37}) {
		t.Fatalf("read back %v %v", levels, err)
	}
}

// TestOffsetBodiesOtherShapes: quoted keys, whitespace, member order and
// the 5.x dataVersion member are all accepted; empty tables read as empty.
func TestOffsetBodiesOtherShapes(t *testing.T) {
	b := `{ "dataVersion" : {"counter":3,"stateVersion":0,"timestamp":1},
	        "offsetTable" : { "T@G" : { "3" : 9 , 0:1 } } }`
	tbl, err := DecodeConsumerOffsets([]byte(b))
	if err != nil || !maps.Equal(tbl[ConsumerOffsetKey{"T", "G"}], map[int32]int64{3: 9, 0: 1}) {
		t.Fatalf("%v %v", tbl, err)
	}
	levels, err := DecodeDelayOffsets([]byte(`{"dataVersion":{"counter":1},"offsetTable":{"18":5}}`))
	if err != nil || !maps.Equal(levels, map[int32]int64{18: 5}) {
		t.Fatalf("%v %v", levels, err)
	}
	for _, empty := range []string{`{}`, `{"offsetTable":{}}`} {
		if tbl, err := DecodeConsumerOffsets([]byte(empty)); err != nil || len(tbl) != 0 {
			t.Errorf("%s: %v %v", empty, tbl, err)
		}
		if levels, err := DecodeDelayOffsets([]byte(empty)); err != nil || levels == nil || len(levels) != 0 {
			t.Errorf("%s: %v %v", empty, levels, err)
		}
	}
}

// TestOffsetBodiesMalformed: bad input is an ErrMalformed, never a panic.
func TestOffsetBodiesMalformed(t *testing.T) {
	for _, b := range []string{
		``, `[]`, `{"offsetTable":{"TG":{0:1}}}`, `{"offsetTable":{"@G":{0:1}}}`, `{"offsetTable":{"T@G":{x:1}}}`,
		`{"offsetTable":{"T@G":{0:1.5}}}`, `{"offsetTable":{"T@G":{4294967296:1}}}`, `{"offsetTable":{"T@G":{0:1}`,
		`{"offsetTable":{"T@G":[1]}}`, `{"offsetTable":{1:2}}`,
	} {
		if _, err := DecodeConsumerOffsets([]byte(b)); !errors.Is(err, ErrMalformed) {
			t.Errorf("43 %q: %v, want ErrMalformed", b, err)
		}
	}
	for _, b := range []string{``, `{"offsetTable":{"a":1}}`, `{"offsetTable":{1:"x"}}`, `{"offsetTable":[`} {
		if _, err := DecodeDelayOffsets([]byte(b)); !errors.Is(err, ErrMalformed) {
			t.Errorf("45 %q: %v, want ErrMalformed", b, err)
		}
	}
}
