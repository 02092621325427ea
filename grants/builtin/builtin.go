// Package builtin lists the grant providers that ship with jitbot. It is
// the one place a provider type name is tied to its constructor.
package builtin

import (
	"github.com/jitbot/jitbot/grants"
	"github.com/jitbot/jitbot/grants/exec"
	"github.com/jitbot/jitbot/grants/postgres"
	"github.com/jitbot/jitbot/grants/webhook"
)

// Registry returns the built-in provider types by name. Each call returns a
// new map, so a caller may add its own types without affecting others.
func Registry() grants.Registry {
	return grants.Registry{
		"exec":     exec.New,
		"postgres": postgres.New,
		"webhook":  webhook.New,
	}
}
