package gateway

import "testing"

func TestKeepalive(t *testing.T) {
	type step struct {
		frames uint64
		want   keepaliveAction
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"busy connection", []step{{3, keepaliveNothing}, {9, keepaliveNothing}, {10, keepaliveNothing}}},
		{"idle, answers the ping", []step{{2, keepaliveNothing}, {2, keepalivePing}, {3, keepaliveNothing}, {3, keepalivePing}, {4, keepaliveNothing}}},
		{"idle, never answers", []step{{1, keepaliveNothing}, {1, keepalivePing}, {1, keepaliveClose}, {1, keepaliveNothing}}},
		{"silent from the start", []step{{0, keepalivePing}, {0, keepaliveClose}}},
	} {
		var k keepalive
		for i, s := range tc.steps {
			if got := k.tick(s.frames); got != s.want {
				t.Fatalf("%s: tick %d (frames %d): %d, want %d", tc.name, i, s.frames, got, s.want)
			}
		}
	}
}
