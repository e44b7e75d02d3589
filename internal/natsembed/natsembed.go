// Package natsembed starts a real nats-server inside the process, with JetStream on a directory: the
// NATS bridge's tests and `sampan bench nats` use it so that they need nothing else installed.
package natsembed

import (
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Start starts a nats-server on 127.0.0.1:port (0: any free port) with JetStream storing in dir, and
// waits until it accepts connections. Restarting one on the same port and dir keeps its streams.
func Start(dir string, port int) (*server.Server, error) {
	return StartWith(&server.Options{Port: port, StoreDir: dir})
}

// StartWith starts a nats-server with opts (tests set credentials there), filling in what Start sets:
// 127.0.0.1, JetStream on, no logs, no signal handlers, port 0 meaning any free port.
func StartWith(opts *server.Options) (*server.Server, error) {
	o := *opts
	o.Host, o.JetStream, o.NoLog, o.NoSigs = "127.0.0.1", true, true, true
	if o.Port == 0 {
		o.Port = -1 // nats-server's "any free port"
	}
	ns, err := server.NewServer(&o)
	if err != nil {
		return nil, fmt.Errorf("sampan: embedded nats-server: %w", err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(20 * time.Second) {
		ns.Shutdown()
		return nil, errors.New("sampan: embedded nats-server did not become ready")
	}
	return ns, nil
}

// Port returns the port a started server listens on.
func Port(ns *server.Server) int { return ns.Addr().(*net.TCPAddr).Port }

// Stop shuts the server down and waits until it has.
func Stop(ns *server.Server) {
	ns.Shutdown()
	ns.WaitForShutdown()
}
