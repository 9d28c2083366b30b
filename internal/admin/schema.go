package admin

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/schema"
	"github.com/fieldsync/fieldsync/visibility"
)

// SchemaStore is what changing the schema needs of the server database.
type SchemaStore interface {
	fieldsync.Nodes
	Schema() *fieldsync.Schema
	SchemaVersion() int64
	SchemaVersions(ctx context.Context) ([]fieldsync.SchemaVersion, error)
	PlanSchema(ctx context.Context, s *fieldsync.Schema) (*fieldsync.SchemaPlan, error)
	ApplySchema(ctx context.Context, s *fieldsync.Schema, by string) (*fieldsync.SchemaPlan, error)
	Snapshot(ctx context.Context, fn func(fieldsync.Snapshot) error) error
}

// SchemaPlan is what a schema change does: the migration steps, what is
// refused and why, and what every node would gain and lose.
type SchemaPlan struct {
	From    int64    `json:"from_version"`
	To      int64    `json:"to_version"`
	Source  string   `json:"source"`
	Same    bool     `json:"same,omitempty"`
	Applied bool     `json:"applied,omitempty"`
	Steps   []string `json:"steps"`
	// Refused lists every reason the change is refused ("FILE:LINE: why").
	Refused []string     `json:"refused,omitempty"`
	Nodes   []NodeImpact `json:"nodes"`
	Total   Impact       `json:"total"`
}

// Impact is the rows a change moves into and out of view, per table, and
// the bytes of the rows moved in.
type Impact struct {
	Gain  map[string]int `json:"gain"`
	Lose  map[string]int `json:"lose"`
	Bytes int64          `json:"bytes"`
}

// NodeImpact is what one node gains and loses.
type NodeImpact struct {
	Node string `json:"node"`
	Impact
}

// SchemaInForce is the schema version in force and every version before.
type SchemaInForce struct {
	Version  int64                     `json:"version"`
	Source   string                    `json:"source"`
	YAML     string                    `json:"yaml"`
	Versions []fieldsync.SchemaVersion `json:"versions"`
}

// ShowSchema returns the schema in force and the versions recorded.
func ShowSchema(ctx context.Context, st SchemaStore) (SchemaInForce, error) {
	vs, err := st.SchemaVersions(ctx)
	if err != nil {
		return SchemaInForce{}, err
	}
	for i := range vs {
		vs[i].YAML = nil // the versions' list; the text in force is YAML
	}
	s := st.Schema()
	return SchemaInForce{Version: st.SchemaVersion(), Source: s.Source, YAML: string(s.YAML), Versions: vs}, nil
}

// ParseSchema reads a schema file sent to be planned or applied.
func ParseSchema(source string, yaml []byte) (*fieldsync.Schema, error) {
	if source == "" {
		source = "schema.yaml"
	}
	return schema.Parse(source, yaml)
}

// PlanSchema says what applying s would do, changing nothing.
func PlanSchema(ctx context.Context, st SchemaStore, s *fieldsync.Schema) (SchemaPlan, error) {
	p, err := st.PlanSchema(ctx, s)
	if err != nil {
		return SchemaPlan{}, err
	}
	return withImpact(ctx, st, s, p)
}

// ApplySchema puts s in force and returns its plan; a refused change
// returns the plan and the refusal (every reason) and changes nothing.
func ApplySchema(ctx context.Context, st SchemaStore, s *fieldsync.Schema, by string) (SchemaPlan, error) {
	before := st.Schema()
	plan, err := PlanSchema(ctx, st, s)
	if err != nil || len(plan.Refused) > 0 || plan.Same {
		if err == nil && len(plan.Refused) > 0 {
			_, err = st.ApplySchema(ctx, s, by) // refused again, with the error
		}
		return plan, err
	}
	p, err := st.ApplySchema(ctx, s, by)
	if err != nil {
		return plan, err
	}
	if st.Schema() == before && !p.Same {
		return plan, fmt.Errorf("schema version %d was applied but is not in force", p.To)
	}
	plan.To, plan.Applied = p.To, !p.Same
	return plan, nil
}

// withImpact adds to a plan what each active node would gain and lose.
func withImpact(ctx context.Context, st SchemaStore, s *fieldsync.Schema, p *fieldsync.SchemaPlan) (SchemaPlan, error) {
	out := SchemaPlan{From: p.From, To: p.To, Source: p.Source, Same: p.Same, Steps: p.Steps, Nodes: []NodeImpact{},
		Total: Impact{Gain: map[string]int{}, Lose: map[string]int{}}}
	if out.Steps == nil {
		out.Steps = []string{}
	}
	if p.Refused != nil {
		out.Refused = strings.Split(p.Refused.Error(), "\n")
	}
	if p.Same || p.Refused != nil {
		return out, nil
	}
	nodes, err := st.ListNodes(ctx)
	if err != nil {
		return out, err
	}
	cur := st.Schema()
	err = st.Snapshot(ctx, func(snap fieldsync.Snapshot) error {
		src := knownTables{snap, cur}
		gOld, err := visibility.Load(ctx, src, cur)
		if err != nil {
			return err
		}
		gNew, err := visibility.Load(ctx, src, s)
		if err != nil {
			return err
		}
		sizes := map[visibility.Row]int64{}
		moves := visibility.NewMoves(gOld, gNew)
		for _, n := range nodes {
			if !n.Active {
				continue
			}
			gained, lost := moves.Of(n.EmployeeID)
			im, err := impact(ctx, snap, gained, lost, s, sizes)
			if err != nil {
				return err
			}
			out.Nodes = append(out.Nodes, NodeImpact{Node: n.Name, Impact: im})
			out.Total.add(im)
		}
		return nil
	})
	return out, err
}

func (t *Impact) add(o Impact) {
	for k, v := range o.Gain {
		t.Gain[k] += v
	}
	for k, v := range o.Lose {
		t.Lose[k] += v
	}
	t.Bytes += o.Bytes
}

// impact counts the rows gained (with their bytes) and lost, in tables
// schema s keeps.
func impact(ctx context.Context, snap fieldsync.Snapshot, gained, lost []visibility.Row, s *fieldsync.Schema, sizes map[visibility.Row]int64) (Impact, error) {
	im := Impact{Gain: map[string]int{}, Lose: map[string]int{}}
	for _, r := range gained {
		im.Gain[r.Table]++
		n, err := rowBytes(ctx, snap, r, sizes)
		if err != nil {
			return im, err
		}
		im.Bytes += n
	}
	for _, r := range lost {
		if s.Table(r.Table) != nil {
			im.Lose[r.Table]++
		}
	}
	return im, nil
}

// rowBytes is the size of a row as JSON, read once for every node.
func rowBytes(ctx context.Context, snap fieldsync.Snapshot, k visibility.Row, sizes map[visibility.Row]int64) (int64, error) {
	if n, ok := sizes[k]; ok {
		return n, nil
	}
	row, err := snap.Get(ctx, k.Table, k.ID)
	if err != nil {
		return 0, fmt.Errorf("read %s %s: %w", k.Table, k.ID, err)
	}
	b, _ := json.Marshal(row)
	sizes[k] = int64(len(b))
	return sizes[k], nil
}

// knownTables reads a snapshot's tables of the schema in force; a table
// only a planned schema has holds no rows yet.
type knownTables struct {
	fieldsync.Snapshot
	cur *fieldsync.Schema
}

func (k knownTables) Scan(ctx context.Context, table string, fn func(fieldsync.Row) error) error {
	if k.cur.Table(table) == nil {
		return nil
	}
	return k.Snapshot.Scan(ctx, table, fn)
}
