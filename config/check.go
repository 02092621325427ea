package config

import (
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	"github.com/rs/zerolog"

	"github.com/jitbot/jitbot/policy"
)

// Check returns every problem of the configuration, each with its key path:
// Slack tokens, URLs, log settings, the digest schedule, providers whose
// type is not in knownProviderTypes, and the policy (fields prefixed with
// "policy."), including resources naming a provider that is not configured.
// An empty result means the configuration is usable.
func (c *Config) Check(knownProviderTypes []string) []policy.Problem {
	out := append([]policy.Problem(nil), c.problems...)
	add := func(field, format string, args ...any) {
		out = append(out, policy.Problem{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	c.checkTokens(add)
	c.checkSlack(add)
	c.checkLog(add)
	c.checkDigest(add)
	if c.Timers.RevokeRetryMax < c.Timers.RevokeRetryMin {
		add("timers.revoke_retry_max", "must not be shorter than revoke_retry_min")
	}
	c.checkProviders(knownProviderTypes, add)
	if c.Policy != nil {
		names := make(map[string]bool, len(c.Providers))
		for name := range c.Providers {
			names[name] = true
		}
		for _, p := range c.Policy.Validate(names) {
			add(prefixed(p.Field), "%s", p.Message)
		}
	}
	return out
}

type adder func(field, format string, args ...any)

func (c *Config) checkTokens(add adder) {
	tokens := []struct {
		key, prefix, what string
		set               bool
		startsWell        bool
	}{
		{"slack.app_token", "xapp-", "the app-level token (Basic Information, App-Level Tokens, " +
			"scope connections:write)", !c.Slack.AppToken.IsZero(),
			strings.HasPrefix(c.Slack.AppToken.Reveal(), "xapp-")},
		{"slack.bot_token", "xoxb-", "the Bot User OAuth Token (OAuth & Permissions)",
			!c.Slack.BotToken.IsZero(), strings.HasPrefix(c.Slack.BotToken.Reveal(), "xoxb-")},
	}
	for _, t := range tokens {
		if c.reported(t.key) {
			continue
		}
		how := fmt.Sprintf("set %s or %s_file", envName(t.key), t.key)
		switch {
		case !t.set:
			add(t.key, "missing: %s; %s", how, t.what)
		case !t.startsWell:
			add(t.key, "malformed: must start with %s, it should be %s; %s",
				t.prefix, t.what, how)
		}
	}
}

// reported says whether loading already found a problem with key.
func (c *Config) reported(key string) bool {
	for _, p := range c.problems {
		if p.Field == key {
			return true
		}
	}
	return false
}

func (c *Config) checkSlack(add adder) {
	u, err := url.Parse(c.Slack.APIURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		add("slack.api_url", "%q is not an http(s) URL", c.Slack.APIURL)
	}
	if c.Store.Path == "" {
		add("store.path", "missing: the path of the state file")
	}
}

func (c *Config) checkLog(add adder) {
	if c.Log.Format != "json" && c.Log.Format != "console" {
		add("log.format", "unknown format %q; use json or console", c.Log.Format)
	}
	if _, err := zerolog.ParseLevel(c.Log.Level); err != nil || c.Log.Level == "" {
		add("log.level", "unknown level %q; use debug, info, warn or error", c.Log.Level)
	}
}

func (c *Config) checkDigest(add adder) {
	if _, err := cron.ParseStandard(c.Digest.Schedule); err != nil {
		add("digest.schedule", "%q is not a five-field cron schedule: %v",
			c.Digest.Schedule, err)
	}
	if _, err := time.LoadLocation(c.Digest.Timezone); err != nil {
		add("digest.timezone", "unknown time zone %q; use an IANA name such as Europe/Berlin",
			c.Digest.Timezone)
	}
}

func (c *Config) checkProviders(known []string, add adder) {
	sorted := slices.Sorted(slices.Values(known))
	names := make([]string, 0, len(c.Providers))
	for name := range c.Providers {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		p := c.Providers[name]
		switch {
		case p.Type == "":
			add("providers."+name+".type", "missing; known types: %s", strings.Join(sorted, ", "))
		case !slices.Contains(known, p.Type):
			add("providers."+name+".type", "unknown provider type %q; known types: %s",
				p.Type, strings.Join(sorted, ", "))
		}
	}
}
