package replicate

import (
	"slices"
	"testing"
)

func TestAdoptFrom(t *testing.T) {
	for _, c := range []struct {
		name      string
		view      []string
		peer      layoutResp
		cur, prev []string
		ok        bool
	}{
		{name: "peer already counts the new node, transition running",
			view: []string{"a", "b", "c", "d"}, peer: layoutResp{Cur: []string{"a", "b", "c", "d"}, Prev: []string{"a", "b", "c"}},
			cur: []string{"a", "b", "c", "d"}, prev: []string{"a", "b", "c"}, ok: true},
		{name: "peer already counts the new node, transition over (or a wiped node coming back)",
			view: []string{"a", "b", "d"}, peer: layoutResp{Cur: []string{"a", "b", "d"}},
			cur: []string{"a", "b", "d"}, ok: true},
		{name: "peer has not seen the new node yet: its layout is the previous one",
			view: []string{"a", "b", "c", "d"}, peer: layoutResp{Cur: []string{"a", "b", "c"}},
			cur: []string{"a", "b", "c", "d"}, prev: []string{"a", "b", "c"}, ok: true},
		{name: "peer has not seen the new node and is in a transition: its older set holds the data",
			view: []string{"a", "b", "c", "d"}, peer: layoutResp{Cur: []string{"a", "b", "c"}, Prev: []string{"a", "b"}},
			cur: []string{"a", "b", "c", "d"}, prev: []string{"a", "b"}, ok: true},
		{name: "own view still partial: the peer knows nodes this node has not heard of",
			view: []string{"a", "d"}, peer: layoutResp{Cur: []string{"a", "b", "c", "d"}}},
		{name: "own view without itself",
			view: []string{"a", "b"}, peer: layoutResp{Cur: []string{"a", "b"}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			cur, prev, ok := adoptFrom("d", c.view, c.peer)
			if ok != c.ok || !slices.Equal(cur, c.cur) || !slices.Equal(prev, c.prev) {
				t.Errorf("got %v %v %v, want %v %v %v", cur, prev, ok, c.cur, c.prev, c.ok)
			}
		})
	}
}
