package bot

import (
	"context"
	"errors"

	"github.com/jitbot/jitbot/access"
	"github.com/jitbot/jitbot/store"
)

// The fixed phrases users read when the core says no. The log gets the
// whole error; Slack gets only these.
const (
	phraseSelf       = "You cannot decide your own request."
	phraseVoted      = "You have already approved this request."
	phraseNotFound   = "No such request or grant."
	phraseNotAllowed = "You are not allowed to do that."
	phraseNoEmail    = "Your Slack profile has no email address, which this access needs."
	phraseNotActive  = "That grant is not active any more."
	phraseOwnGrant   = "Another admin must acknowledge your own break-glass grant."
	phraseTimeout    = "jitbot took too long to answer; check `list` before trying again."
	phraseGeneric    = "Something went wrong on jitbot's side; " +
		"operators can find the details in its log."
)

// maxLoggedOp bounds the op field of a log line: it may carry an id as a
// user typed or a client sent it.
const maxLoggedOp = 100

// outcome is the message for the result of a core call: okText when err
// is nil, otherwise a fixed phrase chosen by the error's kind. req is what
// the core returned with the error, if anything; it names the role and the
// decider. op names the operation for the log, cut to maxLoggedOp.
func (b *Bot) outcome(err error, req store.Request, op, okText string) message {
	if err == nil {
		return message{Text: okText}
	}
	op = cut(op, maxLoggedOp)
	var inv *access.InvalidError
	if errors.As(err, &inv) {
		b.log.Info().Err(err).Str("op", op).Msg("request refused")
		return problemsMessage(inv.Problems)
	}
	phrase, expected := phraseFor(err, req)
	ev := b.log.Error()
	if expected {
		ev = b.log.Info()
	}
	ev.Err(err).Str("op", op).Str("request_id", req.ID).Msg("core said no")
	return message{Text: phrase}
}

// phraseFor picks the user's phrase for err; expected is false when the
// error is a fault rather than an answer.
func phraseFor(err error, req store.Request) (phrase string, expected bool) {
	switch {
	case errors.Is(err, access.ErrNotApprover):
		role := "this role"
		if req.Role != "" {
			role = "*" + escapeLimit(req.Resource+" / "+req.Role, 200) + "*"
		}
		return "Only approvers of " + role + " can decide this request.", true
	case errors.Is(err, access.ErrSelfApproval):
		return phraseSelf, true
	case errors.Is(err, access.ErrAlreadyDecided):
		return alreadyDecided(req), true
	case errors.Is(err, access.ErrAlreadyVoted):
		return phraseVoted, true
	case errors.Is(err, access.ErrNotFound), errors.Is(err, store.ErrNotFound):
		return phraseNotFound, true
	case errors.Is(err, access.ErrNotAllowed):
		return phraseNotAllowed, true
	case errors.Is(err, access.ErrNoEmail):
		return phraseNoEmail, true
	case errors.Is(err, access.ErrNotActive):
		return phraseNotActive, true
	case errors.Is(err, access.ErrOwnGrant):
		return phraseOwnGrant, true
	case errors.Is(err, context.DeadlineExceeded):
		return phraseTimeout, false
	}
	return phraseGeneric, false
}

func alreadyDecided(req store.Request) string {
	switch req.DecidedBy {
	case "":
		return "This request was already decided."
	case "policy":
		return "This request was already approved by policy."
	case "jitbot":
		return "This request already expired."
	}
	return "This request was already decided by " + mention(req.DecidedBy) + "."
}
