package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/fieldsync/fieldsync"
)

// userColumns are the columns scanUser reads, in order.
const userColumns = "login, employee_id, admin, password_hash, disabled, created"

// AddUser adds a console and API user (fieldsync.Users), after the rules
// of users: a valid login (fieldsync.CheckLogin) and the id of an existing
// employee (fieldsync.CheckEmployee), read in the transaction that adds
// the user.
func (st *Store) AddUser(ctx context.Context, u fieldsync.User, passwordHash []byte) (fieldsync.User, error) {
	if err := fieldsync.CheckLogin(u.Login); err != nil {
		return fieldsync.User{}, err
	}
	u.Created = st.now().UTC().Truncate(time.Millisecond)
	u.Disabled, u.HasPassword = false, len(passwordHash) > 0
	err := st.inTx(ctx, func(tx *sql.Tx) error {
		if err := fieldsync.CheckEmployee(ctx, txRows{st, tx}, st.Schema(), u.EmployeeID); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, fmt.Sprintf(
			"INSERT INTO fs_user ("+userColumns+") VALUES (%s) ON CONFLICT (login) DO NOTHING", st.placeholders(6)),
			u.Login, u.EmployeeID, boolInt(u.Admin), string(passwordHash), 0, u.Created.UnixNano())
		if err != nil {
			return fmt.Errorf("add user %s: %w", u.Login, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return &fieldsync.UserError{Field: fieldsync.UserLogin, Err: fieldsync.Errorf(fieldsync.ErrExists, "user %q already exists", u.Login)}
		}
		return nil
	})
	if err != nil {
		return fieldsync.User{}, err
	}
	return u, nil
}

// txRows reads rows in a transaction (a fieldsync.RowGetter).
type txRows struct {
	st *Store
	tx *sql.Tx
}

func (r txRows) Get(ctx context.Context, table, id string) (fieldsync.Row, error) {
	t, err := r.st.Schema().LookupTable(table)
	if err != nil {
		return nil, err
	}
	return r.st.getRow(ctx, r.tx, t, id)
}

// User returns a user and its password hash (fieldsync.Users).
func (st *Store) User(ctx context.Context, login string) (fieldsync.User, []byte, error) {
	row := st.read.QueryRowContext(ctx, "SELECT "+userColumns+" FROM fs_user WHERE login = "+st.d.Placeholder(1), login)
	u, hash, err := scanUser(row)
	if errors.Is(err, sql.ErrNoRows) {
		return fieldsync.User{}, nil, fieldsync.Errorf(fieldsync.ErrNotFound, "no user %q", login)
	}
	if err != nil {
		return fieldsync.User{}, nil, fmt.Errorf("read user %s: %w", login, err)
	}
	return u, hash, nil
}

// ListUsers returns every user by login (fieldsync.Users).
func (st *Store) ListUsers(ctx context.Context) ([]fieldsync.User, error) {
	rows, err := st.read.QueryContext(ctx, "SELECT "+userColumns+" FROM fs_user ORDER BY login")
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	defer rows.Close()
	users := []fieldsync.User{}
	for rows.Next() {
		u, _, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("list users: %w", err)
		}
		users = append(users, u)
	}
	return users, rows.Err()
}

// SetUserDisabled disables or enables a user (fieldsync.Users).
func (st *Store) SetUserDisabled(ctx context.Context, login string, disabled bool) (fieldsync.User, error) {
	res, err := st.write.ExecContext(ctx, fmt.Sprintf("UPDATE fs_user SET disabled = %s WHERE login = %s",
		st.d.Placeholder(1), st.d.Placeholder(2)), boolInt(disabled), login)
	if err != nil {
		return fieldsync.User{}, fmt.Errorf("disable user %s: %w", login, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fieldsync.User{}, fieldsync.Errorf(fieldsync.ErrNotFound, "no user %q", login)
	}
	u, _, err := st.User(ctx, login)
	return u, err
}

// SetUserPassword replaces a user's password hash (fieldsync.Users).
func (st *Store) SetUserPassword(ctx context.Context, login string, passwordHash []byte) error {
	res, err := st.write.ExecContext(ctx, fmt.Sprintf("UPDATE fs_user SET password_hash = %s WHERE login = %s",
		st.d.Placeholder(1), st.d.Placeholder(2)), string(passwordHash), login)
	if err != nil {
		return fmt.Errorf("set password of %s: %w", login, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fieldsync.Errorf(fieldsync.ErrNotFound, "no user %q", login)
	}
	return nil
}

// scanUser reads one fs_user row of userColumns.
func scanUser(row interface{ Scan(...any) error }) (fieldsync.User, []byte, error) {
	var u fieldsync.User
	var admin, disabled int
	var hash string
	var created int64
	if err := row.Scan(&u.Login, &u.EmployeeID, &admin, &hash, &disabled, &created); err != nil {
		return fieldsync.User{}, nil, err
	}
	u.Admin, u.Disabled, u.HasPassword = admin != 0, disabled != 0, hash != ""
	u.Created = time.Unix(0, created).UTC()
	return u, []byte(hash), nil
}

// boolInt stores a flag as the integer 0 or 1 (both backends).
func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
