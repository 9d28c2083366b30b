package merger

// SetBetweenBatches makes fn run after each committed batch of an upload
// that has more; an error from it stops the merge there, as a crash would.
func (m *Merger) SetBetweenBatches(fn func(node string, upload, done int64) error) {
	m.between = fn
}
