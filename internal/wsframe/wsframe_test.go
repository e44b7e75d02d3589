package wsframe

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sampan-io/sampan/protocol"
)

// pair returns the two ends of a WebSocket connection over loopback: the server's wrapped in a
// Conn (as the gateway's is), the client's raw, to send any message.
func pair(t testing.TB, maxFrame uint32) (*Conn, *websocket.Conn) {
	t.Helper()
	got := make(chan *Conn, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
		if err != nil {
			t.Error(err)
			return
		}
		got <- New(ws, maxFrame)
	}))
	t.Cleanup(srv.Close)
	cl, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	c := <-got
	t.Cleanup(func() { cl.Close(); c.Close() })
	return c, cl
}

// FuzzMessage: whatever one binary message holds, the stream hands on exactly the message when it
// is one frame within the limit, and otherwise at most its bytes followed by an error, never a
// panic or more bytes than were sent.
func FuzzMessage(f *testing.F) {
	ping, _ := protocol.AppendFrame(nil, &protocol.Ping{})
	f.Add(ping)
	f.Add(append(append([]byte{}, ping...), ping...))
	f.Add([]byte{})
	f.Add([]byte{0, 0})
	f.Add([]byte{0, 0, 0, 9, 1})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 1})
	f.Add([]byte{0, 0, 0, 0})
	const maxFrame = 1 << 16
	f.Fuzz(func(t *testing.T, msg []byte) {
		c, cl := pair(t, maxFrame)
		if err := cl.WriteMessage(websocket.BinaryMessage, msg); err != nil {
			t.Fatal(err)
		}
		_ = cl.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), deadline())
		var out bytes.Buffer
		buf := make([]byte, 7) // small reads: frames cut anywhere
		var err error
		for {
			var n int
			n, err = c.Read(buf)
			out.Write(buf[:n])
			if err != nil {
				break
			}
		}
		valid := len(msg) >= 4 && int(binary.BigEndian.Uint32(msg)) == len(msg)-4 && len(msg)-4 <= maxFrame
		switch {
		case valid && (err != io.EOF || !bytes.Equal(out.Bytes(), msg)):
			t.Fatalf("one frame of %d bytes: read %d bytes, then %v", len(msg), out.Len(), err)
		case !valid && err == io.EOF:
			t.Fatalf("a message that is not one frame ended cleanly (%d bytes read)", out.Len())
		case !bytes.HasPrefix(msg, out.Bytes()):
			t.Fatalf("read bytes that were not sent")
		}
		var pe *protocol.Error
		if !valid && len(msg) >= 4 && binary.BigEndian.Uint32(msg) <= maxFrame && !errors.As(err, &pe) {
			t.Fatalf("a bad message read as %v, want a malformed_frame error", err)
		}
	})
}

func deadline() time.Time { return time.Now().Add(time.Second) }
