package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/user"
	"sort"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/jitbot/jitbot/app"
	"github.com/jitbot/jitbot/config"
	"github.com/jitbot/jitbot/grants"
	"github.com/jitbot/jitbot/grants/builtin"
	"github.com/jitbot/jitbot/policy"
	"github.com/jitbot/jitbot/review"
	"github.com/jitbot/jitbot/store"
)

// storeSetting is where the configured store path comes from, for errors.
const storeSetting = "store.path (or JITBOT_STORE_PATH)"

// openStore opens the existing store at path for an operator command;
// setting names where the path came from and onAppend, when not nil, sees
// every event the command appends. A missing file is refused, not created:
// a mistyped path would otherwise read as an empty trail. A running bot
// holds the file's lock; the error says so after a short wait.
func openStore(path, setting string, onAppend func(store.Event)) (*store.DB, error) {
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("store %s does not exist: check %s", path, setting)
	} else if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	db, err := store.Open(path, store.Options{Timeout: 2 * time.Second, OnAppend: onAppend})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, storeLocked(path)
	}
	return db, err
}

// storeLocked is the error for a store file whose lock another process
// holds.
func storeLocked(path string) error {
	return fmt.Errorf("store %s is locked: another jitbot (a running bot or "+
		"an operator command) holds it", path)
}

// withStore loads the configuration, opens its store and runs fn, closing
// the store afterwards. For a command that appends events it also opens
// audit.sink and copies each event there.
func (g *globals) withStore(
	cmd *cobra.Command,
	n needs,
	fn func(*config.Config, *store.DB) error,
) error {
	cfg, err := g.load(cmd.ErrOrStderr(), n)
	if err != nil {
		return err
	}
	var onAppend func(store.Event)
	if n.appends {
		sink, err := app.OpenSink(cfg.Audit.Sink, g.logger(cfg, cmd.ErrOrStderr()))
		if err != nil {
			return err
		}
		defer sink.Close()
		onAppend = sink.Append
	}
	db, err := openStore(cfg.Store.Path, storeSetting, onAppend)
	if err != nil {
		return err
	}
	defer db.Close()
	return fn(cfg, db)
}

// verifyAudit walks the chain and reports the first broken link, or the
// last hash to keep as an anchor.
func verifyAudit(out io.Writer, db *store.DB) error {
	rep, err := db.Verify()
	if err != nil {
		return err
	}
	if !rep.OK {
		fmt.Fprintf(out, "audit trail BROKEN after checking %d event(s): %s\n",
			rep.Checked, rep.Problem)
		return silentError{errors.New("audit trail broken")}
	}
	last, err := db.LastEvent()
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	fmt.Fprintf(out, "audit trail intact: %d event(s); last seq %d hash %s\n",
		rep.Checked, last.Seq, last.Hash)
	return nil
}

// timeRange reads --from and --to (dates or RFC 3339 times).
type timeRange struct{ from, to string }

func (r *timeRange) flags(cmd *cobra.Command) {
	cmd.Flags().StringVar(&r.from, "from", "", "start, as 2026-01-31 or RFC 3339")
	cmd.Flags().StringVar(&r.to, "to", "", "end (exclusive), as 2026-03-31 or RFC 3339")
}

// parse returns the range. An empty --to is end and an empty --from is
// span before --to; a zero time leaves that side open. A range whose
// start is not before its end is refused.
func (r *timeRange) parse(span time.Duration, end time.Time) (time.Time, time.Time, error) {
	to, err := parseWhen("--to", r.to, end)
	if err != nil {
		return time.Time{}, time.Time{}, err
	}
	var start time.Time
	if span > 0 {
		start = to.Add(-span)
	}
	from, err := parseWhen("--from", r.from, start)
	if err != nil {
		return time.Time{}, time.Time{}, err
	}
	if !from.IsZero() && !to.IsZero() && !from.Before(to) {
		return time.Time{}, time.Time{}, fmt.Errorf("--from %s is not before --to %s",
			from.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	return from, to, nil
}

func parseWhen(flag, s string, def time.Time) (time.Time, error) {
	if s == "" {
		return def, nil
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%s %q: use a date like 2026-01-31 or an RFC 3339 time", flag, s)
}

func auditCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "audit", Short: "Verify and export the audit trail"}
	verify := &cobra.Command{
		Use:   "verify",
		Short: "Walk the hash chain and name the first event changed, removed or reordered",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.withStore(cmd, offline, func(_ *config.Config, db *store.DB) error {
				return verifyAudit(cmd.OutOrStdout(), db)
			})
		},
	}
	var tr timeRange
	var format, outPath string
	export := &cobra.Command{
		Use:   "export",
		Short: "Write audit events as JSON lines or CSV",
		Long: "Write audit events as JSON lines or CSV. Without --from the export " +
			"starts at the first event; without --to it runs to the last.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if format != store.FormatJSONL && format != store.FormatCSV {
				return fmt.Errorf("--format %q: use %s or %s", format,
					store.FormatJSONL, store.FormatCSV)
			}
			from, to, err := tr.parse(0, time.Time{})
			if err != nil {
				return err
			}
			return g.withStore(cmd, offline, func(_ *config.Config, db *store.DB) error {
				return withOutput(cmd, outPath, func(w io.Writer) error {
					n, err := db.Export(w, from, to, format)
					if err == nil {
						fmt.Fprintf(cmd.ErrOrStderr(), "exported %d event(s)\n", n)
					}
					return err
				})
			})
		},
	}
	tr.flags(export)
	export.Flags().StringVar(&format, "format", "jsonl", "jsonl or csv")
	export.Flags().StringVarP(&outPath, "output", "o", "-", "file to write, - for stdout")
	cmd.AddCommand(verify, export)
	return cmd
}

// withOutput runs fn on stdout ("-") or on a new file at path.
func withOutput(cmd *cobra.Command, path string, fn func(io.Writer) error) error {
	if path == "" || path == "-" {
		return fn(cmd.OutOrStdout())
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if err := fn(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func reviewCmd(g *globals) *cobra.Command {
	var tr timeRange
	var format, outPath, storePath string
	cmd := &cobra.Command{
		Use:   "review",
		Short: "Quarterly access review: automate, one-offs, stale, tighten, rubber stamps",
		Long: "Quarterly access review: automate, one-offs, stale, tighten, rubber " +
			"stamps. Without --from and --to it covers the last 90 days.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			from, to, err := tr.parse(90*24*time.Hour, time.Now().UTC())
			if err != nil {
				return err
			}
			render, err := reportRenderer(format)
			if err != nil {
				return err
			}
			pol, db, err := g.reviewInputs(cmd, storePath)
			if err != nil {
				return err
			}
			defer db.Close()
			rep, err := review.Analyze(db, pol, from, to)
			if err != nil {
				return err
			}
			return withOutput(cmd, outPath, func(w io.Writer) error { return render(rep, w) })
		},
	}
	tr.flags(cmd)
	cmd.Flags().StringVar(&format, "format", "md", "md, html or json")
	cmd.Flags().StringVarP(&outPath, "output", "o", "-", "file to write, - for stdout")
	cmd.Flags().StringVar(&storePath, "store", "",
		"store file to review instead of the configured one; the policy comes "+
			"from --config when that file exists")
	cmd.AddCommand(generateCmd(g))
	return cmd
}

// reviewInputs opens the store a review reads and returns the policy to
// compare it with. Without --store both come from the configuration. With
// it, the policy comes from --config when that file exists (or was named
// explicitly) and is nil otherwise. The caller closes the store.
func (g *globals) reviewInputs(
	cmd *cobra.Command,
	storePath string,
) (review.PolicyView, *store.DB, error) {
	if storePath == "" {
		cfg, err := g.load(cmd.ErrOrStderr(), offline)
		if err != nil {
			return nil, nil, err
		}
		db, err := openStore(cfg.Store.Path, storeSetting, nil)
		return app.PolicyView(cfg.Policy), db, err
	}
	var pol review.PolicyView
	_, statErr := os.Stat(g.configPath)
	if statErr == nil || cmd.Flags().Changed("config") {
		cfg, err := g.load(cmd.ErrOrStderr(), offline)
		if err != nil {
			return nil, nil, err
		}
		pol = app.PolicyView(cfg.Policy)
	}
	db, err := openStore(storePath, "--store", nil)
	return pol, db, err
}

func reportRenderer(format string) (func(*review.Report, io.Writer) error, error) {
	switch format {
	case "md", "markdown":
		return (*review.Report).Markdown, nil
	case "html":
		return (*review.Report).HTML, nil
	case "json":
		return (*review.Report).JSON, nil
	}
	return nil, fmt.Errorf("--format %q: use md, html or json", format)
}

// storeWriter appends generated events to the store in batches.
type storeWriter struct {
	db      *store.DB
	pending []store.Event
}

func (w *storeWriter) Append(e store.Event) error {
	w.pending = append(w.pending, e)
	if len(w.pending) >= 5000 {
		return w.flush()
	}
	return nil
}

func (w *storeWriter) flush() error {
	err := w.db.Update(func(tx *store.Tx) error {
		for _, e := range w.pending {
			if _, err := tx.Append(e); err != nil {
				return err
			}
		}
		return nil
	})
	w.pending = w.pending[:0]
	return err
}

func generateCmd(g *globals) *cobra.Command {
	var days int
	var seed uint64
	var path string
	cmd := &cobra.Command{
		Use:   "generate",
		Short: "Write realistic audit events, ending today, into a new store",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if path == "" {
				return errors.New("--store is required: the new store file to write")
			}
			if days < 1 {
				return fmt.Errorf("--days %d: write at least 1 day", days)
			}
			if _, err := os.Stat(path); err == nil {
				return fmt.Errorf("--store %s exists; generate writes a new store only", path)
			}
			// The trail ends at today's midnight (UTC), so a review of the
			// last days finds it.
			start := time.Now().UTC().AddDate(0, 0, -days).Truncate(24 * time.Hour)
			planted, err := generateStore(path, review.GenOptions{
				Seed: seed, Days: days, Start: start})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(),
				"wrote %d events (%s to %s) to %s\n"+
					"planted: %s asks %s/%s %d times; rubber stamp %s; stale role %s/%s\n",
				planted.Events, planted.Start.Format("2006-01-02"),
				planted.End.Format("2006-01-02"), path, planted.Automate.User,
				planted.Automate.Resource, planted.Automate.Role, planted.Automate.Asks,
				planted.Stamp, planted.StaleRole.Resource, planted.StaleRole.Role)
			return nil
		},
	}
	cmd.Flags().IntVar(&days, "days", 90, "days of events, ending today")
	cmd.Flags().Uint64Var(&seed, "seed", 1, "random seed; the same seed writes the same events")
	cmd.Flags().StringVar(&path, "store", "", "new store file to write")
	return cmd
}

// generateStore creates the store at path and writes a generated trail
// into it.
func generateStore(path string, opts review.GenOptions) (review.Planted, error) {
	db, err := store.Open(path, store.Options{Timeout: time.Second})
	if err != nil {
		return review.Planted{}, err
	}
	defer db.Close()
	w := &storeWriter{db: db}
	planted, err := review.Generate(w, opts)
	if err == nil {
		err = w.flush()
	}
	return planted, err
}

func grantsCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "grants", Short: "List live grants and reconcile providers"}
	list := &cobra.Command{
		Use:   "list",
		Short: "List the grants that hold or may hold access",
		Long: "List the grants that hold or may hold access, soonest expiry first. " +
			"A live grant past its expiry is marked overdue: the bot is not " +
			"running, or its revoke keeps failing.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var live []store.Grant
			err := g.withStore(cmd, offline, func(_ *config.Config, db *store.DB) error {
				var err error
				live, err = liveGrants(db)
				return err
			})
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "GRANT\tUSER\tRESOURCE\tROLE\tSTATE\tEXPIRES")
			now := time.Now()
			for _, gr := range live {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", gr.ID, gr.User, gr.Resource,
					gr.Role, listedState(gr, now), gr.ExpiresAt.UTC().Format(time.RFC3339))
			}
			return tw.Flush()
		},
	}
	var revoke bool
	var actor string
	reconcile := &cobra.Command{
		Use:   "reconcile",
		Short: "List provider-side memberships no live grant explains; --revoke removes them",
		Long: "List provider-side memberships no live grant explains; --revoke " +
			"removes them. Each one is recorded in the audit trail (and audit.sink) " +
			"with the operator as the actor.\n\n" +
			"Exit status: 0 when none remain, " + strconv.Itoa(exitDrift) +
			" when some remain (found without --revoke), 1 on any other failure, " +
			"a revoke that failed included.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if actor == "" {
				var err error
				if actor, err = operatorName(); err != nil {
					return err
				}
			}
			reconciling := needs{providers: true, appends: true}
			return g.withStore(cmd, reconciling, func(cfg *config.Config, db *store.DB) error {
				return reconcileAll(cmd.Context(), cmd.OutOrStdout(), cfg, db, actor, revoke)
			})
		},
	}
	reconcile.Flags().BoolVar(&revoke, "revoke", false, "revoke the memberships found")
	reconcile.Flags().StringVar(&actor, "actor", "",
		"who runs the reconcile, for the audit trail (default: the OS user name)")
	cmd.AddCommand(list, reconcile)
	return cmd
}

// listedState is a grant's state as grants list shows it: a live grant
// past its expiry is overdue.
func listedState(g store.Grant, now time.Time) string {
	if g.ExpiresAt.Before(now) {
		return string(g.State) + " (overdue)"
	}
	return string(g.State)
}

// operatorName is who runs an operator command: the OS user name, or the
// USER environment variable when the account has no name.
func operatorName() (string, error) {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username, nil
	}
	if name := os.Getenv("USER"); name != "" {
		return name, nil
	}
	return "", errors.New("cannot tell who is running this: pass --actor")
}

// liveGrants lists the grants that hold or may hold access, soonest
// expiry first.
func liveGrants(db *store.DB) ([]store.Grant, error) {
	var live []store.Grant
	err := db.View(func(tx *store.Tx) error {
		var err error
		live, err = tx.LiveGrants()
		return err
	})
	sort.Slice(live, func(i, j int) bool { return live[i].ExpiresAt.Before(live[j].ExpiresAt) })
	return live, err
}

// reconcileAll asks every provider that can list its members for drift and
// records what it found (and removed) in the audit trail.
func reconcileAll(
	ctx context.Context,
	out io.Writer,
	cfg *config.Config,
	db *store.DB,
	actor string,
	revoke bool,
) error {
	providers, err := builtin.Registry().Build(app.ProviderConfigs(cfg), grants.Env{})
	if err != nil {
		return err
	}
	defer closeProviders(providers)
	live, err := liveGrants(db)
	if err != nil {
		return err
	}
	drift := 0
	for _, name := range sortedKeys(providers) {
		n, err := reconcileOne(ctx, out, db, cfg.Policy, name, providers[name], live,
			actor, revoke)
		if err != nil {
			return err
		}
		drift += n
	}
	fmt.Fprintf(out, "%d membership(s) without a live grant\n", drift)
	if drift > 0 && !revoke {
		return exitError{exitDrift, fmt.Errorf(
			"%d membership(s) without a live grant remain; --revoke removes them", drift)}
	}
	return nil
}

func reconcileOne(
	ctx context.Context,
	out io.Writer,
	db *store.DB,
	pol *policy.Policy,
	name string,
	p grants.Provider,
	live []store.Grant,
	actor string,
	revoke bool,
) (int, error) {
	lister, ok := p.(grants.Lister)
	if !ok {
		return 0, nil
	}
	var mine []grants.Grant
	for _, g := range live {
		if g.Provider == name {
			mine = append(mine, grants.Grant{Principal: g.Principal, Target: g.Target})
		}
	}
	drift, err := grants.Reconcile(ctx, lister, targetsOf(pol, name), mine)
	if err != nil {
		return 0, fmt.Errorf("reconcile provider %s: %w", name, err)
	}
	for _, m := range drift {
		ev, action := store.EvReconcileDrift, "found"
		if revoke {
			g := grants.Grant{ID: "reconcile", Principal: m.Principal, Target: m.Target}
			if err := p.Revoke(ctx, g); err != nil {
				return 0, fmt.Errorf("revoke %s from %s on %s: %w", m.Target, m.Principal, name, err)
			}
			ev, action = store.EvReconcileRevoked, "revoked"
		}
		fmt.Fprintf(out, "%s: %s holds %s without a live grant (%s)\n",
			name, m.Principal, m.Target, action)
		resource, role := roleOf(pol, name, m.Target)
		err := db.Update(func(tx *store.Tx) error {
			_, err := tx.Append(store.Event{Time: time.Now().UTC(), Type: ev, Actor: actor,
				Resource: resource, Role: role,
				Details: map[string]string{"provider": name, "principal": m.Principal,
					"target": m.Target}})
			return err
		})
		if err != nil {
			return 0, err
		}
	}
	return len(drift), nil
}

// targetsOf lists the provider-side roles the policy grants through a
// provider: the roles reconcile looks after.
func targetsOf(p *policy.Policy, provider string) []string {
	var out []string
	for resource, roles := range p.Catalog() {
		for _, role := range roles {
			if r, ok := p.Rules(resource, role); ok && r.Provider == provider {
				out = append(out, r.Target)
			}
		}
	}
	return out
}

// roleOf names the policy's role granted as target through provider, so a
// reader of the trail knows what a membership gives; the first in resource
// and role order when several share the target, empty when none does.
func roleOf(p *policy.Policy, provider, target string) (resource, role string) {
	catalog := p.Catalog()
	for _, res := range sortedKeys(catalog) {
		for _, name := range catalog[res] {
			if r, ok := p.Rules(res, name); ok && r.Provider == provider &&
				r.Target == target {
				return res, name
			}
		}
	}
	return "", ""
}

func closeProviders(ps map[string]grants.Provider) {
	for _, p := range ps {
		if c, ok := p.(io.Closer); ok {
			_ = c.Close()
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
