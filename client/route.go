package client

import (
	"context"
	"net"
	"time"

	"github.com/sampan-io/sampan/protocol"
)

// Routing. A server that forwards a channel's requests to the node running the channel tells a client
// that asked for it (CONNECT routes) with a ROUTE frame naming that node's client address. The client
// then opens a connection to that node (once, shared by every channel it serves) and sends the
// channel's publishes and subscriptions there, saving a hop between nodes each way. The primary
// connection stays the fallback: for channels without a route, while a node's connection is being
// opened, and after it failed (then the node is left alone for nodeRetry and its routes are dropped
// until a server sends them again).

// onRoute records a server's hint that channel is served by the node at addr.
func (c *Client) onRoute(f *protocol.Route) {
	if !c.opts.routing || f.Addr == "" || protocol.ValidateChannel(f.Channel) != nil {
		return
	}
	if _, _, err := net.SplitHostPort(f.Addr); err != nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return
	}
	addr := f.Addr
	if c.link != nil && c.link.addr == addr {
		addr = "" // the primary serves it
	}
	if _, known := c.nodes[addr]; addr != "" && !known && len(c.nodes) >= maxNodes {
		return // more nodes than any cluster has: keep going through the primary
	}
	r := c.routes[f.Channel]
	if r == nil {
		if addr == "" {
			c.placeChannelLocked(f.Channel)
			return
		}
		if len(c.routes) >= maxRoutes {
			return
		}
		r = &chanRoute{channel: f.Channel}
		c.routes[f.Channel] = r
	}
	r.addr = addr
	if addr == "" && r.inflight == 0 {
		delete(c.routes, f.Channel)
	}
	if addr != "" {
		c.dialLocked(addr)
	}
	c.placeChannelLocked(f.Channel)
}

// dialLocked starts opening a connection to the node at addr unless one is open, being opened, or
// failed a moment ago. c.mu is held.
func (c *Client) dialLocked(addr string) {
	nc := c.nodes[addr]
	if nc == nil {
		nc = &nodeConn{}
		c.nodes[addr] = nc
	}
	if nc.l != nil || nc.dialing || time.Now().Before(nc.retryAt) {
		return
	}
	nc.dialing = true
	go c.dialNode(addr, nc)
}

func (c *Client) dialNode(addr string, nc *nodeConn) {
	l, _, err := c.dialUnlessDone(addr)
	c.mu.Lock()
	nc.dialing = false
	switch {
	case err != nil:
		nc.retryAt = time.Now().Add(nodeRetry)
		c.movedLocked(addr, nil)
		c.mu.Unlock()
		c.opts.log.Debug().Err(err).Str("server", addr).Msg("cannot reach a channel's node; its channels go through the primary server")
		return
	case c.err != nil || !l.alive():
		// Closed meanwhile, or the connection died before it was registered (linkDown ignored it).
		nc.retryAt = time.Now().Add(nodeRetry)
		c.movedLocked(addr, nil)
		c.mu.Unlock()
		l.fail(ErrClosed)
		return
	}
	nc.l = l
	c.movedLocked(addr, l)
	for sid, s := range c.subs {
		if r := c.routes[s.channel]; s.sid == sid && r != nil && r.addr == addr {
			c.placeLocked(s)
		}
	}
	c.mu.Unlock()
}

// startPub picks the connection for a publish to channel and registers the publish as in flight on
// it, waiting while there is no connection to use (reconnecting) or while the channel's route moves
// and publishes are still in flight on its old connection.
func (c *Client) startPub(ctx context.Context, channel string, f *PubFuture) (*link, uint64, error) {
	for {
		c.mu.Lock()
		if c.err != nil {
			err := c.err
			c.mu.Unlock()
			return nil, 0, err
		}
		r := c.routes[channel]
		l := c.link
		if r != nil && r.addr != "" {
			if nc := c.nodes[r.addr]; nc != nil && nc.l != nil && nc.l.alive() {
				l = nc.l
			} else {
				c.dialLocked(r.addr)
			}
		}
		var wait <-chan struct{}
		switch {
		case l == nil:
			wait = c.linkUp
		case r != nil && r.inflight > 0 && r.link != l:
			if r.drained == nil {
				r.drained = make(chan struct{})
			}
			wait = r.drained
		}
		if wait != nil {
			c.mu.Unlock()
			select {
			case <-wait:
				continue
			case <-c.done:
				continue
			case <-ctx.Done():
				return nil, 0, ctx.Err()
			}
		}
		if r == nil {
			r = &chanRoute{channel: channel}
			c.routes[channel] = r
		}
		r.link = l
		r.inflight++
		c.nextReq++
		req := c.nextReq
		c.pubs[req] = &pendingPub{f: f, l: l, r: r}
		c.mu.Unlock()
		return l, req, nil
	}
}

// takePubLocked removes the pending publish req (nil if it is answered already) and accounts for it.
// c.mu is held.
func (c *Client) takePubLocked(req uint64) *pendingPub {
	p := c.pubs[req]
	if p != nil {
		delete(c.pubs, req)
		c.released(p)
	}
	return p
}

// released accounts for a publish answered or failed: the last one in flight on its connection lets
// publishes waiting to move go, and a channel without a route is forgotten. c.mu is held.
func (c *Client) released(p *pendingPub) {
	r := p.r
	if r.inflight--; r.inflight > 0 {
		return
	}
	if r.drained != nil {
		close(r.drained)
		r.drained = nil
	}
	if r.addr == "" && c.routes[r.channel] == r {
		delete(c.routes, r.channel)
	}
}

// Route returns the address of the server that publishes to channel go to now: the node that serves
// it when the client has a route and a connection there, else the primary server ("" while
// reconnecting).
func (c *Client) Route(channel string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if l := c.linkFor(channel); l != nil {
		return l.addr
	}
	return ""
}

// linkFor is the connection for channel's requests: its node's when routed there and connected, else
// the primary (nil while reconnecting). c.mu is held.
func (c *Client) linkFor(channel string) *link {
	if r := c.routes[channel]; r != nil && r.addr != "" {
		if nc := c.nodes[r.addr]; nc != nil && nc.l != nil && nc.l.alive() {
			return nc.l
		}
	}
	return c.link
}

// placeLocked moves a confirmed subscription to the connection its channel's requests go to, when it
// is on another one: it opens there under a new sid from the seq after the last message received, and
// the old sid is unsubscribed. Until the old connection confirms, messages may come over both; the
// subscription takes each seq once, in order (deliver), so nothing is lost or repeated. c.mu is held.
func (c *Client) placeLocked(s *Subscription) {
	if !c.opts.routing || !s.acknowledged() || s.ackErr != nil || c.err != nil {
		return
	}
	select {
	case <-s.stopping:
		return
	case <-s.ended:
		return
	default:
	}
	to := c.linkFor(s.channel)
	if to == nil || s.l == nil || to == s.l {
		return
	}
	old, oldSid := s.l, s.sid
	c.nextSid++
	s.sid, s.l = c.nextSid, to
	c.subs[s.sid] = s
	c.retired[oldSid] = old
	_ = to.send(s.resumeFrameLocked())
	_ = old.send(&protocol.Unsub{Sid: oldSid})
}

// placeChannelLocked places every subscription of channel (its route changed). c.mu is held.
func (c *Client) placeChannelLocked(channel string) {
	for sid, s := range c.subs {
		if s.sid == sid && s.channel == channel {
			c.placeLocked(s)
		}
	}
}

// sendSub sends the frame frame(sid) for subscription s on the connection serving it.
func (c *Client) sendSub(s *Subscription, frame func(sid uint64) protocol.Frame) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return c.err
	}
	if s.l == nil {
		return errDisconnected
	}
	return s.l.send(frame(s.sid))
}

// creditSub returns n window slots to subscription s under sid, if sid is still its current one
// (credit owed to a sid it left is dropped with that sid).
func (c *Client) creditSub(s *Subscription, sid uint64, n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil && s.l != nil && s.sid == sid {
		_ = s.l.send(&protocol.Credit{Sid: sid, N: uint32(n)})
	}
}
