// Package status is the administrator's view of the flow: how far the
// Transaction Processor and each Transaction Router partition have got, how
// much waits in the Transaction Log and in txnproc files, and, per node,
// what waits in its outbox, when it was last extracted and last synced;
// and the damaged or lost files met lately.
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
	fieldsync.Recoveries
}

// LatestRecoveries is how many damaged-file events the view lists.
const LatestRecoveries = 5

// Collect reads the view from the database and the docking folder.
func Collect(ctx context.Context, st Store, dock docking.Folder) (fieldsync.Status, error) {
	var s fieldsync.Status
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
	if n := len(files); n > 0 {
		_, last, _ := docking.ParseTxnprocName(files[n-1])
		s.Processor.Position = max(s.Processor.Position, last)
	}
	s.Log.Pending = max(0, ls.LastSeq-s.Processor.Position)
	positions, err := st.RouterPositions(ctx)
	if err != nil {
		return s, err
	}
	s.Routers = []fieldsync.RouterStatus{}
	for p, pos := range positions {
		s.Routers = append(s.Routers, fieldsync.RouterStatus{Partition: p, Position: pos, Backlog: s.Processor.Position - pos})
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
	s.Nodes = []fieldsync.NodeStatus{}
	for _, n := range nodes {
		v := fieldsync.NodeStatus{Name: n.Name, EmployeeID: n.EmployeeID, Active: n.Active, ExtractSeq: n.ExtractSeq, LastExtract: n.Extracted, LastSync: n.LastSync}
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
	s.Recoveries.Day, s.Recoveries.Latest, err = st.RecentRecoveries(ctx, time.Now().Add(-24*time.Hour), LatestRecoveries)
	return s, err
}
