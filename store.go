package fieldsync

// Store is the server database: the synchronized tables, the Transaction
// Log, the node registry and the API tokens. The sqlite package implements
// it (the embedded default); every SQL dialect difference lives behind it.
type Store interface {
	Writer
	Reader
	Log
	Nodes
	Tokens
	// Schema returns the schema the store was opened with.
	Schema() *Schema
	Close() error
}
