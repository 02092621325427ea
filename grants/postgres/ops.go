package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jitbot/jitbot/grants"
)

// lockClass namespaces the advisory locks that serialise jitbot's changes
// to one login, so two grants cannot race on its VALID UNTIL.
const lockClass = 0x6a6974 // "jit"

// errRevokeNotTaken means the login still holds the role after REVOKE, for
// example through another role or a grant made by another grantor.
var errRevokeNotTaken = errors.New("revoke did not take")

// Grant makes g.Principal a member of g.Target. The login and the role must
// exist; granting a membership already held succeeds.
func (p *Provider) Grant(ctx context.Context, g grants.Grant) error {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	start := p.clock.Now()
	err := pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
		return p.grantTx(ctx, tx, g)
	})
	if err != nil {
		return p.fail("grant", g, err)
	}
	p.logGrant(g).Dur("duration", p.clock.Since(start)).Msg("role granted")
	return nil
}

func (p *Provider) grantTx(ctx context.Context, tx pgx.Tx, g grants.Grant) error {
	login, target, err := lockAndLookUp(ctx, tx, g)
	if err != nil {
		return err
	}
	if !login.exists {
		return permanent(fmt.Errorf("login %s does not exist", g.Principal))
	}
	if !target.exists {
		return permanent(fmt.Errorf("role %s does not exist", g.Target))
	}
	sql := "GRANT " + ident(g.Target) + " TO " + ident(g.Principal)
	if _, err := tx.Exec(ctx, sql); err != nil {
		return err
	}
	if p.validTill {
		return extendValidUntil(ctx, tx, g, login.validUntil)
	}
	return nil
}

// roleState is what the server knows of one role name.
type roleState struct {
	exists     bool
	validUntil pgtype.Timestamptz
}

// lockAndLookUp takes the login's advisory lock for the transaction, then
// reads whether the login and the target exist. The read is a statement of
// its own so that its snapshot sees what the lock's last holder committed.
func lockAndLookUp(
	ctx context.Context,
	tx pgx.Tx,
	g grants.Grant,
) (login, target roleState, err error) {
	const lock = `SELECT pg_advisory_xact_lock($1, hashtext($2))`
	if _, err = tx.Exec(ctx, lock, lockClass, g.Principal); err != nil {
		return login, target, err
	}
	const q = `
SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1),
       (SELECT rolvaliduntil FROM pg_roles WHERE rolname = $1),
       EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $2)`
	err = tx.QueryRow(ctx, q, g.Principal, g.Target).
		Scan(&login.exists, &login.validUntil, &target.exists)
	return login, target, err
}

// extendValidUntil moves VALID UNTIL to the grant's expiry unless it is
// already later (or infinity, which an operator set on purpose).
func extendValidUntil(
	ctx context.Context,
	tx pgx.Tx,
	g grants.Grant,
	cur pgtype.Timestamptz,
) error {
	if g.ExpiresAt.IsZero() {
		return permanent(errors.New("valid_until needs the grant's expiry"))
	}
	if cur.Valid && (cur.InfinityModifier == pgtype.Infinity ||
		cur.InfinityModifier == pgtype.Finite && !cur.Time.Before(g.ExpiresAt)) {
		return nil
	}
	// The literal is built from a time value only, never from user text.
	until := g.ExpiresAt.UTC().Truncate(time.Second).Format(time.RFC3339)
	sql := "ALTER ROLE " + ident(g.Principal) + " VALID UNTIL '" + until + "'"
	_, err := tx.Exec(ctx, sql)
	return err
}

// Revoke takes g.Target away from g.Principal, then ends the login's
// sessions when terminate_sessions is on, and checks that the membership is
// gone. Revoking what is not held, or from a login that no longer exists,
// succeeds.
func (p *Provider) Revoke(ctx context.Context, g grants.Grant) error {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	start := p.clock.Now()
	var gone bool
	err := pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
		var err error
		gone, err = revokeTx(ctx, tx, g)
		return err
	})
	if err == nil && !gone {
		err = p.endSessionsAndVerify(ctx, g)
	}
	if err != nil {
		return p.fail("revoke", g, err)
	}
	p.logGrant(g).Dur("duration", p.clock.Since(start)).Msg("role revoked")
	return nil
}

// revokeTx revokes the membership; gone reports that the login or the role
// no longer exists, so there is nothing to take back.
func revokeTx(ctx context.Context, tx pgx.Tx, g grants.Grant) (gone bool, err error) {
	login, target, err := lockAndLookUp(ctx, tx, g)
	if err != nil {
		return false, err
	}
	if !login.exists || !target.exists {
		return true, nil
	}
	_, err = tx.Exec(ctx, "REVOKE "+ident(g.Target)+" FROM "+ident(g.Principal))
	return false, err
}

func (p *Provider) endSessionsAndVerify(ctx context.Context, g grants.Grant) error {
	if p.terminate {
		if err := p.endSessions(ctx, g); err != nil {
			return err
		}
	}
	held, err := p.held(ctx, g)
	if err != nil {
		return fmt.Errorf("verify revoke: %w", err)
	}
	if held {
		return errRevokeNotTaken
	}
	return nil
}

// endSessions terminates every session of the login except our own.
func (p *Provider) endSessions(ctx context.Context, g grants.Grant) error {
	const q = `
SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))
FROM pg_stat_activity
WHERE usename = $1 AND pid <> pg_backend_pid()`
	var ended int
	if err := p.pool.QueryRow(ctx, q, g.Principal).Scan(&ended); err != nil {
		return fmt.Errorf("end sessions: %w", err)
	}
	if ended > 0 {
		p.logGrant(g).Int("sessions", ended).Msg("sessions ended")
	}
	return nil
}

// Held reports whether g.Principal is a member of g.Target, directly or
// through other roles. A missing login or role means not held.
func (p *Provider) Held(ctx context.Context, g grants.Grant) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	held, err := p.held(ctx, g)
	if err != nil {
		return false, p.fail("check", g, err)
	}
	return held, nil
}

func (p *Provider) held(ctx context.Context, g grants.Grant) (bool, error) {
	// Comparing by oid keeps a missing name from raising an error.
	const q = `
SELECT EXISTS (
  SELECT 1 FROM pg_roles l, pg_roles t
  WHERE l.rolname = $1 AND t.rolname = $2
    AND pg_has_role(l.oid, t.oid, 'MEMBER'))`
	var held bool
	err := p.pool.QueryRow(ctx, q, g.Principal, g.Target).Scan(&held)
	return held, err
}

// Members lists the direct members of targets and of the managed_roles
// setting, sorted by target then principal. jitbot's own account is left
// out: it may hold the roles with the ADMIN option in order to grant them.
func (p *Provider) Members(ctx context.Context, targets []string) ([]grants.Member, error) {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	const q = `
SELECT DISTINCT m.rolname, t.rolname
FROM pg_auth_members am
JOIN pg_roles t ON t.oid = am.roleid
JOIN pg_roles m ON m.oid = am.member
WHERE t.rolname = ANY($1) AND m.rolname <> current_user
ORDER BY 2, 1`
	all := append(append([]string(nil), targets...), p.managed...)
	rows, err := p.pool.Query(ctx, q, all)
	if err != nil {
		return nil, fmt.Errorf("list members on %s: %w", p.name, p.redact(err))
	}
	members, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (grants.Member, error) {
		var m grants.Member
		return m, r.Scan(&m.Principal, &m.Target)
	})
	if err != nil {
		return nil, fmt.Errorf("list members on %s: %w", p.name, p.redact(err))
	}
	return members, nil
}

// ident quotes a role name for SQL, doubling embedded quotes.
func ident(name string) string { return pgx.Identifier{name}.Sanitize() }
