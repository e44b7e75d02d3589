package client

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"strings"

	"github.com/gorilla/websocket"

	"github.com/sampan-io/sampan/internal/wsframe"
	"github.com/sampan-io/sampan/protocol"
)

// isWebSocket reports whether a server address is a ws:// or wss:// URL (the server's --ws
// listener): the same protocol, one frame per binary WebSocket message.
func isWebSocket(addr string) bool {
	return strings.HasPrefix(addr, "ws://") || strings.HasPrefix(addr, "wss://")
}

// dialWebSocket opens a WebSocket connection to url and presents it as a byte stream of frames. A
// wss:// URL uses tlsCfg (nil: the system's CAs).
func dialWebSocket(ctx context.Context, url string, tlsCfg *tls.Config) (net.Conn, error) {
	d := websocket.Dialer{ReadBufferSize: 32 << 10, WriteBufferSize: 32 << 10, TLSClientConfig: tlsCfg,
		NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			var nd net.Dialer
			conn, err := nd.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return wsframe.Cork(conn), nil
		}}
	ws, resp, err := d.DialContext(ctx, url, nil)
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("sampan: connect %s: %w (HTTP %s)", url, err, resp.Status)
		}
		return nil, fmt.Errorf("sampan: connect %s: %w", url, err)
	}
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	// Until CONNACK announces the server's max_frame (setReadLimit).
	return wsframe.New(ws, protocol.DefaultMaxFrame), nil
}

// setReadLimit bounds a WebSocket connection's frames by the size the server announced (on TCP the
// protocol reader's own limit does).
func setReadLimit(conn net.Conn, maxFrame uint32) {
	if wc, ok := conn.(*wsframe.Conn); ok {
		wc.SetMaxFrame(maxFrame)
	}
}
