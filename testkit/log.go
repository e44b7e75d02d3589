package testkit

import (
	"bytes"
	"fmt"
	"io"
	"log"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// testLog routes the nodes' logs to t.Log, so a failing test shows what happened, and drops them once
// the test is over: Dragonboat's logger is process-global and may still write after cleanup, and t.Log
// panics then.
type testLog struct {
	t      testing.TB
	level  zerolog.Level
	mu     sync.Mutex
	closed bool
}

func newTestLog(t testing.TB, level zerolog.Level) *testLog { return &testLog{t: t, level: level} }

func (l *testLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.closed {
		l.t.Log(string(p))
	}
	return len(p), nil
}

func (l *testLog) printf(format string, args ...any) {
	_, _ = l.Write([]byte(fmt.Sprintf(format, args...)))
}

func (l *testLog) close() {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
}

func (l *testLog) logger(id NodeID) zerolog.Logger {
	w := zerolog.ConsoleWriter{Out: l, NoColor: true, TimeFormat: "15:04:05.000"}
	return zerolog.New(w).Level(l.level).Hook(msTime{}).With().Uint64("node", id).Logger()
}

// msTime stamps each line with millisecond precision: zerolog's Timestamp follows the process-global
// TimeFieldFormat (whole seconds by default), too coarse to follow a channel's hand-offs, and a library
// must not change a global.
type msTime struct{}

func (msTime) Run(e *zerolog.Event, _ zerolog.Level, _ string) {
	e.Str(zerolog.TimestampFieldName, time.Now().Format(time.RFC3339Nano))
}

// quietStdLog drops one line the LogDB's pebble prints through the standard logger every second per
// node on an in-memory FS ("background error: vfs: not supported": lni/vfs's MemFS has no disk usage,
// and Dragonboat accepts only its own *MemFS type, so it cannot be wrapped). Everything else written
// to the standard logger passes through. Process-wide, set once.
var quietOnce sync.Once

func quietStdLog() {
	quietOnce.Do(func() { log.SetOutput(dropLines{w: log.Writer(), drop: "vfs: not supported"}) })
}

type dropLines struct {
	w    io.Writer
	drop string
}

func (d dropLines) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte(d.drop)) {
		return len(p), nil
	}
	return d.w.Write(p)
}
