package client_test

import (
	"net"

	"github.com/rs/zerolog"
)

func freeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func quietLogger() zerolog.Logger { return zerolog.Nop() }
