package broker_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sampan-io/sampan/broker"
	"github.com/sampan-io/sampan/client"
	tu "github.com/sampan-io/sampan/internal/testutil"
	"github.com/sampan-io/sampan/protocol"
)

func startTLS(t *testing.T, certs tu.Certs, clientAuth bool) *broker.Broker {
	return start(t, func(c *broker.Config) {
		c.TLS = broker.TLSConfig{CertFile: certs.ServerCert, KeyFile: certs.ServerKey, CAFile: certs.CA, ClientAuth: clientAuth}
	})
}

func tlsClient(t *testing.T, ca, cert, key string) *tls.Config {
	t.Helper()
	cfg, err := client.TLSFromFiles(ca, cert, key)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// A TLS listener serves publishes and subscriptions to a client trusting its CA, over tls:// too,
// and refuses clients that do not trust it and plain TCP.
func TestTLSClientListener(t *testing.T) {
	certs := tu.GenCerts(t, t.TempDir())
	b := startTLS(t, certs, false)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	c, err := client.Connect(ctx, "tls://"+b.Addr(), client.WithTLS(tlsClient(t, certs.CA, "", "")))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	col := &collector{}
	if _, err := c.Subscribe(ctx, "secure.orders", client.StartEarliest(), col.handle); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		if _, err := c.Publish(ctx, "secure.orders", []byte("m")); err != nil {
			t.Fatal(err)
		}
	}
	tu.Eventually(t, 10*time.Second, "10 messages over TLS", func() bool { return col.len() == 10 })

	if _, err := client.Connect(ctx, b.Addr(), client.WithTLS(tlsClient(t, certs.OtherCA, "", "")), client.WithReconnect(false, 0)); err == nil ||
		!strings.Contains(err.Error(), "certificate") {
		t.Fatalf("a client trusting another CA connected, or failed for another reason: %v", err)
	}
	if _, err := client.Connect(ctx, b.Addr(), client.WithReconnect(false, 0), client.WithDialTimeout(2*time.Second)); err == nil {
		t.Fatal("a plain TCP client connected to a TLS listener")
	}

	// The HTTP listener speaks TLS too.
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsClient(t, certs.CA, "", "")}, Timeout: 10 * time.Second}
	resp, err := hc.Get("https://" + b.HTTPAddr() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("https /healthz: %s", resp.Status)
	}
	if resp, err := http.Get("http://" + b.HTTPAddr() + "/healthz"); err == nil && resp.StatusCode == http.StatusOK {
		t.Fatal("plain HTTP answered on a TLS listener")
	}
}

// With client_auth, only clients holding a certificate signed by the configured CA get in.
func TestTLSClientCertificates(t *testing.T) {
	certs := tu.GenCerts(t, t.TempDir())
	b := startTLS(t, certs, true)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, tc := range []struct {
		name      string
		cert, key string
		ok        bool
	}{
		{"no certificate", "", "", false},
		{"certificate of another CA", certs.ForeignCert, certs.ForeignKey, false},
		{"certificate of the cluster CA", certs.ClientCert, certs.ClientKey, true},
	} {
		c, err := client.Connect(ctx, b.Addr(), client.WithTLS(tlsClient(t, certs.CA, tc.cert, tc.key)),
			client.WithReconnect(false, 0), client.WithDialTimeout(3*time.Second))
		if tc.ok {
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			if _, err := c.Publish(ctx, "mtls", []byte("x")); err != nil {
				t.Fatalf("%s: publish: %v", tc.name, err)
			}
			c.Close()
			continue
		}
		if err == nil {
			// TLS 1.3 reports a refused client certificate on the first read, after the client's
			// handshake returned: the connection must not survive CONNECT.
			c.Close()
			t.Fatalf("%s: connected", tc.name)
		}
	}
}

// A connection that never says CONNECT is told so and closed after the handshake timeout; one that
// says it in time is served.
func TestHandshakeTimeout(t *testing.T) {
	b := start(t, func(c *broker.Config) { c.Limits.HandshakeTimeout = broker.Duration(300 * time.Millisecond) })
	conn, err := net.Dial("tcp", b.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	began := time.Now()
	f, err := protocol.NewReader(bufio.NewReader(conn), 0).Next()
	if err != nil {
		t.Fatalf("no ERR before close: %v", err)
	}
	e, ok := f.(*protocol.Err)
	if !ok || e.Code != protocol.CodeNotConnected || !e.Fatal {
		t.Fatalf("got %#v, want a fatal not_connected ERR", f)
	}
	if waited := time.Since(began); waited < 250*time.Millisecond {
		t.Fatalf("closed after %s, before the 300ms timeout", waited)
	}
	if _, err := conn.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("connection still open after the ERR: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := connect(t, ctx, b)
	if _, err := c.Publish(ctx, "after.handshake", []byte("x")); err != nil {
		t.Fatal(err)
	}
}

// Keepalive: a silent connection gets a PING and is closed when it does not answer; one that answers
// stays; one stuck in the middle of a frame is closed. Meanwhile another client keeps publishing.
func TestKeepalive(t *testing.T) {
	b := start(t, func(c *broker.Config) { c.Limits.Keepalive = broker.Duration(200 * time.Millisecond) })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dial := func() (net.Conn, *protocol.Reader) {
		conn, err := net.Dial("tcp", b.Addr())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
		if err := protocol.WriteFrame(conn, &protocol.Connect{Version: protocol.Version}); err != nil {
			t.Fatal(err)
		}
		r := protocol.NewReader(bufio.NewReader(conn), 0)
		if f, err := r.Next(); err != nil || f.Type() != protocol.TypeConnAck {
			t.Fatalf("handshake: %v %v", f, err)
		}
		return conn, r
	}
	silent, sr := dial()
	answering, ar := dial()
	stuck, str := dial()
	if _, err := stuck.Write([]byte{0, 0, 0, 50, byte(protocol.TypePub), 0x81}); err != nil { // 6 of 54 bytes
		t.Fatal(err)
	}
	good := connect(t, ctx, b)
	stop := make(chan struct{})
	pubErr := make(chan error, 1)
	go func() {
		for {
			select {
			case <-stop:
				pubErr <- nil
				return
			default:
			}
			if _, err := good.Publish(ctx, "keepalive.other", []byte("x")); err != nil {
				pubErr <- err
				return
			}
		}
	}()
	expectClosed := func(name string, r *protocol.Reader) {
		t.Helper()
		sawPing := false
		for {
			f, err := r.Next()
			if err != nil {
				if !sawPing && name == "silent" {
					t.Fatalf("%s: closed without a PING first: %v", name, err)
				}
				return // closed
			}
			switch f := f.(type) {
			case *protocol.Ping:
				sawPing = true
			case *protocol.Err:
				if f.Code != protocol.CodeTimeout || !f.Fatal {
					t.Fatalf("%s: %#v", name, f)
				}
			default:
				t.Fatalf("%s: %#v", name, f)
			}
		}
	}
	answered := make(chan error, 1)
	go func() { // answers every PING, for five of them (five intervals: the others are closed by then)
		for pings := 0; pings < 5; {
			f, err := ar.Next()
			if err != nil {
				answered <- fmt.Errorf("the connection answering PINGs was closed: %w", err)
				return
			}
			if _, ok := f.(*protocol.Ping); ok {
				pings++
				if err := protocol.WriteFrame(answering, &protocol.Pong{}); err != nil {
					answered <- err
					return
				}
			}
		}
		answered <- nil
	}()
	expectClosed("silent", sr)
	expectClosed("stuck", str)
	if err := <-answered; err != nil {
		t.Fatal(err)
	}
	_ = silent
	close(stop)
	if err := <-pubErr; err != nil {
		t.Fatalf("the other client's publishes failed: %v", err)
	}
}

// TestClusterMutualTLS: three nodes whose Raft transport and actor remote run over mutual TLS with
// certificates of one cluster CA form a cluster and replicate (R = 3): a publish through one node is
// read through the others. A Raft connection without a certificate of that CA gets nothing through.
func TestClusterMutualTLS(t *testing.T) {
	certs := tu.GenCerts(t, t.TempDir())
	nodes := startCluster(t, 3, func(c *broker.Config) {
		c.Cluster.TLS = broker.TLSConfig{CertFile: certs.ServerCert, KeyFile: certs.ServerKey, CAFile: certs.CA}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	pub := connect(t, ctx, nodes[0])
	for i := 0; i < 20; i++ {
		if _, err := pub.Publish(ctx, "mtls.cluster", []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	for _, b := range nodes[1:] {
		c, err := client.Connect(ctx, b.Addr(), client.WithRouting(false))
		if err != nil {
			t.Fatal(err)
		}
		col := &collector{}
		if _, err := c.Subscribe(ctx, "mtls.cluster", client.StartEarliest(), col.handle); err != nil {
			t.Fatal(err)
		}
		tu.Eventually(t, 20*time.Second, "20 messages through another node", func() bool { return col.len() == 20 })
		c.Close()
	}
	// The Raft port speaks TLS: a peer with a certificate of the cluster CA completes a handshake...
	kp, err := tls.LoadX509KeyPair(certs.ClientCert, certs.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	good, err := tls.Dial("tcp", nodes[0].RaftAddr(), &tls.Config{RootCAs: mustPool(t, certs.CA), Certificates: []tls.Certificate{kp}})
	if err != nil {
		t.Fatalf("a peer with a cluster certificate: %v", err)
	}
	good.Close()
	// ...and one presenting a certificate of another CA, or none, fails it.
	for _, cert := range [][2]string{{certs.ForeignCert, certs.ForeignKey}, {"", ""}} {
		cfg := &tls.Config{RootCAs: mustPool(t, certs.CA)}
		if cert[0] != "" {
			kp, err := tls.LoadX509KeyPair(cert[0], cert[1])
			if err != nil {
				t.Fatal(err)
			}
			cfg.Certificates = []tls.Certificate{kp}
		}
		conn, err := tls.Dial("tcp", nodes[0].RaftAddr(), cfg)
		if err == nil {
			// With TLS 1.3 the server's refusal of the client certificate shows on the first read.
			_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, err = conn.Read(make([]byte, 1))
			conn.Close()
		}
		if err == nil || strings.Contains(err.Error(), "timeout") {
			t.Fatalf("a Raft connection with certificate %q was not refused: %v", cert[0], err)
		}
	}
}

func mustPool(t *testing.T, ca string) *x509.CertPool {
	t.Helper()
	p, err := client.LoadCAs(ca)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestClusterNodeWithoutClusterCertificate: a node whose certificate another CA signed cannot join:
// the two nodes with cluster certificates form the cluster and serve, the third never gets ready.
func TestClusterNodeWithoutClusterCertificate(t *testing.T) {
	tu.SkipMultiNodeUnderRace(t)
	certs := tu.GenCerts(t, t.TempDir())
	cfgs := make([]broker.Config, 3)
	var peers []string
	for i := range cfgs {
		cfgs[i] = tu.Config(t, t.TempDir())
		cfgs[i].NodeID = uint64(i + 1)
		cfgs[i].Replicas = 2 // new channels wait for min(replicas, peers) registered nodes: two will be
		cfgs[i].Cluster.TLS = broker.TLSConfig{CertFile: certs.ServerCert, KeyFile: certs.ServerKey, CAFile: certs.CA}
		peers = append(peers, fmt.Sprintf("%d@%s", i+1, cfgs[i].Raft))
	}
	// The intruder trusts the cluster CA but holds a certificate of another one.
	cfgs[2].Cluster.TLS.CertFile, cfgs[2].Cluster.TLS.KeyFile = certs.ForeignCert, certs.ForeignKey
	nodes := make([]*broker.Broker, 3)
	for i := range cfgs {
		cfgs[i].Peers = strings.Join(peers, ",")
		nodes[i] = tu.StartBroker(t, cfgs[i])
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, b := range nodes[:2] {
		if err := b.WaitReady(ctx); err != nil {
			t.Fatalf("a node with a cluster certificate: %v", err)
		}
	}
	c := connect(t, ctx, nodes[0])
	// Until the two see the third as down, a channel placed on it is unavailable (as with any node down).
	tu.Eventually(t, 30*time.Second, "a publish served by the two nodes", func() bool {
		_, err := c.Publish(ctx, "intruder.test", []byte("x"))
		return err == nil
	})
	wctx, wcancel := context.WithTimeout(ctx, 3*time.Second)
	defer wcancel()
	if err := nodes[2].WaitReady(wctx); err == nil {
		t.Fatal("the node without a cluster certificate joined")
	}
}

// The WebSocket listener speaks TLS with the client listener's certificate and client_auth: wss://
// with the CA and a client certificate works; no certificate, another CA, or plain ws:// does not.
func TestTLSWebSocket(t *testing.T) {
	certs := tu.GenCerts(t, t.TempDir())
	b := start(t, func(c *broker.Config) {
		c.TLS = broker.TLSConfig{CertFile: certs.ServerCert, KeyFile: certs.ServerKey, CAFile: certs.CA, ClientAuth: true}
		c.WS = "127.0.0.1:0"
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	url := "wss://" + b.WSAddr()
	c, err := client.Connect(ctx, url, client.WithTLS(tlsClient(t, certs.CA, certs.ClientCert, certs.ClientKey)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	col := &collector{}
	if _, err := c.Subscribe(ctx, "secure.ws", client.StartEarliest(), col.handle); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		if _, err := c.Publish(ctx, "secure.ws", []byte("m")); err != nil {
			t.Fatal(err)
		}
	}
	tu.Eventually(t, 10*time.Second, "10 messages over wss", func() bool { return col.len() == 10 })
	for name, tc := range map[string]struct {
		url string
		cfg *tls.Config
	}{
		"no client certificate": {url, tlsClient(t, certs.CA, "", "")},
		"another CA":            {url, tlsClient(t, certs.OtherCA, certs.ClientCert, certs.ClientKey)},
		"plain ws://":           {"ws://" + b.WSAddr(), nil},
	} {
		opts := []client.Option{client.WithReconnect(false, 0), client.WithDialTimeout(3 * time.Second)}
		if tc.cfg != nil {
			opts = append(opts, client.WithTLS(tc.cfg))
		}
		if c, err := client.Connect(ctx, tc.url, opts...); err == nil {
			c.Close()
			t.Fatalf("%s: connected", name)
		}
	}
}
