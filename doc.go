// Package fieldsync holds the domain of fieldsync, a Siebel Remote style
// synchronizer between a central server database and the local databases of
// remote users who work offline: the schema (tables, columns, visibility
// rules), rows and transactions, nodes, errors, and the interfaces between the
// components of the flow.
//
// The flow, and the package that implements each step:
//
//	connected user --api--> Store.Apply --> Transaction Log     (sqlite, internal/sqlstore)
//	Transaction Log --Transaction Processor--> docking/txnproc  (txnproc)
//	txnproc files --Transaction Router--> node outboxes        (router, visibility)
//	remote client <--Synchronization Manager--> outbox/inbox   (syncmgr, client)
//	node inbox --Transaction Merger--> Store.Apply             (merger)
//
// Transaction files use the .dx format of package dx; a new node starts from
// a Database Extract (package extract), a local database file whose format
// package localdb owns. docs/design.md says what the flow guarantees, in
// the vocabulary these names come from.
package fieldsync
