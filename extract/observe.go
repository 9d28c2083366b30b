package extract

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"time"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/docking"
)

// Recorder is told of each extract an Extractor takes, for the process's
// metrics.
type Recorder interface {
	// Taken: an extract of rows rows, its file bytes long, took took.
	Taken(rows, bytes int64, took time.Duration)
	// Failed: an extract failed (not one another process was taking, nor
	// one cut short by the end of the process).
	Failed()
}

// Extractor takes Database Extracts (Extract, Run) and tells its
// Recorder of each.
type Extractor struct {
	Store    Store
	Docking  docking.Folder
	Logger   *slog.Logger // nil: nothing logged
	Recorder Recorder     // nil: nothing recorded
}

// Extract takes a node's Database Extract, as the package's Extract does.
func (e Extractor) Extract(ctx context.Context, node string) (Result, error) {
	res, err := take(ctx, e.Store, e.Docking, node, e.Logger)
	if e.Recorder == nil {
		return res, err
	}
	switch {
	case err == nil:
		var rows, bytes int64
		for _, n := range res.Rows {
			rows += int64(n)
		}
		if info, serr := os.Stat(res.Path); serr == nil {
			bytes = info.Size()
		}
		e.Recorder.Taken(rows, bytes, res.Took)
	case !errors.Is(err, fieldsync.ErrInUse) && ctx.Err() == nil:
		e.Recorder.Failed()
	}
	return res, err
}
