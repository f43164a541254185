package msg

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strings"
)

// OffsetMsgID is the broker-made message id: store host address, port and
// CommitLog offset, as uppercase hex (32 characters for IPv4, 56 for IPv6).
func OffsetMsgID(storeHost netip.AddrPort, phys int64) string {
	var buf [28]byte
	a := storeHost.Addr().Unmap()
	n := 0
	if a.Is4() || !a.IsValid() {
		var ip [4]byte
		if a.Is4() {
			ip = a.As4()
		}
		n = copy(buf[:], ip[:])
	} else {
		ip := a.As16()
		n = copy(buf[:], ip[:])
	}
	binary.BigEndian.PutUint32(buf[n:], uint32(storeHost.Port()))
	binary.BigEndian.PutUint64(buf[n+4:], uint64(phys))
	return strings.ToUpper(hex.EncodeToString(buf[:n+12]))
}

// ParseOffsetMsgID decodes an id made by OffsetMsgID.
func ParseOffsetMsgID(id string) (netip.AddrPort, int64, error) {
	if len(id) != 32 && len(id) != 56 {
		return netip.AddrPort{}, 0, fmt.Errorf("msg: offset message id %q: length %d, want 32 or 56", id, len(id))
	}
	b, err := hex.DecodeString(id)
	if err != nil {
		return netip.AddrPort{}, 0, fmt.Errorf("msg: offset message id %q: %w", id, err)
	}
	ipLen := len(b) - 12
	addr, _ := netip.AddrFromSlice(b[:ipLen])
	port := binary.BigEndian.Uint32(b[ipLen:])
	phys := int64(binary.BigEndian.Uint64(b[ipLen+4:]))
	if port > 0xFFFF || phys < 0 {
		return netip.AddrPort{}, 0, fmt.Errorf("msg: offset message id %q: port %d or offset %d out of range", id, port, phys)
	}
	return netip.AddrPortFrom(addr, uint16(port)), phys, nil
}
