package cluster

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	pcluster "github.com/asynkron/protoactor-go/cluster"
	"github.com/asynkron/protoactor-go/cluster/identitylookup/disthash"
	"github.com/asynkron/protoactor-go/remote"
	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// ActorConfig configures the node's actor system and its membership in the actor cluster.
type ActorConfig struct {
	// Name is the actor cluster's name; nodes with different names never talk.
	Name string
	// Addr is host:port for protoactor remote (gRPC). Port 0 picks a free port (single node only).
	Addr string
	// Kinds are the virtual actor kinds this node hosts.
	Kinds []*pcluster.Kind
	// RequestTimeout bounds cluster requests (activation, grain calls).
	RequestTimeout time.Duration
	// ID names this node in the actor cluster's member list (e.g. "node-1"); empty: random.
	ID string
	// Lookup places virtual actors; nil: protoactor's disthash (rendezvous over members).
	Lookup pcluster.IdentityLookup
	Logger zerolog.Logger
	// Dial, when set, opens remote's outgoing gRPC connections to other nodes (nil: plain TCP). The
	// testkit passes one that can refuse, cut or slow the link to a given node.
	Dial func(ctx context.Context, addr string) (net.Conn, error)
	// TLS, when set, runs remote's gRPC over mutual TLS.
	TLS *NodeTLS
}

// ActorNode is a started actor system that is a member of the actor cluster.
type ActorNode struct {
	System   *actor.ActorSystem
	Cluster  *pcluster.Cluster
	Provider *StaticProvider
}

// StartActorNode starts the actor system, remote and cluster membership. The member list is fed by the
// returned node's Provider; in the single-node broker it holds only this node.
func StartActorNode(c ActorConfig) (*ActorNode, error) {
	host, portStr, err := net.SplitHostPort(c.Addr)
	if err != nil {
		return nil, fmt.Errorf("sampan: actor address %q: %w", c.Addr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("sampan: actor address %q: bad port", c.Addr)
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = 5 * time.Second
	}
	lg := c.Logger.With().Str("component", "actors").Logger()
	system := actor.NewActorSystem(
		actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
			return slog.New(NewSlogHandler(lg, slog.LevelError)) // protoactor warns about every gossip timeout
		}),
		// Dead letters are expected around passivation and are handled by the senders; don't log them.
		actor.WithDeadLetterRequestLogging(false),
	)
	if c.ID != "" {
		system.ID = c.ID
	}
	lookup := c.Lookup
	if lookup == nil {
		lookup = disthash.New()
	}
	provider := NewStaticProvider()
	var ropts []remote.ConfigOption
	creds := insecure.NewCredentials() // remote's default, replaced by the list below
	if c.TLS != nil {
		creds = credentials.NewTLS(c.TLS.Client)
		ropts = append(ropts, remote.WithServerOptions(grpc.Creds(credentials.NewTLS(c.TLS.Server))))
	}
	dialOpts := []grpc.DialOption{grpc.WithTransportCredentials(creds)}
	if c.Dial != nil {
		dialOpts = append(dialOpts, grpc.WithContextDialer(c.Dial))
	}
	if c.Dial != nil || c.TLS != nil {
		ropts = append(ropts, remote.WithDialOptions(dialOpts...))
	}
	cfg := pcluster.Configure(c.Name, provider, lookup, remote.Configure(host, port, ropts...),
		pcluster.WithKinds(c.Kinds...),
		pcluster.WithRequestTimeout(c.RequestTimeout),
	)
	cl := pcluster.New(system, cfg)
	if err := startMember(cl); err != nil {
		system.Shutdown()
		return nil, err
	}
	return &ActorNode{System: system, Cluster: cl, Provider: provider}, nil
}

// startMember converts StartMember's panics (e.g. the remote port is taken) into an error.
func startMember(cl *pcluster.Cluster) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("sampan: start actor cluster: %v", r)
		}
	}()
	cl.StartMember()
	return nil
}

// Stop stops every local grain and waits for each (the placement actor poisons them; a channel actor
// answers what it accepted and stops its shard), then shuts the actor system and remote down.
//
// protoactor's graceful Shutdown(true) does the same plus a fixed 2 s sleep "to wait for ownership
// transfer"; Sampan's placement does not move with the actor cluster's membership, so the sleep only
// delays every stop.
func (n *ActorNode) Stop() {
	n.Cluster.IdentityLookup.Shutdown()
	n.Cluster.Shutdown(false)
}
