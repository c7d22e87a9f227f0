package mqtt

import (
	"bytes"
	"crypto/subtle"
	"strings"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/minicloud/minicloud/internal/iam"
)

// Keys is what the broker needs of the access key store: secrets to check passwords, and topic
// grants (see iam.TopicAllowed for their meaning).
type Keys interface {
	Secret(accessKey string) (string, bool)
	TopicAllowed(accessKey, topic string, a iam.Action) bool
}

// v3BadCredentials is MQTT 3.1.1's CONNACK return code 4, "bad user name or password". mochi
// maps v5's 0x86 to 3.1.1's 5 ("not authorized"), so the hook answers v3 clients itself.
var v3BadCredentials = packets.Code{Code: 0x04, Reason: "bad username or password"}

// authHook authenticates clients (username = access key, password = its secret; no anonymous
// access) and checks every subscribe, publish and delivery against the key's topic grants.
type authHook struct {
	mochi.HookBase
	b *Broker
}

func (h *authHook) ID() string { return "minicloud-auth" }

func (h *authHook) Provides(b byte) bool {
	return b == mochi.OnConnect || b == mochi.OnConnectAuthenticate || b == mochi.OnACLCheck
}

// OnConnect runs before mochi's authentication step and does it, because mochi can only answer
// a refusal there with 0x86, which it turns into 3.1.1's code 5; here each refusal gets its own
// code: bad credentials 0x86 (v5) or 4 (3.1.1), a will on a topic the key may not publish to
// 0x87 or 5, a client id held by a session of another key 0x85 or 2.
func (h *authHook) OnConnect(cl *mochi.Client, pk packets.Packet) error {
	v5 := cl.Properties.ProtocolVersion == 5
	refuse := func(v5code, v3code packets.Code) error {
		code := v3code
		if v5 {
			code = v5code
		}
		_ = h.b.srv.SendConnack(cl, code, false, nil)
		return code
	}
	if !h.credentialsOK(cl, pk) {
		h.b.metrics.authFailures.Inc()
		return refuse(packets.ErrBadUsernameOrPassword, v3BadCredentials)
	}
	ak := string(cl.Properties.Username)
	if pk.Connect.ClientIdentifier == mochi.InlineClientId {
		return refuse(packets.ErrClientIdentifierNotValid, packets.Err3ClientIdentifierNotValid)
	}
	// A session carries subscriptions and queued messages that its key was allowed; another key
	// taking it over would inherit them.
	if old, ok := h.b.srv.Clients.Get(pk.Connect.ClientIdentifier); ok && pk.Connect.ClientIdentifier != "" &&
		!bytes.Equal(old.Properties.Username, cl.Properties.Username) {
		return refuse(packets.ErrClientIdentifierNotValid, packets.Err3ClientIdentifierNotValid)
	}
	if pk.Connect.WillFlag && !h.b.keys.TopicAllowed(ak, pk.Connect.WillTopic, iam.ActionWrite) {
		h.b.metrics.aclDenied.Inc()
		return refuse(packets.ErrNotAuthorized, packets.Err3NotAuthorized)
	}
	return nil
}

// OnConnectAuthenticate is only reached when OnConnect admitted the client; it checks again so
// that no hook ordering can let an unauthenticated client in.
func (h *authHook) OnConnectAuthenticate(cl *mochi.Client, pk packets.Packet) bool {
	return h.credentialsOK(cl, pk)
}

func (h *authHook) credentialsOK(cl *mochi.Client, pk packets.Packet) bool {
	ak := string(cl.Properties.Username)
	if ak == "" || !pk.Connect.PasswordFlag {
		return false
	}
	secret, ok := h.b.keys.Secret(ak)
	if !ok {
		// Compare anyway so that an unknown key takes as long as a wrong secret.
		subtle.ConstantTimeCompare(pk.Connect.Password, pk.Connect.Password)
		return false
	}
	return subtle.ConstantTimeCompare([]byte(secret), pk.Connect.Password) == 1
}

// OnACLCheck is asked for subscriptions (write=false, a filter), publishes (write=true) and
// every delivery to a client (write=false, a topic name).
func (h *authHook) OnACLCheck(cl *mochi.Client, topic string, write bool) bool {
	a := iam.ActionRead
	if write {
		a = iam.ActionWrite
	}
	if ok := h.b.keys.TopicAllowed(string(cl.Properties.Username), stripShare(topic), a); ok {
		return true
	}
	h.b.metrics.aclDenied.Inc()
	return false
}

// stripShare turns "$share/GROUP/filter" into "filter": grants are about topics, not groups.
func stripShare(filter string) string {
	rest, ok := strings.CutPrefix(filter, "$share/")
	if !ok {
		return filter
	}
	if _, f, ok := strings.Cut(rest, "/"); ok {
		return f
	}
	return filter
}
