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
	if port == 0 {
		port = -1 // nats-server's "any free port"
	}
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: port, JetStream: true, StoreDir: dir,
		NoLog: true, NoSigs: true, MaxPayload: 1 << 20})
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
