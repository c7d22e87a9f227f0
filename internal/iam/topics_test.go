package iam

import (
	"testing"
	"time"

	"github.com/minicloud/minicloud/internal/metastore"
)

func TestTopicAllowed(t *testing.T) {
	db, err := metastore.Open(t.TempDir(), metastore.Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s, err := Open(db, "root", "root-secret")
	if err != nil {
		t.Fatal(err)
	}
	for ak, grants := range map[string]map[string]string{
		"dev":    {"mqtt:sensors": PermWrite, "mqtt:cmd/dev1/": PermRead, "photos": PermReadWrite},
		"all":    {"mqtt:*": PermReadWrite},
		"bucket": {"*": PermOwner},
		"wild":   {"mqtt:a/+": PermReadWrite},
	} {
		if _, err := s.CreateKey(ak, "", time.Now()); err != nil {
			t.Fatal(err)
		}
		for b, p := range grants {
			if err := s.Grant(ak, b, p); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, c := range []struct {
		ak, topic string
		a         Action
		want      bool
	}{
		{"root", "anything/#", ActionRead, true},
		{"dev", "sensors/t1", ActionWrite, true},
		{"dev", "sensors/t1", ActionRead, false},
		{"dev", "sensorsX", ActionWrite, false},
		{"dev", "sensors", ActionWrite, true},
		{"dev", "sensors/#", ActionRead, false},
		{"dev", "cmd/dev1", ActionRead, true},
		{"dev", "cmd/dev10", ActionRead, false},
		{"dev", "cmd/dev1/+/x", ActionRead, true},
		{"dev", "cmd/dev1/#", ActionRead, true},
		{"dev", "cmd/#", ActionRead, false},
		{"dev", "#", ActionRead, false},
		{"dev", "photos", ActionWrite, false}, // a bucket grant is not a topic grant
		{"all", "x/y", ActionWrite, true},
		{"all", "#", ActionRead, true},
		{"bucket", "x", ActionRead, false}, // "*" means every bucket, not every topic
		{"wild", "a/+", ActionRead, false},
		{"wild", "a/b", ActionRead, false},
		{"nobody", "x", ActionRead, false},
	} {
		if got := s.TopicAllowed(c.ak, c.topic, c.a); got != c.want {
			t.Errorf("TopicAllowed(%s, %q, %s) = %v, want %v", c.ak, c.topic, c.a, got, c.want)
		}
	}
}
