package bot

import (
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode"

	"github.com/jitbot/jitbot/policy"
)

// Sub-commands of /jit.
const (
	cmdHelp       = "help"
	cmdRequest    = "request"
	cmdBreakGlass = "breakglass"
	cmdList       = "list"
	cmdRevoke     = "revoke"
	cmdCancel     = "cancel"
	cmdAck        = "ack"
	cmdReview     = "review"
)

// usage is the one-line synopsis of each sub-command, without the command.
var usage = map[string]string{
	cmdHelp:       "help",
	cmdRequest:    "request <resource> <role> <duration> <reason…>",
	cmdBreakGlass: "breakglass <resource> <role> <duration> <reason…>",
	cmdList:       "list",
	cmdRevoke:     "revoke <grant-id>",
	cmdCancel:     "cancel <request-id>",
	cmdAck:        "ack <grant-id>",
	cmdReview:     "review",
}

// usageOrder lists the sub-commands as help shows them.
var usageOrder = []string{
	cmdRequest, cmdBreakGlass, cmdList, cmdRevoke, cmdCancel, cmdAck, cmdReview, cmdHelp,
}

// command is one parsed /jit invocation.
type command struct {
	Sub string
	// Modal is set for a bare "request": open the form instead.
	Modal    bool
	Resource string
	Role     string
	Duration time.Duration
	Reason   string
	// ID is the request or grant id of revoke, cancel and ack.
	ID string
}

// usageError is input the bot cannot read; Problem names what is wrong
// and Sub which usage line to show ("" for the list of all).
type usageError struct {
	Sub     string
	Problem string
}

func (e *usageError) Error() string { return e.Problem }

// parseCommand reads the text after the slash command. Slack may send it
// with entities escaped (&amp; &lt; &gt;) and with users, channels and
// links as <...> sequences; quotes, smart or plain, may surround words.
func parseCommand(text string) (command, error) {
	words := splitWords(unescapeSlack(text))
	if len(words) == 0 {
		return command{Sub: cmdHelp}, nil
	}
	sub := strings.ToLower(words[0])
	args := words[1:]
	switch sub {
	case cmdHelp, cmdList, cmdReview:
		return command{Sub: sub}, nil
	case cmdRequest, cmdBreakGlass:
		return parseRequest(sub, args)
	case cmdRevoke, cmdCancel, cmdAck:
		return parseID(sub, args)
	}
	return command{}, &usageError{
		Problem: fmt.Sprintf("Unknown sub-command %q.", words[0]),
	}
}

func parseRequest(sub string, args []string) (command, error) {
	if sub == cmdRequest && len(args) == 0 {
		return command{Sub: sub, Modal: true}, nil
	}
	names := []string{"resource", "role", "duration", "reason"}
	if len(args) < len(names) {
		return command{}, &usageError{Sub: sub,
			Problem: "Missing " + names[len(args)] + "."}
	}
	d, problem := parseDuration(args[2])
	if problem != "" {
		return command{}, &usageError{Sub: sub, Problem: problem}
	}
	return command{
		Sub:      sub,
		Resource: args[0],
		Role:     args[1],
		Duration: d,
		Reason:   strings.Join(args[3:], " "),
	}, nil
}

// idForm is the shape of the ids jitbot hands out: r_ for requests, g_
// for grants, then a short code.
var idForm = regexp.MustCompile(`^[rg]_[a-z0-9]{1,32}$`)

func parseID(sub string, args []string) (command, error) {
	what, prefix, example := "grant id", "g_", "g_x7kq2m4n9a"
	if sub == cmdCancel {
		what, prefix, example = "request id", "r_", "r_x7kq2m4n9a"
	}
	switch {
	case len(args) == 0:
		return command{}, &usageError{Sub: sub, Problem: "Missing " + what + "."}
	case len(args) > 1:
		return command{}, &usageError{Sub: sub,
			Problem: "Give exactly one " + what + "."}
	}
	id := strings.ToLower(strings.Trim(args[0], "`"))
	if !idForm.MatchString(id) || !strings.HasPrefix(id, prefix) {
		return command{}, &usageError{Sub: sub, Problem: fmt.Sprintf(
			"%s is not a %s: %ss look like %s.", quoteInput(args[0]), what, what, example)}
	}
	return command{Sub: sub, ID: id}, nil
}

// quoteInput quotes what a user typed for a message, cut short: the input
// may be any length.
func quoteInput(s string) string {
	return fmt.Sprintf("%q", cut(s, 24))
}

var bareNumber = regexp.MustCompile(`^[0-9]{1,6}(\.[0-9]+)?$`)

// parseDuration reads durations as the policy does: whole days, hours,
// minutes and seconds in that order, like 90m, 2h, 1d or 1d2h30m. A number
// without a unit is refused rather than guessed, and so is a negative part,
// a fraction or any other unit. A non-empty problem says, for the user,
// what is wrong.
func parseDuration(s string) (d time.Duration, problem string) {
	if bareNumber.MatchString(s) {
		return 0, fmt.Sprintf("Duration %q has no unit: use a unit, e.g. %sm.", s, s)
	}
	if strings.Contains(s, "-") {
		return 0, fmt.Sprintf("Duration %s must be more than zero, with no negative part.",
			quoteInput(s))
	}
	d, err := policy.ParseDuration(s)
	if err != nil {
		return 0, fmt.Sprintf("Cannot read duration %s: write it like 90m, 2h, 1d or 1d2h30m.",
			quoteInput(s))
	}
	if d <= 0 {
		return 0, fmt.Sprintf("Duration %q must be more than zero.", s)
	}
	return d, ""
}

// quotePairs maps each opening quote to the closing quotes that end it.
var quotePairs = map[rune]string{
	'"': `"`, '\'': `'`,
	'“': `”“"`, '”': `”“"`, '„': `“”"`,
	'‘': `’‘'`, '’': `’‘'`, '«': `»`, '»': `«`,
}

// splitWords splits on runs of white space. A word that starts with a
// quote runs to the matching closing quote, spaces included; the quotes
// are dropped.
func splitWords(s string) []string {
	var words []string
	rs := []rune(s)
	for i := 0; i < len(rs); {
		if unicode.IsSpace(rs[i]) {
			i++
			continue
		}
		word, next := readWord(rs, i)
		if word != "" {
			words = append(words, word)
		}
		i = next
	}
	return words
}

func readWord(rs []rune, i int) (string, int) {
	if closers, ok := quotePairs[rs[i]]; ok {
		for j := i + 1; j < len(rs); j++ {
			if strings.ContainsRune(closers, rs[j]) {
				return strings.TrimSpace(string(rs[i+1 : j])), j + 1
			}
		}
		// An unmatched quote is just a character to drop.
		i++
	}
	j := i
	for j < len(rs) && !unicode.IsSpace(rs[j]) {
		j++
	}
	return strings.Trim(string(rs[i:j]), `"'“”‘’„«»`), j
}

var slackRef = regexp.MustCompile(`<([^<>]*)>`)

// unescapeSlack turns Slack's escaped message text into plain text: user
// and channel references become @name or @U… and #name or #C…, links
// their label or address, special mentions @here and the like, and the
// three escaped entities their characters.
func unescapeSlack(s string) string {
	s = slackRef.ReplaceAllStringFunc(s, func(m string) string {
		return plainRef(m[1 : len(m)-1])
	})
	r := strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&")
	return r.Replace(s)
}

func plainRef(ref string) string {
	target, label, hasLabel := strings.Cut(ref, "|")
	switch {
	case strings.HasPrefix(target, "@"):
		if hasLabel {
			return "@" + label
		}
		return target
	case strings.HasPrefix(target, "#"):
		if hasLabel {
			return "#" + label
		}
		return target
	case strings.HasPrefix(target, "!") && hasLabel:
		return label
	case strings.HasPrefix(target, "!"):
		name, _, _ := strings.Cut(strings.TrimPrefix(target, "!"), "^")
		return "@" + strings.TrimPrefix(name, "subteam")
	case hasLabel:
		return label
	}
	return target
}
