package mqtt

import (
	"sort"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// orderHook makes a resumed session receive its queued messages in the order they were
// published, as MQTT requires. mochi resends a session's in-flight messages sorted by the low 16
// bits of their creation time in seconds, with an unstable sort: messages of the same second come
// out shuffled (and the order breaks every 18 hours). mochi sends the CONNACK after moving the
// queue to the new connection and before resending it, so on that CONNACK the hook re-sorts the
// queue by creation time and packet id, and renumbers the creation times so that mochi's own sort
// keeps that order.
type orderHook struct {
	mochi.HookBase
}

func (h *orderHook) ID() string { return "minicloud-order" }

func (h *orderHook) Provides(b byte) bool { return b == mochi.OnPacketEncode }

func (h *orderHook) OnPacketEncode(cl *mochi.Client, pk packets.Packet) packets.Packet {
	if pk.FixedHeader.Type == packets.Connack && pk.SessionPresent {
		reorderInflight(cl.State.Inflight)
	}
	return pk
}

func reorderInflight(in *mochi.Inflight) {
	all := in.GetAll(false)
	if len(all) < 2 {
		return
	}
	sort.SliceStable(all, func(i, j int) bool {
		if all[i].Created != all[j].Created {
			return all[i].Created < all[j].Created
		}
		// Packet ids are handed out in sequence and wrap at 65535; fewer than 32768 are ever in
		// flight, so the signed difference orders them.
		return int16(all[i].PacketID-all[j].PacketID) < 0
	})
	// The new times stay within 18 hours before the real ones, and their low 16 bits are
	// 0, 1, 2, ...: mochi's sort then keeps this order.
	base := all[0].Created &^ 0xffff
	for i, pk := range all {
		pk.Created = base + int64(i)
		in.Set(pk)
	}
}
