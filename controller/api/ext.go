package api

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/wharfmq/wharf/remoting"
)

// extReader reads ext fields and keeps the first error, so a Parse
// function reads every field and checks once.
type extReader struct {
	c   *remoting.Command
	err error
}

func (r *extReader) keep(err error) {
	if r.err == nil && err != nil {
		r.err = err
	}
}

func (r *extReader) str(key string) string {
	v, err := r.c.ExtString(key)
	r.keep(err)
	return v
}

func (r *extReader) strOr(key, def string) string { return r.c.ExtStringOr(key, def) }

func (r *extReader) i64(key string) int64 {
	v, err := r.c.ExtInt64(key)
	r.keep(err)
	return v
}

func (r *extReader) i64Or(key string, def int64) int64 {
	v, err := r.c.ExtInt64Or(key, def)
	r.keep(err)
	return v
}

func (r *extReader) i32(key string) int32 {
	v, err := r.c.ExtInt32(key)
	r.keep(err)
	return v
}

func (r *extReader) i32Or(key string, def int32) int32 {
	v, err := r.c.ExtInt32Or(key, def)
	r.keep(err)
	return v
}

func (r *extReader) boolOr(key string, def bool) bool { return r.c.ExtBoolOr(key, def) }

// done wraps the first error with the header's name.
func (r *extReader) done(what string) error {
	if r.err != nil {
		return fmt.Errorf("%s: %w", what, r.err)
	}
	return nil
}

// ext builds an ext-field map.
type ext map[string]string

func (e ext) str(key, v string) ext { e[key] = v; return e }

// optStr sets key only when v is not empty (Java null).
func (e ext) optStr(key, v string) ext {
	if v != "" {
		e[key] = v
	}
	return e
}

func (e ext) i64(key string, v int64) ext { e[key] = strconv.FormatInt(v, 10); return e }

// master sets key to the master id, leaving it out for NoMaster (Java null).
func (e ext) master(key string, id int64) ext {
	if id != NoMaster {
		e.i64(key, id)
	}
	return e
}

func (e ext) boolean(key string, v bool) ext { e[key] = strconv.FormatBool(v); return e }

// FormatIDs joins broker ids with ';', as brokerControllerIdsToClean.
func FormatIDs(ids []int64) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = strconv.FormatInt(id, 10)
	}
	return strings.Join(parts, ";")
}

// ParseIDs splits a ';'-separated id list; empty parts are skipped.
func ParseIDs(s string) ([]int64, error) {
	var ids []int64
	for _, p := range strings.Split(s, ";") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		id, err := strconv.ParseInt(p, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%w: broker id %q", remoting.ErrBadField, p)
		}
		ids = append(ids, id)
	}
	return ids, nil
}
