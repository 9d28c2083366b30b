package fieldsync

import "time"

// MergedUpload is where a merged upload entered the Transaction Log: its
// changes have sequence numbers from FirstSeq on.
type MergedUpload struct {
	Number   int64 `json:"number"`
	FirstSeq int64 `json:"first_seq"`
}

// Refusal is an upload the Transaction Merger refused.
type Refusal struct {
	Number int64     `json:"number"`
	Reason string    `json:"reason"`
	Time   time.Time `json:"time"`
}

// Session is one synchronization session of a node.
type Session struct {
	ID        string    `json:"id"`
	Node      string    `json:"node"`
	Started   time.Time `json:"started"`
	Ended     time.Time `json:"ended,omitzero"`
	UpFiles   int64     `json:"up_files"`
	UpBytes   int64     `json:"up_bytes"`
	DownFiles int64     `json:"down_files"`
	DownBytes int64     `json:"down_bytes"`
	Result    string    `json:"result"`
}
