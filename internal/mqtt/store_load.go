package mqtt

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/mochi-mqtt/server/v2/hooks/storage"
)

// The broker's start-up reads of its store: mochi asks for these once, in Serve, before any
// client connects.

// scan calls fn for every key with the prefix; k and v are valid only during the call.
func (h *storeHook) scan(prefix []byte, fn func(k, v []byte) error) error {
	it, err := h.db.NewIter(prefix, prefixEnd(prefix))
	if err != nil {
		return err
	}
	for ok := it.First(); ok; ok = it.Next() {
		v, err := it.Value()
		if err == nil {
			err = fn(it.Key(), v)
		}
		if err != nil {
			it.Close()
			return err
		}
	}
	return it.Close()
}

// prefixEnd is the first key after every key with prefix p (nil: no bound).
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

func (h *storeHook) StoredClients() ([]storage.Client, error) {
	var out []storage.Client
	err := h.scan([]byte{tagClient}, func(_, v []byte) error {
		var c storage.Client
		if err := c.UnmarshalBinary(v); err != nil {
			return fmt.Errorf("decode stored session: %w", err)
		}
		out = append(out, c)
		h.mu.Lock()
		h.persisted[c.ID] = true
		h.mu.Unlock()
		return nil
	})
	return out, err
}

func (h *storeHook) StoredSubscriptions() ([]storage.Subscription, error) {
	var out []storage.Subscription
	err := h.scan([]byte{tagSub}, func(_, v []byte) error {
		var s storage.Subscription
		if err := s.UnmarshalBinary(v); err != nil {
			return fmt.Errorf("decode stored subscription: %w", err)
		}
		out = append(out, s)
		return nil
	})
	return out, err
}

func (h *storeHook) StoredInflightMessages() ([]storage.Message, error) {
	return h.loadMessages(tagInflight)
}

func (h *storeHook) StoredRetainedMessages() ([]storage.Message, error) {
	return h.loadMessages(tagRetained)
}

// loadMessages reads stored messages, dropping those whose v5 message expiry passed while the
// broker was down. mochi cannot be given the expiry of the others: they live until delivered.
func (h *storeHook) loadMessages(tag byte) ([]storage.Message, error) {
	var out []storage.Message
	var expired [][]byte
	now := time.Now().Unix()
	err := h.scan([]byte{tag}, func(k, v []byte) error {
		var m storedMessage
		if err := json.Unmarshal(v, &m); err != nil {
			return fmt.Errorf("decode stored message: %w", err)
		}
		if m.Expiry > 0 && m.Expiry < now {
			expired = append(expired, append([]byte(nil), k...))
			return nil
		}
		out = append(out, m.Message)
		return nil
	})
	for _, k := range expired {
		h.del(k, false)
	}
	return out, err
}
