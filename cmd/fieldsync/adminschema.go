package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/fieldsync/fieldsync/api"
	"github.com/fieldsync/fieldsync/internal/admin"
)

// adminSchema is the admin schema group: show, plan and apply the schema
// of a running server.
func adminSchema(c *conn) *cobra.Command {
	g := group("schema", "the schema in force on the running server: show it, preview a change, apply it", "verb",
		schemaShow(c), schemaPlan(c), schemaApply(c))
	g.Example = "fieldsync admin schema show\nfieldsync admin schema plan crm2.yaml\nfieldsync admin schema apply crm2.yaml --yes"
	return g
}

func schemaShow(c *conn) *cobra.Command {
	cmd := &cobra.Command{
		Use: "show", Short: "print the schema in force, its version and the versions before it", Args: noArgs,
		Example: "fieldsync admin schema show\nfieldsync admin schema show --json",
	}
	cmd.RunE = c.call(func(ctx context.Context, cl *api.Client, _ []string, out io.Writer) error {
		s, err := cl.SchemaInForce(ctx)
		if err != nil {
			return err
		}
		return c.print(out, s, func() {
			fmt.Fprintf(out, "# schema version %d, from %s\n", s.Version, s.Source)
			for _, v := range s.Versions {
				fmt.Fprintf(out, "#   version %d: %s, applied %s by %s\n", v.Version, v.Source, when(v.Applied), v.By)
			}
			fmt.Fprint(out, s.YAML)
		})
	})
	return cmd
}

func schemaPlan(c *conn) *cobra.Command {
	cmd := &cobra.Command{
		Use: "plan FILE", Short: "say what putting a schema file in force would do, changing nothing", Args: exactly(1),
		Annotations: arguments("FILE", "the schema file (YAML)"),
		Example:     "fieldsync admin schema plan crm2.yaml\nfieldsync admin schema plan crm2.yaml --json",
	}
	cmd.RunE = c.call(func(ctx context.Context, cl *api.Client, pos []string, out io.Writer) error {
		f, err := readSchemaFile(pos[0])
		if err != nil {
			return err
		}
		p, err := cl.PlanSchema(ctx, f)
		if err != nil {
			return err
		}
		if err := c.print(out, p, func() { printPlan(out, p) }); err != nil {
			return err
		}
		if len(p.Refused) > 0 {
			return fmt.Errorf("the change would be refused: %s", p.Refused[0])
		}
		return nil
	})
	return cmd
}

func schemaApply(c *conn) *cobra.Command {
	var yes bool
	cmd := &cobra.Command{
		Use: "apply FILE --yes", Short: "put a schema file in force on the running server; the nodes follow at their next sync", Args: exactly(1),
		Annotations: arguments("FILE", "the schema file (YAML)"),
		Example:     "fieldsync admin schema apply crm2.yaml          # prints the plan, applies nothing\nfieldsync admin schema apply crm2.yaml --yes",
	}
	cmd.Flags().BoolVar(&yes, "yes", false, "apply it (without it, the plan is printed and nothing changes)")
	cmd.RunE = c.call(func(ctx context.Context, cl *api.Client, pos []string, out io.Writer) error {
		f, err := readSchemaFile(pos[0])
		if err != nil {
			return err
		}
		if !yes {
			p, err := cl.PlanSchema(ctx, f)
			if err != nil {
				return err
			}
			if err := c.print(out, p, func() { printPlan(out, p) }); err != nil {
				return err
			}
			if len(p.Refused) > 0 {
				return fmt.Errorf("the change would be refused: %s", p.Refused[0])
			}
			if p.Same {
				return nil
			}
			return fmt.Errorf("%w: not applied: run again with --yes to apply it", errUsage)
		}
		p, err := cl.ApplySchema(ctx, f)
		if err != nil {
			return err
		}
		return c.print(out, p, func() { printPlan(out, p) })
	})
	return cmd
}

// readSchemaFile reads a schema file to send.
func readSchemaFile(path string) (api.SchemaFile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			return api.SchemaFile{}, fmt.Errorf("schema file %s: %v", path, pe.Err)
		}
		return api.SchemaFile{}, err
	}
	return api.SchemaFile{Source: filepath.Base(path), YAML: string(b)}, nil
}

// printPlan prints a schema plan: the versions, the steps, the refusals,
// and each node's rows gained and lost.
func printPlan(out io.Writer, p admin.SchemaPlan) {
	switch {
	case p.Same:
		fmt.Fprintf(out, "%s is the schema in force (version %d): nothing to do\n", p.Source, p.From)
		return
	case len(p.Refused) > 0:
		fmt.Fprintf(out, "%s would be refused (version %d stays in force):\n", p.Source, p.From)
		for _, r := range p.Refused {
			fmt.Fprintln(out, "  "+r)
		}
		return
	case p.Applied:
		fmt.Fprintf(out, "applied %s as schema version %d (was %d):\n", p.Source, p.To, p.From)
	default:
		fmt.Fprintf(out, "%s would become schema version %d (now %d):\n", p.Source, p.To, p.From)
	}
	for _, s := range p.Steps {
		fmt.Fprintln(out, "  "+s)
	}
	if len(p.Nodes) == 0 {
		fmt.Fprintln(out, "no active node")
		return
	}
	tw := newTable(out)
	fmt.Fprintln(tw, "NODE\tGAINS\tLOSES\tBYTES")
	for _, n := range p.Nodes {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", n.Node, counts(n.Gain), counts(n.Lose), size(n.Bytes))
	}
	fmt.Fprintf(tw, "total\t%s\t%s\t%s\n", counts(p.Total.Gain), counts(p.Total.Lose), size(p.Total.Bytes))
	tw.Flush()
}

// counts prints rows per table ("3 contact, 1 account"; "-" for none).
func counts(m map[string]int) string {
	if len(m) == 0 {
		return "-"
	}
	var parts []string
	for _, t := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%d %s", m[t], t))
	}
	return strings.Join(parts, ", ")
}
