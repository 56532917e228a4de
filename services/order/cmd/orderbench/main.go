// Command orderbench measures the order service at size. It starts a
// durable PostgreSQL (fsync on) and NATS JetStream, runs the account,
// order and opportunity services as their own processes (as deployed),
// and measures, each against its raw ceiling in the same run:
//
//   - ConfirmOrder with the credit check (the order service asks the
//     account service for the terms over gRPC, then locks the order and
//     the account's exposure) at a concurrency (default 32), against the
//     same use case and transaction called in-process with the terms at
//     hand;
//   - renewal timers: N contracts (default 100,000) whose renewals fall due
//     within the same minute: the time until every ContractRenewalDue is
//     published and every renewal opportunity exists, none missed and none
//     doubled; the ceiling is the timer engine firing as many timers with a
//     one-row handler in-process;
//   - GetRevenueForecast by quarter x owner over orders and contracts
//     (default 700,000 + 300,000): latency percentiles, against the same
//     SQL run directly.
//
// -smoke runs every part at tiny sizes in seconds (CI keeps the tool
// working; its figures mean nothing). Load generator and servers share the
// machine; the report says so.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"math/big"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
	moneypb "google.golang.org/genproto/googleapis/type/money"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	accountv1 "github.com/crmsuite/crm/gen/go/crm/account/v1"
	orderv1 "github.com/crmsuite/crm/gen/go/crm/order/v1"
	"github.com/crmsuite/crm/platform/auth"
	"github.com/crmsuite/crm/platform/authn"
	"github.com/crmsuite/crm/platform/benchkit"
	"github.com/crmsuite/crm/platform/events"
	"github.com/crmsuite/crm/platform/natsx"
	"github.com/crmsuite/crm/platform/outbox"
	"github.com/crmsuite/crm/platform/paging"
	"github.com/crmsuite/crm/platform/pg"
	"github.com/crmsuite/crm/platform/procs"
	"github.com/crmsuite/crm/platform/timer"
	"github.com/crmsuite/crm/services/order/internal/adapters/postgres"
	"github.com/crmsuite/crm/services/order/internal/app"
	"github.com/crmsuite/crm/services/order/internal/domain"
)

type options struct {
	binDir          string
	orders          int
	contracts       int
	renewals        int
	forecasts       int
	accounts        int
	concurrency     int
	duration        time.Duration
	warmup          time.Duration
	dbConns         int
	consumerWorkers int
	dataDir         string
	smoke           bool
	parts           string
	dueIn           time.Duration
	dueWindow       time.Duration
}

func main() {
	var o options
	flag.StringVar(&o.binDir, "bin", "", "directory with the account, order and opportunity binaries; default: go build them")
	flag.IntVar(&o.orders, "orders", 700_000, "orders loaded for the revenue forecast")
	flag.IntVar(&o.contracts, "contracts", 300_000, "contracts loaded for the revenue forecast")
	flag.IntVar(&o.renewals, "renewals", 100_000, "contracts whose renewals fall due within one minute")
	flag.IntVar(&o.forecasts, "forecasts", 200, "GetRevenueForecast requests measured")
	flag.IntVar(&o.accounts, "accounts", 200, "customer accounts (in the account service)")
	flag.IntVar(&o.concurrency, "concurrency", 32, "concurrency of the confirm runs")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "measured time per confirm run")
	flag.DurationVar(&o.warmup, "warmup", 2*time.Second, "unmeasured time before each confirm run")
	flag.IntVar(&o.dbConns, "db-conns", 32, "Postgres pool size of the services and of the raw runs")
	flag.IntVar(&o.consumerWorkers, "consumer-workers", 8, "events each consumer of the services applies at once")
	flag.StringVar(&o.dataDir, "data", "", "keep PostgreSQL here and reuse its loaded forecast rows across runs; default a temp dir")
	flag.BoolVar(&o.smoke, "smoke", false, "tiny sizes and durations: checks the tool works, measures nothing")
	flag.StringVar(&o.parts, "parts", "confirm,renewals,forecast", "which parts to run")
	flag.DurationVar(&o.dueIn, "due-in", 15*time.Second, "when the renewals start falling due, after loading")
	flag.DurationVar(&o.dueWindow, "due-window", time.Second, "the renewals fall due spread over this (renewals are due at midnight: contracts ending on one day fall due at once)")
	flag.Parse()
	if o.smoke {
		o.orders, o.contracts, o.renewals, o.forecasts, o.accounts = 2000, 1000, 500, 20, 10
		o.duration, o.warmup, o.concurrency, o.dueIn, o.dueWindow = time.Second, 200*time.Millisecond, 8, 2*time.Second, 2*time.Second
	}
	if err := run(context.Background(), o); err != nil {
		fmt.Fprintln(os.Stderr, "orderbench:", err)
		os.Exit(1)
	}
}

func step(msg string) { fmt.Fprintf(os.Stderr, "orderbench: %s\n", msg) }

func run(ctx context.Context, o options) error {
	tmp, err := os.MkdirTemp("", "orderbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	_ = os.Chmod(tmp, 0o755)
	if o.binDir == "" {
		step("building the services")
		o.binDir = tmp
		for _, svc := range []string{"account", "order", "opportunity"} {
			pkg := "github.com/crmsuite/crm/services/" + svc + "/cmd/" + svc
			if out, err := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(tmp, svc), pkg).CombinedOutput(); err != nil {
				return fmt.Errorf("build %s: %v\n%s", svc, err, out)
			}
		}
	}
	pgDir, natsDir, err := benchkit.Dirs(tmp, o.dataDir)
	if err != nil {
		return err
	}
	step("starting durable PostgreSQL (fsync on) and NATS JetStream")
	backends, err := benchkit.Start(ctx, pgDir, "1GB", natsDir)
	if err != nil {
		return err
	}
	defer backends.Stop()
	logf, err := os.Create(filepath.Join(tmp, "services.log"))
	if err != nil {
		return err
	}
	defer logf.Close()
	authEnv, bearer, err := authn.DevCredentials("bench", "admin")
	if err != nil {
		return err
	}
	callCtx := metadata.AppendToOutgoingContext(ctx, "authorization", bearer)
	addrs := map[string]string{"account": benchkit.FreeAddr(), "order": benchkit.FreeAddr(), "opportunity": benchkit.FreeAddr()}
	for _, svc := range []string{"account", "order", "opportunity"} {
		dbEnv, err := backends.DatabaseEnv(svc)
		if err != nil {
			return err
		}
		p, err := procs.Start(svc, filepath.Join(o.binDir, svc), append(append([]string{
			"GRPC_ADDR=" + addrs[svc], "METRICS_ADDR=" + os.Getenv("ORDERBENCH_METRICS_"+strings.ToUpper(svc)), "PPROF=" + os.Getenv("ORDERBENCH_PPROF"), "NATS_URL=" + backends.NATSURL, "ACCOUNT_GRPC_ADDR=" + addrs["account"],
			"DB_MAX_CONNS=" + strconv.Itoa(o.dbConns), "PAGE_TOKEN_SECRET=bench", "LOG_LEVEL=warn", "CONSUMER_WORKERS=" + strconv.Itoa(o.consumerWorkers),
			"TIMER_POLL_INTERVAL=200ms",
		}, dbEnv...), authEnv...), logf)
		if err != nil {
			return err
		}
		defer p.Stop(20 * time.Second) //nolint:errcheck
		if err := p.WaitTCP(addrs[svc], 2*time.Minute); err != nil {
			return err
		}
	}
	dial := func(addr string) (*grpc.ClientConn, error) {
		return grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	}
	accountConn, err := dial(addrs["account"])
	if err != nil {
		return err
	}
	defer accountConn.Close()
	orderConn, err := dial(addrs["order"])
	if err != nil {
		return err
	}
	defer orderConn.Close()
	accounts := accountv1.NewAccountServiceClient(accountConn)
	orders := orderv1.NewOrderServiceClient(orderConn)
	pool, err := pg.Connect(ctx, pg.PoolConfig{URL: backends.DatabaseURL, Schema: "order", MaxConns: int32(o.dbConns)})
	if err != nil {
		return err
	}
	defer pool.Close()

	step(fmt.Sprintf("creating %d accounts", o.accounts))
	var customers []uuid.UUID
	for i := range o.accounts {
		a, err := accounts.CreateAccount(callCtx, &accountv1.CreateAccountRequest{Account: &accountv1.Account{
			DisplayName: fmt.Sprintf("Customer %d", i), CurrencyCode: "EUR", Owner: owner(i),
			CreditLimit: &moneypb.Money{CurrencyCode: "EUR", Units: 1_000_000_000_000}, PaymentTerms: accountv1.PaymentTerms_PAYMENT_TERMS_NET_30,
		}})
		if err != nil {
			return err
		}
		customers = append(customers, uuid.MustParse(a.Name[len("accounts/"):]))
	}
	fmt.Printf("# orderbench %s\n\n%s\n\n", time.Now().Format(time.RFC3339), environment(o))
	parts := strings.Split(o.parts, ",")
	if slices.Contains(parts, "confirm") {
		if err := benchConfirm(ctx, o, pool, orders, customers, bearer); err != nil {
			return fmt.Errorf("confirm: %w", err)
		}
	}
	if slices.Contains(parts, "renewals") {
		if err := benchRenewals(ctx, o, pool, backends, customers); err != nil {
			return fmt.Errorf("renewals: %w", err)
		}
	}
	if slices.Contains(parts, "forecast") {
		if err := benchForecast(ctx, o, pool, orders, callCtx); err != nil {
			return fmt.Errorf("forecast: %w", err)
		}
	}
	return nil
}

func owner(i int) string { return fmt.Sprintf("owner%02d", i%50) }

var (
	eur100     = pgtype.Numeric{Int: big.NewInt(10000), Exp: -2, Valid: true}
	zeroAmount = pgtype.Numeric{Int: big.NewInt(0), Valid: true}
	oneLine    = []byte(`[{"id":"1","product_code":"P","product_name":"P","quantity":"1","unit_price":"100","fulfilled":"0",` +
		`"subtotal":"100","discount":"0","tax":"0","total":"100"}]`)
)

// drafts COPYs n draft orders of 100 EUR over the customers.
func drafts(ctx context.Context, pool *pgxpool.Pool, customers []uuid.UUID, n int) ([]uuid.UUID, error) {
	now := time.Now().UTC().Truncate(time.Microsecond)
	cols := []string{"id", "display_name", "account_id", "owner", "currency_code", "lines", "subtotal", "discount", "tax", "total",
		"status", "created_at", "created_by", "updated_at", "updated_by", "version", "last_line_id"}
	ids := make([]uuid.UUID, n)
	rows := make([][]any, n)
	for i := range n {
		ids[i] = uuid.New()
		rows[i] = []any{ids[i], "Bench order", customers[i%len(customers)], owner(i), "EUR", oneLine, eur100, zeroAmount, zeroAmount, eur100,
			"DRAFT", now, "bench", now, "bench", int64(1), 1}
	}
	_, err := pool.CopyFrom(ctx, pgx.Identifier{"orders"}, cols, pgx.CopyFromRows(rows))
	return ids, err
}

// credit is the account service's answer at hand, for the in-process run.
type credit struct{}

func (credit) CreditTerms(context.Context, uuid.UUID) (domain.CreditTerms, error) {
	return domain.CreditTerms{Limit: &moneypb.Money{CurrencyCode: "EUR", Units: 1_000_000_000_000}, PaymentTerms: "NET_30", Active: true}, nil
}

func (credit) ContactAccount(context.Context, uuid.UUID) (uuid.UUID, error) { return uuid.Nil, nil }

func benchConfirm(ctx context.Context, o options, pool *pgxpool.Pool, orders orderv1.OrderServiceClient, customers []uuid.UUID, bearer string) error {
	// Enough drafts for both runs at a generous rate; each confirm takes
	// the next.
	n := int(float64(o.concurrency) * (o.warmup + o.duration).Seconds() * 400)
	step(fmt.Sprintf("loading %d draft orders per run", n))
	svc := app.New(postgres.New(pool, outbox.Writer{Service: "order"}, paging.NewCodec([]byte("bench"))), credit{})
	fmt.Printf("## ConfirmOrder with the credit check (concurrency %d, %d accounts)\n\n| path | confirms/s | p50 | p99 | vs raw |\n|---|---:|---:|---:|---:|\n",
		o.concurrency, len(customers))
	var rawRate float64
	for _, m := range []struct {
		name string
		fn   func(ids []uuid.UUID) func(context.Context, int64) error
	}{
		{"raw (the confirm's transaction in-process, credit terms at hand)", func(ids []uuid.UUID) func(context.Context, int64) error {
			return func(ctx context.Context, i int64) error {
				_, err := svc.ConfirmOrder(ctx, ids[int(i)%len(ids)], "", "", "", app.Override{})
				return err
			}
		}},
		{"gRPC ConfirmOrder (credit terms from the account service over gRPC)", func(ids []uuid.UUID) func(context.Context, int64) error {
			return func(ctx context.Context, i int64) error {
				_, err := orders.ConfirmOrder(metadata.AppendToOutgoingContext(ctx, "authorization", bearer),
					&orderv1.ConfirmOrderRequest{Name: "orders/" + ids[int(i)%len(ids)].String()})
				return err
			}
		}},
	} {
		ids, err := drafts(ctx, pool, customers, n)
		if err != nil {
			return err
		}
		step("confirm: " + m.name)
		var seq atomic.Int64
		seq.Store(-1)
		r, err := benchkit.LoadRun(auth.WithPrincipal(ctx, auth.Principal{Subject: "bench", Roles: []string{"ops"}}), o.concurrency, o.warmup, o.duration, &seq, m.fn(ids))
		if err != nil {
			return fmt.Errorf("%s: %w", m.name, err)
		}
		if int(seq.Load()) >= n {
			return fmt.Errorf("%s ran out of drafts (%d)", m.name, n)
		}
		if rawRate == 0 {
			rawRate = r.Rate()
		}
		fmt.Printf("| %s | %.0f | %v | %v | %.0f%% |\n", m.name, r.Rate(), r.P50, r.P99, 100*r.Rate()/rawRate)
	}
	fmt.Println()
	return nil
}

func benchRenewals(ctx context.Context, o options, pool *pgxpool.Pool, backends *benchkit.Backends, customers []uuid.UUID) error {
	step(fmt.Sprintf("loading %d active contracts whose renewals fall due within %v", o.renewals, o.dueWindow))
	if _, err := pool.Exec(ctx, `DELETE FROM timers WHERE purpose = $1`, domain.TimerRenewalDue); err != nil {
		return err
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	start := now.AddDate(0, -11, 0)
	end := start.AddDate(1, 0, 0)
	lines := json.RawMessage(oneLine)
	rates, _ := json.Marshal([]map[string]any{{"from": start.Format(time.DateOnly), "lines": lines, "amount": "100", "actor": "bench", "at": now}})
	terms, _ := json.Marshal([]map[string]any{{"number": 1, "start": start.Format(time.DateOnly), "end": end.Format(time.DateOnly), "months": 12, "outcome": "CURRENT"}})
	// The minute starts when the loading is done; each contract's timer
	// falls due somewhere in it.
	cols := []string{"id", "display_name", "account_id", "owner", "currency_code", "rates", "recurring_amount", "status", "start_date",
		"term_months", "evergreen", "billing_interval", "billing_anchor_day", "auto_renew", "renewal_term_months", "notice_period_days",
		"renewal_lead_days", "terms", "term_number", "term_end_date", "activated_at", "created_at", "created_by", "updated_at", "updated_by", "version"}
	ids := make([]uuid.UUID, o.renewals)
	rows := make([][]any, o.renewals)
	for i := range o.renewals {
		ids[i] = uuid.New()
		rows[i] = []any{ids[i], "Bench contract", customers[i%len(customers)], owner(i), "EUR", rates, eur100, "ACTIVE", start,
			12, false, "MONTHLY", start.Day(), false, 12, 0, 30, terms, 1, end, now, now, "bench", now, "bench", int64(1)}
	}
	if _, err := pool.CopyFrom(ctx, pgx.Identifier{"contracts"}, cols, pgx.CopyFromRows(rows)); err != nil {
		return err
	}
	first := time.Now().Add(o.dueIn)
	r := rand.New(rand.NewPCG(3, 4))
	timers := make([][]any, o.renewals)
	var lastDue time.Duration
	for i, id := range ids {
		offset := time.Duration(r.Int64N(int64(o.dueWindow) + 1))
		lastDue = max(lastDue, offset)
		timers[i] = []any{domain.TimerRenewalDue, id.String(), first.Add(offset), []byte("1")}
	}
	if _, err := pool.CopyFrom(ctx, pgx.Identifier{"timers"}, []string{"purpose", "key", "due_at", "payload"}, pgx.CopyFromRows(timers)); err != nil {
		return err
	}
	if _, err := pool.Exec(ctx, `ANALYZE timers`); err != nil {
		return err
	}
	nc, js, err := natsx.Connect(backends.NATSURL, "orderbench", slog.Default())
	if err != nil {
		return err
	}
	defer nc.Close()
	subjectCount := func(service, subject string) (uint64, error) {
		s, err := js.Stream(ctx, events.StreamName("", service))
		if err != nil {
			return 0, err
		}
		info, err := s.Info(ctx, jetstream.WithSubjectFilter(subject))
		if err != nil {
			return 0, err
		}
		return info.State.Subjects[subject], nil
	}
	dueSubject := "crm.order.contract_renewal_due"
	before, _ := subjectCount("order", dueSubject)
	opps, err := pg.Connect(ctx, pg.PoolConfig{URL: backends.DatabaseURL, Schema: "opportunity", MaxConns: 2})
	if err != nil {
		return err
	}
	defer opps.Close()
	// Counted from the renewal index (cheap while the services work);
	// the ones opened before this run are subtracted.
	countRenewals := func() (int, error) {
		var n int
		err := opps.QueryRow(ctx, `SELECT count(*) FROM opportunities WHERE renewal_contract_id IS NOT NULL`).Scan(&n)
		return n, err
	}
	renewalsBefore, err := countRenewals()
	if err != nil {
		return err
	}
	renewalOpps := func() (int, error) {
		n, err := countRenewals()
		return n - renewalsBefore, err
	}
	step("waiting for the minute to pass and every renewal to be published and opened")
	var published time.Duration
	deadline := first.Add(10 * time.Minute)
	for time.Now().Before(deadline) {
		time.Sleep(500 * time.Millisecond)
		n, err := subjectCount("order", dueSubject)
		if err != nil {
			return err
		}
		if published == 0 && int(n-before) >= o.renewals {
			published = time.Since(first)
		}
		got, err := renewalOpps()
		if err != nil {
			return err
		}
		if published != 0 && got >= o.renewals {
			break
		}
	}
	opened := time.Since(first)
	n, _ := subjectCount("order", dueSubject)
	got, _ := renewalOpps()
	var left int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM timers WHERE purpose = $1`, domain.TimerRenewalDue).Scan(&left); err != nil {
		return err
	}
	if published == 0 || got != o.renewals {
		return fmt.Errorf("after 10 minutes: %d renewals due published, %d renewal opportunities, %d timers left, of %d", n-before, got, left, o.renewals)
	}

	step("ceiling: the timer engine in-process, one row per timer")
	ceiling, err := engineCeiling(ctx, backends.DatabaseURL, o.renewals)
	if err != nil {
		return err
	}
	fmt.Printf("## Renewal timers (%d contracts due within %v)\n\n", o.renewals, o.dueWindow)
	fmt.Printf("| measure | from the first due moment | from the last due moment |\n|---|---:|---:|\n")
	round := func(d time.Duration) time.Duration { return d.Round(100 * time.Millisecond) }
	fmt.Printf("| every ContractRenewalDue published (%d, none doubled) | %v | %v |\n", n-before, round(published), round(published-lastDue))
	fmt.Printf("| every renewal opportunity open (%d of %d) | %v | %v |\n", got, o.renewals, round(opened), round(opened-lastDue))
	fmt.Printf("| ceiling: the engine firing %d due timers with a one-row handler in-process | %v (%.0f timers/s) | |\n\n",
		o.renewals, ceiling.Round(10*time.Millisecond), float64(o.renewals)/ceiling.Seconds())
	if int(n-before) != o.renewals {
		return fmt.Errorf("%d ContractRenewalDue published for %d contracts", n-before, o.renewals)
	}
	return nil
}

// engineCeiling fires n due timers with a handler that inserts one row,
// in-process, in a schema of its own.
func engineCeiling(ctx context.Context, url string, n int) (time.Duration, error) {
	pool, err := pg.Connect(ctx, pg.PoolConfig{URL: url, Schema: "timerbench", MaxConns: 8})
	if err != nil {
		return 0, err
	}
	defer pool.Close()
	if err := pg.Migrate(ctx, pool, "timerbench", pg.PlatformMigrations()); err != nil {
		return 0, err
	}
	if _, err := pool.Exec(ctx, `DROP TABLE IF EXISTS fired; CREATE TABLE fired (key text PRIMARY KEY); DELETE FROM timers`); err != nil {
		return 0, err
	}
	rows := make([][]any, n)
	due := time.Now().Add(-time.Minute)
	for i := range n {
		rows[i] = []any{"bench", strconv.Itoa(i), due, nil}
	}
	if _, err := pool.CopyFrom(ctx, pgx.Identifier{"timers"}, []string{"purpose", "key", "due_at", "payload"}, pgx.CopyFromRows(rows)); err != nil {
		return 0, err
	}
	if _, err := pool.Exec(ctx, `ANALYZE timers`); err != nil {
		return 0, err
	}
	e := &timer.Engine{Pool: pool, Handlers: map[string]timer.Handler{"bench": func(ctx context.Context, t timer.Timer) error {
		_, err := pg.Q(ctx, pool).Exec(ctx, `INSERT INTO fired VALUES ($1)`, t.Key)
		return err
	}}}
	t0 := time.Now()
	for {
		k, err := e.FireDue(ctx, 500)
		if err != nil {
			return 0, err
		}
		if k == 0 {
			break
		}
	}
	return time.Since(t0), nil
}

func benchForecast(ctx context.Context, o options, pool *pgxpool.Pool, orders orderv1.OrderServiceClient, callCtx context.Context) error {
	var have int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM orders WHERE display_name = 'Forecast order'`).Scan(&have); err != nil {
		return err
	}
	if have < o.orders {
		step(fmt.Sprintf("loading %d orders and %d contracts for the revenue forecast", o.orders, o.contracts))
		t0 := time.Now()
		if err := loadForecast(ctx, pool, o.orders, o.contracts); err != nil {
			return err
		}
		step(fmt.Sprintf("loaded in %v", time.Since(t0).Round(time.Second)))
	}
	req := &orderv1.GetRevenueForecastRequest{Period: orderv1.ReportPeriod_REPORT_PERIOD_QUARTER, GroupByOwner: true}
	var lat, rawLat []time.Duration
	var cells int
	q := app.ForecastQuery{Period: app.PeriodQuarter, GroupByOwner: true}
	now := time.Now().UTC()
	qStart := time.Date(now.Year(), time.Month((int(now.Month())-1)/3*3+1), 1, 0, 0, 0, 0, time.UTC)
	q.Start, q.End = domain.DateOf(qStart), domain.DateOf(qStart.AddDate(0, 12, -1))
	repo := postgres.New(pool, outbox.Writer{Service: "order"}, paging.NewCodec([]byte("bench")))
	for i := range o.forecasts + 5 {
		t0 := time.Now()
		fc, err := orders.GetRevenueForecast(callCtx, req)
		if err != nil {
			return err
		}
		d := time.Since(t0)
		t0 = time.Now()
		if _, err := repo.RevenueForecast(ctx, q); err != nil {
			return err
		}
		if i >= 5 {
			lat, rawLat = append(lat, d), append(rawLat, time.Since(t0))
		}
		cells = len(fc.Rows)
	}
	fmt.Printf("## GetRevenueForecast (%d orders, %d contracts; quarter x owner over the current and next three quarters: %d rows)\n\n", o.orders, o.contracts, cells)
	fmt.Printf("| path | requests | p50 | p99 | max |\n|---|---:|---:|---:|---:|\n")
	for _, r := range []struct {
		name string
		lat  []time.Duration
	}{{"gRPC GetRevenueForecast", lat}, {"raw (its SQL on a pool)", rawLat}} {
		fmt.Printf("| %s | %d | %v | %v | %v |\n", r.name, len(r.lat), benchkit.Round(benchkit.Percentile(r.lat, 50)),
			benchkit.Round(benchkit.Percentile(r.lat, 99)), benchkit.Round(benchkit.Percentile(r.lat, 100)))
	}
	fmt.Println()
	return nil
}

// loadForecast COPYs confirmed orders (expected over the last and next two
// years) and active monthly contracts (12-month terms), then writes their
// billing per month and the monthly revenue table from them, as the
// service's writes keep them.
func loadForecast(ctx context.Context, pool *pgxpool.Pool, orders, contracts int) error {
	now := time.Now().UTC().Truncate(time.Microsecond)
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	r := rand.New(rand.NewPCG(1, 2))
	cols := []string{"id", "display_name", "account_id", "owner", "currency_code", "lines", "subtotal", "discount", "tax", "total",
		"status", "expected_fulfillment_date", "confirmed_at", "exposure", "created_at", "created_by", "updated_at", "updated_by", "version", "last_line_id"}
	const batch = 50_000
	for done := 0; done < orders; done += batch {
		m := min(batch, orders-done)
		rows := make([][]any, m)
		for i := range m {
			rows[i] = []any{uuid.New(), "Forecast order", uuid.New(), owner(r.IntN(50)), "EUR", oneLine, eur100, zeroAmount, zeroAmount, eur100,
				"CONFIRMED", today.AddDate(0, 0, r.IntN(3*365)-365), now, eur100, now, "bench", now, "bench", int64(1), 1}
		}
		if _, err := pool.CopyFrom(ctx, pgx.Identifier{"orders"}, cols, pgx.CopyFromRows(rows)); err != nil {
			return err
		}
	}
	ccols := []string{"id", "display_name", "account_id", "owner", "currency_code", "rates", "recurring_amount", "status", "start_date",
		"term_months", "evergreen", "billing_interval", "billing_anchor_day", "auto_renew", "renewal_term_months", "notice_period_days",
		"renewal_lead_days", "term_number", "created_at", "created_by", "updated_at", "updated_by", "version"}
	for done := 0; done < contracts; done += batch {
		m := min(batch, contracts-done)
		rows := make([][]any, m)
		for i := range m {
			start := today.AddDate(0, 0, r.IntN(2*365)-365)
			rows[i] = []any{uuid.New(), "Forecast contract", uuid.New(), owner(r.IntN(50)), "EUR", []byte(`[]`), eur100, "ACTIVE", start,
				12, false, "MONTHLY", start.Day(), false, 12, 0, 30, 1, now, "bench", now, "bench", int64(1)}
		}
		if _, err := pool.CopyFrom(ctx, pgx.Identifier{"contracts"}, ccols, pgx.CopyFromRows(rows)); err != nil {
			return err
		}
	}
	for _, sql := range []string{
		`INSERT INTO contract_revenue (contract_id, month, owner, currency_code, amount, periods)
			SELECT id, date_trunc('month', start_date + make_interval(months => n))::date, owner, currency_code, recurring_amount, 1
			FROM contracts, generate_series(0, 11) n WHERE display_name = 'Forecast contract'`,
		`INSERT INTO revenue_monthly AS r (month, owner, currency_code, order_amount, order_count)
			SELECT date_trunc('month', expected_fulfillment_date)::date, owner, currency_code, sum(subtotal - discount), count(*)
			FROM orders WHERE display_name = 'Forecast order' GROUP BY 1, 2, 3
			ON CONFLICT (month, owner, currency_code) DO UPDATE SET order_amount = r.order_amount + EXCLUDED.order_amount,
				order_count = r.order_count + EXCLUDED.order_count`,
		`INSERT INTO revenue_monthly AS r (month, owner, currency_code, contract_amount, period_count)
			SELECT month, owner, currency_code, sum(amount), sum(periods) FROM contract_revenue
			WHERE contract_id IN (SELECT id FROM contracts WHERE display_name = 'Forecast contract') GROUP BY 1, 2, 3
			ON CONFLICT (month, owner, currency_code) DO UPDATE SET contract_amount = r.contract_amount + EXCLUDED.contract_amount,
				period_count = r.period_count + EXCLUDED.period_count`,
		`VACUUM ANALYZE revenue_monthly`,
	} {
		if _, err := pool.Exec(ctx, sql); err != nil {
			return err
		}
	}
	return nil
}

func environment(o options) string {
	mode := ""
	if o.smoke {
		mode = " SMOKE RUN (tiny sizes; figures mean nothing);"
	}
	return fmt.Sprintf("%d CPUs;%s load generator, NATS, PostgreSQL (fsync on, shared_buffers 1GB) and the account, order and opportunity "+
		"services on one machine; confirms: %v measured after %v warm-up; Postgres pools %d connections; services' consumers %d workers",
		runtime.NumCPU(), mode, o.duration, o.warmup, o.dbConns, o.consumerWorkers)
}
