package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/jitbot/jitbot/grants"
)

var _ grants.Pinger = (*Provider)(nil)

// pg16 is server_version_num of PostgreSQL 16, from which CREATEROLE no
// longer lets an account grant roles it does not administer.
const pg16 = 160000

// account is what the server says about the provider's own login.
type account struct {
	name       string
	super      bool
	createRole bool
	version    int
	signal     bool // member of pg_signal_backend
}

// roleRight is whether one managed role exists and whether the account
// holds the ADMIN option on it.
type roleRight struct {
	name   string
	exists bool
	admin  bool
}

// Ping connects and checks that the account may grant and revoke targets
// and the managed_roles setting, end sessions when terminate_sessions is
// on, and move VALID UNTIL when valid_until is on. It changes nothing. A
// failed connection (a wrong password, an unknown database) is the only
// problem reported when it happens.
func (p *Provider) Ping(ctx context.Context, targets []string) error {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	acct, err := p.account(ctx)
	if err != nil {
		return fmt.Errorf("connect: %w", p.redact(err))
	}
	roles := slices.Concat(targets, p.managed)
	slices.Sort(roles)
	rights, err := p.roleRights(ctx, slices.Compact(roles))
	if err != nil {
		return fmt.Errorf("read role privileges: %w", p.redact(err))
	}
	return errors.Join(p.pingProblems(acct, rights)...)
}

// pingProblems lists, one error each, what the account cannot do.
func (p *Provider) pingProblems(acct account, rights []roleRight) []error {
	var out []error
	for _, r := range rights {
		switch {
		case !r.exists:
			out = append(out, fmt.Errorf("role %s does not exist", r.name))
		case !acct.canGrant(r):
			out = append(out, fmt.Errorf("account %s cannot grant role %s: %s",
				acct.name, r.name, acct.grantHint(r.name)))
		}
	}
	if p.terminate && !acct.super && !acct.signal {
		out = append(out, fmt.Errorf("account %s cannot end sessions "+
			"(terminate_sessions is on): GRANT pg_signal_backend TO %s",
			acct.name, ident(acct.name)))
	}
	if p.validTill && !acct.super && !acct.createRole {
		out = append(out, fmt.Errorf("account %s cannot set VALID UNTIL "+
			"(valid_until is on): it needs CREATEROLE", acct.name))
	}
	return out
}

// canGrant says whether the account may grant and revoke r.
func (a account) canGrant(r roleRight) bool {
	if a.super || r.admin {
		return true
	}
	return a.createRole && a.version < pg16
}

// grantHint is the statement an administrator runs to let the account
// grant role.
func (a account) grantHint(role string) string {
	admin := "GRANT " + ident(role) + " TO " + ident(a.name) + " WITH ADMIN OPTION"
	if a.version < pg16 {
		return "ALTER ROLE " + ident(a.name) + " CREATEROLE, or " + admin
	}
	return admin
}

func (p *Provider) account(ctx context.Context) (account, error) {
	const q = `
SELECT r.rolname, r.rolsuper, r.rolcreaterole,
       current_setting('server_version_num')::int,
       pg_has_role(r.oid, 'pg_signal_backend', 'MEMBER')
FROM pg_roles r WHERE r.rolname = current_user`
	var a account
	err := p.pool.QueryRow(ctx, q).
		Scan(&a.name, &a.super, &a.createRole, &a.version, &a.signal)
	return a, err
}

func (p *Provider) roleRights(ctx context.Context, names []string) ([]roleRight, error) {
	const q = `
SELECT n.name, t.oid IS NOT NULL,
       COALESCE(pg_has_role(current_user, t.oid, 'MEMBER WITH ADMIN OPTION'), false)
FROM unnest($1::text[]) AS n(name)
LEFT JOIN pg_roles t ON t.rolname = n.name
ORDER BY 1`
	rows, err := p.pool.Query(ctx, q, names)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (roleRight, error) {
		var rr roleRight
		return rr, r.Scan(&rr.name, &rr.exists, &rr.admin)
	})
}
