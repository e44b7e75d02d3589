package broker

import (
	"net/http"

	"github.com/sampan-io/sampan/web"
)

// The web console (package web) on the HTTP listener: its page at "/", its files under /console/
// (public: they hold no data), and GET /console/info, what the page needs to know about this node.

// ConsoleInfo is GET /console/info.
type ConsoleInfo struct {
	Node  uint64 `json:"node"`   // this node's id
	WS    string `json:"ws"`     // the WebSocket listener's host:port, "" when it is off
	WSTLS bool   `json:"ws_tls"` // the WebSocket listener speaks TLS (wss://)
	Auth  bool   `json:"auth"`   // the node has users: publishing and subscribing need a login
}

func (b *Broker) consoleRoutes(mux *http.ServeMux) {
	h := web.Handler()
	mux.Handle("GET /{$}", h)
	mux.Handle("GET "+web.Prefix, h)
	// With credentials, /console/info checks them even when reads are open: the console's sign-in
	// form asks it whether a user and password are right before it uses them on the WebSocket.
	info, checked := b.readable(b.httpConsoleInfo), b.requireLogin(false, b.httpConsoleInfo)
	mux.HandleFunc("GET "+web.Prefix+"info", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			checked(w, r)
			return
		}
		info(w, r)
	})
}

func (b *Broker) httpConsoleInfo(w http.ResponseWriter, _ *http.Request) {
	ws, wsTLS := b.consoleWS()
	writeJSON(w, http.StatusOK, ConsoleInfo{Node: b.cfg.NodeID, WS: ws, WSTLS: wsTLS, Auth: b.auth != nil})
}

// consoleWS is the WebSocket listener's address ("" without one: the console then says tail and
// publish need it) and whether it speaks TLS (it does with the listeners' TLS, as the client
// listener does).
func (b *Broker) consoleWS() (addr string, tls bool) {
	if addr = b.WSAddr(); addr == "" {
		return "", false
	}
	return addr, b.tlsCfg != nil
}
