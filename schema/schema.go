package schema

import (
	"bytes"
	_ "embed"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/fieldsync/fieldsync"
)

//go:embed crm.yaml
var crmYAML []byte

// defaultSource is the Source of the schema Default returns.
const defaultSource = "builtin:crm.yaml"

// DefaultYAML returns the text of the built-in CRM schema (a copy), for
// printing it or starting a schema of one's own from it.
func DefaultYAML() []byte { return bytes.Clone(crmYAML) }

// Default returns the built-in CRM schema, parsed afresh on each call so
// that callers may hold and index their own value.
func Default() *fieldsync.Schema {
	s, err := Parse(defaultSource, crmYAML)
	if err != nil {
		// TestDefault keeps this from happening: the file is embedded.
		panic("schema: the built-in schema is invalid:\n" + err.Error())
	}
	return s
}

// Load reads the schema file at path and validates it like Parse, naming
// the file by path in its errors.
func Load(path string) (*fieldsync.Schema, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read schema: %w", err)
	}
	return Parse(path, data)
}

// Parse reads and validates a schema file. filename names the file in error
// messages and becomes the schema's Source. A schema with any problem is
// refused with an Errors value that lists every problem found.
func Parse(filename string, data []byte) (*fieldsync.Schema, error) {
	p := &parser{file: filename}
	root := p.document(data)
	var binding fieldsync.NodeBinding
	var decls []*tableDecl
	if root != nil {
		binding, decls = p.schema(root)
	}
	if len(p.errs) > 0 {
		slices.SortStableFunc(p.errs, func(a, b *Error) int { return a.Line - b.Line })
		return nil, p.errs
	}
	tables := make([]*fieldsync.Table, len(decls))
	for i, d := range decls {
		tables[i] = d.t
	}
	s, err := fieldsync.NewSchema(filename, binding, tables)
	if err != nil {
		return nil, Errors{{File: filename, Reason: "the validated schema was refused: " + err.Error(), Err: err}}
	}
	s.YAML = bytes.Clone(data)
	return s, nil
}

// Error is one problem in a schema file: where it is and what is wrong. It
// wraps fieldsync.ErrInvalid.
type Error struct {
	File   string // the file name given to Parse
	Line   int    // 1-based; 0 when the problem has no line
	Reason string
	Err    error // an underlying error, if any
}

// Error returns "FILE:LINE: REASON".
func (e *Error) Error() string {
	if e.Line <= 0 {
		return fmt.Sprintf("%s: %s", e.File, e.Reason)
	}
	return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Reason)
}

// Unwrap returns fieldsync.ErrInvalid, and the underlying error if any.
func (e *Error) Unwrap() []error {
	if e.Err != nil {
		return []error{fieldsync.ErrInvalid, e.Err}
	}
	return []error{fieldsync.ErrInvalid}
}

// Errors is every problem found in one schema file, in line order. Its text
// is one problem per line, so the first line alone names the first problem.
type Errors []*Error

func (e Errors) Error() string {
	lines := make([]string, len(e))
	for i, err := range e {
		lines[i] = err.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns the individual problems, so errors.Is(err,
// fieldsync.ErrInvalid) holds and errors.As finds an *Error.
func (e Errors) Unwrap() []error {
	errs := make([]error, len(e))
	for i, err := range e {
		errs[i] = err
	}
	return errs
}
