package grants

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// Reconcile returns the memberships that no live grant explains: who holds
// a managed role at the backend without jitbot having granted it (drift).
// It asks the lister about targets together with the targets of the live
// grants; a nil targets thus means the roles live grants touch, plus any
// the lister always reports. The result is sorted by target, then
// principal. Reconcile changes nothing at the backend.
func Reconcile(
	ctx context.Context,
	p Lister,
	targets []string,
	live []Grant,
) ([]Member, error) {
	explained := make(map[Member]bool, len(live))
	ask := slices.Clone(targets)
	for _, g := range live {
		explained[Member{Principal: g.Principal, Target: g.Target}] = true
		ask = append(ask, g.Target)
	}
	slices.Sort(ask)
	ask = slices.Compact(ask)

	members, err := p.Members(ctx, ask)
	if err != nil {
		return nil, fmt.Errorf("reconcile %d roles: %w", len(ask), err)
	}
	var drift []Member
	for _, m := range members {
		if !explained[m] {
			drift = append(drift, m)
		}
	}
	slices.SortFunc(drift, func(a, b Member) int {
		if a.Target != b.Target {
			return strings.Compare(a.Target, b.Target)
		}
		return strings.Compare(a.Principal, b.Principal)
	})
	return slices.Compact(drift), nil
}
