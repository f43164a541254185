package meta

import (
	"encoding/json"
	"log/slog"
	"time"

	"github.com/wharfmq/wharf/remoting/body"
)

// loadTable decodes a table's stored documents, skipping (and logging) one
// that is malformed or filed under another name; kind names the table's
// entries in the log ("topic", "group").
func loadTable[T any](docs map[string][]byte, nameOf func(*T) string, kind string, log *slog.Logger) map[string]T {
	table := make(map[string]T, len(docs))
	for name, doc := range docs {
		var v T
		if err := json.Unmarshal(doc, &v); err != nil || nameOf(&v) != name {
			log.Error("ignoring malformed stored "+kind+" config", kind, name, "err", err)
			continue
		}
		table[name] = v
	}
	return table
}

// bump records a change of a table in its data version.
func bump(v *body.DataVersion) {
	v.Counter++
	v.Timestamp = time.Now().UnixMilli()
}
