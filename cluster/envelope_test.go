package cluster

import (
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"

	"github.com/sampan-io/sampan/internal/racecheck"
	"github.com/sampan-io/sampan/protocol"
)

type testPing struct {
	N       int
	ReplyTo *actor.PID
	Err     *protocol.Error
	Data    map[string][]byte
}

type testPong struct{ N int }

func init() {
	RegisterMessage("sampan.test.ping", &testPing{})
	RegisterMessage("sampan.test.pong", &testPong{})
}

func startRemote(t *testing.T) *actor.ActorSystem {
	t.Helper()
	sys := actor.NewActorSystem()
	r := remote.NewRemote(sys, remote.Configure("127.0.0.1", 0))
	r.Start()
	t.Cleanup(func() { r.Shutdown(false); sys.Shutdown() })
	return sys
}

// TestEnvelopeAcrossNodes sends plain Go messages between two actor systems over real TCP (protoactor
// remote): the request is enveloped, decoded by the middleware with its sender, and the response comes
// back the same way.
func TestEnvelopeAcrossNodes(t *testing.T) {
	if racecheck.Enabled {
		t.Skip("two actor nodes in one process trip protoactor's grpclog.SetLoggerV2 race (upstream)")
	}
	a, b := startRemote(t), startRemote(t)
	got := make(chan *testPing, 1)
	_, err := b.Root.SpawnNamed(actor.PropsFromFunc(func(ctx actor.Context) {
		if m, ok := ctx.Message().(*testPing); ok {
			got <- m
			Respond(ctx, &testPong{N: m.N + 1})
		}
	}, actor.WithReceiverMiddleware(UnwrapMiddleware)), "echo")
	if err != nil {
		t.Fatal(err)
	}
	replies := make(chan *testPong, 1)
	client := a.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		switch m := ctx.Message().(type) {
		case *testPing:
			Request(ctx, actor.NewPID(b.Address(), "echo"), m)
		case *testPong:
			replies <- m
		}
	}, actor.WithReceiverMiddleware(UnwrapMiddleware)))
	ping := &testPing{N: 41, ReplyTo: client, Err: protocol.NewError(protocol.CodeTimeout, "x"), Data: map[string][]byte{"k": {1, 2}}}
	a.Root.Send(client, ping)
	select {
	case m := <-got:
		if m.N != 41 || !m.ReplyTo.Equal(client) || m.Err.Code != protocol.CodeTimeout || string(m.Data["k"]) != "\x01\x02" {
			t.Fatalf("decoded %+v", m)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("request never arrived on the other node")
	}
	select {
	case p := <-replies:
		if p.N != 42 {
			t.Fatalf("reply %+v", p)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no reply from the other node")
	}
}

func TestWrapLocalAndUnregistered(t *testing.T) {
	type notRegistered struct{}
	if w, _ := Wrap(&notRegistered{}); w == nil {
		t.Fatal("unregistered messages pass through")
	}
	w, err := Wrap(&testPong{N: 1})
	if err != nil {
		t.Fatal(err)
	}
	v, err := Unwrap(w)
	if err != nil || v.(*testPong).N != 1 {
		t.Fatalf("round trip: %v %v", v, err)
	}
}
