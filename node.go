package fieldsync

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"regexp"
	"time"
)

// Node is a registered remote node: one laptop or device, registered for one
// employee, that synchronizes its local database with the server.
type Node struct {
	Name       string    `json:"name"`
	EmployeeID string    `json:"employee_id"`
	Active     bool      `json:"active"`
	Created    time.Time `json:"created"`
	// Deactivated is when the node was deactivated, zero while active.
	Deactivated time.Time `json:"deactivated,omitzero"`
	// Extracted is when the node's latest Database Extract was taken, zero before.
	Extracted time.Time `json:"extracted,omitzero"`
	// LastSync is when the node's last synchronization session ended, zero before.
	LastSync time.Time `json:"last_sync,omitzero"`
	// Folder is the id of the node's current folder (its latest client
	// init), FolderSince when that init claimed the node; "" before any.
	Folder      string    `json:"folder,omitempty"`
	FolderSince time.Time `json:"folder_since,omitzero"`
	// MergeStopped, in the administrator's view of one node, says why its
	// uploads are not merged until it is resumed ("" when they are).
	MergeStopped string `json:"merge_stopped,omitempty"`
	// Errors, in the administrator's view of one node, are its latest
	// sessions that did not end "ok", newest first (a few at most).
	Errors []Session `json:"errors,omitempty"`
}

// nodeNamePattern: node names become directory names under docking/, so
// they are kept short, lowercase and path-safe.
var nodeNamePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// ValidNodeName reports whether s may name a node.
func ValidNodeName(s string) bool { return nodeNamePattern.MatchString(s) }

// Nodes is the node registry.
type Nodes interface {
	// AddNode registers a node; secretHash is HashSecret of its secret.
	AddNode(ctx context.Context, n Node, secretHash []byte) (Node, error)
	// Node returns a node and its secret hash.
	Node(ctx context.Context, name string) (Node, []byte, error)
	ListNodes(ctx context.Context) ([]Node, error)
	DeactivateNode(ctx context.Context, name string) (Node, error)
	// SetNodeSecret replaces a node's secret hash: the old secret stops
	// working at once.
	SetNodeSecret(ctx context.Context, name string, secretHash []byte) error
}

// Tokens holds the hashes of the bearer tokens the HTTP API accepts.
type Tokens interface {
	AddToken(ctx context.Context, role string, hash []byte) error
	// TokenRole returns the role of the token with this hash, or ErrUnauthorized.
	TokenRole(ctx context.Context, hash []byte) (string, error)
	// RevokeTokens removes every token of the role but the one with hash
	// keep, and returns how many it removed.
	RevokeTokens(ctx context.Context, role string, keep []byte) (int, error)
}

// RoleAdmin is the role of the administrator's token: every API endpoint.
const RoleAdmin = "admin"

// NewSecret returns a fresh random secret (256 bits, URL-safe text) for a
// node or an API token.
func NewSecret() string {
	var b [32]byte
	rand.Read(b[:]) // never fails since Go 1.24
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// HashSecret is the stored form of a secret. Secrets are 256 random bits, so
// a plain SHA-256 is preimage-resistant here; slow password hashes exist to
// stretch low-entropy human passwords and would only make every
// synchronization request slower.
func HashSecret(secret string) []byte {
	sum := sha256.Sum256([]byte(secret))
	return sum[:]
}

// SecretMatches compares a presented secret with a stored hash in constant time.
func SecretMatches(secret string, hash []byte) bool {
	sum := sha256.Sum256([]byte(secret))
	return subtle.ConstantTimeCompare(sum[:], hash) == 1
}
