package main

import (
	"fmt"
	"io"
	"log/slog"
)

// clientLogger is the remote client's log on stderr in the format of
// --log-format (text or json), in UTC; without the flag the client logs
// nothing (its commands print their results and errors themselves).
func (f *clientFlags) clientLogger(stderr io.Writer) (*slog.Logger, error) {
	opts := &slog.HandlerOptions{Level: slog.LevelInfo, ReplaceAttr: utcTime}
	switch f.logFormat {
	case "":
		return nil, nil
	case "text":
		return slog.New(slog.NewTextHandler(stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(stderr, opts)), nil
	}
	return nil, fmt.Errorf("%w: --log-format %q: choose text or json", errUsage, f.logFormat)
}
