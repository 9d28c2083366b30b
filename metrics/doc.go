// Package metrics owns fieldsync's Prometheus metric names and registry:
// counters the server's processes feed as work is done (files the
// Transaction Processor writes, routings, HTTP requests and their bytes
// each way), gauges read from the administrator's status view at scrape
// time (so a process that runs only some components still reports what
// the database says), the /health and /ready answers and the access log.
// It sits beside the flow: server/ hands its callbacks to the components.
package metrics
