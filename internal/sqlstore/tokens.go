package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
)

// Each API token's row names its owner (fs_token.owner): the data folder
// whose token file holds it, the folder a configured token was set for, or
// the process that made one for itself. A process replaces only tokens of
// its own owner, so no process revokes a token another one uses.

// AddOwnedToken registers a token's hash under a role for an owner; adding
// a known hash again changes nothing but claims it for owner if no owner
// had it (a token an earlier build registered).
func (st *Store) AddOwnedToken(ctx context.Context, role string, hash []byte, owner string) error {
	return st.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, fmt.Sprintf(
			"INSERT INTO fs_token (hash, role, created, owner) VALUES (%s) ON CONFLICT (hash) DO NOTHING", st.placeholders(4)),
			fmt.Sprintf("%x", hash), role, st.now().UnixNano(), owner); err != nil {
			return fmt.Errorf("add token: %w", err)
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("UPDATE fs_token SET owner = %s WHERE hash = %s AND owner = ''",
			st.d.Placeholder(1), st.d.Placeholder(2)), owner, fmt.Sprintf("%x", hash)); err != nil {
			return fmt.Errorf("claim token: %w", err)
		}
		return nil
	})
}

// RevokeOwnedTokens removes the tokens of the role that owner holds, and
// those no owner holds (an earlier build's), but the one with hash keep,
// and returns how many it removed.
func (st *Store) RevokeOwnedTokens(ctx context.Context, role, owner string, keep []byte) (int, error) {
	res, err := st.write.ExecContext(ctx, fmt.Sprintf(
		"DELETE FROM fs_token WHERE role = %s AND owner IN (%s, '') AND hash <> %s",
		st.d.Placeholder(1), st.d.Placeholder(2), st.d.Placeholder(3)), role, owner, fmt.Sprintf("%x", keep))
	if err != nil {
		return 0, fmt.Errorf("revoke tokens: %w", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// RevokeToken removes the token with this hash.
func (st *Store) RevokeToken(ctx context.Context, hash []byte) error {
	if _, err := st.write.ExecContext(ctx, "DELETE FROM fs_token WHERE hash = "+st.d.Placeholder(1), fmt.Sprintf("%x", hash)); err != nil {
		return fmt.Errorf("revoke token: %w", err)
	}
	return nil
}
