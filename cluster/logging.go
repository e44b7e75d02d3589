package cluster

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/lni/dragonboat/v4/logger"
	"github.com/rs/zerolog"
)

// Dragonboat's logger factory is process-global and SetLoggerFactory panics when called twice, yet tests run
// several nodes in one process. So the factory is installed once and every adapter reads the current
// zerolog logger through this pointer: the last node started wins, which is what one process wants.
var (
	dbLoggerOnce sync.Once
	dbLogger     atomic.Pointer[zerolog.Logger]
)

func setDragonboatLogger(l zerolog.Logger) {
	l = l.With().Str("component", "raft").Logger()
	dbLogger.Store(&l)
	dbLoggerOnce.Do(func() {
		// Dragonboat logs every shard start/stop at INFO and every election at WARNING: with thousands
		// of channels that drowns the broker's own logs, so its packages log errors only, unless the
		// broker logs at debug (following an election or a stalled shard needs them).
		level := logger.ERROR
		if l.GetLevel() <= zerolog.DebugLevel {
			level = logger.INFO
		}
		logger.SetLoggerFactory(func(pkg string) logger.ILogger {
			return &dragonboatLogger{pkg: pkg, level: level}
		})
	})
}

type dragonboatLogger struct {
	pkg   string
	level logger.LogLevel
}

func (d *dragonboatLogger) SetLevel(l logger.LogLevel) { d.level = l }

func (d *dragonboatLogger) log(l logger.LogLevel, zl zerolog.Level, format string, args []any) {
	if l > d.level {
		return
	}
	lg := dbLogger.Load()
	if lg == nil {
		return
	}
	lg.WithLevel(zl).Str("pkg", d.pkg).Msg(fmt.Sprintf(format, args...))
}

func (d *dragonboatLogger) Debugf(f string, a ...any) { d.log(logger.DEBUG, zerolog.DebugLevel, f, a) }
func (d *dragonboatLogger) Infof(f string, a ...any)  { d.log(logger.INFO, zerolog.InfoLevel, f, a) }
func (d *dragonboatLogger) Warningf(f string, a ...any) {
	d.log(logger.WARNING, zerolog.WarnLevel, f, a)
}
func (d *dragonboatLogger) Errorf(f string, a ...any) { d.log(logger.ERROR, zerolog.ErrorLevel, f, a) }
func (d *dragonboatLogger) Panicf(f string, a ...any) {
	msg := fmt.Sprintf(f, a...)
	d.log(logger.CRITICAL, zerolog.ErrorLevel, "%s", []any{msg})
	panic(msg)
}

// SlogHandler adapts protoactor-go's log/slog output to zerolog. Protoactor logs member and activation
// chatter at INFO, so records below minLevel are dropped.
type SlogHandler struct {
	log      zerolog.Logger
	minLevel slog.Level
	attrs    []slog.Attr
}

// NewSlogHandler returns a handler writing records at or above minLevel to l.
func NewSlogHandler(l zerolog.Logger, minLevel slog.Level) *SlogHandler {
	return &SlogHandler{log: l, minLevel: minLevel}
}

// Enabled implements slog.Handler.
func (h *SlogHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.minLevel }

// Handle implements slog.Handler.
func (h *SlogHandler) Handle(_ context.Context, r slog.Record) error {
	var zl zerolog.Level
	switch {
	case r.Level >= slog.LevelError:
		zl = zerolog.ErrorLevel
	case r.Level >= slog.LevelWarn:
		zl = zerolog.WarnLevel
	case r.Level >= slog.LevelInfo:
		zl = zerolog.InfoLevel
	default:
		zl = zerolog.DebugLevel
	}
	ev := h.log.WithLevel(zl)
	add := func(a slog.Attr) bool {
		ev = ev.Str(a.Key, fmt.Sprint(a.Value.Any()))
		return true
	}
	for _, a := range h.attrs {
		add(a)
	}
	r.Attrs(add)
	ev.Msg(r.Message)
	return nil
}

// WithAttrs implements slog.Handler.
func (h *SlogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	n := *h
	n.attrs = append(append([]slog.Attr(nil), h.attrs...), attrs...)
	return &n
}

// WithGroup implements slog.Handler; groups are flattened.
func (h *SlogHandler) WithGroup(string) slog.Handler { return h }
