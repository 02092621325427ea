package bot

import (
	"encoding/json"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/slack-go/slack"

	"github.com/jitbot/jitbot/access"
	"github.com/jitbot/jitbot/policy"
)

// The request modal's callback id, block ids and action ids. Each input
// block holds one element whose action id equals the block id.
const (
	modalCallback = "jit_request"
	blkTarget     = "target"
	blkDuration   = "duration"
	blkReason     = "reason"
	blkBreakGlass = "breakglass"
)

// modalMeta travels in the modal's private_metadata.
type modalMeta struct {
	// Channel is where the user started, for the reply.
	Channel string `json:"c,omitempty"`
	// Extends is the grant an extension request would extend.
	Extends string `json:"x,omitempty"`
}

// prefill is what the modal starts with, for an extension.
type prefill struct {
	Resource, Role, Duration string
}

// requestModal builds the request form. ok is false when the catalog is
// empty and there is nothing to ask for.
func requestModal(catalog map[string][]string, meta modalMeta, pre prefill) (
	slack.ModalViewRequest, bool,
) {
	sel, ok := targetSelect(catalog, pre)
	if !ok {
		return slack.ModalViewRequest{}, false
	}
	metaJSON, _ := json.Marshal(meta)

	dur := slack.NewPlainTextInputBlockElement(
		plain("e.g. 90m, 2h or 1d; empty for the default", 150), blkDuration)
	dur.InitialValue = pre.Duration
	dur.MaxLength = 16
	reason := slack.NewPlainTextInputBlockElement(
		plain("What you will do, and the ticket if there is one", 150), blkReason)
	reason.Multiline = true
	reason.MaxLength = maxReason
	glass := slack.NewCheckboxGroupsBlockElement(blkBreakGlass,
		slack.NewOptionBlockObject("yes",
			plain("Break glass: emergency access now, reviewed afterwards", 75),
			nil))

	durBlock := slack.NewInputBlock(blkDuration, plain("Duration", 2000), nil, dur)
	durBlock.Optional = true
	glassBlock := slack.NewInputBlock(blkBreakGlass, plain("Emergency", 2000), nil, glass)
	glassBlock.Optional = true
	blocks := []slack.Block{
		slack.NewInputBlock(blkTarget, plain("Resource / role", 2000), nil, sel),
		durBlock,
		slack.NewInputBlock(blkReason, plain("Reason", 2000), nil, reason),
	}
	if meta.Extends == "" {
		blocks = append(blocks, glassBlock)
	}
	title := "Request access"
	if meta.Extends != "" {
		title = "Extend access"
	}
	return slack.ModalViewRequest{
		Type:            slack.VTModal,
		Title:           plain(title, 24),
		Submit:          plain("Request", 24),
		Close:           plain("Cancel", 24),
		CallbackID:      modalCallback,
		PrivateMetadata: string(metaJSON),
		Blocks:          slack.Blocks{BlockSet: blocks},
	}, true
}

// targetSelect offers every resource as an option group of its roles.
// Slack allows 100 groups of 100 options; the rest is left out.
func targetSelect(catalog map[string][]string, pre prefill) (
	*slack.SelectBlockElement, bool,
) {
	resources := make([]string, 0, len(catalog))
	for r := range catalog {
		resources = append(resources, r)
	}
	sort.Strings(resources)

	var groups []*slack.OptionGroupBlockObject
	var initial *slack.OptionBlockObject
	for _, res := range resources {
		var opts []*slack.OptionBlockObject
		for _, role := range catalog[res] {
			val := targetValue(res, role)
			if len(val) > maxOptionValue || len(opts) == maxOptions {
				continue
			}
			opt := slack.NewOptionBlockObject(val,
				plain(res+" / "+role, maxOptionText), nil)
			opts = append(opts, opt)
			if res == pre.Resource && role == pre.Role {
				initial = opt
			}
		}
		if len(opts) > 0 && len(groups) < maxOptions {
			groups = append(groups, slack.NewOptionGroupBlockElement(
				plain(res, maxOptionText), opts...))
		}
	}
	if len(groups) == 0 {
		return nil, false
	}
	sel := slack.NewOptionsGroupSelectBlockElement(slack.OptTypeStatic,
		plain("Choose what you need", 150), blkTarget, groups...)
	sel.InitialOption = initial
	return sel, true
}

func targetValue(resource, role string) string {
	b, _ := json.Marshal([2]string{resource, role})
	return string(b)
}

func splitTarget(v string) (resource, role string, ok bool) {
	var pair [2]string
	if err := json.Unmarshal([]byte(v), &pair); err != nil {
		return "", "", false
	}
	return pair[0], pair[1], pair[0] != "" && pair[1] != ""
}

// readSubmission turns a submitted request modal into a SubmitInput. The
// returned map names, by block id, what cannot be read at all.
func readSubmission(cb slack.InteractionCallback) (
	access.SubmitInput, modalMeta, map[string]string,
) {
	var meta modalMeta
	_ = json.Unmarshal([]byte(cb.View.PrivateMetadata), &meta)
	in := access.SubmitInput{User: cb.User.ID, ExtendsGrant: meta.Extends}
	bad := map[string]string{}
	if cb.View.State == nil {
		bad[blkTarget] = "Choose a resource and role."
		return in, meta, bad
	}
	vals := cb.View.State.Values

	res, role, ok := splitTarget(vals[blkTarget][blkTarget].SelectedOption.Value)
	if !ok {
		bad[blkTarget] = "Choose a resource and role."
	}
	in.Resource, in.Role = res, role

	if d := strings.TrimSpace(vals[blkDuration][blkDuration].Value); d != "" {
		dur, problem := parseDuration(d)
		if problem != "" {
			bad[blkDuration] = problem
		}
		in.Duration = dur
	}
	in.Reason = strings.TrimSpace(vals[blkReason][blkReason].Value)
	in.BreakGlass = len(vals[blkBreakGlass][blkBreakGlass].SelectedOptions) > 0
	return in, meta, bad
}

// problemBlock says which modal block a policy problem belongs to.
func problemBlock(p policy.Problem) string {
	f := strings.ToLower(p.Field)
	switch {
	case strings.Contains(f, "duration"):
		return blkDuration
	case strings.Contains(f, "reason"):
		return blkReason
	case strings.Contains(f, "break"):
		return blkBreakGlass
	}
	return blkTarget
}

// modalErrors merges read failures and policy problems into the per-block
// errors Slack shows under each field. Each problem is its own sentence.
func modalErrors(
	bad map[string]string,
	problems []policy.Problem,
	glass bool,
) map[string]string {
	out := map[string]string{}
	for k, v := range bad {
		out[k] = v
	}
	for _, p := range problems {
		blk := problemBlock(p)
		if blk == blkBreakGlass && !glass {
			blk = blkTarget
		}
		if prev, ok := out[blk]; ok {
			out[blk] = cut(prev+" "+sentence(p.Message), 150)
			continue
		}
		out[blk] = cut(sentence(p.Message), 150)
	}
	return out
}

// sentence makes a policy message, a lowercase phrase, read as a sentence
// of its own: capitalised and closed with a full stop.
func sentence(msg string) string {
	msg = strings.TrimSpace(msg)
	first, size := utf8.DecodeRuneInString(msg)
	if size == 0 {
		return msg
	}
	msg = string(unicode.ToUpper(first)) + msg[size:]
	if !strings.HasSuffix(msg, ".") && !strings.HasSuffix(msg, "?") {
		msg += "."
	}
	return msg
}
