package mqtt

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/storage"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/minicloud/minicloud/internal/metastore"
)

// Key layout of the broker's own store (a Pebble directory under the node's data dir). Client
// ids are length-prefixed so that no id can be a prefix of another's keys.
//
//	'c' len id                -> storage.Client (a persistent session)
//	's' len id filter         -> storage.Subscription of that session
//	'i' len id packetID(2)    -> storage.Message in flight to or from that session
//	'r' topic                 -> storage.Message retained on topic
const (
	tagClient   = 'c'
	tagSub      = 's'
	tagInflight = 'i'
	tagRetained = 'r'
)

func clientPrefix(tag byte, id string) []byte {
	k := make([]byte, 0, 1+binary.MaxVarintLen64+len(id)+8)
	k = append(k, tag)
	k = binary.AppendUvarint(k, uint64(len(id)))
	return append(k, id...)
}

func subKey(id, filter string) []byte { return append(clientPrefix(tagSub, id), filter...) }

func inflightKey(id string, packetID uint16) []byte {
	return binary.BigEndian.AppendUint16(clientPrefix(tagInflight, id), packetID)
}

func retainedKey(topic string) []byte { return append([]byte{tagRetained}, topic...) }

// storeHook persists what an MQTT client may expect to outlive a broker restart: persistent
// sessions (a 3.1.1 client with clean session off, or a v5 client with a session expiry), their
// subscriptions and the QoS 1/2 messages in flight to them, and retained messages. Clean
// sessions are never written: they end with their connection, and skipping them keeps the
// publish path free of disk writes for the common case.
//
// Session records and subscriptions are written with fsync (rare, and a lost subscription loses
// every later message). In-flight and retained messages are written without, one per message (an
// fsync each would cap a publisher at the disk's fsync rate), and a syncer fsyncs Pebble's log
// every SyncInterval when they dirtied it: Pebble keeps unsynced records in its own buffer, so
// without that a crash of the process would lose them. A crash loses at most that interval.
type storeHook struct {
	mochi.HookBase
	db  *metastore.DB
	log *slog.Logger

	mu        sync.Mutex
	persisted map[string]bool // client ids with a stored session

	// open guards db: mochi's housekeeping goroutine may still fire a hook while the broker
	// closes, and a write to a closed Pebble panics.
	openMu sync.RWMutex
	open   bool

	dirty      atomic.Bool   // unsynced writes since the last sync
	stopSyncer chan struct{} // closed by Stop
	syncerDone chan struct{}
	stopOnce   sync.Once
}

// SyncInterval bounds what a crash of the process can lose of in-flight and retained messages.
const SyncInterval = 50 * time.Millisecond

// syncKey is rewritten with fsync to push Pebble's log to disk.
var syncKey = []byte{'z'}

func newStoreHook(db *metastore.DB, log *slog.Logger) *storeHook {
	h := &storeHook{db: db, log: log, persisted: map[string]bool{}, open: true,
		stopSyncer: make(chan struct{}), syncerDone: make(chan struct{})}
	go h.syncer()
	return h
}

func (h *storeHook) syncer() {
	defer close(h.syncerDone)
	t := time.NewTicker(SyncInterval)
	defer t.Stop()
	for {
		select {
		case <-h.stopSyncer:
			return
		case <-t.C:
			if h.dirty.Swap(false) {
				h.write(true, func(b *metastore.Batch) { b.Set(syncKey, nil) })
			}
		}
	}
}

// Stop is called by mochi when the broker closes; the store is closed after it. Pebble syncs
// its log on close.
func (h *storeHook) Stop() error {
	h.stopOnce.Do(func() {
		close(h.stopSyncer)
		<-h.syncerDone
		h.openMu.Lock()
		h.open = false
		h.openMu.Unlock()
	})
	return nil
}

// write commits a batch built by fill, unless the store is closing.
func (h *storeHook) write(sync bool, fill func(b *metastore.Batch)) {
	h.openMu.RLock()
	defer h.openMu.RUnlock()
	if !h.open {
		return
	}
	b := h.db.NewBatch()
	defer b.Close()
	fill(b)
	if !sync {
		h.dirty.Store(true)
	}
	if err := b.Commit(sync); err != nil {
		h.log.Error("mqtt store: write failed", "err", err)
	}
}

func (h *storeHook) ID() string { return "minicloud-store" }

var storeEvents = func() (e [256]bool) {
	for _, b := range []byte{mochi.OnSessionEstablished, mochi.OnDisconnect, mochi.OnSubscribed,
		mochi.OnUnsubscribed, mochi.OnRetainMessage, mochi.OnWillSent, mochi.OnQosPublish,
		mochi.OnQosComplete, mochi.OnQosDropped, mochi.OnClientExpired, mochi.OnRetainedExpired,
		mochi.StoredClients, mochi.StoredInflightMessages, mochi.StoredRetainedMessages,
		mochi.StoredSubscriptions} {
		e[b] = true
	}
	return e
}()

// Provides is asked for every hook of every packet: an array, not a map.
func (h *storeHook) Provides(b byte) bool { return storeEvents[b] }

// persistent reports whether a client's session outlives its connection (mochi's rule).
func persistent(cl *mochi.Client) bool {
	if cl.Net.Inline {
		return false
	}
	if cl.Properties.ProtocolVersion == 5 {
		return cl.Properties.Props.SessionExpiryInterval > 0
	}
	return !cl.Properties.Clean
}

func (h *storeHook) isPersisted(id string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.persisted[id]
}

func (h *storeHook) set(key []byte, v storage.Serializable, sync bool) {
	data, err := v.MarshalBinary()
	if err != nil {
		h.log.Error("mqtt store: encode failed", "err", err)
		return
	}
	h.write(sync, func(b *metastore.Batch) { b.Set(key, data) })
}

func (h *storeHook) del(key []byte, sync bool) {
	h.write(sync, func(b *metastore.Batch) { b.Delete(key) })
}

// OnSessionEstablished stores a persistent session, or forgets an old one that a clean start
// replaced.
func (h *storeHook) OnSessionEstablished(cl *mochi.Client, _ packets.Packet) {
	if persistent(cl) {
		h.saveClient(cl)
		return
	}
	if h.isPersisted(cl.ID) {
		h.forget(cl.ID)
	}
}

func (h *storeHook) saveClient(cl *mochi.Client) {
	props := cl.Properties.Props.Copy(false)
	h.set(clientPrefix(tagClient, cl.ID), &storage.Client{
		ID: cl.ID, T: storage.ClientKey, Remote: cl.Net.Remote, Listener: cl.Net.Listener,
		Username: cl.Properties.Username, Clean: cl.Properties.Clean, ProtocolVersion: cl.Properties.ProtocolVersion,
		Properties: storage.ClientProperties{
			SessionExpiryInterval: props.SessionExpiryInterval, SessionExpiryIntervalFlag: props.SessionExpiryIntervalFlag,
			AuthenticationMethod: props.AuthenticationMethod, AuthenticationData: props.AuthenticationData,
			RequestProblemInfo: props.RequestProblemInfo, RequestProblemInfoFlag: props.RequestProblemInfoFlag,
			RequestResponseInfo: props.RequestResponseInfo, ReceiveMaximum: props.ReceiveMaximum,
			TopicAliasMaximum: props.TopicAliasMaximum, User: props.User, MaximumPacketSize: props.MaximumPacketSize,
		},
		Will: storage.ClientWill(cl.Properties.Will),
	}, true)
	h.mu.Lock()
	h.persisted[cl.ID] = true
	h.mu.Unlock()
}

// forget deletes a session with its subscriptions and in-flight messages.
func (h *storeHook) forget(id string) {
	h.write(true, func(b *metastore.Batch) {
		b.Delete(clientPrefix(tagClient, id))
		for _, tag := range []byte{tagSub, tagInflight} {
			err := h.scan(clientPrefix(tag, id), func(k, _ []byte) error { b.Delete(append([]byte(nil), k...)); return nil })
			if err != nil {
				h.log.Error("mqtt store: forget session", "client", id, "err", err)
			}
		}
	})
	h.mu.Lock()
	delete(h.persisted, id)
	h.mu.Unlock()
}

// OnDisconnect keeps the session's record current (its will may have gone) or forgets it when
// it ended with the connection. A session taken over by a new connection is the new one's.
func (h *storeHook) OnDisconnect(cl *mochi.Client, _ error, expire bool) {
	if cl.Net.Inline || errors.Is(cl.StopCause(), packets.ErrSessionTakenOver) || cl.IsTakenOver() {
		return
	}
	switch {
	case expire && h.isPersisted(cl.ID):
		h.forget(cl.ID)
	case !expire && persistent(cl):
		h.saveClient(cl)
	}
}

func (h *storeHook) OnWillSent(cl *mochi.Client, _ packets.Packet) {
	if h.isPersisted(cl.ID) {
		h.saveClient(cl)
	}
}

func (h *storeHook) OnClientExpired(cl *mochi.Client) { h.forget(cl.ID) }

func (h *storeHook) OnSubscribed(cl *mochi.Client, pk packets.Packet, codes []byte) {
	if !persistent(cl) {
		return
	}
	for i, f := range pk.Filters {
		if i >= len(codes) || codes[i] >= packets.ErrUnspecifiedError.Code {
			continue
		}
		h.set(subKey(cl.ID, f.Filter), &storage.Subscription{
			T: storage.SubscriptionKey, Client: cl.ID, Filter: f.Filter, Qos: codes[i], Identifier: f.Identifier,
			NoLocal: f.NoLocal, RetainHandling: f.RetainHandling, RetainAsPublished: f.RetainAsPublished,
		}, true)
	}
}

func (h *storeHook) OnUnsubscribed(cl *mochi.Client, pk packets.Packet) {
	if cl.Net.Inline || !h.isPersisted(cl.ID) {
		return
	}
	for _, f := range pk.Filters {
		h.del(subKey(cl.ID, f.Filter), true)
	}
}

func (h *storeHook) OnRetainMessage(cl *mochi.Client, pk packets.Packet, r int64) {
	if r == -1 {
		h.del(retainedKey(pk.TopicName), false)
		return
	}
	m := toStored(pk)
	m.T, m.Client = storage.RetainedKey, cl.ID
	h.set(retainedKey(pk.TopicName), m, false)
}

// storedMessage is a message as this store keeps it: mochi's record plus the absolute expiry
// time, which mochi's record lacks (its Created time is rewritten by orderHook).
type storedMessage struct {
	storage.Message
	Expiry int64 `json:"expiry,omitempty"` // unix seconds; 0 never
}

func (m *storedMessage) MarshalBinary() ([]byte, error) { return json.Marshal(m) }

func (h *storeHook) OnRetainedExpired(topic string) { h.del(retainedKey(topic), false) }

func (h *storeHook) OnQosPublish(cl *mochi.Client, pk packets.Packet, sent int64, _ int) {
	if !persistent(cl) {
		return
	}
	m := toStored(pk)
	m.T, m.Client, m.PacketID, m.Sent = storage.InflightKey, cl.ID, pk.PacketID, sent
	h.set(inflightKey(cl.ID, pk.PacketID), m, false)
}

func (h *storeHook) OnQosComplete(cl *mochi.Client, pk packets.Packet) {
	if persistent(cl) {
		h.del(inflightKey(cl.ID, pk.PacketID), false)
	}
}

func (h *storeHook) OnQosDropped(cl *mochi.Client, pk packets.Packet) { h.OnQosComplete(cl, pk) }

func toStored(pk packets.Packet) *storedMessage {
	p := pk.Properties.Copy(false)
	return &storedMessage{Expiry: max(pk.Expiry, 0), Message: storage.Message{
		FixedHeader: pk.FixedHeader, TopicName: pk.TopicName, Payload: pk.Payload, Created: pk.Created, Origin: pk.Origin,
		Properties: storage.MessageProperties{
			PayloadFormat: p.PayloadFormat, PayloadFormatFlag: p.PayloadFormatFlag,
			MessageExpiryInterval: p.MessageExpiryInterval, ContentType: p.ContentType,
			ResponseTopic: p.ResponseTopic, CorrelationData: p.CorrelationData,
			SubscriptionIdentifier: p.SubscriptionIdentifier, User: p.User,
		},
	}}
}
