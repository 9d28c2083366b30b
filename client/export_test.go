package client

// HoldSyncLock takes a folder's sync lock, as a running sync does (tests).
func HoldSyncLock(c *Client) (func(), error) { return c.lockSync() }
