package app_test

import (
	"errors"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestReviewOfARealTrail runs a grant through a failed and then a late
// revoke in the real bot, and checks that /jit review names alice (not
// jitbot) as the holder, and that its summary counts the rubber stamps its
// report lists.
func TestReviewOfARealTrail(t *testing.T) {
	e := newE2EWith(t, reviewConfig)
	e.seedDecisions()

	// The revoke at expiry (10:00, run at 10:01) fails; the retry, run at
	// 10:03, succeeds three minutes late.
	e.mem.failRevokes(errors.New("connection refused"))
	e.clock.Advance(time.Hour)
	e.wait("the failed revoke announced", func() bool {
		for _, m := range e.srv.Messages(approval) {
			if strings.Contains(m.Text, "failed") {
				return true
			}
		}
		return false
	})
	e.mem.failRevokes(nil)
	e.clock.Advance(2 * time.Minute)
	e.wait("the retried revoke", func() bool { return !e.mem.holds("alice/app_readonly") })
	e.clock.Advance(time.Minute)

	e.slash(carol, "review")
	summary, report := e.reviewPosted(room)
	md := string(report.Content)

	health := after(md, "## 6. Revocation health")
	for _, want := range []string{"(prod-db/readonly, " + alice + ") revoked 3m after expiry",
		"(prod-db/readonly, " + alice + ") 1 attempt(s)"} {
		if !strings.Contains(health, want) {
			t.Errorf("revocation health lacks %q:\n%s", want, health)
		}
	}
	if strings.Contains(health, ", jitbot)") {
		t.Errorf("revocation health names jitbot as a holder:\n%s", health)
	}

	stamps := regexp.MustCompile(`(?m)^- (\S+) approved `).FindAllStringSubmatch(
		after(md, "## 5. Rubber stamps"), -1)
	named := map[string]bool{}
	for _, m := range stamps {
		named[m[1]] = true
	}
	if !named[bob] {
		t.Errorf("bob approved at once but is not a rubber stamp:\n%s", md)
	}
	if n := len(named); !strings.Contains(summary.Text,
		", "+strconv.Itoa(n)+" rubber-stamp approver") {
		t.Errorf("report lists %d rubber-stamp approvers, summary says:\n%s", n, summary.Text)
	}
	for _, want := range []string{"| Cancelled | 0 |", "## 4. Tighten\n\nNone."} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
}

// after returns md from the heading to the next level-two heading.
func after(md, heading string) string {
	_, rest, _ := strings.Cut(md, heading)
	body, _, _ := strings.Cut(rest, "\n## ")
	return body
}
