// Package localnats runs an embedded NATS server with JetStream, for tests
// and for `make run`. Production points NATS_URL at a real cluster.
package localnats

import (
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Options for Start.
type Options struct {
	// StoreDir keeps JetStream's streams; reuse it to keep them across
	// restarts.
	StoreDir string
	// Port on 127.0.0.1; 0 picks a free one.
	Port int
}

// Server is a running embedded NATS server.
type Server struct {
	URL  string
	Port int
	opts Options
	ns   *server.Server
}

// Start starts the server and waits until it accepts connections.
func Start(o Options) (*Server, error) {
	port := o.Port
	if port == 0 {
		port = server.RANDOM_PORT
	}
	ns, err := server.NewServer(&server.Options{
		Host:      "127.0.0.1",
		Port:      port,
		JetStream: true,
		StoreDir:  o.StoreDir,
		NoSigs:    true,
		NoLog:     true,
		// Large enough for our biggest events; the default is 1 MiB.
		MaxPayload: 8 << 20,
	})
	if err != nil {
		return nil, fmt.Errorf("localnats: %w", err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		return nil, errors.New("localnats: server not ready after 10s")
	}
	if !ns.JetStreamEnabled() {
		ns.Shutdown()
		return nil, errors.New("localnats: JetStream did not start")
	}
	p := ns.Addr().(*net.TCPAddr).Port
	o.Port = p
	return &Server{URL: fmt.Sprintf("nats://127.0.0.1:%d", p), Port: p, opts: o, ns: ns}, nil
}

// Stop shuts the server down; clients see the connection drop.
func (s *Server) Stop() {
	s.ns.Shutdown()
	s.ns.WaitForShutdown()
}

// Restart starts a new server on the same port and store, as after an
// outage.
func (s *Server) Restart() error {
	n, err := Start(s.opts)
	if err != nil {
		return err
	}
	*s = *n
	return nil
}
