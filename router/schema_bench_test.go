package router_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/docking"
	"github.com/fieldsync/fieldsync/dx"
	"github.com/fieldsync/fieldsync/internal/admin"
	"github.com/fieldsync/fieldsync/internal/testutil"
	"github.com/fieldsync/fieldsync/schema"
)

const (
	// ruleNodes is the number of registered nodes of the rule change
	// benchmark, and ruleRows the activities each of them gains or loses.
	ruleNodes = 1000
	ruleRows  = 100
	// ruleDeliveries is what the rule change moves: every node gains (or
	// loses) every activity.
	ruleDeliveries = ruleNodes * ruleRows
	// ownerRule is the line of the built-in schema the wider rules are
	// added before.
	ownerRule = "      - owner: owner_id          # my own activities, wherever they hang\n"
)

// ruleEnv is a server database on the built-in schema with ruleNodes
// registered nodes, one per employee, and ruleRows activities owned by an
// employee no node is registered for: no node sees them until the rule
// all is added to the activity table.
type ruleEnv struct {
	*benchEnv
	nodes []string
	acts  []string
	// seen holds the outbox files already counted.
	seen map[string]bool
}

// newRuleEnv builds the server database, registers the nodes without
// building their extracts, and routes everything written so far.
func newRuleEnv(b *testing.B, backend testutil.Backend) *ruleEnv {
	b.Helper()
	ctx := context.Background()
	st, _ := backend.Open(b, schema.Default())
	e := &ruleEnv{benchEnv: &benchEnv{st: st, docking: docking.In(b.TempDir())}, seen: map[string]bool{}}
	changes := []fieldsync.Change{ins("employee", map[string]any{"id": "boss", "name": "Boss", "login": "boss"})}
	for i := 0; i < ruleNodes; i++ {
		emp := fmt.Sprintf("e%05d", i)
		changes = append(changes,
			ins("employee", map[string]any{"id": emp, "name": emp, "login": emp}),
			ins("position", map[string]any{"id": "p" + emp, "employee_id": emp}))
	}
	for i := 0; i < ruleRows; i++ {
		act := fmt.Sprintf("a%03d", i)
		e.acts = append(e.acts, act)
		changes = append(changes, ins("activity", map[string]any{"id": act, "owner_id": "boss", "type": "call", "description": act}))
	}
	if _, err := st.Apply(ctx, "", changes...); err != nil {
		b.Fatal(err)
	}
	e.nodes = e.registerNodes(b, ruleNodes)
	e.startFlow(b)
	e.count(b)
	return e
}

// wideSchema is the built-in schema with the rule all added to the
// activity table: every node sees every activity.
func wideSchema(b *testing.B) *fieldsync.Schema {
	b.Helper()
	text := string(schema.DefaultYAML())
	if strings.Count(text, ownerRule) != 1 {
		b.Fatalf("the built-in schema no longer has the line %q", ownerRule)
	}
	s, err := schema.Parse("wide.yaml", []byte(strings.Replace(text, ownerRule, "      - all\n"+ownerRule, 1)))
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// narrowSchema is the built-in schema, parsed afresh: nodes see only the
// activities of their own and of the accounts and opportunities they see.
func narrowSchema(b *testing.B) *fieldsync.Schema {
	b.Helper()
	s, err := schema.Parse("narrow.yaml", schema.DefaultYAML())
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// count reads the outbox files written since the last count and returns
// the transactions they hold as "op table", and how many they are in all.
func (e *ruleEnv) count(b *testing.B) (map[string]int, int) {
	b.Helper()
	out := map[string]int{}
	total := 0
	for _, node := range e.nodes {
		dir := e.docking.Outbox(node)
		ents, err := os.ReadDir(dir)
		if err != nil && !os.IsNotExist(err) {
			b.Fatal(err)
		}
		for _, en := range ents {
			path := filepath.Join(dir, en.Name())
			if e.seen[path] || !strings.HasSuffix(en.Name(), ".dx") {
				continue
			}
			e.seen[path] = true
			_, txns, err := dx.ReadFile(path, dx.Limits{})
			if err != nil {
				b.Fatal(err)
			}
			for _, t := range txns {
				out[string(t.Op)+" "+t.Table]++
				total++
			}
		}
	}
	return out, total
}

// deliveries counts what was written since the last count and fails
// unless it is want deliveries of op on the activity table and, beside
// them, at most one schema marker per node.
func (e *ruleEnv) deliveries(b *testing.B, what string, op fieldsync.Op, want int) int {
	b.Helper()
	got, total := e.count(b)
	n := got[string(op)+" activity"]
	if n != want || total-n > len(e.nodes) {
		b.Fatalf("%s: %d %s deliveries of activities (want %d), %d deliveries in all: %v", what, n, op, want, total, got)
	}
	return n
}

// plan times the preview of the change to s and checks it reports want
// activities gained (or lost, when lose is set) in all.
func (e *ruleEnv) plan(b *testing.B, s *fieldsync.Schema, lose bool, want int) time.Duration {
	b.Helper()
	start := time.Now()
	p, err := admin.PlanSchema(context.Background(), e.st, s)
	took := time.Since(start)
	if err != nil {
		b.Fatal(err)
	}
	if len(p.Refused) > 0 || p.Same {
		b.Fatalf("plan of %s: refused %v, same %v", s.Source, p.Refused, p.Same)
	}
	got, other := p.Total.Gain, p.Total.Lose
	if lose {
		got, other = other, got
	}
	if got["activity"] != want || len(got) != 1 || len(other) != 0 || len(p.Nodes) != len(e.nodes) {
		b.Fatalf("plan of %s over %d nodes: gain %v, lose %v; want %d activities", s.Source, len(p.Nodes), p.Total.Gain, p.Total.Lose, want)
	}
	return took
}

// apply times putting s in force until the processor and the router are
// idle: every node's outbox holds the change.
func (e *ruleEnv) apply(b *testing.B, s *fieldsync.Schema) time.Duration {
	b.Helper()
	start := time.Now()
	if _, err := e.st.ApplySchema(context.Background(), s, "bench"); err != nil {
		b.Fatal(err)
	}
	e.pump(b)
	return time.Since(start)
}

// update times ruleRows updates of the activities, one transaction each,
// until the processor and the router are idle.
func (e *ruleEnv) update(b *testing.B, round int) time.Duration {
	b.Helper()
	changes := make([]fieldsync.Change, 0, len(e.acts))
	for _, act := range e.acts {
		changes = append(changes, upd("activity", act, map[string]any{"description": fmt.Sprintf("%s round %d", act, round)}))
	}
	start := time.Now()
	if _, err := e.st.Apply(context.Background(), "", changes...); err != nil {
		b.Fatal(err)
	}
	e.pump(b)
	return time.Since(start)
}

// ruleTimes are the figures of the rule change benchmark, summed over its
// rounds, with the deliveries each phase made.
type ruleTimes struct {
	plan, planBack, wide, ordinary, narrow time.Duration
	wideN, ordinaryN, narrowN              int
}

// round previews and applies the wider rules, routes ordinary updates to
// every node, then previews and applies the built-in rules again.
func (e *ruleEnv) round(b *testing.B, i int, sum *ruleTimes) {
	b.Helper()
	wide := wideSchema(b)
	sum.plan += e.plan(b, wide, false, ruleDeliveries)
	sum.wide += e.apply(b, wide)
	sum.wideN += e.deliveries(b, "rule all added", fieldsync.OpInsert, ruleDeliveries)
	sum.ordinary += e.update(b, i)
	sum.ordinaryN += e.deliveries(b, "ordinary updates", fieldsync.OpUpdate, ruleDeliveries)
	narrow := narrowSchema(b)
	sum.planBack += e.plan(b, narrow, true, ruleDeliveries)
	sum.narrow += e.apply(b, narrow)
	sum.narrowN += e.deliveries(b, "rule all removed", fieldsync.OpPurge, ruleDeliveries)
}

// BenchmarkSchemaRuleChange measures, on each backend, a rule change that
// moves 100,000 row deliveries for 1,000 nodes: the built-in schema with
// the rule all added to the activity table, so that each node gains 100
// activities, then removed again, so that each node gets 100 purges. Each
// is timed from ApplySchema until the Transaction Processor and Router
// are idle, beside the same number of ordinary deliveries (100 updates of
// activities every node sees), timed from their write until idle, and
// beside the preview of each change (admin.PlanSchema), whose bar is at
// most 1 s per 100,000 deliveries it foresees. The deliveries are counted
// in the outbox files. Setup is not timed. Run it once:
//
//	go test -run XXX -bench BenchmarkSchemaRuleChange -benchtime 1x -timeout 30m ./router/
func BenchmarkSchemaRuleChange(b *testing.B) {
	for _, backend := range testutil.Backends {
		b.Run(backend.Name, func(b *testing.B) {
			e := newRuleEnv(b, backend)
			var sum ruleTimes
			for i := 0; i < b.N; i++ {
				e.round(b, i, &sum)
			}
			reportRuleTimes(b, backend.Name, sum)
		})
	}
}

// reportRuleTimes prints the figures as "name value unit" lines and
// reports them as the benchmark's metrics, per round.
func reportRuleTimes(b *testing.B, name string, sum ruleTimes) {
	n := float64(b.N)
	per := func(d time.Duration) float64 { return d.Seconds() / n }
	line := func(metric string, v float64, unit string) {
		fmt.Printf("%s_%s %.4g %s\n", metric, name, v, unit)
	}
	perDelivery := func(d time.Duration, deliveries int) float64 {
		return d.Seconds() / (float64(deliveries) / n) * 100_000
	}
	line("schema_plan", per(sum.plan), "s")
	line("schema_plan_per_100k_deliveries", perDelivery(sum.plan, sum.wideN), "s")
	line("schema_plan_reverse", per(sum.planBack), "s")
	line("schema_plan_reverse_per_100k_deliveries", perDelivery(sum.planBack, sum.narrowN), "s")
	fmt.Printf("schema_rule_change_%s_deliveries %d deliveries\n", name, sum.wideN/b.N)
	line("schema_rule_change", per(sum.wide), "s")
	fmt.Printf("ordinary_routing_%s_deliveries %d deliveries\n", name, sum.ordinaryN/b.N)
	line("ordinary_routing", per(sum.ordinary), "s")
	line("schema_rule_change_ratio", sum.wide.Seconds()/sum.ordinary.Seconds(), "x")
	fmt.Printf("schema_rule_change_reverse_%s_deliveries %d deliveries\n", name, sum.narrowN/b.N)
	line("schema_rule_change_reverse", per(sum.narrow), "s")
	line("schema_rule_change_reverse_ratio", sum.narrow.Seconds()/sum.ordinary.Seconds(), "x")
	b.ReportMetric(per(sum.plan), "s-plan")
	b.ReportMetric(perDelivery(sum.plan, sum.wideN), "s-plan/100k-deliveries")
	b.ReportMetric(per(sum.planBack), "s-plan-reverse")
	b.ReportMetric(per(sum.wide), "s-rule-change")
	b.ReportMetric(per(sum.narrow), "s-rule-change-reverse")
	b.ReportMetric(per(sum.ordinary), "s-ordinary")
	b.ReportMetric(sum.wide.Seconds()/sum.ordinary.Seconds(), "x-rule-change/ordinary")
	b.ReportMetric(sum.narrow.Seconds()/sum.ordinary.Seconds(), "x-reverse/ordinary")
	b.ReportMetric(float64(sum.wideN)/n, "deliveries")
	b.ReportMetric(0, "ns/op")
}
