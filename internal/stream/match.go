package stream

import "strings"

// MatchFilter reports whether an MQTT topic matches a filter: '+' matches one level, a final
// '#' any number of levels including none ("a/#" matches "a"). Topics starting with '$' are
// never seen here (the journal skips them).
func MatchFilter(filter, topic string) bool {
	for {
		fl, frest, fmore := strings.Cut(filter, "/")
		if fl == "#" {
			return true
		}
		tl, trest, tmore := strings.Cut(topic, "/")
		if fl != "+" && fl != tl {
			return false
		}
		if !fmore || !tmore {
			// One ran out: a match only if both did, or the filter's rest is "#".
			return fmore == tmore || fmore && frest == "#"
		}
		filter, topic = frest, trest
	}
}

// router is an immutable snapshot of the open streams and their filters; the journal reads it
// on every publish without a lock, the manager replaces it on every change.
type router struct {
	routes []route
}

type route struct {
	s       *openStream
	filters []string
}

// match calls fn for every stream whose filters match topic.
func (r *router) match(topic string, fn func(*openStream)) {
	for i := range r.routes {
		for _, f := range r.routes[i].filters {
			if MatchFilter(f, topic) {
				fn(r.routes[i].s)
				break
			}
		}
	}
}
