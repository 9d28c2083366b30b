// Package buildinfo says which version of fieldsync a binary is, from what
// the Go toolchain recorded in it (runtime/debug.ReadBuildInfo).
package buildinfo

import "runtime/debug"

// Module is fieldsync's module path.
const Module = "github.com/fieldsync/fieldsync"

// Version is fieldsync's version in this binary: the module's version (a
// release tag, or the pseudo-version go build stamps from the commit), else
// the commit it was built from (its first 12 hex digits, "+dirty" when the
// work tree had changes), else "dev" when the build recorded neither.
func Version() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "dev"
	}
	return FromInfo(info)
}

// FromInfo is Version for the build information given. In a program that
// embeds fieldsync (fieldsync is not its main module) it is the version of
// the fieldsync module the program requires.
func FromInfo(info *debug.BuildInfo) string {
	mod := &info.Main
	if mod.Path != Module {
		mod = nil
		for _, d := range info.Deps {
			if d.Path == Module {
				mod = d
				if d.Replace != nil {
					mod = d.Replace
				}
			}
		}
		if mod == nil {
			return "dev"
		}
	}
	if v := mod.Version; v != "" && v != "(devel)" {
		return v
	}
	if mod != &info.Main {
		return "dev" // the commit recorded is the embedding program's
	}
	rev, dirty := "", ""
	for _, s := range info.Settings {
		switch {
		case s.Key == "vcs.revision":
			rev = s.Value
		case s.Key == "vcs.modified" && s.Value == "true":
			dirty = "+dirty"
		}
	}
	if rev == "" {
		return "dev"
	}
	return rev[:min(len(rev), 12)] + dirty
}

// Revision is the commit the binary was built from, "" when not recorded.
func Revision() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" {
			return s.Value
		}
	}
	return ""
}
