package hostiletest_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/internal/testutil"
)

// BenchmarkVictimLatencyUnderAttack measures the victim node's session
// with nothing new to send or receive (a sync of ann's laptop, through the
// real client, against the real server binary on loopback) with no attack,
// then under each resource attack of eve's node going on for the whole
// measurement, on each backend. Each sub-benchmark reports the sync's p50
// and p99; at the end it prints one `name value unit` line per figure: the
// percentiles, their ratio to the idle ones, and the server's peak resident
// memory (VmHWM). Run with -benchtime 200x or more for a p99 worth its name.
func BenchmarkVictimLatencyUnderAttack(b *testing.B) {
	bin := buildServer(b)
	for _, be := range testutil.Backends {
		b.Run(be.Name, func(b *testing.B) {
			db := ""
			if be.Name == "postgres" {
				db = testutil.PostgresURL(b)
			}
			s := newScene(b, bin, db)
			s.bench = true
			var lines []string
			line := func(name string, v float64, unit string) {
				lines = append(lines, fmt.Sprintf("%s_%s %.2f %s", be.Name, name, v, unit))
			}
			var idle50, idle99 time.Duration
			scenarios := append([]resourceAttack{{name: "idle"}}, resourceAttacks...)
			for _, a := range scenarios {
				var took []time.Duration // of the sub-benchmark's last (largest) run
				b.Run(a.name, func(b *testing.B) {
					stop := func() (string, error) { return "", nil }
					if a.start != nil {
						var err error
						if stop, err = a.start(s, nil); err != nil {
							b.Fatalf("%s: %v", a.name, err)
						}
					}
					took = took[:0]
					b.ResetTimer()
					for range b.N {
						took = append(took, s.victimSync(false))
					}
					b.StopTimer()
					if _, err := stop(); err != nil {
						b.Fatalf("%s: %v", a.name, err)
					}
					b.ReportMetric(ms(percentile(took, 50)), "p50-ms")
					b.ReportMetric(ms(percentile(took, 99)), "p99-ms")
				})
				p50, p99 := percentile(took, 50), percentile(took, 99)
				if a.start == nil {
					idle50, idle99 = p50, p99
					line("victim_sync_p50_idle", ms(p50), "ms")
					line("victim_sync_p99_idle", ms(p99), "ms")
					continue
				}
				line("victim_sync_p50_under_"+a.name, ms(p50), "ms")
				line("victim_sync_p99_under_"+a.name, ms(p99), "ms")
				line("victim_sync_p50_ratio_"+a.name, float64(p50)/float64(idle50), "x")
				line("victim_sync_p99_ratio_"+a.name, float64(p99)/float64(idle99), "x")
			}
			peak, _ := s.srv.memory(b)
			line("server_vmhwm", mib(peak), "MiB")
			fmt.Println(strings.Join(lines, "\n"))
		})
	}
}
