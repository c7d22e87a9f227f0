package iam

import "strings"

// MQTT topic grants reuse the bucket grant table, under names that can never be buckets (bucket
// names have no ':'):
//
//	mqtt:*          every topic
//	mqtt:PREFIX     the topic subtree PREFIX: the topic PREFIX itself and every topic below it
//	                (PREFIX/...), matched by whole levels, so "mqtt:sensors" covers "sensors",
//	                "sensors/t1" and the filter "sensors/#", but neither "sensorsX" nor "#";
//	                a trailing '/' changes nothing ("mqtt:plant1/line2/" = "mqtt:plant1/line2")
//
// The permission of the grant says what the key may do there: read subscribes, write publishes,
// readwrite and owner do both. The root key may do everything. Granted with the usual command:
//
//	minicloud key grant KEY mqtt:sensors write
const TopicGrantPrefix = "mqtt:"

// TopicAllowed reports whether ak may subscribe to (ActionRead) or publish on (ActionWrite) the
// topic name or filter. A shared subscription's "$share/GROUP/" prefix is not part of the filter
// here: the caller strips it. A filter is allowed only when every topic it can match is, so a
// wildcard must lie below the granted subtree.
func (s *Store) TopicAllowed(ak, topic string, a Action) bool {
	k, ok := s.get(ak)
	if !ok {
		return false
	}
	if k.Root {
		return true
	}
	for name, perm := range k.Grants {
		prefix, ok := strings.CutPrefix(name, TopicGrantPrefix)
		if !ok || !permits(perm, a) {
			continue
		}
		if prefix == "*" || topicCovered(prefix, topic) {
			return true
		}
	}
	return false
}

// topicCovered reports whether topic (a name or a filter) lies in the subtree prefix. A prefix
// holding a wildcard covers nothing: a grant cannot widen itself through one.
func topicCovered(prefix, topic string) bool {
	prefix = strings.TrimSuffix(prefix, "/")
	if prefix == "" || strings.ContainsAny(prefix, "+#") {
		return false
	}
	rest, ok := strings.CutPrefix(topic, prefix)
	return ok && (rest == "" || rest[0] == '/')
}
