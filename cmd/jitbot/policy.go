package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/jitbot/jitbot/bot"
	"github.com/jitbot/jitbot/config"
	"github.com/jitbot/jitbot/policy"
)

func policyCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "policy", Short: "Inspect the access policy"}
	var in policy.Input
	var user, email, duration string
	explain := &cobra.Command{
		Use:   "explain",
		Short: "Say what would happen to a request, and why",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			missing := missingFlags([2]string{"--user", user},
				[2]string{"--resource", in.Resource}, [2]string{"--role", in.Role})
			if missing != "" {
				return fmt.Errorf("missing %s; --user, --resource and --role are required",
					missing)
			}
			if duration != "" {
				d, err := policy.ParseDuration(duration)
				if err != nil || d <= 0 {
					return fmt.Errorf("--duration %q: use a positive duration like 30m, 2h or 1d",
						duration)
				}
				in.Duration = d
			}
			// Only a Slack lookup needs the tokens: the email, unless given.
			cfg, err := g.load(cmd.ErrOrStderr(), needs{slack: email == ""})
			if err != nil {
				return err
			}
			dir, err := explainDirectory(cfg, user, email)
			if err != nil {
				return err
			}
			in.Requester = policy.Identity{UserID: user, Email: email}
			if email == "" {
				if in.Requester.Email, err = dir.Email(cmd.Context(), user); err != nil {
					return fmt.Errorf("look up %s in Slack (or pass --email): %w", user, err)
				}
			}
			in.Now = time.Now()
			ex, err := cfg.Policy.Explain(cmd.Context(), dir, in)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), ex.String())
			return nil
		},
	}
	f := explain.Flags()
	f.StringVar(&user, "user", "", "Slack user id of the requester, e.g. U012AB3CD")
	f.StringVar(&email, "email", "", "the requester's email (skips the Slack lookup)")
	f.StringVar(&in.Resource, "resource", "", "resource name from the policy")
	f.StringVar(&in.Role, "role", "", "role name from the policy")
	f.StringVar(&duration, "duration", "", "duration asked for (default: the role's default)")
	f.StringVar(&in.Reason, "reason", "",
		"reason given, checked against the role's reason rules")
	f.BoolVar(&in.BreakGlass, "break-glass", false, "explain an emergency request")
	cmd.AddCommand(explain)
	return cmd
}

// missingFlags names, in order, the flags whose value is empty; each
// argument is a flag's name and value.
func missingFlags(flags ...[2]string) string {
	var out []string
	for _, f := range flags {
		if f[1] == "" {
			out = append(out, f[0])
		}
	}
	return strings.Join(out, ", ")
}

// explainDirectory returns the directory explain asks about people: Slack's
// Web API when the tokens are set, otherwise, with the requester's email
// given, one that knows only that email.
func explainDirectory(cfg *config.Config, user, email string) (policy.Directory, error) {
	dir, err := bot.New(bot.Options{AppToken: cfg.Slack.AppToken.Reveal(),
		BotToken: cfg.Slack.BotToken.Reveal(), APIURL: cfg.Slack.APIURL})
	if err != nil && email != "" {
		return givenEmail{user: user, email: email}, nil
	}
	return dir, err
}

// errNoSlack is the answer of a directory that cannot ask Slack.
var errNoSlack = errors.New("this policy names Slack user groups; set the bot token")

// givenEmail is the directory of an explain run without Slack: it knows
// the requester's email from the command line and no user group.
type givenEmail struct{ user, email string }

func (d givenEmail) Email(_ context.Context, userID string) (string, error) {
	if userID != d.user {
		return "", fmt.Errorf("email of %s: only --email's user is known without Slack; "+
			"set the bot token", userID)
	}
	return d.email, nil
}

func (d givenEmail) GroupMembers(context.Context, string) ([]string, error) {
	return nil, errNoSlack
}
