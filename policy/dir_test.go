package policy

import (
	"context"
	"errors"
	"sync"
)

// memDirectory is an in-memory Directory whose answers a test can change.
type memDirectory struct {
	mu     sync.Mutex
	groups map[string][]string
	emails map[string]string
	err    error
	calls  int
}

func newMemDirectory() *memDirectory {
	return &memDirectory{
		groups: map[string][]string{
			"S0DBA":     {"U0DBA1", "U0DBA2"},
			"S0ONCALL":  {"U0ONCALL"},
			"S0SEC":     {"U0SEC"},
			"S0NOBODY":  {},
			"S0PLATFRM": {"U0PLAT"},
		},
		emails: map[string]string{
			"U0ALICE":  "alice@example.com",
			"U0DBA1":   "dba1@example.com",
			"U0DBA2":   "dba2@example.com",
			"U0ONCALL": "oncall@example.com",
			"U0BOB":    "bob@example.com",
			"U0LEAD":   "ops-lead@example.com",
		},
	}
}

var errDirectoryDown = errors.New("directory unavailable")

func (d *memDirectory) GroupMembers(_ context.Context, id string) ([]string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls++
	if d.err != nil {
		return nil, d.err
	}
	return append([]string(nil), d.groups[id]...), nil
}

func (d *memDirectory) Email(_ context.Context, userID string) (string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls++
	if d.err != nil {
		return "", d.err
	}
	return d.emails[userID], nil
}

func (d *memDirectory) setGroup(id string, members ...string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.groups[id] = members
}

func (d *memDirectory) fail(err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.err = err
}
