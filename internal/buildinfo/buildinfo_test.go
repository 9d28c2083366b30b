package buildinfo

import (
	"runtime/debug"
	"testing"
)

func TestFromInfo(t *testing.T) {
	vcs := func(rev, modified string) []debug.BuildSetting {
		return []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: rev}, {Key: "vcs.modified", Value: modified}}
	}
	main := func(version string) debug.Module { return debug.Module{Path: Module, Version: version} }
	cases := []struct {
		name string
		info debug.BuildInfo
		want string
	}{
		{"a release", debug.BuildInfo{Main: main("v1.4.0")}, "v1.4.0"},
		{"a pseudo-version of the commit", debug.BuildInfo{Main: main("v0.0.0-20261203164200-24e5e46a1b2c+dirty"), Settings: vcs("24e5e46a1b2c3d4e", "true")}, "v0.0.0-20261203164200-24e5e46a1b2c+dirty"},
		{"the commit only", debug.BuildInfo{Main: main("(devel)"), Settings: vcs("24e5e46a1b2c3d4e5f60718293a4b5c6d7e8f901", "false")}, "24e5e46a1b2c"},
		{"a modified work tree", debug.BuildInfo{Main: main("(devel)"), Settings: vcs("24e5e46a1b2c3d4e5f60718293a4b5c6d7e8f901", "true")}, "24e5e46a1b2c+dirty"},
		{"nothing recorded", debug.BuildInfo{Main: main("(devel)")}, "dev"},
		{"nothing at all", debug.BuildInfo{}, "dev"},
		{"embedded, a release", debug.BuildInfo{Main: debug.Module{Path: "example.com/app", Version: "v2.0.0"}, Settings: vcs("abcdef0123456789", "false"),
			Deps: []*debug.Module{{Path: Module, Version: "v1.3.2"}}}, "v1.3.2"},
		{"embedded, replaced by a folder", debug.BuildInfo{Main: debug.Module{Path: "example.com/app"}, Settings: vcs("abcdef0123456789", "false"),
			Deps: []*debug.Module{{Path: Module, Version: "v1.3.2", Replace: &debug.Module{Path: "../fieldsync"}}}}, "dev"},
	}
	for _, tc := range cases {
		if got := FromInfo(&tc.info); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}
