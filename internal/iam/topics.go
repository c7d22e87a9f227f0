package iam

import "strings"

// MQTT topic grants reuse the bucket grant table, under names that can never be buckets (bucket
// names have no ':'):
//
//	mqtt:*          every topic
//	mqtt:PREFIX     every topic (or filter) that starts with PREFIX, compared byte by byte;
//	                end PREFIX with '/' to stop at a topic level: "mqtt:sensors/" covers
//	                "sensors/t1" and "sensors/#" but not "sensorsX" nor "#"
//
// The permission of the grant says what the key may do there: read subscribes, write publishes,
// readwrite and owner do both. The root key may do everything. Granted with the usual command:
//
//	minicloud key grant KEY 'mqtt:sensors/' write
const TopicGrantPrefix = "mqtt:"

// TopicAllowed reports whether ak may subscribe to (ActionRead) or publish on (ActionWrite) the
// topic name or filter. A shared subscription's "$share/GROUP/" prefix is not part of the filter
// here: the caller strips it. A filter is allowed only when every topic it can match is, so a
// wildcard must lie after the granted prefix.
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

// topicCovered reports whether topic (a name or a filter) lies under prefix. A prefix holding a
// wildcard covers nothing: a grant cannot widen itself through one.
func topicCovered(prefix, topic string) bool {
	if prefix == "" || strings.ContainsAny(prefix, "+#") {
		return false
	}
	return strings.HasPrefix(topic, prefix)
}
