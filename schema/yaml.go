package schema

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// mapping returns the pairs of a mapping node in order, reporting any other
// kind of node (as what) and keys declared twice (as noun, after ctx).
func (p *parser) mapping(n *yaml.Node, what, ctx, noun string) []pair {
	if n = deref(n); n.Kind != yaml.MappingNode {
		p.errorf(n, "%s must be a mapping, not %s", what, kindName(n))
		return nil
	}
	first := map[string]int{}
	var out []pair
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := deref(n.Content[i]), n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			p.errorf(k, "%sa %s name must be a single word, not %s", ctx, noun, kindName(k))
			continue
		}
		if line, dup := first[k.Value]; dup {
			p.errorf(k, "%s%s %q is declared twice (first on line %d)", ctx, noun, k.Value, line)
			continue
		}
		first[k.Value] = k.Line
		out = append(out, pair{k, v})
	}
	return out
}

// scalar returns the value of a single-valued node, reporting others as what.
func (p *parser) scalar(n *yaml.Node, what string) (string, bool) {
	if n = deref(n); n.Kind != yaml.ScalarNode || isNull(n) {
		p.errorf(n, "%s must be a single value, not %s", what, kindName(n))
		return "", false
	}
	return n.Value, true
}

// boolean reads true or false (yes and no are accepted too).
func (p *parser) boolean(n *yaml.Node, what string) bool {
	v, ok := p.scalar(n, what)
	if !ok {
		return false
	}
	switch strings.ToLower(v) {
	case "true", "yes":
		return true
	case "false", "no":
		return false
	}
	p.errorf(n, "%s must be true or false, not %q", what, v)
	return false
}

// ident reports a table or column name (what) that cannot be used.
func (p *parser) ident(n *yaml.Node, what string) {
	switch name := n.Value; {
	case !identPattern.MatchString(name):
		p.errorf(n, "%s %q is not a valid name: use lowercase letters, digits and _, starting with a letter, at most 63 characters", what, name)
	case strings.HasPrefix(name, "fs_"):
		p.errorf(n, "%s %q: names starting with fs_ are reserved for fieldsync's own tables", what, name)
	case slices.Contains(reservedWords, name):
		p.errorf(n, "%s %q is an SQL reserved word; choose another name", what, name)
	}
}

// deref follows YAML aliases (*name) to the node they stand for.
func deref(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.Tag == "!!null" }

// kindName describes a node for messages.
func kindName(n *yaml.Node) string {
	switch n = deref(n); {
	case n.Kind == yaml.MappingNode:
		return "a mapping"
	case n.Kind == yaml.SequenceNode:
		return "a list"
	case isNull(n):
		return "an empty value"
	case n.Kind == yaml.ScalarNode:
		return strconv.Quote(n.Value)
	}
	return "nothing"
}

func tableNames(tables map[string]*tableDecl) []string {
	names := make([]string, 0, len(tables))
	for name := range tables {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// expected suggests the closest of options to a misspelt word, or lists them.
func expected(word string, options []string) string {
	if s := didYouMean(word, options); s != "" {
		return s
	}
	return " (expected " + strings.Join(options, ", ") + ")"
}

// didYouMean suggests the option closest to word, if one is close enough to
// be a typo, or returns "".
func didYouMean(word string, options []string) string {
	if best := closest(word, options); best != "" {
		return fmt.Sprintf(" (did you mean %s?)", best)
	}
	return ""
}

// closest returns the option a misspelt word most likely meant, or "" when
// none is close: at most two edits, and fewer than half the word.
func closest(word string, options []string) string {
	best, bestDist := "", 3
	for _, o := range options {
		if d := distance(word, o); d < bestDist {
			best, bestDist = o, d
		}
	}
	if 2*bestDist >= len(word) {
		return ""
	}
	return best
}

// distance is the edit distance between a and b, counting an insertion, a
// deletion, a substitution or a swap of two neighbouring letters as one edit
// (optimal string alignment).
func distance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}
