// Package metrics owns fieldsync's Prometheus metric names and registry:
// counters the server's processes feed as work is done (files and
// transactions the Transaction Processor writes, routings, HTTP requests
// and their bytes each way), the recorders handed to the Transaction
// Merger, the Database Extract and the Synchronization Manager
// (components.go: merges, conflicts and refusals by kind, extracts, sync
// sessions, transfers, news waiters), errors logged by component
// (logerrors.go), gauges read from the administrator's status view at
// scrape time (so a process that runs only some components still reports
// what the database says), the /health and /ready answers and the access
// log. It sits beside the flow: the components define the small recorder
// interfaces they call, and server/ hands them this package's.
package metrics
