package client

import "io"

// Progress is how far a long step of Init or of a synchronization has got,
// for a progress display.
type Progress struct {
	// Step is "extract" (Init downloading the Database Extract), "upload"
	// (the node's changes), "upload file" (an attachment), "download"
	// (outbox files), "files" (attachment files) or "apply" (inbox files
	// applied, with Wait).
	Step string `json:"step"`
	// Files of TotalFiles are done, Bytes of TotalBytes have moved
	// (TotalBytes is 0 when unknown, and for apply).
	Files      int   `json:"files"`
	TotalFiles int   `json:"total_files"`
	Bytes      int64 `json:"bytes"`
	TotalBytes int64 `json:"total_bytes"`
}

// meter reports one step's progress to a callback; a nil meter reports
// nothing.
type meter struct {
	fn func(Progress)
	p  Progress
}

func newMeter(fn func(Progress), step string, files int, bytes int64) *meter {
	if fn == nil {
		return nil
	}
	m := &meter{fn: fn, p: Progress{Step: step, TotalFiles: files, TotalBytes: bytes}}
	fn(m.p)
	return m
}

// moved counts bytes that arrived or left.
func (m *meter) moved(n int64) {
	if m != nil && n > 0 {
		m.p.Bytes += n
		m.fn(m.p)
	}
}

// done counts a finished file.
func (m *meter) done() {
	if m != nil {
		m.p.Files++
		m.fn(m.p)
	}
}

// meteredReader counts the bytes read through it.
type meteredReader struct {
	r io.Reader
	m *meter
}

func (mr meteredReader) Read(p []byte) (int, error) {
	n, err := mr.r.Read(p)
	mr.m.moved(int64(n))
	return n, err
}

// metered returns r, counting into m when m is not nil.
func metered(r io.Reader, m *meter) io.Reader {
	if m == nil {
		return r
	}
	return meteredReader{r, m}
}
