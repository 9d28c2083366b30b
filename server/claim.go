package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/fieldsync/fieldsync/internal/durable"
)

// What a data folder may be shared for: any number of processes may run
// the API, Synchronization Managers, Transaction Processors (one active,
// the others standing by on the database's lock), mergers and Database
// Extracts over one folder, but each Transaction Router partition runs in
// one process only. A process running routers holds DATA/locks/router-K.lock
// (an flock the kernel drops when the process dies) for each partition K it
// runs, with a note of who it is in the file; a second process asking for
// one of them, or splitting the router into another number of partitions,
// is refused at start with the first one's pid.

// claim is the data folder's locks a server holds while it runs.
type claim struct {
	mu       sync.Mutex
	held     bool
	releases []func()
}

func (c *claim) release() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range c.releases {
		r()
	}
	c.releases, c.held = nil, false
}

// holder is the note in a lock file: the process holding it.
type holder struct {
	PID        int      `json:"pid"`
	Host       string   `json:"host"`
	Components []string `json:"components"`
	Partitions int      `json:"router_partitions"`
	Partition  int      `json:"router_partition"` // -1: all of them
}

// Claim takes the data folder's locks of the components this server runs
// that only one process may run at a time (its Transaction Router
// partitions), or says in one line which process holds them. Serve claims
// them itself; a program calls Claim first to be refused before it
// announces anything. Close gives them up.
func (s *Server) Claim(ctx context.Context) error {
	s.claim.mu.Lock()
	defer s.claim.mu.Unlock()
	if s.claim.held || !s.Runs(Router) {
		s.claim.held = true
		return nil
	}
	dir := filepath.Join(s.cfg.DataDir, "locks")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("data folder %s: %w", s.cfg.DataDir, err)
	}
	// Processes starting at once take turns, so each sees the others' notes.
	unlock, err := durable.Lock(ctx, filepath.Join(dir, "claim.lock"))
	if err != nil {
		return fmt.Errorf("data folder %s: %w", s.cfg.DataDir, err)
	}
	defer unlock()
	host, _ := os.Hostname()
	me := holder{PID: os.Getpid(), Host: host, Components: s.cfg.Only, Partitions: s.cfg.RouterPartitions, Partition: s.cfg.RouterPartition}
	if err := s.checkPartitionCount(dir, me); err != nil {
		return err
	}
	note, _ := json.Marshal(me)
	for _, p := range s.partitions() {
		release, held, err := durable.TryLockHeld(filepath.Join(dir, fmt.Sprintf("router-%d.lock", p)), note)
		if err != nil {
			for _, r := range s.claim.releases {
				r()
			}
			s.claim.releases = nil
			return s.inUse(err, held, me)
		}
		s.claim.releases = append(s.claim.releases, release)
	}
	s.claim.held = true
	return nil
}

// partitions are the router partitions this server runs.
func (s *Server) partitions() []int {
	if s.cfg.RouterPartition >= 0 {
		return []int{s.cfg.RouterPartition}
	}
	parts := make([]int, s.cfg.RouterPartitions)
	for i := range parts {
		parts[i] = i
	}
	return parts
}

// checkPartitionCount refuses to route while another process routes with
// another number of partitions: nodes would be split two ways.
func (s *Server) checkPartitionCount(dir string, me holder) error {
	names, err := filepath.Glob(filepath.Join(dir, "router-*.lock"))
	if err != nil {
		return err
	}
	for _, name := range names {
		release, held, err := durable.TryLockHeld(name, nil)
		if err == nil {
			release() // no process holds it
			continue
		}
		var h holder
		if !errors.Is(err, durable.ErrLocked) || json.Unmarshal(held, &h) != nil {
			return s.inUse(err, held, me)
		}
		if h.Partitions != me.Partitions {
			return fmt.Errorf("data folder %s is in use by fieldsync server pid %d%s (%s), which splits the Transaction Router into %d partitions, not %d: give every process the same --router-partitions",
				s.cfg.DataDir, h.PID, onHost(h, me), describe(h), h.Partitions, me.Partitions)
		}
	}
	return nil
}

// inUse is the refusal of a lock another process holds (or the error
// taking it).
func (s *Server) inUse(err error, held []byte, me holder) error {
	if !errors.Is(err, durable.ErrLocked) {
		return fmt.Errorf("data folder %s: %w", s.cfg.DataDir, err)
	}
	var h holder
	if json.Unmarshal(held, &h) != nil {
		return fmt.Errorf("data folder %s is in use by another fieldsync server process, which runs Transaction Router partitions of this one: stop it first or run other components with --only", s.cfg.DataDir)
	}
	hint := ""
	if me.Partitions > 1 {
		hint = " (or another --router-partition)"
	}
	return fmt.Errorf("data folder %s is in use by fieldsync server pid %d%s (%s): stop it first or run other components with --only%s",
		s.cfg.DataDir, h.PID, onHost(h, me), describe(h), hint)
}

func onHost(h, me holder) string {
	if h.Host == me.Host {
		return ""
	}
	return " on host " + h.Host
}

// describe names a holder's components and router partitions.
func describe(h holder) string {
	d := "components " + strings.Join(h.Components, ", ")
	switch {
	case h.Partitions <= 1:
	case h.Partition < 0:
		d += fmt.Sprintf("; all %d router partitions", h.Partitions)
	default:
		d += fmt.Sprintf("; router partition %d of %d", h.Partition, h.Partitions)
	}
	return d
}
