package main

import (
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"
)

// envName is the environment variable of a server flag: FIELDSYNC_ and
// the flag's name in upper snake case (max-body: FIELDSYNC_MAX_BODY).
func envName(flag string) string {
	return "FIELDSYNC_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// setting is a value of the settings file, and the line it is on.
type setting struct {
	value string
	line  int
}

// settings fills in the flags of fs the command line did not give: from
// their environment variables (envName; an empty one counts as unset),
// else from the settings file (config, else $FIELDSYNC_CONFIG), whose keys
// are the flags' names. So a flag wins over the environment, which wins
// over the file, which wins over the default.
func settings(fs *pflag.FlagSet, config string) error {
	path := orEnv(config, envName("config"))
	file, err := readSettings(fs, path)
	if err != nil {
		return err
	}
	var first error
	fs.VisitAll(func(f *pflag.Flag) {
		if first != nil || f.Changed || f.Name == "help" || f.Name == "config" {
			return
		}
		if v := os.Getenv(envName(f.Name)); v != "" {
			if err := fs.Set(f.Name, v); err != nil {
				first = fmt.Errorf("%w: %s: %q is not %s (the server's --%s)", errUsage, envName(f.Name), v, valueKind(f), f.Name)
			}
		} else if s, ok := file[f.Name]; ok {
			if err := fs.Set(f.Name, s.value); err != nil {
				first = fmt.Errorf("%w: %s:%d: %s: %q is not %s", errUsage, path, s.line, f.Name, s.value, valueKind(f))
			}
		}
	})
	return first
}

// readSettings reads a settings file: a YAML mapping of flag names to
// values (a list stands for its items separated by commas). Nothing when
// path is "".
func readSettings(fs *pflag.FlagSet, path string) (map[string]setting, error) {
	if path == "" {
		return nil, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("settings file: %w", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", errUsage, path, oneLine(err.Error()))
	}
	if len(doc.Content) == 0 {
		return nil, nil // an empty file
	}
	top := doc.Content[0]
	if top.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%w: %s:%d: the settings file holds lines of flag-name: value", errUsage, path, top.Line)
	}
	out := map[string]setting{}
	for i := 0; i+1 < len(top.Content); i += 2 {
		k, v := top.Content[i], top.Content[i+1]
		f := fs.Lookup(k.Value)
		if f == nil || f.Name == "help" || f.Name == "config" {
			return nil, fmt.Errorf("%w: %s:%d: unknown setting %q (the settings are the server's flags: %s)", errUsage, path, k.Line, k.Value, flagNames(fs))
		}
		value, ok := scalar(v)
		if !ok {
			return nil, fmt.Errorf("%w: %s:%d: %s: the value must be text, a number or a list of them", errUsage, path, v.Line, k.Value)
		}
		if v.Tag != "!!null" {
			out[f.Name] = setting{value, v.Line}
		}
	}
	return out, nil
}

// scalar is a YAML value as a flag's text: a scalar as it is, a list of
// scalars joined with commas.
func scalar(v *yaml.Node) (string, bool) {
	switch v.Kind {
	case yaml.ScalarNode:
		return v.Value, true
	case yaml.SequenceNode:
		items := make([]string, len(v.Content))
		for i, it := range v.Content {
			if it.Kind != yaml.ScalarNode {
				return "", false
			}
			items[i] = it.Value
		}
		return strings.Join(items, ","), true
	}
	return "", false
}

func flagNames(fs *pflag.FlagSet) string {
	var names []string
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Name != "help" && f.Name != "config" {
			names = append(names, f.Name)
		}
	})
	sort.Strings(names)
	return strings.Join(names, ", ")
}
