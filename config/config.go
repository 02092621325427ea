// Package config reads jitbot's configuration: one YAML file read with
// viper, with every scalar key overridable from the environment as JITBOT_
// plus the key path in upper case with dots as underscores (for example
// JITBOT_SLACK_BOT_TOKEN). Load reads, LoadFile reads without the
// environment, Check reports every problem at once.
// A Config is not modified after Load and is safe to share.
package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/viper"
	"gopkg.in/yaml.v3"

	"github.com/jitbot/jitbot/policy"
	"github.com/jitbot/jitbot/secret"
)

// Config is jitbot's whole configuration.
type Config struct {
	Slack     Slack
	Store     Store
	Log       Log
	Audit     Audit
	Digest    Digest
	Timers    Timers
	Providers map[string]ProviderConfig
	// PolicyFile, when set, is the file the policy is read from (and
	// watched); a relative path is taken from the config file's directory.
	// When empty the policy is the config file's policy section.
	PolicyFile string
	// Policy is the loaded policy, nil when it has problems (see Check).
	Policy *policy.Policy

	path     string
	problems []policy.Problem // found while loading, reported by Check
}

// Slack is how the bot reaches Slack.
type Slack struct {
	AppToken secret.Value // xapp-…, for Socket Mode
	BotToken secret.Value // xoxb-…, for the Web API
	// APIURL is the Web API base, always ending in a slash.
	APIURL        string
	AdminChannel  string
	ReviewChannel string
}

// Store is where state is kept.
type Store struct{ Path string }

// Log sets the log output.
type Log struct {
	Format string // json or console
	Level  string // a zerolog level name
}

// Audit sets where audit events are copied as JSON lines: empty for
// nowhere, "-" for standard output, otherwise a file path.
type Audit struct{ Sink string }

// Digest sets the weekly digest.
type Digest struct {
	Schedule string // standard five-field cron
	Timezone string
	Enabled  bool
}

// Timers bounds retries and external calls.
type Timers struct {
	RevokeRetryMin  time.Duration
	RevokeRetryMax  time.Duration
	ProviderTimeout time.Duration
	SlackTimeout    time.Duration
}

// ProviderConfig is one configured grant provider instance.
type ProviderConfig struct {
	Type     string
	Settings map[string]any
}

var defaults = map[string]any{
	"slack.app_token": "", "slack.app_token_file": "",
	"slack.bot_token": "", "slack.bot_token_file": "",
	"slack.api_url":       "https://slack.com/api/",
	"slack.admin_channel": "", "slack.review_channel": "",
	"store.path": "jitbot.db",
	"log.format": "json", "log.level": "info",
	"audit.sink":      "",
	"digest.schedule": "0 9 * * 1", "digest.timezone": "UTC", "digest.enabled": true,
	"timers.revoke_retry_min": "5s", "timers.revoke_retry_max": "5m",
	"timers.provider_timeout": "30s", "timers.slack_timeout": "10s",
	"policy_file": "",
}

// Load reads the configuration file at path and applies environment
// overrides. It fails only when the file cannot be read or parsed; every
// other problem is kept for Check.
func Load(path string) (*Config, error) { return load(path, true) }

// LoadFile reads the configuration file at path as Load does, but no JITBOT_
// environment variable overrides it: the file alone decides. Use it for a
// configuration that must not reach outside what it names, such as the
// demo's.
func LoadFile(path string) (*Config, error) { return load(path, false) }

func load(path string, fromEnv bool) (*Config, error) {
	v := viper.New()
	v.SetConfigFile(path)
	v.SetConfigType("yaml")
	if fromEnv {
		v.SetEnvPrefix("JITBOT")
		v.SetEnvKeyReplacer(strings.NewReplacer(".", "_"))
		v.AutomaticEnv()
	}
	for k, val := range defaults {
		v.SetDefault(k, val)
	}
	if err := v.ReadInConfig(); err != nil {
		return nil, fmt.Errorf("read config %s: %w", path, err)
	}
	raw, err := readRaw(path)
	if err != nil {
		return nil, err
	}

	c := &Config{path: path}
	c.problems = unknownKeys(v.AllKeys())
	c.loadSlack(v)
	c.Store.Path = v.GetString("store.path")
	c.Log = Log{Format: v.GetString("log.format"), Level: v.GetString("log.level")}
	c.Audit.Sink = v.GetString("audit.sink")
	c.Digest = Digest{
		Schedule: v.GetString("digest.schedule"),
		Timezone: v.GetString("digest.timezone"),
		Enabled:  v.GetBool("digest.enabled"),
	}
	c.loadTimers(v)
	c.Providers = raw.providers()
	c.loadPolicy(v.GetString("policy_file"), raw.Policy)
	return c, nil
}

// rawFile is the part of the file read without viper, which lower-cases
// keys: provider, resource, role and group names keep their case.
type rawFile struct {
	Providers map[string]struct {
		Type     string         `yaml:"type"`
		Settings map[string]any `yaml:"settings"`
	} `yaml:"providers"`
	Policy yaml.Node `yaml:"policy"`
}

func readRaw(path string) (rawFile, error) {
	var raw rawFile
	b, err := os.ReadFile(path)
	if err != nil {
		return raw, fmt.Errorf("read config %s: %w", path, err)
	}
	if err := yaml.Unmarshal(b, &raw); err != nil {
		return raw, fmt.Errorf("parse config %s: %w", path, err)
	}
	return raw, nil
}

func (r rawFile) providers() map[string]ProviderConfig {
	out := make(map[string]ProviderConfig, len(r.Providers))
	for name, p := range r.Providers {
		out[name] = ProviderConfig{Type: p.Type, Settings: p.Settings}
	}
	return out
}

func (c *Config) addf(field, format string, args ...any) {
	c.problems = append(c.problems, policy.Problem{
		Field: field, Message: fmt.Sprintf(format, args...),
	})
}

func (c *Config) loadSlack(v *viper.Viper) {
	c.Slack.APIURL = v.GetString("slack.api_url")
	if c.Slack.APIURL != "" && !strings.HasSuffix(c.Slack.APIURL, "/") {
		c.Slack.APIURL += "/"
	}
	c.Slack.AdminChannel = v.GetString("slack.admin_channel")
	c.Slack.ReviewChannel = v.GetString("slack.review_channel")
	c.Slack.AppToken = c.token(v, "slack.app_token")
	c.Slack.BotToken = c.token(v, "slack.bot_token")
}

func (c *Config) token(v *viper.Viper, key string) secret.Value {
	val, err := secret.Load(v.GetString(key), "", c.relative(v.GetString(key+"_file")))
	if errors.Is(err, secret.ErrConflict) {
		c.addf(key, "set either %s (or %s) or %s_file, not both", key, envName(key), key)
	} else if err != nil {
		c.addf(key+"_file", "%v", err)
	}
	return val
}

func envName(key string) string {
	return "JITBOT_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

func (c *Config) loadTimers(v *viper.Viper) {
	c.Timers = Timers{
		RevokeRetryMin:  c.duration(v, "timers.revoke_retry_min"),
		RevokeRetryMax:  c.duration(v, "timers.revoke_retry_max"),
		ProviderTimeout: c.duration(v, "timers.provider_timeout"),
		SlackTimeout:    c.duration(v, "timers.slack_timeout"),
	}
}

// duration parses a duration key; viper's own getter turns a typo into 0.
func (c *Config) duration(v *viper.Viper, key string) time.Duration {
	raw := v.GetString(key)
	d, err := time.ParseDuration(raw)
	if err != nil {
		c.addf(key, "%q is not a duration; write it like 30s or 5m", raw)
		return 0
	}
	if d <= 0 {
		c.addf(key, "must be greater than zero")
	}
	return d
}

// relative resolves p against the config file's directory.
func (c *Config) relative(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(filepath.Dir(c.path), p)
}

var knownKeys = func() map[string]bool {
	m := map[string]bool{}
	for k := range defaults {
		m[k] = true
	}
	return m
}()

func unknownKeys(keys []string) []policy.Problem {
	var out []policy.Problem
	for _, k := range keys {
		top, _, _ := strings.Cut(k, ".")
		if knownKeys[k] || top == "providers" || top == "policy" {
			continue
		}
		out = append(out, policy.Problem{Field: k, Message: "unknown key"})
	}
	return out
}
