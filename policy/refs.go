package policy

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Anyone is the requester ref that admits every user.
const Anyone Ref = "*"

type refKind int

const (
	refInvalid refKind = iota
	refAnyone
	refUser
	refEmail
	refSlackGroup
	refPolicyGroup
)

var (
	userIDPattern  = regexp.MustCompile(`^[UW][A-Z0-9]{2,}$`)
	groupIDPattern = regexp.MustCompile(`^S[A-Z0-9]{2,}$`)
	emailPattern   = regexp.MustCompile(`^[^@\s]+@[^@\s]+\.[^@\s]+$`)
)

func (r Ref) kind() refKind {
	s := string(r)
	switch {
	case r == Anyone:
		return refAnyone
	case strings.HasPrefix(s, "group:") && len(s) > len("group:"):
		return refPolicyGroup
	case strings.HasPrefix(s, "subteam:"):
		if groupIDPattern.MatchString(strings.TrimPrefix(s, "subteam:")) {
			return refSlackGroup
		}
	case userIDPattern.MatchString(s):
		return refUser
	case groupIDPattern.MatchString(s):
		return refSlackGroup
	case emailPattern.MatchString(s):
		return refEmail
	}
	return refInvalid
}

// slackGroupID returns the user group id of a Slack group ref.
func (r Ref) slackGroupID() string { return strings.TrimPrefix(string(r), "subteam:") }

func (r Ref) groupName() string { return strings.TrimPrefix(string(r), "group:") }

// matcher answers whether one identity is named by refs, asking the
// directory at most once per question.
type matcher struct {
	dir         Directory
	id          Identity
	emailLooked bool
	groups      map[string]bool
}

func newMatcher(dir Directory, id Identity) *matcher {
	return &matcher{dir: dir, id: id, groups: map[string]bool{}}
}

// anyOf reports whether the identity is named by one of refs. Policy groups
// must already be expanded.
func (m *matcher) anyOf(ctx context.Context, refs []Ref) (bool, error) {
	for _, ref := range refs {
		ok, err := m.matches(ctx, ref)
		if err != nil || ok {
			return ok, err
		}
	}
	return false, nil
}

func (m *matcher) matches(ctx context.Context, ref Ref) (bool, error) {
	switch ref.kind() {
	case refAnyone:
		return true, nil
	case refUser:
		return m.id.UserID != "" && string(ref) == m.id.UserID, nil
	case refEmail:
		email, err := m.email(ctx)
		return email != "" && strings.EqualFold(email, string(ref)), err
	case refSlackGroup:
		return m.inGroup(ctx, ref.slackGroupID())
	}
	return false, nil
}

// email returns the identity's email, asking the directory when it is not
// known yet.
func (m *matcher) email(ctx context.Context) (string, error) {
	if m.id.Email != "" || m.emailLooked || m.dir == nil || m.id.UserID == "" {
		return m.id.Email, nil
	}
	m.emailLooked = true
	email, err := m.dir.Email(ctx, m.id.UserID)
	if err != nil {
		return "", fmt.Errorf("look up email of %s: %w", m.id.UserID, err)
	}
	m.id.Email = email
	return email, nil
}

func (m *matcher) inGroup(ctx context.Context, groupID string) (bool, error) {
	if in, ok := m.groups[groupID]; ok {
		return in, nil
	}
	if m.dir == nil || m.id.UserID == "" {
		return false, nil
	}
	members, err := m.dir.GroupMembers(ctx, groupID)
	if err != nil {
		return false, fmt.Errorf("look up members of user group %s: %w", groupID, err)
	}
	in := slices.Contains(members, m.id.UserID)
	m.groups[groupID] = in
	return in, nil
}

// namedPeople counts the distinct users and emails in refs. The bool is
// false when refs also name sets of people whose size is unknown.
func namedPeople(refs []Ref) (int, bool) {
	seen := map[string]bool{}
	for _, r := range refs {
		switch r.kind() {
		case refUser:
			seen[string(r)] = true
		case refEmail:
			seen[strings.ToLower(string(r))] = true
		default:
			return 0, false
		}
	}
	return len(seen), true
}
