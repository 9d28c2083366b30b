package merger

import (
	"context"
	"time"

	"github.com/fieldsync/fieldsync"
)

// Recorder is told what the merger did, for the process's metrics. Its
// calls come from the merging goroutine: per committed batch (changes
// merged, conflicts and refusals recorded) and per upload file (how it
// ended and how long it took). A batch rolled back and merged again is
// told once, as it committed.
type Recorder interface {
	// ChangesMerged: a batch committed n changes merged.
	ChangesMerged(n int64)
	// Recorded: a batch committed n conflicts or refusals of kind.
	Recorded(kind fieldsync.ConflictKind, n int64)
	// UploadDone: an upload file was merged (UploadMerged, some of its
	// changes perhaps refused), refused whole (UploadRefused), or found
	// damaged and left for its node to send again (UploadSentAgain).
	UploadDone(result string, took time.Duration)
}

// How an upload file ended, as Recorder.UploadDone is told.
const (
	UploadMerged    = "merged"
	UploadRefused   = "refused"
	UploadSentAgain = "sent_again"
)

// WithRecorder sets what is told of the merger's work (nil: nothing). It
// returns m.
func (m *Merger) WithRecorder(r Recorder) *Merger {
	m.rec = r
	return m
}

// conflictKinds are the kinds a merge records, in the order of kindCounts.
var conflictKinds = [...]fieldsync.ConflictKind{fieldsync.ConflictUpdate, fieldsync.ConflictDeleteUpdated,
	fieldsync.ConflictUpdateDeleted, fieldsync.ConflictUnique, fieldsync.ConflictTeamMerged,
	fieldsync.ConflictRefused, fieldsync.ConflictRefusedRest}

// kindCounts counts an upload's conflicts and refusals by kind (the
// index of conflictKinds; a kind not among them is not counted).
type kindCounts [len(conflictKinds)]int64

func (k *kindCounts) add(kind fieldsync.ConflictKind) {
	for i, c := range conflictKinds {
		if c == kind {
			k[i]++
			return
		}
	}
}

// countingTx counts the conflicts and refusals a batch records.
type countingTx struct {
	fieldsync.MergeTx
	kinds *kindCounts
}

func (c countingTx) RecordConflict(ctx context.Context, conflict fieldsync.Conflict) error {
	c.kinds.add(conflict.Kind)
	return c.MergeTx.RecordConflict(ctx, conflict)
}

// committed tells the recorder what a batch added to the upload's state
// since before (the state before the batch).
func (u *uploadMerge) committed(before uploadState) {
	rec := u.m.rec
	if rec == nil {
		return
	}
	if n := u.mergedN - before.mergedN; n > 0 {
		rec.ChangesMerged(n)
	}
	for i, kind := range conflictKinds {
		if n := u.kinds[i] - before.kinds[i]; n > 0 {
			rec.Recorded(kind, n)
		}
	}
}

// uploadDone tells the recorder how an upload file ended.
func (m *Merger) uploadDone(result string, start time.Time) {
	if m.rec != nil {
		m.rec.UploadDone(result, time.Since(start))
	}
}
