package grants_test

import (
	"errors"
	"testing"

	"github.com/jitbot/jitbot/grants"
)

func TestErrorNamesOperationGrantAndProvider(t *testing.T) {
	tests := []struct {
		name string
		err  grants.Error
		want string
	}{
		{"grant", grants.Error{Op: "grant", Provider: "pg", GrantID: "g_1",
			Err: errors.New("timeout")}, "grant g_1 on pg: timeout"},
		{"revoke with detail", grants.Error{Op: "revoke", Provider: "pg", GrantID: "g_1",
			Err: errors.New("exit status 1"), Detail: "no such role"},
			"revoke g_1 on pg: exit status 1: no such role"},
		{"no grant id", grants.Error{Op: "check", Provider: "pg",
			Err: errors.New("refused")}, "check on pg: refused"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.err.Error(); got != tc.want {
				t.Fatalf("Error() = %q, want %q", got, tc.want)
			}
		})
	}
}
