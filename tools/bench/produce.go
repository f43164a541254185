package bench

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/wharfmq/wharf/engine/msg"
	"github.com/wharfmq/wharf/remoting"
	"github.com/wharfmq/wharf/systopic"
)

// Produce modes.
const (
	ModeSync  = "sync"
	ModeAsync = "async"
	ModeBatch = "batch"
)

// Defaults of ProduceConfig.
const (
	DefaultSize  = 1024
	DefaultBatch = 32
	DefaultGroup = "wharf-bench"
)

// ProduceConfig configures RunProduce.
type ProduceConfig struct {
	Common
	// Size is the body size in bytes (default DefaultSize).
	Size int
	// Mode is ModeSync (default), ModeAsync or ModeBatch. Sync ignores
	// Window.
	Mode string
	// Batch is the number of messages per SEND_BATCH_MESSAGE in batch mode
	// (default DefaultBatch).
	Batch int
	// Group is the producer group sent in the header (default
	// DefaultGroup).
	Group string
}

func (c *ProduceConfig) check() error {
	if err := c.Common.check(DefaultDuration); err != nil {
		return err
	}
	if c.Size < 0 || c.Batch < 0 {
		return fmt.Errorf("bench: size %d and batch %d must not be negative", c.Size, c.Batch)
	}
	if c.Size == 0 {
		c.Size = DefaultSize
	}
	if c.Batch == 0 {
		c.Batch = DefaultBatch
	}
	if c.Group == "" {
		c.Group = DefaultGroup
	}
	switch c.Mode {
	case "":
		c.Mode = ModeSync
	case ModeSync, ModeAsync, ModeBatch:
	default:
		return fmt.Errorf("bench: mode %q: want sync, async or batch", c.Mode)
	}
	if c.Mode == ModeSync {
		c.Window = 1
	}
	if c.Mode != ModeBatch {
		c.Batch = 1
	}
	return nil
}

func (c *ProduceConfig) params(queues int) string {
	s := fmt.Sprintf("mode=%s header=%s size=%d conc=%d window=%d", c.Mode, headerName(c.Header), c.Size, c.Conc, c.Window)
	if c.Mode == ModeBatch {
		s += " batch=" + strconv.Itoa(c.Batch)
	}
	return s + " queues=" + strconv.Itoa(queues)
}

func headerName(h string) string {
	if h == "" {
		return "json"
	}
	return h
}

// payloadPool is random (incompressible) bytes that message bodies are
// cut from at varying offsets, so no two neighbours are equal and nothing
// is generated on the hot path.
type payloadPool struct {
	buf  []byte
	size int
}

func newPayloadPool(size int) *payloadPool {
	n := max(8<<20, 4*size)
	buf := make([]byte, n)
	var seed [32]byte
	for i := range seed {
		seed[i] = byte(rand.Uint32())
	}
	r := rand.NewChaCha8(seed)
	_, _ = r.Read(buf)
	return &payloadPool{buf: buf, size: size}
}

// get returns the body of message seq.
func (p *payloadPool) get(seq int64) []byte {
	span := int64(len(p.buf) - p.size + 1)
	off := (seq * 4099) % span
	return p.buf[off : off+int64(p.size)]
}

// benchKeys is the properties of message seq: its key.
func benchKeys(prefix string, seq int64) string {
	return msg.AppendProperty("", "KEYS", prefix+strconv.FormatInt(seq, 10))
}

// RunProduce sends messages as cfg says, prints the summary line to out
// and returns the result. The error wraps ErrFailures when any message
// failed, and says why when the run was aborted.
func RunProduce(ctx context.Context, cfg ProduceConfig, out io.Writer) (Result, error) {
	if err := cfg.check(); err != nil {
		return Result{}, err
	}
	st, _ := cfg.serializeType()
	admin := cfg.newClient()
	targets, err := resolve(ctx, admin, cfg.Route, true)
	admin.Close()
	if err != nil {
		return Result{}, err
	}
	// Every message carries the key KeyPrefix+seq, so any one can be
	// looked up afterwards (wharf admin message key TOPIC KEY).
	keyPrefix := fmt.Sprintf("bench-%x-", time.Now().UnixNano())
	res := Result{Op: "produce", Params: cfg.params(len(targets)) + " keys=" + keyPrefix + "N"}
	lim := &limiter{count: cfg.Count}
	m := &meter{}
	pool := newPayloadPool(cfg.Size)
	code := remoting.CodeSendMessageV2
	if cfg.Mode == ModeBatch {
		code = remoting.CodeSendBatchMessage
	}
	k := int64(cfg.Batch)

	w := func(ctx context.Context, cli *remoting.Client, h *Histogram, cancel context.CancelCauseFunc) {
		// One request reused for every send: Invoke has written it out by
		// the time it returns, so the map and body are free again.
		ext := map[string]string{
			"a": cfg.Group, "b": cfg.Topic, "c": systopic.AutoCreate, "d": "4", "e": "0", "f": "0", "g": "0",
			"h": "0", "i": "", "j": "0", "k": "false", "l": "0", "m": strconv.FormatBool(code == remoting.CodeSendBatchMessage),
		}
		req := &remoting.Command{Code: code, ExtFields: ext, SerializeType: st}
		var batchBuf []byte
		var lastMs int64
		for {
			seq, n := lim.claim(k)
			if n == 0 || ctx.Err() != nil {
				return
			}
			t := &targets[(seq/k)%int64(len(targets))]
			ext["e"] = t.qid
			if ms := time.Now().UnixMilli(); ms != lastMs {
				lastMs, ext["g"] = ms, strconv.FormatInt(ms, 10)
			}
			if code == remoting.CodeSendBatchMessage {
				batchBuf = batchBuf[:0]
				for i := range n {
					batchBuf = msg.AppendBatchEntry(batchBuf, 0, pool.get(seq+i), benchKeys(keyPrefix, seq+i))
				}
				req.Body = batchBuf
			} else {
				req.Body = pool.get(seq)
				ext["i"] = benchKeys(keyPrefix, seq)
			}
			start := time.Now()
			resp, err := cli.Invoke(ctx, t.addr, req)
			lat := time.Since(start)
			if err != nil {
				if ctx.Err() == nil {
					m.fail(n, "%v", err)
					cancel(fmt.Errorf("send to %s: %w", t.addr, err))
				}
				return
			}
			if resp.Code != remoting.RespSuccess {
				m.fail(n, "code %d: %s", resp.Code, resp.Remark)
				continue
			}
			h.Record(lat)
			m.msgs.Add(n)
			m.bytes.Add(n * int64(cfg.Size))
			m.reqs.Add(1)
		}
	}
	err = runWorkers(ctx, &cfg.Common, targets[0].addr, lim, m, &res, cfg.Window, w)
	fmt.Fprintln(out, res.Line())
	return res, err
}
