package cluster

import (
	"sync"

	pcluster "github.com/asynkron/protoactor-go/cluster"
)

// StaticProvider is a protoactor ClusterProvider whose member list is set by Sampan itself rather than
// discovered by a third-party registry: Sampan's membership source of truth is its own (single node now,
// the metadata Raft group in a cluster), and the actor cluster must agree with it.
type StaticProvider struct {
	mu      sync.Mutex
	cl      *pcluster.Cluster
	members []*pcluster.Member
}

// NewStaticProvider returns a provider that, once started, announces at least the local member.
func NewStaticProvider() *StaticProvider { return &StaticProvider{} }

// StartMember implements pcluster.ClusterProvider.
func (p *StaticProvider) StartMember(c *pcluster.Cluster) error {
	host, port, err := c.ActorSystem.GetHostPort()
	if err != nil {
		return err
	}
	self := &pcluster.Member{Id: c.ActorSystem.ID, Host: host, Port: int32(port), Kinds: c.GetClusterKinds()}
	p.mu.Lock()
	p.cl = c
	p.members = append([]*pcluster.Member{self}, p.members...)
	members := p.members
	p.mu.Unlock()
	c.MemberList.UpdateClusterTopology(members)
	return nil
}

// StartClient implements pcluster.ClusterProvider.
func (p *StaticProvider) StartClient(c *pcluster.Cluster) error {
	p.mu.Lock()
	p.cl = c
	members := p.members
	p.mu.Unlock()
	c.MemberList.UpdateClusterTopology(members)
	return nil
}

// Shutdown implements pcluster.ClusterProvider.
func (p *StaticProvider) Shutdown(bool) error { return nil }

// Members returns the current member list.
func (p *StaticProvider) Members() []*pcluster.Member {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]*pcluster.Member(nil), p.members...)
}

// SetMembers replaces the member list (this node stays in it) and tells the actor cluster.
func (p *StaticProvider) SetMembers(members []*pcluster.Member) {
	p.mu.Lock()
	p.members = members
	cl := p.cl
	p.mu.Unlock()
	if cl != nil {
		cl.MemberList.UpdateClusterTopology(members)
	}
}
