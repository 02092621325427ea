package slackfake

import (
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// Limits Slack documents for Block Kit, messages and modals.
const (
	maxMessageText   = 40000 // chat.postMessage truncates past this
	maxUpdateText    = 4000  // chat.update answers msg_too_long past this
	maxMessageBlocks = 50
	maxModalBlocks   = 100
	maxBlockID       = 255
	maxActionID      = 255
	maxSectionText   = 3000
	maxSectionFields = 10
	maxFieldText     = 2000
	maxHeaderText    = 150
	maxLabelText     = 2000
	maxMarkdownText  = 12000
	maxTextObject    = 3000
	maxActions       = 25
	maxContextItems  = 10
	maxButtonText    = 75
	maxButtonValue   = 2000
	maxButtonURL     = 3000
	maxPlaceholder   = 150
	maxSelectOptions = 100
	maxOverflowOpts  = 5
	maxChoiceOptions = 10 // checkboxes and radio buttons
	maxOptionText    = 75
	maxOptionValue   = 150
	maxConfirmTitle  = 100
	maxConfirmText   = 300
	maxConfirmButton = 30
	maxModalTitle    = 24
	maxModalButton   = 24 // close and submit
	maxPrivateMeta   = 3000
	maxCallbackID    = 255
	maxInputLength   = 3000 // plain_text_input min_length and max_length
)

// validator collects Block Kit violations as Slack reports them:
// "[ERROR] <what> [json-pointer:<where>]".
type validator struct {
	errs []string
}

func (v *validator) fail(path, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	v.errs = append(v.errs, fmt.Sprintf("[ERROR] %s [json-pointer:%s]", msg, path))
}

// checkMessageBlocks validates a message's blocks argument. It returns ""
// when the blocks are fine (or absent), invalid_blocks_format when they do
// not parse, and invalid_blocks with the violations otherwise.
func checkMessageBlocks(raw string) (string, []string) {
	if raw == "" {
		return "", nil
	}
	var blocks []any
	if err := json.Unmarshal([]byte(raw), &blocks); err != nil {
		return "invalid_blocks_format", nil
	}
	v := &validator{}
	v.blocks("/blocks", blocks, maxMessageBlocks)
	if len(v.errs) > 0 {
		return "invalid_blocks", v.errs
	}
	return "", nil
}

// checkView validates a modal view and returns its violations.
func checkView(view map[string]any) []string {
	v := &validator{}
	if view["type"] != "modal" {
		v.fail("/view/type", "must be modal")
	}
	v.text("/view/title", view["title"], maxModalTitle, true)
	v.text("/view/close", view["close"], maxModalButton, false)
	v.text("/view/submit", view["submit"], maxModalButton, false)
	v.length("/view/private_metadata", view["private_metadata"], maxPrivateMeta)
	v.length("/view/callback_id", view["callback_id"], maxCallbackID)
	blocks, _ := view["blocks"].([]any)
	v.blocks("/view/blocks", blocks, maxModalBlocks)
	if view["submit"] == nil && hasInput(blocks) {
		v.fail("/view/submit", "is required when an input block is present")
	}
	return v.errs
}

func hasInput(blocks []any) bool {
	for _, b := range blocks {
		if m, _ := b.(map[string]any); m["type"] == "input" {
			return true
		}
	}
	return false
}

func (v *validator) blocks(path string, blocks []any, limit int) {
	if len(blocks) > limit {
		v.fail(path, "no more than %d items allowed", limit)
	}
	for i, b := range blocks {
		m, isObj := b.(map[string]any)
		p := fmt.Sprintf("%s/%d", path, i)
		if !isObj {
			v.fail(p, "must be an object")
			continue
		}
		v.block(p, m)
	}
}

func (v *validator) block(path string, b map[string]any) {
	v.length(path+"/block_id", b["block_id"], maxBlockID)
	switch b["type"] {
	case "section":
		v.section(path, b)
	case "header":
		v.text(path+"/text", b["text"], maxHeaderText, true)
	case "actions":
		v.elements(path+"/elements", b["elements"], maxActions)
	case "context":
		v.context(path, b)
	case "input":
		v.text(path+"/label", b["label"], maxLabelText, true)
		el, _ := b["element"].(map[string]any)
		if el == nil {
			v.fail(path+"/element", "is required")
			return
		}
		v.element(path+"/element", el)
	case "markdown":
		v.length(path+"/text", b["text"], maxMarkdownText)
	case "divider", "image", "rich_text", "file", "video":
	default:
		v.fail(path+"/type", "unsupported block type %v", b["type"])
	}
}

func (v *validator) section(path string, b map[string]any) {
	fields, _ := b["fields"].([]any)
	if b["text"] == nil && len(fields) == 0 {
		v.fail(path, "must have text or fields")
	}
	v.text(path+"/text", b["text"], maxSectionText, false)
	if len(fields) > maxSectionFields {
		v.fail(path+"/fields", "no more than %d items allowed", maxSectionFields)
	}
	for i, f := range fields {
		v.text(fmt.Sprintf("%s/fields/%d", path, i), f, maxFieldText, true)
	}
	if acc, _ := b["accessory"].(map[string]any); acc != nil {
		v.element(path+"/accessory", acc)
	}
}

func (v *validator) context(path string, b map[string]any) {
	items, _ := b["elements"].([]any)
	if len(items) == 0 || len(items) > maxContextItems {
		v.fail(path+"/elements", "must have 1 to %d items", maxContextItems)
	}
	for i, it := range items {
		m, _ := it.(map[string]any)
		if m["type"] == "image" {
			continue
		}
		v.text(fmt.Sprintf("%s/elements/%d", path, i), it, maxTextObject, true)
	}
}

func (v *validator) elements(path string, raw any, limit int) {
	els, _ := raw.([]any)
	if len(els) == 0 || len(els) > limit {
		v.fail(path, "must have 1 to %d items", limit)
	}
	for i, e := range els {
		m, _ := e.(map[string]any)
		v.element(fmt.Sprintf("%s/%d", path, i), m)
	}
}

func (v *validator) element(path string, e map[string]any) {
	v.length(path+"/action_id", e["action_id"], maxActionID)
	if c, _ := e["confirm"].(map[string]any); c != nil {
		v.confirm(path+"/confirm", c)
	}
	switch e["type"] {
	case "button":
		v.text(path+"/text", e["text"], maxButtonText, true)
		v.length(path+"/value", e["value"], maxButtonValue)
		v.length(path+"/url", e["url"], maxButtonURL)
	case "static_select", "multi_static_select":
		v.text(path+"/placeholder", e["placeholder"], maxPlaceholder, false)
		v.options(path+"/options", e["options"], maxSelectOptions)
	case "overflow":
		v.options(path+"/options", e["options"], maxOverflowOpts)
	case "checkboxes", "radio_buttons":
		v.options(path+"/options", e["options"], maxChoiceOptions)
	case "plain_text_input":
		v.between(path+"/max_length", e["max_length"], 1, maxInputLength)
		v.between(path+"/min_length", e["min_length"], 0, maxInputLength)
	case nil:
		v.fail(path+"/type", "is required")
	}
}

func (v *validator) options(path string, raw any, limit int) {
	opts, _ := raw.([]any)
	if len(opts) > limit {
		v.fail(path, "no more than %d items allowed", limit)
	}
	for i, o := range opts {
		m, _ := o.(map[string]any)
		p := fmt.Sprintf("%s/%d", path, i)
		v.text(p+"/text", m["text"], maxOptionText, true)
		v.text(p+"/description", m["description"], maxOptionText, false)
		v.length(p+"/value", m["value"], maxOptionValue)
	}
}

func (v *validator) confirm(path string, c map[string]any) {
	v.text(path+"/title", c["title"], maxConfirmTitle, true)
	v.text(path+"/text", c["text"], maxConfirmText, true)
	v.text(path+"/confirm", c["confirm"], maxConfirmButton, true)
	v.text(path+"/deny", c["deny"], maxConfirmButton, true)
}

// text checks a text object: its type, and a text of 1 to limit characters.
func (v *validator) text(path string, raw any, limit int, required bool) {
	if raw == nil {
		if required {
			v.fail(path, "is required")
		}
		return
	}
	obj, _ := raw.(map[string]any)
	if t := obj["type"]; t != "plain_text" && t != "mrkdwn" {
		v.fail(path+"/type", "must be plain_text or mrkdwn")
	}
	s, _ := obj["text"].(string)
	n := utf8.RuneCountInString(s)
	if n < 1 || n > limit {
		v.fail(path+"/text", "must be 1 to %d characters, got %d", limit, n)
	}
}

// length checks an optional string of at most limit characters.
func (v *validator) length(path string, raw any, limit int) {
	s, _ := raw.(string)
	if n := utf8.RuneCountInString(s); n > limit {
		v.fail(path, "must be at most %d characters, got %d", limit, n)
	}
}

// between checks an optional number lies in [lo, hi].
func (v *validator) between(path string, raw any, lo, hi float64) {
	n, isNum := raw.(float64)
	if isNum && (n < lo || n > hi) {
		v.fail(path, "must be between %v and %v", lo, hi)
	}
}

// textOf returns the text of a text object, or "".
func textOf(raw any) string {
	obj, _ := raw.(map[string]any)
	s, _ := obj["text"].(string)
	return s
}
