package localdb

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/internal/sqlstore"
	"github.com/fieldsync/fieldsync/sqlite"
	"github.com/fieldsync/fieldsync/visibility"
)

// DB is a node's local database, opened.
type DB struct {
	st   *sqlstore.Store
	path string
	// hmu guards header, which a schema migration changes.
	hmu    sync.Mutex
	header Header
	// migrateMu serializes the transactions that may put another schema in
	// force (inbox applies, ReplaceData), so each knows the schema it began
	// with and puts it back if it fails.
	migrateMu sync.Mutex
	log       *slog.Logger
	node      string
	employee  string
	// readOnly, when not nil, says why the file is open for reading only
	// (its folder is read-only or its disk full): every write fails with it.
	readOnly *WriteError
}

// Open opens the node's file at path as its local database, with the
// schema its header carries. The first open of a file built by the
// Database Extract starts the node's state from the header: the node, its
// employee, the extract's sequence number, upload number 1.
//
// When the file cannot be opened for writing because its folder is
// read-only or its disk is full, it is opened for reading only: reads work,
// and every write fails with a *WriteError saying which path and why
// (ReadOnly).
func Open(ctx context.Context, path string) (*DB, error) {
	db, err := open(ctx, path)
	if err == nil {
		if err = db.start(ctx); err == nil {
			return db, nil
		}
		db.Close()
		err = fmt.Errorf("open %s: %w", path, err)
	}
	why := CheckWritable(filepath.Dir(path), path)
	if why == nil {
		return nil, err
	}
	ro, rerr := openReadOnly(ctx, path, why)
	if rerr != nil {
		return nil, fmt.Errorf("%v, and reading it without writing failed: %v", why, rerr)
	}
	return ro, nil
}

// ReadOnly returns why the database is open for reading only, or nil when
// it may be written.
func (db *DB) ReadOnly() error {
	if db.readOnly == nil {
		return nil
	}
	return db.readOnly
}

// inTx runs fn in a local write transaction, unless the database is open
// for reading only.
func (db *DB) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	if db.readOnly != nil {
		return db.readOnly
	}
	return db.st.InTx(ctx, fn)
}

// open opens the file at path with the tables, log and state a local
// database has, without starting the node's state.
func open(ctx context.Context, path string) (*DB, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("local database: %w", err)
	}
	write, err := sqlite.OpenDB(path, true)
	if err != nil {
		return nil, err
	}
	read, err := sqlite.OpenDB(path, false)
	if err != nil {
		write.Close()
		return nil, err
	}
	db := &DB{path: path, log: discard}
	if db.header, err = readHeader(ctx, read); err == nil {
		var s *fieldsync.Schema
		if s, err = db.header.Schema(); err == nil {
			db.st, err = sqlstore.OpenWith(ctx, sqlite.Dialect{Path: path}, write, read, s, sqlstore.Options{Local: true})
		}
	}
	if err == nil {
		db.st.SetSchema(db.st.Schema(), db.header.SchemaVersion)
	}
	if err != nil {
		write.Close()
		read.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return db, nil
}

// start records the node's state from the header the first time the file
// is opened, and reads the node and its employee.
func (db *DB) start(ctx context.Context) error {
	err := db.st.InTx(ctx, func(tx *sql.Tx) error {
		if _, ok, err := db.st.MetaTx(ctx, tx, keyNode); err != nil || ok {
			return err
		}
		return setState(ctx, db.st, tx, map[string]int64{keyExtractSeq: db.header.ExtractSeq, keyUploadNext: 1},
			map[string]string{keyNode: db.header.Node, keyEmployee: db.header.EmployeeID})
	})
	if err != nil {
		return err
	}
	s, err := db.State(ctx)
	db.node, db.employee = s.Node, s.EmployeeID
	return err
}

// Close closes the database.
func (db *DB) Close() error { return db.st.Close() }

// Path returns the database file's path.
func (db *DB) Path() string { return db.path }

// Header returns the header the Database Extract wrote into the file,
// with the schema the file holds now.
func (db *DB) Header() Header {
	db.hmu.Lock()
	defer db.hmu.Unlock()
	return db.header
}

// Schema returns the schema the database holds.
func (db *DB) Schema() *fieldsync.Schema { return db.st.Schema() }

// SchemaVersion returns the server's number of the version of the schema
// the database holds (0: not known; see Header.SchemaVersion).
func (db *DB) SchemaVersion() int64 { return db.st.SchemaVersion() }

// SetLogger sets where the database logs what it does on its own (the
// node's pending changes a schema migration left out); by default nowhere.
func (db *DB) SetLogger(l *slog.Logger) {
	if l != nil {
		db.log = l
	}
}

// discard is the logger of a database given none.
var discard = slog.New(slog.DiscardHandler)

// Node returns the node's name.
func (db *DB) Node() string { return db.node }

// EmployeeID returns the employee the node belongs to: it sees what the
// employee sees.
func (db *DB) EmployeeID() string { return db.employee }

// Get returns a local row.
func (db *DB) Get(ctx context.Context, table, id string) (fieldsync.Row, error) {
	return db.st.Get(ctx, table, id)
}

// List lists local rows.
func (db *DB) List(ctx context.Context, table string, q fieldsync.Query) (fieldsync.Page, error) {
	return db.st.List(ctx, table, q)
}

// Changed returns a channel closed at the next change to the local data.
func (db *DB) Changed() <-chan struct{} { return db.st.Changed() }

// ReadLog returns up to limit local transactions with Seq > after, in order.
func (db *DB) ReadLog(ctx context.Context, after int64, limit int) ([]fieldsync.Txn, error) {
	return db.st.ReadLog(ctx, after, limit)
}

// Apply makes the node's own changes through the local write path, in one
// local transaction that logs them for upload: only to tables nodes may
// write, to rows the node holds, and inserting only rows the node would
// see.
func (db *DB) Apply(ctx context.Context, changes ...fieldsync.Change) ([]fieldsync.Txn, error) {
	s := db.st.Schema()
	var out []fieldsync.Txn
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		r := db.st.TxReader(tx)
		var inserted []fieldsync.Txn
		for _, ch := range changes {
			t, err := s.LookupTable(ch.Table)
			if err != nil {
				return err
			}
			if err := db.mayWrite(ctx, r, t, ch); err != nil {
				return err
			}
			txns, err := db.st.ApplyTx(ctx, tx, db.node, ch)
			if err != nil {
				return err
			}
			if ch.Op == fieldsync.OpInsert && !t.Private {
				inserted = append(inserted, txns[0])
			}
			out = append(out, txns...)
		}
		// Rows inserted together (an account with its team row) are checked
		// once all are in: the node must see each, as the server will check.
		for _, t := range inserted {
			ok, err := visibility.Sees(ctx, r, s, db.employee, t.Table, t.RowID)
			if err != nil {
				return err
			}
			if !ok {
				return fieldsync.Errorf(fieldsync.ErrForbidden, "node %s would not see this %s row: it may not create it", db.node, t.Table)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	db.st.NotifyChanged()
	return out, nil
}

// mayWrite refuses early, locally, a change the server would refuse for
// its table: one nodes may not write or delete, a server-owned column, or a
// row put in broadcast mode.
func (db *DB) mayWrite(ctx context.Context, r fieldsync.Reader, t *fieldsync.Table, ch fieldsync.Change) error {
	if !t.RemoteWrite {
		return fieldsync.Errorf(fieldsync.ErrForbidden, "table %s may not be written by remote nodes", t.Name)
	}
	if ch.Op == fieldsync.OpDelete && !t.RemoteDelete() {
		return fieldsync.Errorf(fieldsync.ErrForbidden, "rows of %s may not be deleted by remote nodes", t.Name)
	}
	for col, v := range ch.Values {
		if v != nil && t.ServerColumn(col) {
			return fieldsync.Errorf(fieldsync.ErrForbidden, "column %s.%s is set by the server only", t.Name, col)
		}
	}
	if t.Broadcasts() && ch.Values[fieldsync.ModeColumn] == fieldsync.ModeBroadcast {
		return fieldsync.Errorf(fieldsync.ErrForbidden, "only the server puts %s rows in broadcast mode", t.Name)
	}
	if ch.Op != fieldsync.OpInsert {
		if _, err := r.Get(ctx, t.Name, ch.ID); err != nil {
			return err
		}
	}
	return nil
}
