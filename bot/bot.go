// Package bot is jitbot's Slack adapter: the Socket Mode loop, /jit command
// parsing, the request modal, Block Kit rendering, notices, and the
// Slack-backed directory of user groups and emails. It knows nothing of
// storage or grant providers; it talks to the lifecycle core through Core.
//
// A Bot is safe for concurrent use: Run owns the connection and a bounded
// pool of workers, while the Notifier and Directory methods may be called
// from any goroutine.
package bot

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/rs/zerolog"
	"github.com/slack-go/slack"

	"github.com/jitbot/jitbot/access"
	"github.com/jitbot/jitbot/policy"
	"github.com/jitbot/jitbot/store"
)

// Core is what the bot needs from the lifecycle core. access.Service
// implements it.
type Core interface {
	// Validate checks an input without touching the network: the resource
	// and role are known, the duration fits, the reason follows the rules.
	Validate(in access.SubmitInput) []policy.Problem
	Submit(ctx context.Context, in access.SubmitInput) (store.Request, error)
	Decide(ctx context.Context, requestID, actor string, approve bool) (store.Request, error)
	Cancel(ctx context.Context, requestID, actor string) (store.Request, error)
	Release(ctx context.Context, grantID, actor string) (store.Grant, error)
	Acknowledge(ctx context.Context, grantID, actor string) (store.Grant, error)
	Mine(ctx context.Context, user string) ([]store.Request, []store.Grant, error)
	// Catalog maps each resource to its roles.
	Catalog() map[string][]string
}

// Options configure a Bot. Zero values take the defaults noted per field.
type Options struct {
	// AppToken (xapp-) opens the Socket Mode connection; BotToken (xoxb-)
	// calls the Web API. Both are required.
	AppToken, BotToken string
	// APIURL is the Web API base URL, ending in a slash; empty means Slack's.
	APIURL string
	// Command is the slash command the bot answers; default "/jit".
	Command string
	Log     zerolog.Logger
	// Clock defaults to the real clock.
	Clock clockwork.Clock
	// Timeout bounds each Web API call; default 10s.
	Timeout time.Duration
	// Workers bounds the background work running at once; default 8.
	Workers int
	// AdminChannel receives notices that have no better home.
	AdminChannel string
	// ReviewChannel receives /jit review when the channel it was typed in
	// cannot take it; empty means AdminChannel.
	ReviewChannel string
	// Reviewer builds /jit review; nil answers that reviews are not set up.
	Reviewer Reviewer
	// GroupTTL and UserTTL bound how long user group members and user
	// emails are cached; default 1m and 1h.
	GroupTTL, UserTTL time.Duration
}

// Bot is the Slack adapter. Create it with New, then call Run once.
type Bot struct {
	opts  Options
	api   *slack.Client
	log   zerolog.Logger
	clock clockwork.Clock

	seen   *recentIDs
	groups *ttlCache[[]string]
	emails *ttlCache[string]

	mu   sync.Mutex
	core Core
}

var (
	_ access.Notifier  = (*Bot)(nil)
	_ policy.Directory = (*Bot)(nil)
)

// New checks opts and returns a Bot. It makes no network call.
func New(opts Options) (*Bot, error) {
	if err := checkTokens(opts.AppToken, opts.BotToken); err != nil {
		return nil, err
	}
	opts = withDefaults(opts)

	apiOpts := []slack.Option{slack.OptionAppLevelToken(opts.AppToken)}
	if opts.APIURL != "" {
		apiOpts = append(apiOpts, slack.OptionAPIURL(opts.APIURL))
	}
	b := &Bot{
		opts:   opts,
		api:    slack.New(opts.BotToken, apiOpts...),
		log:    opts.Log.With().Str("component", "bot").Logger(),
		clock:  opts.Clock,
		seen:   newRecentIDs(512),
		groups: newTTLCache[[]string](opts.Clock, opts.GroupTTL),
		emails: newTTLCache[string](opts.Clock, opts.UserTTL),
	}
	return b, nil
}

func withDefaults(opts Options) Options {
	if opts.Command == "" {
		opts.Command = "/jit"
	}
	if opts.Clock == nil {
		opts.Clock = clockwork.NewRealClock()
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	if opts.Workers <= 0 {
		opts.Workers = 8
	}
	if opts.GroupTTL <= 0 {
		opts.GroupTTL = time.Minute
	}
	if opts.UserTTL <= 0 {
		opts.UserTTL = time.Hour
	}
	return opts
}

// checkTokens says which token is missing or malformed and how to set it,
// without ever repeating the token itself.
func checkTokens(app, bot string) error {
	var errs []error
	switch {
	case app == "":
		errs = append(errs, errors.New("slack app token is missing: "+
			"set JITBOT_SLACK_APP_TOKEN to the app-level token (xapp-...)"))
	case !strings.HasPrefix(app, "xapp-"):
		errs = append(errs, errors.New("slack app token is malformed: "+
			"JITBOT_SLACK_APP_TOKEN must start with xapp-"))
	}
	switch {
	case bot == "":
		errs = append(errs, errors.New("slack bot token is missing: "+
			"set JITBOT_SLACK_BOT_TOKEN to the bot token (xoxb-...)"))
	case !strings.HasPrefix(bot, "xoxb-"):
		errs = append(errs, errors.New("slack bot token is malformed: "+
			"JITBOT_SLACK_BOT_TOKEN must start with xoxb-"))
	}
	if len(errs) > 0 {
		return fmt.Errorf("configure slack: %w", errors.Join(errs...))
	}
	return nil
}

func (b *Bot) setCore(c Core) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.core = c
}

func (b *Bot) getCore() Core {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.core
}
