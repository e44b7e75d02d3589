package gateway

import (
	"testing"
	"time"
)

// A connection refused over and over: the first refusalBurst refusals cost it nothing, the ones past
// them are paced at refusalRate a second, and a quiet connection earns its burst back.
func TestRefusalPace(t *testing.T) {
	t0 := time.Unix(1000, 0)
	p := newRefusalPace()
	steps := []struct {
		at    time.Duration
		total uint64
		want  time.Duration
	}{
		{0, 0, 0},            // nothing refused
		{0, refusalBurst, 0}, // the burst is free
		{0, refusalBurst + 1, time.Second / refusalRate},               // one past it waits a token's time
		{0, refusalBurst + 1, 0},                                       // no new refusal, no new wait
		{0, refusalBurst + 201, time.Second + time.Second/refusalRate}, // 200 more: a second more
		{10 * time.Second, refusalBurst + 201, 0},                      // quiet
		{10 * time.Second, 2*refusalBurst + 201, 0},                    // the burst came back
		// a client that piled up far more than a burst is made to pay for one burst per read
		{10 * time.Second, 100 * refusalBurst, refusalBurst * time.Second / refusalRate},
	}
	for i, s := range steps {
		if got := p.delay(t0.Add(s.at), s.total); (got - s.want).Abs() > time.Millisecond { // the limiter counts in floats
			t.Fatalf("step %d (%v, %d refusals): waits %v, want %v", i, s.at, s.total, got, s.want)
		}
	}
}
