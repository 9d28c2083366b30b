// Package localdb is a remote node's local database file, the one owner of
// its format.
//
// The Database Extract writes it on the server (Build): the rows the node
// sees as of a server sequence number, the tables as a node holds them (no
// constraints between rows, so any visible subset fits) and a Header naming
// the node, its employee, the schema and that sequence number. The remote
// client downloads it, reads its header (ReadHeader) and opens it as its
// local database (Open). From then on the file also holds the local
// transaction log (the node's own changes until the server merged them:
// RecordUpload marks those packaged into an upload file, UploadChanges
// reads an upload's changes back to rebuild a damaged file, DropUpload lets
// the log go of them) and the node's State: upload numbering, the last
// inbox file applied, the extract sequence number, the last sync and the
// last failure, what the server told at the last sync, and the damaged
// files the client recovered from.
//
// A file whose folder is read-only or whose disk is full opens for reading
// only (ReadOnly says why): every write then fails with a *WriteError.
//
// Server changes come in through ApplyInbox (an outbox file), Put and Purge
// (a row as the server has it now) and ReplaceData (a newer extract). Each
// keeps the node's own changes the server has not caught up with over the
// server's older values: those in the node's upload files, which the client
// hands over as OwnChanges, and those in the local log, which the database
// reads inside the applying transaction.
//
// The file is an SQLite database: fs_extract holds the header, fs_meta the
// state, fs_log the local log, and each schema table its rows.
package localdb
