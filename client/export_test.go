package client

import (
	"context"

	"github.com/fieldsync/fieldsync"
)

// HoldSyncLock takes a folder's sync lock, as a running sync does (tests).
func HoldSyncLock(c *Client) (func(), error) { return c.lockSync() }

// PackageUploads packages the pending local changes into the next upload
// file, as a sync's upload step does first (tests).
func PackageUploads(c *Client) (int, error) { return c.packageUploads(context.Background()) }

// ReadUpload reads an upload file's changes as the client does (tests).
func ReadUpload(c *Client, number int64, path string) ([]fieldsync.Txn, error) {
	return c.readUpload(context.Background(), number, path)
}
