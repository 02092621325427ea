package grants_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/jitbot/jitbot/grants"
)

// listerFunc is a grants.Lister that also records the targets it was asked.
type listerFunc func(targets []string) ([]grants.Member, error)

func (f listerFunc) Members(_ context.Context, targets []string) ([]grants.Member, error) {
	return f(targets)
}

func TestReconcileReportsUnexplainedMembers(t *testing.T) {
	backend := []grants.Member{
		{Principal: "bob", Target: "write"},
		{Principal: "alice", Target: "read"},
		{Principal: "mallory", Target: "read"},
		{Principal: "alice", Target: "read"},
	}
	tests := []struct {
		name      string
		targets   []string
		live      []grants.Grant
		wantAsked []string
		want      []grants.Member
	}{
		{
			name:      "no live grants: every member is drift",
			targets:   []string{"write", "read"},
			wantAsked: []string{"read", "write"},
			want: []grants.Member{
				{Principal: "alice", Target: "read"},
				{Principal: "mallory", Target: "read"},
				{Principal: "bob", Target: "write"},
			},
		},
		{
			name: "live grants explain their members and add their targets",
			live: []grants.Grant{
				{Principal: "alice", Target: "read"},
				{Principal: "bob", Target: "write"},
			},
			wantAsked: []string{"read", "write"},
			want:      []grants.Member{{Principal: "mallory", Target: "read"}},
		},
		{
			name:      "a grant of another role explains nothing",
			targets:   []string{"read"},
			live:      []grants.Grant{{Principal: "mallory", Target: "admin"}},
			wantAsked: []string{"admin", "read"},
			want: []grants.Member{
				{Principal: "alice", Target: "read"},
				{Principal: "mallory", Target: "read"},
				{Principal: "bob", Target: "write"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var asked []string
			lister := listerFunc(func(targets []string) ([]grants.Member, error) {
				asked = targets
				return backend, nil
			})
			got, err := grants.Reconcile(t.Context(), lister, tt.targets, tt.live)
			if err != nil {
				t.Fatalf("Reconcile: %v", err)
			}
			if !slices.Equal(asked, tt.wantAsked) {
				t.Errorf("asked about %v, want %v", asked, tt.wantAsked)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("drift = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestReconcilePassesListerErrorsOn(t *testing.T) {
	boom := errors.New("backend down")
	lister := listerFunc(func([]string) ([]grants.Member, error) { return nil, boom })
	_, err := grants.Reconcile(t.Context(), lister, []string{"read"}, nil)
	if !errors.Is(err, boom) {
		t.Fatalf("Reconcile error = %v, want it to wrap %v", err, boom)
	}
}
