package remoting

import (
	"fmt"
	"slices"
	"strconv"

	"github.com/wharfmq/wharf/remoting/body"
)

// JSON header (serialize type 0), PROTOCOL.md §1.2.
//
// The encoder writes the Go client's field order, omits an empty remark and
// a nil extFields (as Java omits nulls), and always writes ext values as JSON
// strings: the Go client rejects the whole frame otherwise (trap T2).
//
// The decoder is a small hand parser rather than encoding/json: SEND_MESSAGE
// headers are the broker's hot path, and the schema is one flat object. It
// accepts any key order, unknown keys with any JSON value, null for every
// known field, and ext values that are numbers or booleans (kept as their
// literal text, as fastjson would coerce them). Invalid UTF-8 in strings
// becomes U+FFFD, as with encoding/json.

// AppendJSONHeader appends the compact JSON header of c to dst.
func AppendJSONHeader(dst []byte, c *Command) []byte {
	dst = append(dst, `{"code":`...)
	dst = strconv.AppendInt(dst, int64(c.Code), 10)
	dst = append(dst, `,"language":`...)
	dst = body.AppendString(dst, c.Language)
	dst = append(dst, `,"version":`...)
	dst = strconv.AppendInt(dst, int64(c.Version), 10)
	dst = append(dst, `,"opaque":`...)
	dst = strconv.AppendInt(dst, int64(c.Opaque), 10)
	dst = append(dst, `,"flag":`...)
	dst = strconv.AppendInt(dst, int64(c.Flag), 10)
	if c.Remark != "" {
		dst = append(dst, `,"remark":`...)
		dst = body.AppendString(dst, c.Remark)
	}
	if c.ExtFields != nil {
		dst = append(dst, `,"extFields":{`...)
		// Sorted keys make output deterministic; the array keeps the usual
		// dozen keys off the heap.
		var arr [24]string
		keys := arr[:0]
		for k := range c.ExtFields {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for i, k := range keys {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = body.AppendString(dst, k)
			dst = append(dst, ':')
			dst = body.AppendString(dst, c.ExtFields[k])
		}
		dst = append(dst, '}')
	}
	return append(dst, '}')
}

// DecodeJSONHeader decodes a JSON header. The result has SerializeJSON and
// no body.
func DecodeJSONHeader(b []byte) (*Command, error) {
	p := jsonParser{b: b}
	c := &Command{SerializeType: SerializeJSON}
	if err := p.header(c); err != nil {
		return nil, fmt.Errorf("%w: json at byte %d: %w", ErrBadHeader, p.i, err)
	}
	return c, nil
}

func (p *jsonParser) header(c *Command) error {
	if err := p.consume('{'); err != nil {
		return err
	}
	p.ws()
	if p.peek() == '}' {
		p.i++
		return p.end()
	}
	for {
		key, err := p.str()
		if err != nil {
			return err
		}
		if err := p.consume(':'); err != nil {
			return err
		}
		if err := p.field(c, key); err != nil {
			return fmt.Errorf("field %q: %w", key, err)
		}
		p.ws()
		switch p.next() {
		case ',':
			p.ws()
			continue
		case '}':
			return p.end()
		default:
			return jsonSyntaxError("expected , or }")
		}
	}
}

func (p *jsonParser) field(c *Command, key string) error {
	p.ws()
	var err error
	switch key {
	case "code":
		var v int64
		v, err = p.intOrNull(16)
		c.Code = int16(v)
	case "version":
		var v int64
		v, err = p.intOrNull(16)
		c.Version = int16(v)
	case "opaque":
		var v int64
		v, err = p.intOrNull(32)
		c.Opaque = int32(v)
	case "flag":
		var v int64
		v, err = p.intOrNull(32)
		c.Flag = int32(v)
	case "language":
		c.Language, err = p.strOrNull()
	case "remark":
		c.Remark, err = p.strOrNull()
	case "extFields":
		c.ExtFields, err = p.ext()
	default:
		err = p.skip(0)
	}
	return err
}

func (p *jsonParser) ext() (map[string]string, error) {
	if p.literal("null") {
		return nil, nil
	}
	if err := p.consume('{'); err != nil {
		return nil, err
	}
	m := make(map[string]string, 16)
	p.ws()
	if p.peek() == '}' {
		p.i++
		return m, nil
	}
	for {
		kb, err := p.strBytes()
		if err != nil {
			return nil, err
		}
		k := intern(kb)
		if err := p.consume(':'); err != nil {
			return nil, err
		}
		p.ws()
		switch c := p.peek(); {
		case c == '"':
			v, err := p.strBytes()
			if err != nil {
				return nil, err
			}
			m[k] = intern(v)
		case p.literal("null"):
			// A null value is an absent field, as for Java header fields.
		case p.literal("true"):
			m[k] = "true"
		case p.literal("false"):
			m[k] = "false"
		case c == '-' || (c >= '0' && c <= '9'):
			start := p.i
			if err := p.number(); err != nil {
				return nil, err
			}
			m[k] = string(p.b[start:p.i])
		default:
			return nil, fmt.Errorf("ext %q: %w", truncateForError(k), jsonSyntaxError("value must be a string"))
		}
		if len(m) > MaxExtFields {
			return nil, fmt.Errorf("%w: more than %d ext fields", ErrBadHeader, MaxExtFields)
		}
		p.ws()
		switch p.next() {
		case ',':
			p.ws()
		case '}':
			return m, nil
		default:
			return nil, jsonSyntaxError("expected , or } in extFields")
		}
	}
}
