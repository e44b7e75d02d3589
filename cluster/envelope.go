package cluster

import (
	"fmt"
	"reflect"
	"sync"

	"github.com/asynkron/protoactor-go/actor"
	pcluster "github.com/asynkron/protoactor-go/cluster"
	"github.com/vmihailenco/msgpack/v5"
)

// Crossing nodes. protoactor-go remote sends only protobuf messages (a plain Go struct sent to a remote
// PID is dropped; shared notes), while Sampan's actor messages are plain Go structs. So a message to a
// PID on another node travels as an already-registered protobuf envelope, pcluster.GrainRequest, whose
// MessageTypeName names a registered Go type and whose MessageData is that value in msgpack. Local sends
// stay plain pointers: no encoding on the single-node path.
//
// Receivers install UnwrapMiddleware, so an actor's Receive sees the same Go value whichever node it
// came from.

var registry = struct {
	sync.RWMutex
	byName map[string]reflect.Type
	byType map[reflect.Type]string
}{byName: map[string]reflect.Type{}, byType: map[reflect.Type]string{}}

// RegisterMessage makes the pointer type of example (e.g. &actors.Publish{}) sendable across nodes under
// name. Names are part of the inter-node protocol: never reuse one for another type. Call it from init.
func RegisterMessage(name string, example any) {
	t := reflect.TypeOf(example)
	if t.Kind() != reflect.Pointer {
		panic(fmt.Sprintf("sampan: RegisterMessage(%q): want a pointer, got %s", name, t))
	}
	registry.Lock()
	defer registry.Unlock()
	if old, ok := registry.byName[name]; ok && old != t {
		panic(fmt.Sprintf("sampan: message name %q registered for %s and %s", name, old, t))
	}
	registry.byName[name] = t
	registry.byType[t] = name
}

// Wrap returns the envelope carrying msg, or msg itself when its type is not registered (protobuf
// messages such as actor.Terminated go as they are).
func Wrap(msg any) (any, error) {
	registry.RLock()
	name, ok := registry.byType[reflect.TypeOf(msg)]
	registry.RUnlock()
	if !ok {
		return msg, nil
	}
	b, err := msgpack.Marshal(msg)
	if err != nil {
		return nil, fmt.Errorf("sampan: encode %s: %w", name, err)
	}
	return &pcluster.GrainRequest{MessageTypeName: name, MessageData: b}, nil
}

// Unwrap decodes an envelope back into its registered Go value; other messages are returned unchanged.
func Unwrap(msg any) (any, error) {
	env, ok := msg.(*pcluster.GrainRequest)
	if !ok {
		return msg, nil
	}
	registry.RLock()
	t, ok := registry.byName[env.MessageTypeName]
	registry.RUnlock()
	if !ok {
		return msg, nil
	}
	v := reflect.New(t.Elem()).Interface()
	if err := msgpack.Unmarshal(env.MessageData, v); err != nil {
		return nil, fmt.Errorf("sampan: decode %s: %w", env.MessageTypeName, err)
	}
	return v, nil
}

func isRemote(sys *actor.ActorSystem, pid *actor.PID) bool {
	return pid != nil && pid.Address != sys.Address() && pid.Address != "nonhost"
}

// wrapFor wraps msg when pid is on another node. A message that cannot be encoded is a programming
// error (every registered type must encode); it panics so that tests catch it.
func wrapFor(sys *actor.ActorSystem, pid *actor.PID, msg any) any {
	if !isRemote(sys, pid) {
		return msg
	}
	w, err := Wrap(msg)
	if err != nil {
		panic(err)
	}
	return w
}

// PIDKey is a process-local map key for a PID: its address and id. PID.String() formats the protobuf
// message, which costs ~1 us; channel actors key their gateways by PID on every check.
func PIDKey(p *actor.PID) string { return p.Address + "/" + p.Id }

// Send sends msg to pid, in an envelope when pid is on another node.

func Send(ctx actor.SenderContext, pid *actor.PID, msg any) {
	ctx.Send(pid, wrapFor(ctx.ActorSystem(), pid, msg))
}

// Request sends msg to pid with the sender set, so that pid can Respond; enveloped across nodes.
func Request(ctx actor.SenderContext, pid *actor.PID, msg any) {
	ctx.Request(pid, wrapFor(ctx.ActorSystem(), pid, msg))
}

// Respond answers the current message's sender, in an envelope when the sender is on another node.
func Respond(ctx actor.Context, msg any) {
	ctx.Respond(wrapFor(ctx.ActorSystem(), ctx.Sender(), msg))
}

// UnwrapMiddleware decodes envelopes before the actor's Receive sees them, keeping the sender.
func UnwrapMiddleware(next actor.ReceiverFunc) actor.ReceiverFunc {
	return func(c actor.ReceiverContext, env *actor.MessageEnvelope) {
		if _, ok := env.Message.(*pcluster.GrainRequest); ok {
			v, err := Unwrap(env.Message)
			if err != nil {
				c.Logger().Error("dropping undecodable message", "error", err)
				return
			}
			env = &actor.MessageEnvelope{Header: env.Header, Message: v, Sender: env.Sender}
		}
		next(c, env)
	}
}

// WrapOrSelf is Wrap for callers that address a PID whose node is not known to be local (futures):
// registered messages are always enveloped, which a local receiver with UnwrapMiddleware decodes too.
func WrapOrSelf(msg any) any {
	w, err := Wrap(msg)
	if err != nil {
		panic(err)
	}
	return w
}
