package broker

import (
	"fmt"

	"github.com/rs/zerolog"
)

// pebbleLogger sends the store's pebble logs to zerolog: routine compaction chatter at debug.
type pebbleLogger struct{ lg zerolog.Logger }

func (p pebbleLogger) Infof(f string, a ...any)  { p.lg.Debug().Msg(fmt.Sprintf(f, a...)) }
func (p pebbleLogger) Errorf(f string, a ...any) { p.lg.Error().Msg(fmt.Sprintf(f, a...)) }
func (p pebbleLogger) Fatalf(f string, a ...any) {
	msg := fmt.Sprintf(f, a...)
	p.lg.Error().Msg(msg)
	panic(msg)
}
