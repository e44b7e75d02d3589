package actors

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/lni/dragonboat/v4"
	"runtime"
)

// TestRetryTempShortAttempts: an attempt that hangs (a ReadIndex Dragonboat dropped without an answer)
// ends at the attempt timeout and is retried, instead of holding the caller for the whole deadline; a
// permanent error ends the retries at once; the deadline bounds everything.
func TestRetryTempShortAttempts(t *testing.T) {
	calls := 0
	start := time.Now()
	err := retryTemp(start.Add(5*time.Second), 20*time.Millisecond, func(ctx context.Context) error {
		calls++
		if calls < 3 {
			<-ctx.Done() // dropped: no answer until the attempt's deadline
			return dragonboat.ErrTimeout
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Fatalf("err %v after %d calls, want success on the third", err, calls)
	}
	if took := time.Since(start); took > time.Second {
		t.Fatalf("took %v: attempts were not cut short", took)
	}

	calls = 0
	perm := errors.New("permanent")
	if err := retryTemp(time.Now().Add(time.Second), 20*time.Millisecond, func(context.Context) error { calls++; return perm }); !errors.Is(err, perm) || calls != 1 {
		t.Fatalf("permanent error: %v after %d calls", err, calls)
	}

	start = time.Now()
	err = retryTemp(start.Add(100*time.Millisecond), 20*time.Millisecond, func(ctx context.Context) error {
		<-ctx.Done()
		return ctx.Err()
	})
	if err == nil || time.Since(start) > 2*time.Second {
		t.Fatalf("deadline not kept: %v after %v", err, time.Since(start))
	}
}

func TestPhases(t *testing.T) {
	var p phases
	p.start = time.Now().Add(-10 * time.Millisecond)
	p.mark("a")
	p.mark("b")
	if s := p.String(); len(s) < len("a=10ms b=0s ") || s[:2] != "a=" {
		t.Fatalf("phases %q", s)
	}
}

type retained struct{ got chan any }

func (r *retained) Receive(ctx actor.Context) {
	if m, ok := ctx.Message().(string); ok {
		r.got <- m
	}
}

// A pending sendLater timer must not keep a stopped actor reachable: protoactor caches the process in
// the PID a message was sent to, so a timer holding ctx.Self() held the actor, its mailbox and its state
// until it fired (a passivated channel's proposal and idle timers: seconds to minutes).
func TestSendLaterDoesNotRetainAStoppedActor(t *testing.T) {
	sys := actor.NewActorSystem()
	defer sys.Shutdown()
	got := make(chan any, 1)
	collected := make(chan struct{})
	pid := sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor {
		a := &retained{got: got}
		runtime.AddCleanup(a, func(c chan struct{}) { close(c) }, collected)
		return a
	}))
	sys.Root.Send(pid, "hello") // caches the process in pid
	<-got
	sendLater(sys.Root, pid, time.Hour, "too late")
	if err := sys.Root.StopFuture(pid).Wait(); err != nil {
		t.Fatal(err)
	}
	pid = nil
	deadline := time.Now().Add(10 * time.Second)
	for {
		runtime.GC()
		select {
		case <-collected:
			return
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("the stopped actor is still reachable: the pending timer holds it")
		}
	}
}
