package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/jitbot/jitbot/bot"
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
			if user == "" || in.Resource == "" || in.Role == "" {
				return fmt.Errorf("--user, --resource and --role are required")
			}
			if duration != "" {
				d, err := time.ParseDuration(duration)
				if err != nil || d <= 0 {
					return fmt.Errorf("--duration %q: use a positive duration like 30m or 2h", duration)
				}
				in.Duration = d
			}
			cfg, err := g.load(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			// The directory is Slack's Web API, for user groups and emails.
			dir, err := bot.New(bot.Options{AppToken: cfg.Slack.AppToken.Reveal(),
				BotToken: cfg.Slack.BotToken.Reveal(), APIURL: cfg.Slack.APIURL})
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
	f.BoolVar(&in.BreakGlass, "break-glass", false, "explain an emergency request")
	cmd.AddCommand(explain)
	return cmd
}
