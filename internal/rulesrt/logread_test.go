package rulesrt

import "testing"

func TestFilterCovers(t *testing.T) {
	for _, c := range []struct {
		by, f string
		want  bool
	}{
		{"#", "a/b", true}, {"a/#", "a/+", true}, {"a/#", "a", true}, {"a/+", "a/b", true},
		{"a/+", "a/#", false}, {"a/+", "a/b/c", false}, {"a/b", "a/+", false}, {"a/b", "a/b", true},
		{"+/b", "a/b", true}, {"a/b/#", "a/#", false}, {"sensors/+/t", "sensors/+/t", true}, {"a", "a/b", false},
	} {
		if got := FilterCovers(c.by, c.f); got != c.want {
			t.Errorf("FilterCovers(%q, %q) = %v, want %v", c.by, c.f, got, c.want)
		}
	}
}
