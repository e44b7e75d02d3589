package gateway

// keepalive decides, at each tick of the keepalive interval, what to do about a connection from the
// count of frames its reader has completed: nothing while frames arrive, a PING after one silent
// interval, and closing it after two (a client that neither sends nor answers PING, or one stuck in
// the middle of a frame, which completes no frame even if its PONG is on the way). Pure; owned by the
// session actor.
type keepalive struct {
	seen   uint64 // frames counted at the last tick
	silent int    // ticks in a row without a new frame
}

type keepaliveAction uint8

const (
	keepaliveNothing keepaliveAction = iota
	keepalivePing
	keepaliveClose
)

// tick takes the reader's frame count now and says what to do.
func (k *keepalive) tick(frames uint64) keepaliveAction {
	if frames != k.seen {
		k.seen, k.silent = frames, 0
		return keepaliveNothing
	}
	k.silent++
	switch k.silent {
	case 1:
		return keepalivePing
	case 2:
		return keepaliveClose
	}
	return keepaliveNothing // closing already
}
