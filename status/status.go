// Package status is the administrator's view of the flow: how far the
// Transaction Processor and each Transaction Router partition have got, how
// much waits in the Transaction Log and in txnproc files, and, per node,
// what waits in its outbox, when it was last extracted and last synced.
package status

import (
	"context"
	"sort"
	"time"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/docking"
)

// Store is what the view reads from the server database.
type Store interface {
	fieldsync.Log
	fieldsync.Routing
	// LastSessions returns every node's latest synchronization session.
	LastSessions(ctx context.Context) (map[string]fieldsync.Session, error)
}

// Status is the administrator's view.
type Status struct {
	Log struct {
		Pending int64 `json:"pending"`  // entries the processor has not moved yet
		LastSeq int64 `json:"last_seq"` // last sequence number committed
	} `json:"log"`
	Processor struct {
		Position     int64 `json:"position"`      // last sequence number in a txnproc file
		PendingFiles int   `json:"pending_files"` // txnproc files not yet routed by every partition
	} `json:"processor"`
	Routers []Router `json:"routers"`
	Nodes   []Node   `json:"nodes"`
}

// Router is one router partition's position.
type Router struct {
	Partition int   `json:"partition"`
	Position  int64 `json:"position"`
	Backlog   int64 `json:"backlog"` // processed transactions it has not routed yet
}

// Node is one node's line in the view.
type Node struct {
	Name        string    `json:"name"`
	EmployeeID  string    `json:"employee_id"`
	Active      bool      `json:"active"`
	OutboxFiles int       `json:"outbox_files"`
	OutboxBytes int64     `json:"outbox_bytes"`
	ExtractSeq  int64     `json:"extract_seq"`
	LastExtract time.Time `json:"last_extract,omitzero"`
	LastSync    time.Time `json:"last_sync,omitzero"`
	// LastSession is the node's latest synchronization session, if any.
	LastSession *fieldsync.Session `json:"last_session,omitempty"`
}

// Collect reads the view from the database and the docking folder.
func Collect(ctx context.Context, st Store, dock docking.Folder) (Status, error) {
	var s Status
	ls, err := st.LogState(ctx)
	if err != nil {
		return s, err
	}
	s.Log.Pending, s.Log.LastSeq = ls.Pending, ls.LastSeq
	s.Processor.Position = ls.Trimmed
	files, err := dock.TxnprocFiles()
	if err != nil {
		return s, err
	}
	s.Processor.PendingFiles = len(files)
	positions, err := st.RouterPositions(ctx)
	if err != nil {
		return s, err
	}
	s.Routers = []Router{}
	for p, pos := range positions {
		s.Routers = append(s.Routers, Router{Partition: p, Position: pos, Backlog: ls.Trimmed - pos})
	}
	sort.Slice(s.Routers, func(i, j int) bool { return s.Routers[i].Partition < s.Routers[j].Partition })
	_, nodes, err := st.RoutingNodes(ctx)
	if err != nil {
		return s, err
	}
	last, err := st.LastSessions(ctx)
	if err != nil {
		return s, err
	}
	s.Nodes = []Node{}
	for _, n := range nodes {
		v := Node{Name: n.Name, EmployeeID: n.EmployeeID, Active: n.Active, ExtractSeq: n.ExtractSeq, LastExtract: n.Extracted, LastSync: n.LastSync}
		outbox, err := docking.List(dock.Outbox(n.Name))
		if err != nil {
			return s, err
		}
		for _, f := range outbox {
			v.OutboxFiles++
			v.OutboxBytes += f.Size
		}
		if ls, ok := last[n.Name]; ok {
			v.LastSession = &ls
		}
		s.Nodes = append(s.Nodes, v)
	}
	return s, nil
}
