// Command mergebench measures merging accounts across the suite (`make
// bench`). It starts a durable PostgreSQL (fsync on) and NATS JetStream,
// runs the five services as their own processes (as deployed), gives two
// accounts N contacts, N opportunities and N activities each (default
// 1,000), waits until every service is idle, and merges one into the
// other. It reports:
//
//   - the MergeAccounts call (the contacts and addresses move in it) and
//     its dry run;
//   - per service, the time from the call returning until that service has
//     re-pointed everything (the opportunities; the activities and the
//     timeline; the order and lead services' inbox holding the merge
//     event), and the time until every service has;
//   - the raw Postgres ceiling: the same UPDATEs (contacts, opportunities,
//     activities re-pointed, one transaction each) run directly on copies
//     of the tables, before the merge.
//
// -smoke runs at a tiny size in seconds (CI keeps the tool working; its
// figures mean nothing).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	accountv1 "github.com/crmsuite/crm/gen/go/crm/account/v1"
	opportunityv1 "github.com/crmsuite/crm/gen/go/crm/opportunity/v1"
	workflowv1 "github.com/crmsuite/crm/gen/go/crm/workflow/v1"
	"github.com/crmsuite/crm/platform/authn"
	"github.com/crmsuite/crm/platform/benchkit"
	"github.com/crmsuite/crm/platform/events"
	"github.com/crmsuite/crm/platform/natsx"
	"github.com/crmsuite/crm/platform/procs"
)

type options struct {
	binDir      string
	n           int
	concurrency int
	out         string
	smoke       bool
}

var services = []string{"account", "lead", "opportunity", "order", "workflow"}

func main() {
	var o options
	flag.StringVar(&o.binDir, "bin", "bin", "directory with the service binaries (make build)")
	flag.IntVar(&o.n, "n", 1000, "contacts, opportunities and activities of each of the two accounts")
	flag.IntVar(&o.concurrency, "concurrency", 8, "concurrent calls while loading")
	flag.StringVar(&o.out, "out", "bench/results", "directory for the report (empty: print it only)")
	flag.BoolVar(&o.smoke, "smoke", false, "tiny size, report printed only: checks the tool works, measures nothing")
	flag.Parse()
	if o.smoke {
		o.n, o.out = 10, ""
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "mergebench:", err)
		os.Exit(1)
	}
}

func step(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "mergebench: "+format+"\n", args...)
}

type bench struct {
	o     options
	db    *pgx.Conn
	js    jetstream.JetStream
	auth  string
	acc   accountv1.AccountServiceClient
	opp   opportunityv1.OpportunityServiceClient
	wf    workflowv1.WorkflowServiceClient
	conns []*grpc.ClientConn
}

func run(ctx context.Context, o options) error {
	tmp, err := os.MkdirTemp("", "mergebench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	_ = os.Chmod(tmp, 0o755)
	logf, err := os.Create(filepath.Join(tmp, "services.log"))
	if err != nil {
		return err
	}
	defer logf.Close()

	step("starting durable PostgreSQL (fsync on) and NATS JetStream")
	backends, err := benchkit.Start(ctx, filepath.Join(tmp, "pg"), "", filepath.Join(tmp, "nats"))
	if err != nil {
		return err
	}
	defer backends.Stop()
	authEnv, bearer, err := authn.DevCredentials("bench", "admin")
	if err != nil {
		return err
	}
	addrs := map[string]string{}
	env := []string{"METRICS_ADDR=off", "NATS_URL=" + backends.NATSURL, "PAGE_TOKEN_SECRET=bench", "LOG_LEVEL=warn"}
	for _, svc := range services {
		addrs[svc] = benchkit.FreeAddr()
		env = append(env, strings.ToUpper(svc)+"_GRPC_ADDR="+addrs[svc])
	}
	env = append(env, authEnv...)
	for _, svc := range services {
		dbEnv, err := backends.DatabaseEnv(svc)
		if err != nil {
			return err
		}
		p, err := procs.Start(svc, filepath.Join(o.binDir, svc), append(append([]string{"GRPC_ADDR=" + addrs[svc]}, env...), dbEnv...), logf)
		if err != nil {
			return err
		}
		defer p.Stop(20 * time.Second) //nolint:errcheck
		if err := p.WaitTCP(addrs[svc], 2*time.Minute); err != nil {
			return err
		}
	}
	b := &bench{o: o, auth: bearer}
	dial := func(addr string) *grpc.ClientConn {
		c, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			panic(err) // a malformed loopback address: nothing to measure
		}
		b.conns = append(b.conns, c)
		return c
	}
	defer func() {
		for _, c := range b.conns {
			_ = c.Close()
		}
	}()
	b.acc = accountv1.NewAccountServiceClient(dial(addrs["account"]))
	b.opp = opportunityv1.NewOpportunityServiceClient(dial(addrs["opportunity"]))
	b.wf = workflowv1.NewWorkflowServiceClient(dial(addrs["workflow"]))
	if b.db, err = pgx.Connect(ctx, backends.DatabaseURL); err != nil {
		return err
	}
	defer b.db.Close(context.Background()) //nolint:errcheck
	nc, js, err := natsx.Connect(backends.NATSURL, "mergebench", slog.Default())
	if err != nil {
		return err
	}
	defer nc.Close()
	b.js = js
	return b.measure(ctx)
}

func (b *bench) ctx(ctx context.Context) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", b.auth)
}

// load gives an account n contacts, n opportunities (each with one of the
// contacts as primary contact) and n activities, concurrently.
func (b *bench) load(ctx context.Context, account string) error {
	ctx = b.ctx(ctx)
	contacts := make([]string, b.o.n)
	if err := b.parallel(ctx, b.o.n, func(ctx context.Context, i int) error {
		c, err := b.acc.CreateContact(ctx, &accountv1.CreateContactRequest{Contact: &accountv1.Contact{
			FirstName: "Person", LastName: fmt.Sprint(i), Account: account,
			Emails: []*accountv1.ContactEmail{{Address: fmt.Sprintf("p%d-%s@bench.example", i, account[len(account)-12:])}}}})
		if err == nil {
			contacts[i] = c.Name
		}
		return err
	}); err != nil {
		return fmt.Errorf("contacts: %w", err)
	}
	if err := b.parallel(ctx, b.o.n, func(ctx context.Context, i int) error {
		_, err := b.opp.CreateOpportunity(ctx, &opportunityv1.CreateOpportunityRequest{Opportunity: &opportunityv1.Opportunity{
			DisplayName: fmt.Sprintf("Deal %d", i), Account: account, PrimaryContact: contacts[i]}})
		return err
	}); err != nil {
		return fmt.Errorf("opportunities: %w", err)
	}
	if err := b.parallel(ctx, b.o.n, func(ctx context.Context, i int) error {
		_, err := b.wf.CreateActivity(ctx, &workflowv1.CreateActivityRequest{Parent: account, Activity: &workflowv1.Activity{
			Type: workflowv1.ActivityType_ACTIVITY_TYPE_NOTE, Subject: fmt.Sprintf("note %d", i)}})
		return err
	}); err != nil {
		return fmt.Errorf("activities: %w", err)
	}
	return nil
}

func (b *bench) parallel(ctx context.Context, n int, fn func(ctx context.Context, i int) error) error {
	next := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for range b.o.concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := fn(ctx, i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	return first
}

// idle waits until every durable consumer of every stream has nothing
// pending and nothing unacknowledged.
func (b *bench) idle(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		busy, err := b.busy(ctx)
		if err != nil {
			return err
		}
		if busy == "" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("consumers still busy after %v: %s", timeout, busy)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (b *bench) busy(ctx context.Context) (string, error) {
	var busy []string
	for _, svc := range services {
		s, err := b.js.Stream(ctx, events.StreamName("", svc))
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			continue
		}
		if err != nil {
			return "", err
		}
		l := s.ListConsumers(ctx)
		for info := range l.Info() {
			if info.NumPending > 0 || info.NumAckPending > 0 {
				busy = append(busy, fmt.Sprintf("%s (%d pending, %d unacknowledged)", info.Name, info.NumPending, info.NumAckPending))
			}
		}
		if err := l.Err(); err != nil {
			return "", err
		}
	}
	return strings.Join(busy, ", "), nil
}

func (b *bench) count(ctx context.Context, q string, args ...any) (int, error) {
	var n int
	err := b.db.QueryRow(ctx, q, args...).Scan(&n)
	return n, err
}

// done are the per-service conditions of "everything re-pointed" for a
// merge of dup (id) into survivor.
func (b *bench) done(dup uuid.UUID) map[string]func(ctx context.Context) (bool, error) {
	zero := func(q string, args ...any) func(ctx context.Context) (bool, error) {
		return func(ctx context.Context) (bool, error) {
			n, err := b.count(ctx, q, args...)
			return n == 0, err
		}
	}
	applied := func(schema, consumer string) func(ctx context.Context) (bool, error) {
		return func(ctx context.Context) (bool, error) {
			n, err := b.count(ctx, `SELECT count(*) FROM "`+schema+`".inbox WHERE consumer = $1 AND subject LIKE '%accounts_merged'`, consumer)
			return n == 1, err
		}
	}
	name := "accounts/" + dup.String()
	return map[string]func(ctx context.Context) (bool, error){
		"opportunity": zero(`SELECT count(*) FROM opportunity.opportunities WHERE account_id = $1`, dup),
		"workflow":    zero(`SELECT count(*) FROM workflow.activities WHERE regarding = $1 OR account = $1`, name),
		"order":       applied("order", "order-accounts"),
		"lead":        applied("lead", "lead-account-merges"),
	}
}

// ceiling runs the same re-pointing UPDATEs straight in Postgres, one
// transaction each, on copies of the tables: the floor under what the
// services do.
func (b *bench) ceiling(ctx context.Context, survivor, dup uuid.UUID) (map[string]time.Duration, error) {
	if _, err := b.db.Exec(ctx, `DROP SCHEMA IF EXISTS ceiling CASCADE; CREATE SCHEMA ceiling`); err != nil {
		return nil, err
	}
	for _, src := range []string{"account.contacts", "opportunity.opportunities", "workflow.activities"} {
		if err := b.copyTable(ctx, src); err != nil {
			return nil, fmt.Errorf("copy %s: %w", src, err)
		}
	}
	defer b.db.Exec(context.Background(), `DROP SCHEMA IF EXISTS ceiling CASCADE`) //nolint:errcheck
	out := map[string]time.Duration{}
	for _, u := range []struct {
		name, sql string
		args      []any
	}{
		{"contacts", `UPDATE ceiling.contacts SET account_id = $2, is_primary = false, version = version + 1, updated_at = now(), updated_by = 'bench'
			WHERE account_id = $1`, []any{dup, survivor}},
		{"opportunities", `UPDATE ceiling.opportunities SET account_id = $2, version = version + 1, updated_at = now(), updated_by = 'bench'
			WHERE account_id = $1`, []any{dup, survivor}},
		{"activities", `UPDATE ceiling.activities SET regarding = $2, account = $2, version = version + 1, updated_at = now(), updated_by = 'bench'
			WHERE regarding = $1`, []any{"accounts/" + dup.String(), "accounts/" + survivor.String()}},
	} {
		start := time.Now()
		tag, err := b.db.Exec(ctx, u.sql, u.args...)
		if err != nil {
			return nil, fmt.Errorf("ceiling %s: %w", u.name, err)
		}
		if int(tag.RowsAffected()) != b.o.n {
			return nil, fmt.Errorf("ceiling %s: %d rows, want %d", u.name, tag.RowsAffected(), b.o.n)
		}
		out[u.name] = time.Since(start)
	}
	return out, nil
}

// copyTable copies schema.table into ceiling.table with its indexes (its
// generated columns computed again).
func (b *bench) copyTable(ctx context.Context, src string) error {
	schema, table, _ := strings.Cut(src, ".")
	dst := "ceiling." + table
	var cols string
	if err := b.db.QueryRow(ctx, `SELECT string_agg(quote_ident(column_name), ', ' ORDER BY ordinal_position) FROM information_schema.columns
		WHERE table_schema = $1 AND table_name = $2 AND is_generated = 'NEVER'`, schema, table).Scan(&cols); err != nil {
		return err
	}
	for _, stmt := range []string{
		"CREATE TABLE " + dst + " (LIKE " + src + " INCLUDING ALL)",
		"INSERT INTO " + dst + " (" + cols + ") SELECT " + cols + " FROM " + src,
		"ANALYZE " + dst,
	} {
		if _, err := b.db.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("%s: %w", stmt, err)
		}
	}
	return nil
}

func (b *bench) measure(ctx context.Context) error {
	cctx := b.ctx(ctx)
	mk := func(name string) (*accountv1.Account, error) {
		return b.acc.CreateAccount(cctx, &accountv1.CreateAccountRequest{Account: &accountv1.Account{DisplayName: name, CurrencyCode: "EUR"}})
	}
	survivor, err := mk("Survivor Inc")
	if err != nil {
		return err
	}
	dup, err := mk("Duplicate Inc")
	if err != nil {
		return err
	}
	loadStart := time.Now()
	for _, a := range []*accountv1.Account{survivor, dup} {
		step("loading %s: %d contacts, opportunities and activities", a.Name, b.o.n)
		if err := b.load(ctx, a.Name); err != nil {
			return err
		}
	}
	if err := b.idle(ctx, 5*time.Minute); err != nil {
		return err
	}
	loaded := time.Since(loadStart)
	survivorID, _ := uuid.Parse(strings.TrimPrefix(survivor.Name, "accounts/"))
	dupID, _ := uuid.Parse(strings.TrimPrefix(dup.Name, "accounts/"))

	step("raw Postgres ceiling")
	ceil, err := b.ceiling(ctx, survivorID, dupID)
	if err != nil {
		return err
	}

	step("dry run, then the merge")
	dryStart := time.Now()
	dry, err := b.acc.MergeAccounts(cctx, &accountv1.MergeAccountsRequest{Survivor: survivor.Name, Merged: []string{dup.Name}, DryRun: true})
	if err != nil {
		return err
	}
	dryTook := time.Since(dryStart)
	if len(dry.MovedContacts) != b.o.n {
		return fmt.Errorf("dry run moves %d contacts, want %d", len(dry.MovedContacts), b.o.n)
	}
	start := time.Now()
	if _, err := b.acc.MergeAccounts(cctx, &accountv1.MergeAccountsRequest{Survivor: survivor.Name, Merged: []string{dup.Name}, RequestId: uuid.NewString()}); err != nil {
		return err
	}
	callTook := time.Since(start)
	pending := b.done(dupID)
	doneAt := map[string]time.Duration{"account": callTook}
	deadline := time.Now().Add(10 * time.Minute)
	for len(pending) > 0 {
		for svc, cond := range pending {
			ok, err := cond(ctx)
			if err != nil {
				return err
			}
			if ok {
				doneAt[svc] = time.Since(start)
				delete(pending, svc)
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not re-pointed after 10 minutes: %v", pending)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := b.idle(ctx, 5*time.Minute); err != nil {
		return err
	}
	moved, err := b.count(ctx, `SELECT count(*) FROM account.contacts WHERE account_id = $1`, survivorID)
	if err != nil {
		return err
	}
	if moved != 2*b.o.n {
		return fmt.Errorf("survivor has %d contacts, want %d", moved, 2*b.o.n)
	}
	return b.report(loaded, dryTook, doneAt, ceil)
}

func (b *bench) report(loaded, dry time.Duration, doneAt, ceil map[string]time.Duration) error {
	var r strings.Builder
	started := time.Now().UTC()
	mode := ""
	if b.o.smoke {
		mode = " SMOKE RUN (tiny size; figures mean nothing);"
	}
	fmt.Fprintf(&r, "# Account merge benchmark, %s\n\n%d CPUs;%s bench, NATS, PostgreSQL (fsync on) and the five services on one machine; "+
		"two accounts with %d contacts, %d opportunities and %d activities each (loaded in %v), one merged into the other.\n\n",
		started.Format(time.RFC3339), runtime.NumCPU(), mode, b.o.n, b.o.n, b.o.n, loaded.Round(time.Millisecond))
	all := time.Duration(0)
	for _, d := range doneAt {
		all = max(all, d)
	}
	ceilAll := ceil["contacts"] + ceil["opportunities"] + ceil["activities"]
	fmt.Fprintf(&r, "| what | time | raw Postgres ceiling (same UPDATE, one transaction) |\n|---|---|---|\n")
	fmt.Fprintf(&r, "| MergeAccounts dry run | %s | |\n", ms(dry))
	fmt.Fprintf(&r, "| MergeAccounts (account service: %d contacts move in the call) | %s | %s |\n", b.o.n, ms(doneAt["account"]), ms(ceil["contacts"]))
	fmt.Fprintf(&r, "| opportunity service: %d opportunities re-pointed | %s | %s |\n", b.o.n, ms(doneAt["opportunity"]), ms(ceil["opportunities"]))
	fmt.Fprintf(&r, "| workflow service: %d activities re-pointed, timeline moved | %s | %s |\n", b.o.n, ms(doneAt["workflow"]), ms(ceil["activities"]))
	fmt.Fprintf(&r, "| order service: merge applied (no orders) | %s | |\n", ms(doneAt["order"]))
	fmt.Fprintf(&r, "| lead service: merge applied (no converted leads) | %s | |\n", ms(doneAt["lead"]))
	fmt.Fprintf(&r, "| **every service re-pointed** (from the call) | **%s** | %s (the three UPDATEs in turn) |\n", ms(all), ms(ceilAll))
	out := r.String()
	fmt.Print(out)
	if b.o.out == "" {
		return nil
	}
	if err := os.MkdirAll(b.o.out, 0o755); err != nil {
		return err
	}
	name := filepath.Join(b.o.out, "account-merge-"+started.Format("20060102-150405")+".md")
	step("report written to %s", name)
	return os.WriteFile(name, []byte(out), 0o644)
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }
