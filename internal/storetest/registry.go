package storetest

import (
	"context"
	"errors"
	"testing"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/schema"
)

func testNodes(t *testing.T, open Opener) {
	st, _ := open(t, schema.Default())
	seed(t, st)
	ctx := context.Background()
	hash := fieldsync.HashSecret("s3cret")
	n, err := st.AddNode(ctx, fieldsync.Node{Name: "laptop-ann", EmployeeID: "e1"}, hash)
	if err != nil || !n.Active || n.Created.IsZero() {
		t.Fatalf("add node: %+v, %v", n, err)
	}
	if _, err := st.AddNode(ctx, fieldsync.Node{Name: "laptop-ann", EmployeeID: "e1"}, hash); !errors.Is(err, fieldsync.ErrExists) {
		t.Fatalf("duplicate node: %v", err)
	}
	if _, err := st.AddNode(ctx, fieldsync.Node{Name: "other", EmployeeID: "nobody"}, hash); !errors.Is(err, fieldsync.ErrNotFound) {
		t.Fatalf("node for unknown employee: %v", err)
	}
	if _, err := st.AddNode(ctx, fieldsync.Node{Name: "Bad Name", EmployeeID: "e1"}, hash); !errors.Is(err, fieldsync.ErrInvalid) {
		t.Fatalf("bad node name: %v", err)
	}
	got, h, err := st.Node(ctx, "laptop-ann")
	if err != nil || !fieldsync.SecretMatches("s3cret", h) || fieldsync.SecretMatches("other", h) || got.EmployeeID != "e1" {
		t.Fatalf("node: %+v, %v", got, err)
	}
	if _, _, err := st.Node(ctx, "ghost"); !errors.Is(err, fieldsync.ErrNodeUnknown) {
		t.Fatalf("unknown node: %v", err)
	}
	if _, err := st.Apply(ctx, "", del("employee", "e1")); !errors.Is(err, fieldsync.ErrInUse) || !contains(err.Error(), `has the active node "laptop-ann"`) {
		t.Fatalf("deleting an employee with an active node: %v", err)
	}
	d, err := st.DeactivateNode(ctx, "laptop-ann")
	if err != nil || d.Active || d.Deactivated.IsZero() {
		t.Fatalf("deactivate: %+v, %v", d, err)
	}
	if _, err := st.DeactivateNode(ctx, "ghost"); !errors.Is(err, fieldsync.ErrNodeUnknown) {
		t.Fatalf("deactivate unknown: %v", err)
	}
	nodes, err := st.ListNodes(ctx)
	if err != nil || len(nodes) != 1 || nodes[0].Active {
		t.Fatalf("list nodes: %+v, %v", nodes, err)
	}
}

func testTokens(t *testing.T, open Opener) {
	st, _ := open(t, schema.Default())
	ctx := context.Background()
	tok := fieldsync.NewSecret()
	if err := st.AddToken(ctx, fieldsync.RoleAdmin, fieldsync.HashSecret(tok)); err != nil {
		t.Fatal(err)
	}
	if err := st.AddToken(ctx, fieldsync.RoleAdmin, fieldsync.HashSecret(tok)); err != nil {
		t.Fatalf("adding a token twice: %v", err)
	}
	if role, err := st.TokenRole(ctx, fieldsync.HashSecret(tok)); err != nil || role != fieldsync.RoleAdmin {
		t.Fatalf("token role %q, %v", role, err)
	}
	if _, err := st.TokenRole(ctx, fieldsync.HashSecret("wrong")); !errors.Is(err, fieldsync.ErrUnauthorized) {
		t.Fatalf("wrong token: %v", err)
	}
}
