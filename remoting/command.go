package remoting

import (
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"
)

// Flag bits of Command.Flag. Part of the wire format.
const (
	// FlagResponse marks a response (RPC_TYPE bit 0).
	FlagResponse int32 = 1
	// FlagOneway marks a request that expects no reply (RPC_ONEWAY bit 1).
	FlagOneway int32 = 2
)

// Defaults stamped on outgoing commands whose Language or Version is unset.
const (
	// DefaultLanguage is what Wharf reports as its language; Java peers
	// know it and the Go client accepts any name.
	DefaultLanguage = "JAVA"
	// DefaultVersion is MQVersion V4_9_8, the ordinal a 4.9.8 Java broker
	// and name server put in every command (PROTOCOL.md §1.5).
	DefaultVersion int16 = 409
)

// Errors of the ext-field getters.
var (
	// ErrMissingField: a required ext field is absent.
	ErrMissingField = errors.New("remoting: missing ext field")
	// ErrBadField: an ext field is present but does not parse.
	ErrBadField = errors.New("remoting: malformed ext field")
)

// Command is one RemotingCommand: a request or a response.
//
// Body is not copied by the decoder or the writer; do not modify it while a
// write of the command may be in progress.
type Command struct {
	Code          int16
	Language      string // enum name, e.g. "JAVA", "GO"
	Version       int16
	Opaque        int32
	Flag          int32
	Remark        string
	ExtFields     map[string]string
	Body          []byte
	SerializeType SerializeType
}

// NewRequest returns a JSON request. Opaque, Language and Version are filled
// in when it is sent.
func NewRequest(code int16, ext map[string]string, body []byte) *Command {
	return &Command{Code: code, ExtFields: ext, Body: body}
}

// NewResponse returns a response to req: same opaque and serialize type,
// response flag set. Language and Version are filled in when it is sent.
func NewResponse(req *Command, code int16, remark string) *Command {
	return &Command{
		Code:          code,
		Opaque:        req.Opaque,
		Flag:          FlagResponse,
		Remark:        remark,
		SerializeType: req.SerializeType,
	}
}

// IsResponse reports whether the response flag is set.
func (c *Command) IsResponse() bool { return c.Flag&FlagResponse != 0 }

// IsOneway reports whether the oneway flag is set. Note that the Go client
// never sets it (PROTOCOL.md trap T3).
func (c *Command) IsOneway() bool { return c.Flag&FlagOneway != 0 }

// String summarizes the command for logs; it does not print the body.
func (c *Command) String() string {
	kind := "request"
	if c.IsResponse() {
		kind = "response"
	}
	return fmt.Sprintf("%s{code=%d opaque=%d flag=%d remark=%q ext=%d body=%dB}",
		kind, c.Code, c.Opaque, c.Flag, c.Remark, len(c.ExtFields), len(c.Body))
}

// Clone returns a copy of c to invoke while c (or another copy) is being
// invoked elsewhere: Invoke sets the opaque and flags and may sign the ext
// fields, so concurrent invokes of one Command would mix their opaques (a
// reply matched to the wrong caller, the other waiting out its timeout).
// The ext fields are copied; the body is shared and must not change.
func (c *Command) Clone() *Command {
	d := *c
	d.ExtFields = maps.Clone(c.ExtFields)
	return &d
}

// SetExt sets an ext field, creating the map if needed.
func (c *Command) SetExt(key, value string) {
	if c.ExtFields == nil {
		c.ExtFields = make(map[string]string, 8)
	}
	c.ExtFields[key] = value
}

// SetExtInt sets an ext field to the decimal form of v, as Java's
// String.valueOf does for Integer and Long header fields.
func (c *Command) SetExtInt(key string, v int64) {
	c.SetExt(key, strconv.FormatInt(v, 10))
}

// SetExtBool sets an ext field to "true" or "false".
func (c *Command) SetExtBool(key string, v bool) {
	c.SetExt(key, strconv.FormatBool(v))
}

// ExtString returns a required ext field.
func (c *Command) ExtString(key string) (string, error) {
	v, ok := c.ExtFields[key]
	if !ok {
		return "", fmt.Errorf("%w %q", ErrMissingField, key)
	}
	return v, nil
}

// ExtStringOr returns an ext field, or def when it is absent.
func (c *Command) ExtStringOr(key, def string) string {
	if v, ok := c.ExtFields[key]; ok {
		return v
	}
	return def
}

// ExtInt32 returns a required ext field parsed as a decimal int32.
func (c *Command) ExtInt32(key string) (int32, error) {
	v, err := c.extInt(key, 32)
	return int32(v), err
}

// ExtInt32Or returns an ext field parsed as int32, or def when it is absent.
// A present but malformed value is an error, not the default.
func (c *Command) ExtInt32Or(key string, def int32) (int32, error) {
	if _, ok := c.ExtFields[key]; !ok {
		return def, nil
	}
	return c.ExtInt32(key)
}

// ExtInt64 returns a required ext field parsed as a decimal int64.
func (c *Command) ExtInt64(key string) (int64, error) {
	return c.extInt(key, 64)
}

// ExtInt64Or returns an ext field parsed as int64, or def when it is absent.
// A present but malformed value is an error, not the default.
func (c *Command) ExtInt64Or(key string, def int64) (int64, error) {
	if _, ok := c.ExtFields[key]; !ok {
		return def, nil
	}
	return c.ExtInt64(key)
}

// ExtBool returns a required ext field as Java's Boolean.parseBoolean reads
// it: "true" in any case is true, anything else is false.
func (c *Command) ExtBool(key string) (bool, error) {
	v, err := c.ExtString(key)
	if err != nil {
		return false, err
	}
	return strings.EqualFold(v, "true"), nil
}

// ExtBoolOr returns an ext field as a Java boolean, or def when it is absent.
func (c *Command) ExtBoolOr(key string, def bool) bool {
	v, ok := c.ExtFields[key]
	if !ok {
		return def
	}
	return strings.EqualFold(v, "true")
}

func (c *Command) extInt(key string, bits int) (int64, error) {
	s, err := c.ExtString(key)
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseInt(s, 10, bits)
	if err != nil {
		return 0, fmt.Errorf("%w %q=%q: not an int%d", ErrBadField, key, truncateForError(s), bits)
	}
	return v, nil
}

// truncateForError keeps hostile values from flooding logs.
func truncateForError(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}
