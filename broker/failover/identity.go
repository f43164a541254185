package failover

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/wharfmq/wharf/internal/durable"
)

// Identity file names under storePathRootDir (RocketMQ's).
const (
	IdentityFile     = "brokerIdentity"
	IdentityTempFile = "brokerIdentity-temp"
)

// identity is a replica's place: cluster, broker name and controller id.
type identity struct {
	cluster, brokerName string
	id                  int64
	checkCode           string // only in the temp file
}

func (i identity) text() string {
	s := i.cluster + "#" + i.brokerName + "#" + strconv.FormatInt(i.id, 10)
	if i.checkCode != "" {
		s += "#" + i.checkCode
	}
	return s
}

func parseIdentity(path string, b []byte) (identity, error) {
	parts := strings.SplitN(strings.TrimSpace(string(b)), "#", 4)
	if len(parts) < 3 {
		return identity{}, fmt.Errorf("%s: want <cluster>#<brokerName>#<brokerId>, have %q", path, strings.TrimSpace(string(b)))
	}
	id, err := strconv.ParseInt(parts[2], 10, 64)
	if err != nil || id < 1 {
		return identity{}, fmt.Errorf("%s: broker id %q is not a controller id (1 or more)", path, parts[2])
	}
	i := identity{cluster: parts[0], brokerName: parts[1], id: id}
	if len(parts) == 4 {
		i.checkCode = parts[3]
	}
	return i, nil
}

// readIdentity reads path; a missing file is (zero, false, nil).
func readIdentity(path string) (identity, bool, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return identity{}, false, nil
	}
	if err != nil {
		return identity{}, false, fmt.Errorf("read %s: %w", path, err)
	}
	i, err := parseIdentity(path, b)
	return i, err == nil, err
}

// resolveID returns the broker's controller id: the one in brokerIdentity,
// or a new one applied for and then written there.
func resolveID(ctx context.Context, c Controller, dir, cluster, brokerName, addr string, now func() time.Time) (int64, error) {
	path := identityPath(dir)
	have, ok, err := readIdentity(path)
	if err != nil {
		return 0, err
	}
	if ok {
		if have.cluster != cluster || have.brokerName != brokerName {
			return 0, fmt.Errorf("%s: this data belongs to broker %s of cluster %s, not %s of %s",
				path, have.brokerName, have.cluster, brokerName, cluster)
		}
		return have.id, nil
	}
	tempPath := filepath.Join(dir, IdentityTempFile)
	temp, ok, err := readIdentity(tempPath)
	if err != nil || (ok && (temp.cluster != cluster || temp.brokerName != brokerName || temp.checkCode == "")) {
		// A temp file we cannot use is only a half-done application.
		ok = false
	}
	for {
		if !ok {
			id, err := c.NextBrokerID(ctx, cluster, brokerName)
			if err != nil {
				return 0, fmt.Errorf("ask the controller for a broker id: %w", err)
			}
			temp = identity{cluster: cluster, brokerName: brokerName, id: id,
				checkCode: addr + ";" + strconv.FormatInt(now().UnixMilli(), 10)}
			if err := durable.WriteFile(vfs.Default, tempPath, []byte(temp.text())); err != nil {
				return 0, fmt.Errorf("write %s: %w", tempPath, err)
			}
		}
		err := c.ApplyBrokerID(ctx, cluster, brokerName, temp.id, temp.checkCode)
		if errors.Is(err, ErrIDTaken) {
			ok = false // someone else won it: ask again
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("apply for broker id %d: %w", temp.id, err)
		}
		final := identity{cluster: cluster, brokerName: brokerName, id: temp.id}
		if err := durable.WriteFile(vfs.Default, path, []byte(final.text())); err != nil {
			return 0, fmt.Errorf("write %s: %w", path, err)
		}
		_ = os.Remove(tempPath)
		return temp.id, nil
	}
}
