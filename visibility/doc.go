// Package visibility decides who sees which row: the visibility engine the
// Transaction Router asks, for every transaction, which nodes saw the row
// before and see it after, and which other rows became visible or invisible
// to whom; the Database Extract walks a node's whole visible set.
//
// Graph is the engine (incremental, in memory, cost proportional to the
// rows a change can reach). Walk reads one node's visible set off a
// snapshot, from the node's seeds along the rules through the database's
// indexes (cost proportional to the rows the node sees). Reference is the
// plain recomputation of one node's visible set from the database, kept
// beside them to test them against. Explain says why one node sees one row,
// or does not, with Sees's verdict (fieldsync admin why).
package visibility
