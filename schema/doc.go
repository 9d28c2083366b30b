// Package schema reads and validates the schema file, the YAML document that
// declares the synchronized tables: their columns and types, foreign keys and
// delete actions, unique keys, visibility rules, whether remote nodes may
// write them and how update conflicts are decided.
//
// It sits at the very start of the flow. The server validates its schema here
// when it starts, and every component after it (the store and its Transaction
// Log, the Transaction Processor, the visibility engine and the Transaction
// Router, the Database Extract, the Transaction Merger and the remote client)
// works from the *fieldsync.Schema that Parse, Load or Default return. The
// identifiers those components put into SQL come only from this validated
// schema.
//
// A bad schema is refused as a whole, with every problem found at once, one
// per line, each with the file, the line and the reason:
//
//	crm.yaml:12: table "opportunity": foreign key account_id references unknown table "acount"
//
// The built-in CRM schema (crm.yaml, embedded) is what the server runs when no
// schema file is given. The file format is documented in docs/schema.md.
package schema
