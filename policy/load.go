package policy

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// The policy file as written. Durations stay strings so that a bad one is
// reported with its key path instead of failing the whole decode.
type document struct {
	Admins          []string               `yaml:"admins"`
	Groups          map[string][]string    `yaml:"groups"`
	HardCap         string                 `yaml:"hard_cap"`
	SecurityChannel string                 `yaml:"security_channel"`
	Defaults        settingsDoc            `yaml:"defaults"`
	Resources       map[string]resourceDoc `yaml:"resources"`
}

type settingsDoc struct {
	MinDuration     string `yaml:"min_duration"`
	MaxDuration     string `yaml:"max_duration"`
	DefaultDuration string `yaml:"default_duration"`
	ApprovalTimeout string `yaml:"approval_timeout"`
	WarnBefore      string `yaml:"warn_before"`
	RemindAfter     string `yaml:"remind_after"`
	EscalateAfter   string `yaml:"escalate_after"`
	// Approvals stays a node, Kind zero when unset: decoding into an int
	// would read 2.9 as 2.
	Approvals yaml.Node  `yaml:"approvals"`
	Channel   string     `yaml:"channel"`
	Reason    *reasonDoc `yaml:"reason"`
}

type reasonDoc struct {
	MinLength int    `yaml:"min_length"`
	Pattern   string `yaml:"pattern"`
	// Hint completes the pattern's message: "must match X, e.g. <hint>".
	Hint string `yaml:"hint"`
}

type resourceDoc struct {
	Description string             `yaml:"description"`
	Provider    string             `yaml:"provider"`
	Principal   string             `yaml:"principal"`
	Roles       map[string]roleDoc `yaml:"roles"`
}

type roleDoc struct {
	settingsDoc     `yaml:",inline"`
	Target          string         `yaml:"target"`
	Approvers       []string       `yaml:"approvers"`
	BackupApprovers []string       `yaml:"backup_approvers"`
	Requesters      []string       `yaml:"requesters"`
	AutoApprove     []autoDoc      `yaml:"auto_approve"`
	BreakGlass      *breakGlassDoc `yaml:"break_glass"`
}

type autoDoc struct {
	Name        string     `yaml:"name"`
	Requesters  []string   `yaml:"requesters"`
	MaxDuration string     `yaml:"max_duration"`
	Window      *windowDoc `yaml:"window"`
}

type windowDoc struct {
	Days     []string `yaml:"days"`
	Start    string   `yaml:"start"`
	End      string   `yaml:"end"`
	Timezone string   `yaml:"timezone"`
}

type breakGlassDoc struct {
	Enabled     bool   `yaml:"enabled"`
	MaxDuration string `yaml:"max_duration"`
	Channel     string `yaml:"channel"`
}

// Parse reads a policy from YAML. On any problem it returns a
// *ValidationError that lists every problem found, each with its key path.
// Provider names are not checked here; see Validate.
func Parse(data []byte) (*Policy, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, &ValidationError{Problems: []Problem{{Message: err.Error()}}}
	}
	lines := map[int]string{}
	var problems []Problem
	if len(root.Content) > 0 {
		problems = checkKeys(root.Content[0], "", policyShape, lines)
	}

	var doc document
	if err := root.Decode(&doc); err != nil {
		problems = append(problems, decodeProblems(err, lines)...)
	}
	var generic any
	if err := root.Decode(&generic); err != nil {
		problems = append(problems, decodeProblems(err, lines)...)
	}

	// Build even after decode problems: what did decode is still checked,
	// so one run reports everything.
	p, more := build(doc)
	if problems = dedupe(append(problems, more...)); len(problems) > 0 {
		return nil, &ValidationError{Problems: problems}
	}
	p.version = versionOf(generic)
	return p, nil
}

// FromMap reads a policy from a decoded tree, such as a viper sub-tree. It
// reports problems as Parse does. Note that viper lower-cases keys, so
// resource, role and group names read this way are lower case.
func FromMap(m map[string]any) (*Policy, error) {
	data, err := yaml.Marshal(m)
	if err != nil {
		return nil, &ValidationError{Problems: []Problem{{Message: err.Error()}}}
	}
	return Parse(data)
}

func versionOf(generic any) string {
	// encoding/json sorts map keys, which makes the form canonical.
	b, err := json.Marshal(generic)
	if err != nil {
		b = []byte(fmt.Sprint(generic))
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:6])
}

var typeErrLine = regexp.MustCompile(`^line (\d+): (.*)$`)

// decodeProblems turns yaml type errors into problems, naming the key path
// of the line each error is on where it is known.
func decodeProblems(err error, lines map[int]string) []Problem {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return []Problem{{Message: err.Error()}}
	}
	out := make([]Problem, 0, len(te.Errors))
	for _, msg := range te.Errors {
		p := Problem{Message: msg}
		if m := typeErrLine.FindStringSubmatch(msg); m != nil {
			n, _ := strconv.Atoi(m[1])
			if path, ok := lines[n]; ok {
				p = Problem{Field: path, Message: m[2]}
			}
		}
		out = append(out, p)
	}
	return out
}

// shape describes the keys a YAML node may have: fixed fields, any key
// with values of one shape, or a list of items of one shape. A nil shape
// accepts anything.
type shape struct {
	fields map[string]*shape
	each   *shape
	items  *shape
}

var (
	reasonShape = &shape{fields: map[string]*shape{
		"min_length": nil, "pattern": nil, "hint": nil,
	}}
	settingsFields = map[string]*shape{
		"min_duration": nil, "max_duration": nil, "default_duration": nil,
		"approval_timeout": nil,
		"approvals":        nil, "warn_before": nil, "remind_after": nil,
		"escalate_after": nil, "channel": nil, "reason": reasonShape,
	}
	windowShape = &shape{fields: map[string]*shape{
		"days": nil, "start": nil, "end": nil, "timezone": nil,
	}}
	autoShape = &shape{fields: map[string]*shape{
		"name": nil, "requesters": nil, "max_duration": nil, "window": windowShape,
	}}
	roleShape = &shape{fields: merge(settingsFields, map[string]*shape{
		"target": nil, "approvers": nil, "backup_approvers": nil,
		"requesters": nil, "auto_approve": {items: autoShape},
		"break_glass": {fields: map[string]*shape{
			"enabled": nil, "max_duration": nil, "channel": nil,
		}},
	})}
	resourceShape = &shape{fields: map[string]*shape{
		"description": nil, "provider": nil, "principal": nil,
		"roles": {each: roleShape},
	}}
	policyShape = &shape{fields: map[string]*shape{
		"admins": nil, "groups": nil, "hard_cap": nil, "security_channel": nil,
		"defaults":  {fields: settingsFields},
		"resources": {each: resourceShape},
	}}
)

func merge(a, b map[string]*shape) map[string]*shape {
	out := make(map[string]*shape, len(a)+len(b))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

// checkKeys reports keys the shape does not know, and records the key path
// of each line so that decode errors can name it.
func checkKeys(n *yaml.Node, path string, s *shape, lines map[int]string) []Problem {
	if _, ok := lines[n.Line]; !ok && path != "" {
		lines[n.Line] = path
	}
	if s == nil {
		return nil
	}
	var out []Problem
	switch {
	case n.Kind == yaml.MappingNode && (s.fields != nil || s.each != nil):
		for i := 0; i+1 < len(n.Content); i += 2 {
			key, val := n.Content[i].Value, n.Content[i+1]
			sub := s.each
			if s.fields != nil {
				var ok bool
				if sub, ok = s.fields[key]; !ok {
					out = append(out, Problem{Field: join(path, key), Message: "unknown key"})
					continue
				}
			}
			lines[n.Content[i].Line] = join(path, key)
			out = append(out, checkKeys(val, join(path, key), sub, lines)...)
		}
	case n.Kind == yaml.SequenceNode && s.items != nil:
		for i, item := range n.Content {
			out = append(out, checkKeys(item, fmt.Sprintf("%s[%d]", path, i), s.items, lines)...)
		}
	}
	return out
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// describeRefs renders refs for messages.
func describeRefs(refs []Ref) string {
	s := make([]string, len(refs))
	for i, r := range refs {
		s[i] = string(r)
	}
	return strings.Join(s, ", ")
}
