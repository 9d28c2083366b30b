package fieldsync

import "time"

// Status is the administrator's view of the flow: how far the Transaction
// Processor and each Transaction Router partition have got, and what waits
// for each node (the status package collects it).
type Status struct {
	Log struct {
		Pending int64 `json:"pending"`  // entries the processor has not moved yet
		LastSeq int64 `json:"last_seq"` // last sequence number committed
	} `json:"log"`
	Processor struct {
		Position     int64 `json:"position"`      // last sequence number in a txnproc file
		PendingFiles int   `json:"pending_files"` // txnproc files not yet routed by every partition
	} `json:"processor"`
	Routers []RouterStatus `json:"routers"`
	Nodes   []NodeStatus   `json:"nodes"`
	// Recoveries are the damaged or lost files met lately, and what was
	// done about each.
	Recoveries RecoveryStatus `json:"recoveries"`
}

// RouterStatus is one router partition's position.
type RouterStatus struct {
	Partition int   `json:"partition"`
	Position  int64 `json:"position"`
	Backlog   int64 `json:"backlog"` // processed transactions it has not routed yet
}

// NodeStatus is one node's line in the view.
type NodeStatus struct {
	Name        string    `json:"name"`
	EmployeeID  string    `json:"employee_id"`
	Active      bool      `json:"active"`
	OutboxFiles int       `json:"outbox_files"`
	OutboxBytes int64     `json:"outbox_bytes"`
	ExtractSeq  int64     `json:"extract_seq"`
	LastExtract time.Time `json:"last_extract,omitzero"`
	LastSync    time.Time `json:"last_sync,omitzero"`
	// LastSession is the node's latest synchronization session, if any.
	LastSession *Session `json:"last_session,omitempty"`
}
