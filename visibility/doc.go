// Package visibility decides who sees which row: the visibility engine the
// Transaction Router asks, for every transaction, which nodes saw the row
// before and see it after, and which other rows became visible or invisible
// to whom; the Database Extract asks it for a node's whole visible set.
//
// Graph is the engine (incremental, in memory, cost proportional to the
// rows a change can reach). Reference is the plain recomputation of one
// node's visible set from the database, kept beside it to test it against.
package visibility
