package bot

import (
	"context"
	"fmt"
	"strings"

	"github.com/slack-go/slack"
)

// GroupMembers returns the user ids in the Slack user group groupID
// ("S123" or "subteam:S123"), from usergroups.users.list. Answers are
// cached for Options.GroupTTL. It is safe for concurrent use.
func (b *Bot) GroupMembers(ctx context.Context, groupID string) ([]string, error) {
	id := strings.TrimPrefix(groupID, "subteam:")
	if v, ok := b.groups.get(id); ok {
		return append([]string(nil), v...), nil
	}
	var members []string
	err := b.call(ctx, "usergroups.users.list", func(ctx context.Context) error {
		var err error
		members, err = b.api.GetUserGroupMembersContext(ctx, id)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list members of group %s: %w", id, err)
	}
	b.groups.put(id, members)
	return append([]string(nil), members...), nil
}

// Email returns the email address in userID's profile, from users.info,
// or "" when the profile has none. Answers are cached for Options.UserTTL.
// It is safe for concurrent use.
func (b *Bot) Email(ctx context.Context, userID string) (string, error) {
	if v, ok := b.emails.get(userID); ok {
		return v, nil
	}
	var user *slack.User
	err := b.call(ctx, "users.info", func(ctx context.Context) error {
		var err error
		user, err = b.api.GetUserInfoContext(ctx, userID)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("look up email of user %s: %w", userID, err)
	}
	email := user.Profile.Email
	b.emails.put(userID, email)
	return email, nil
}
