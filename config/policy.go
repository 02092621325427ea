package config

import (
	"errors"
	"fmt"
	"os"

	"gopkg.in/yaml.v3"

	"github.com/jitbot/jitbot/policy"
)

func (c *Config) loadPolicy(file string, inline yaml.Node) {
	c.PolicyFile = c.relative(file)
	hasInline := inline.Kind != 0
	switch {
	case c.PolicyFile != "" && hasInline:
		c.addf("policy_file", "set either policy_file or a policy section, not both")
		return
	case c.PolicyFile == "" && !hasInline:
		c.addf("policy", "missing: add a policy section or set policy_file")
		return
	}
	p, err := c.LoadPolicy()
	if err == nil {
		c.Policy = p
		return
	}
	var ve *policy.ValidationError
	if !errors.As(err, &ve) {
		c.addf("policy_file", "%v", err)
		return
	}
	for _, prob := range ve.Problems {
		c.addf(prefixed(prob.Field), "%s", prob.Message)
	}
}

func prefixed(field string) string {
	if field == "" {
		return "policy"
	}
	return "policy." + field
}

// PolicySource returns the file the policy is read from: PolicyFile, or the
// configuration file itself. Watch it to reload the policy.
func (c *Config) PolicySource() string {
	if c.PolicyFile != "" {
		return c.PolicyFile
	}
	return c.path
}

// LoadPolicy reads the policy afresh from PolicySource. Problems come back
// as a *policy.ValidationError whose fields are relative to the policy.
// Provider names are not checked; Check does that.
func (c *Config) LoadPolicy() (*policy.Policy, error) {
	b, err := os.ReadFile(c.PolicySource())
	if err != nil {
		return nil, fmt.Errorf("read policy %s: %w", c.PolicySource(), err)
	}
	if c.PolicyFile != "" {
		return policy.Parse(b)
	}
	var raw struct {
		Policy yaml.Node `yaml:"policy"`
	}
	if err := yaml.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("parse config %s: %w", c.path, err)
	}
	section, err := yaml.Marshal(&raw.Policy)
	if err != nil {
		return nil, fmt.Errorf("read policy section of %s: %w", c.path, err)
	}
	return policy.Parse(section)
}
