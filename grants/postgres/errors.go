package postgres

import (
	"context"
	"errors"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jitbot/jitbot/grants"
	"github.com/jitbot/jitbot/secret"
	"github.com/rs/zerolog"
)

// permanentError marks a failure found by the provider itself that no retry
// will fix.
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

func permanent(err error) error { return permanentError{err} }

// fail wraps err as a grants.Error, classified and with the password (if
// the server or driver ever echoed it) cut out.
func (p *Provider) fail(op string, g grants.Grant, err error) error {
	err = p.redact(err)
	e := &grants.Error{
		Op:        op,
		Provider:  p.name,
		GrantID:   g.ID,
		Permanent: isPermanent(err),
		Err:       err,
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		e.Detail = "SQLSTATE " + pgErr.Code
	}
	return e
}

// isPermanent says whether retrying cannot help: bad credentials, a missing
// database or role, missing privileges, a refused GRANT. Everything else,
// such as refused connections, timeouts and server restarts, is transient.
func isPermanent(err error) bool {
	var perm permanentError
	if errors.As(err, &perm) {
		return true
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return false
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	switch pgErr.Code {
	case "28P01", "28000", // bad password, login not allowed
		"3D000",          // database does not exist
		"42704",          // undefined object (a role)
		"42501",          // insufficient privilege
		"0LP01",          // invalid grant operation, such as a loop
		"0L000", "0P000": // invalid grantor, invalid role specification
		return true
	}
	return false
}

// redact replaces any occurrence of the current password in err's text.
// errors.Is and errors.As still see the original chain.
func (p *Provider) redact(err error) error {
	pw, _ := p.password()
	if pw.IsZero() || !strings.Contains(err.Error(), pw.Reveal()) {
		return err
	}
	msg := strings.ReplaceAll(err.Error(), pw.Reveal(), secret.Redacted)
	return redacted{msg: msg, err: err}
}

type redacted struct {
	msg string
	err error
}

func (r redacted) Error() string { return r.msg }
func (r redacted) Unwrap() error { return r.err }

func (p *Provider) logGrant(g grants.Grant) *zerolog.Event {
	return p.log.Info().Str("grant_id", g.ID).Str("request_id", g.RequestID).
		Str("user", g.User).Str("resource", g.Resource).Str("role", g.Role)
}
