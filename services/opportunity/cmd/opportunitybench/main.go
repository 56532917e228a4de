// Command opportunitybench measures the opportunity service at size. It
// starts a durable PostgreSQL (fsync on) and NATS, runs the opportunity
// service as its own process (as deployed), loads N opportunities (default
// 1,000,000) with COPY, and measures:
//
//   - GetForecast by quarter x owner x stage over the default range (the
//     current and next three quarters): latency percentiles;
//   - MoveOpportunity at a concurrency (default 32): throughput and
//     latency, against the raw ceiling of the same transaction (share the
//     pipeline, lock the opportunity, update it, append its stage history
//     and outbox rows, commit) run in-process through the use case and
//     repository, with no gRPC in front, in the same run.
//
// -smoke runs every part at tiny sizes in seconds (CI keeps the tool
// working; its figures mean nothing). Load generator and servers share the
// machine; the report says so.
package main

import (
	"context"
	"flag"
	"fmt"
	"github.com/crmsuite/crm/platform/authn"
	"github.com/crmsuite/crm/platform/benchkit"
	"math/big"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	opportunityv1 "github.com/crmsuite/crm/gen/go/crm/opportunity/v1"
	workflowv1 "github.com/crmsuite/crm/gen/go/crm/workflow/v1"
	"github.com/crmsuite/crm/platform/auth"
	"github.com/crmsuite/crm/platform/outbox"
	"github.com/crmsuite/crm/platform/paging"
	"github.com/crmsuite/crm/platform/pg"
	"github.com/crmsuite/crm/platform/procs"
	"github.com/crmsuite/crm/services/opportunity/internal/adapters/postgres"
	"github.com/crmsuite/crm/services/opportunity/internal/app"
)

type options struct {
	bin         string
	rows        int
	forecasts   int
	concurrency int
	duration    time.Duration
	warmup      time.Duration
	dbConns     int
	dataDir     string
	workflowBin string
	smoke       bool
}

func main() {
	var o options
	flag.StringVar(&o.bin, "bin", "", "the opportunity binary; default: go build it")
	flag.IntVar(&o.rows, "rows", 1_000_000, "opportunities to load")
	flag.IntVar(&o.forecasts, "forecasts", 200, "GetForecast requests measured")
	flag.IntVar(&o.concurrency, "concurrency", 32, "concurrency of the move runs")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "measured time per move run")
	flag.DurationVar(&o.warmup, "warmup", 2*time.Second, "unmeasured time before each move run")
	flag.IntVar(&o.dbConns, "db-conns", 32, "Postgres pool size of the service and of the raw run")
	flag.StringVar(&o.dataDir, "data", "", "keep PostgreSQL here and reuse it (and its loaded rows) across runs; default a temp dir")
	flag.StringVar(&o.workflowBin, "workflow-bin", "", "the workflow binary (gated moves); default: workflow beside -bin, else go build it")
	flag.BoolVar(&o.smoke, "smoke", false, "tiny sizes and durations: checks the tool works, measures nothing")
	flag.Parse()
	if o.smoke {
		o.rows, o.forecasts, o.concurrency = 2000, 20, 8
		o.duration, o.warmup = time.Second, 200*time.Millisecond
	}
	if err := run(context.Background(), o); err != nil {
		fmt.Fprintln(os.Stderr, "opportunitybench:", err)
		os.Exit(1)
	}
}

func step(msg string) { fmt.Fprintf(os.Stderr, "opportunitybench: %s\n", msg) }

func run(ctx context.Context, o options) error {
	tmp, err := os.MkdirTemp("", "opportunitybench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	_ = os.Chmod(tmp, 0o755)
	if o.bin == "" {
		step("building the opportunity service")
		o.bin = filepath.Join(tmp, "opportunity")
		if out, err := exec.CommandContext(ctx, "go", "build", "-o", o.bin, "github.com/crmsuite/crm/services/opportunity/cmd/opportunity").CombinedOutput(); err != nil {
			return fmt.Errorf("build: %v\n%s", err, out)
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
	dbURL := backends.DatabaseURL
	logf, err := os.Create(filepath.Join(tmp, "service.log"))
	if err != nil {
		return err
	}
	defer logf.Close()
	authEnv, bearer, err := authn.DevCredentials("bench", "admin")
	if err != nil {
		return err
	}
	authorization = bearer
	dbEnv, err := backends.DatabaseEnv("opportunity")
	if err != nil {
		return err
	}
	addr, workflowAddr := benchkit.FreeAddr(), benchkit.FreeAddr()
	svcProc, err := procs.Start("opportunity", o.bin, append(append([]string{
		"GRPC_ADDR=" + addr, "METRICS_ADDR=off", "NATS_URL=" + backends.NATSURL, "WORKFLOW_GRPC_ADDR=" + workflowAddr,
		"DB_MAX_CONNS=" + strconv.Itoa(o.dbConns), "PAGE_TOKEN_SECRET=bench", "LOG_LEVEL=warn",
	}, dbEnv...), authEnv...), logf)
	if err != nil {
		return err
	}
	defer svcProc.Stop(20 * time.Second) //nolint:errcheck
	if err := svcProc.WaitTCP(addr, 2*time.Minute); err != nil {
		return err
	}
	pool, err := pg.Connect(ctx, pg.PoolConfig{URL: dbURL, Schema: "opportunity", MaxConns: int32(o.dbConns)})
	if err != nil {
		return err
	}
	defer pool.Close()
	var have int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM opportunities`).Scan(&have); err != nil {
		return err
	}
	if have < o.rows {
		step(fmt.Sprintf("loading %d opportunities with COPY", o.rows-have))
		t0 := time.Now()
		if err := load(ctx, pool, o.rows-have); err != nil {
			return err
		}
		step(fmt.Sprintf("loaded in %v; analyzing", time.Since(t0).Round(time.Second)))
		if _, err := pool.Exec(ctx, `VACUUM ANALYZE opportunities`); err != nil {
			return err
		}
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	client := opportunityv1.NewOpportunityServiceClient(conn)
	callCtx := metadata.AppendToOutgoingContext(ctx, "authorization", authorization)

	fmt.Printf("# opportunitybench %s\n\n%s\n\n", time.Now().Format(time.RFC3339), environment(o))

	step("GetForecast quarter x owner x stage")
	req := &opportunityv1.GetForecastRequest{Period: opportunityv1.ForecastPeriod_FORECAST_PERIOD_QUARTER, GroupBy: []opportunityv1.ForecastDimension{
		opportunityv1.ForecastDimension_FORECAST_DIMENSION_OWNER, opportunityv1.ForecastDimension_FORECAST_DIMENSION_STAGE}}
	var lat []time.Duration
	var cells int
	for i := range o.forecasts + 5 {
		t0 := time.Now()
		fc, err := client.GetForecast(callCtx, req)
		if err != nil {
			return err
		}
		if i >= 5 { // warm-up
			lat = append(lat, time.Since(t0))
		}
		cells = len(fc.Rows)
	}
	var open int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM opportunities WHERE state = 'OPEN'`).Scan(&open); err != nil {
		return err
	}
	fmt.Printf("## GetForecast (%d opportunities, %d open; quarter x owner x stage, default range: %d rows)\n\n", o.rows, open, cells)
	fmt.Printf("| requests | p50 | p99 | max |\n|---:|---:|---:|---:|\n| %d | %v | %v | %v |\n\n",
		len(lat), benchkit.Round(benchkit.Percentile(lat, 50)), benchkit.Round(benchkit.Percentile(lat, 99)), benchkit.Round(benchkit.Percentile(lat, 100)))

	// Moves go between two open stages of opportunities that are open.
	rows, err := pool.Query(ctx, `SELECT id FROM opportunities WHERE state = 'OPEN' LIMIT 20000`)
	if err != nil {
		return err
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return err
	}
	svc := app.New(postgres.New(pool, outbox.Writer{Service: "opportunity"}, paging.NewCodec([]byte("bench"))), nil)
	raw := func(ctx context.Context, i int64) error {
		_, err := svc.MoveOpportunity(ctx, ids[int(i)%len(ids)], moveStage(i), "", "", app.Override{})
		return err
	}
	grpcMove := func(ctx context.Context, i int64) error {
		_, err := client.MoveOpportunity(metadata.AppendToOutgoingContext(ctx, "authorization", authorization), &opportunityv1.MoveOpportunityRequest{
			Name: "opportunities/" + ids[int(i)%len(ids)].String(), Stage: moveStage(i)})
		return err
	}
	fmt.Printf("## MoveOpportunity (concurrency %d, %d opportunities in turn)\n\n| path | moves/s | p50 | p99 | vs raw | vs gRPC without a process |\n|---|---:|---:|---:|---:|---:|\n", o.concurrency, len(ids))
	var seq atomic.Int64
	var rawRate, ungatedRate float64
	measure := func(name string, fn func(context.Context, int64) error) (float64, error) {
		step("move: " + name)
		r, err := benchkit.LoadRun(auth.WithPrincipal(ctx, auth.Principal{Subject: "bench"}), o.concurrency, o.warmup, o.duration, &seq, fn)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", name, err)
		}
		if rawRate == 0 {
			rawRate = r.Rate()
		}
		vsUngated := "–"
		if ungatedRate > 0 {
			vsUngated = fmt.Sprintf("%.0f%%", 100*r.Rate()/ungatedRate)
		}
		fmt.Printf("| %s | %.0f | %v | %v | %.0f%% | %s |\n", name, r.Rate(), r.P50, r.P99, 100*r.Rate()/rawRate, vsUngated)
		return r.Rate(), nil
	}
	if _, err := measure("raw (same transaction in-process)", raw); err != nil {
		return err
	}
	if ungatedRate, err = measure("gRPC MoveOpportunity, no process", grpcMove); err != nil {
		return err
	}
	step("starting the workflow service and defining a BLOCK process on the pipeline")
	wf, err := gateMoves(ctx, o, backends, logf, addr, workflowAddr, authEnv, pool, ids)
	if wf != nil {
		defer wf.Stop(20 * time.Second) //nolint:errcheck
	}
	if err != nil {
		return err
	}
	if _, err := measure("gRPC MoveOpportunity, BLOCK process (steps met)", grpcMove); err != nil {
		return err
	}
	fmt.Println()
	fmt.Println("The BLOCK process: entering needs_analysis needs a condition, proposal also an amount (condition) and a logged meeting (one exists for each opportunity), plus an optional checklist item; every move asks the workflow service (CheckTransition, a gRPC call with a deadline), forward moves evaluate the conditions and read the opportunity's activities. Target: gated >= 70% of no process.")
	fmt.Println()
	return nil
}

// gateMoves starts the workflow service, defines a BLOCK process on the
// default pipeline whose steps every loaded opportunity meets (a logged
// meeting each, written straight into the workflow schema) and waits
// until the opportunity service gates moves.
func gateMoves(ctx context.Context, o options, backends *benchkit.Backends, logf *os.File, oppAddr, workflowAddr string, authEnv []string, pool *pgxpool.Pool, ids []uuid.UUID) (*procs.Proc, error) {
	bin := o.workflowBin
	if bin == "" {
		bin = filepath.Join(filepath.Dir(o.bin), "workflow")
		if _, err := os.Stat(bin); err != nil {
			bin = filepath.Join(os.TempDir(), fmt.Sprintf("opportunitybench-workflow-%d", os.Getpid()))
			defer os.Remove(bin)
			if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/crmsuite/crm/services/workflow/cmd/workflow").CombinedOutput(); err != nil {
				return nil, fmt.Errorf("build workflow: %v\n%s", err, out)
			}
		}
	}
	dbEnv, err := backends.DatabaseEnv("workflow")
	if err != nil {
		return nil, err
	}
	wf, err := procs.Start("workflow", bin, append(append([]string{
		"GRPC_ADDR=" + workflowAddr, "METRICS_ADDR=off", "NATS_URL=" + backends.NATSURL, "OPPORTUNITY_GRPC_ADDR=" + oppAddr,
		"DB_MAX_CONNS=" + strconv.Itoa(o.dbConns), "PAGE_TOKEN_SECRET=bench", "LOG_LEVEL=warn",
	}, dbEnv...), authEnv...), logf)
	if err != nil {
		return nil, err
	}
	if err := wf.WaitTCP(workflowAddr, 2*time.Minute); err != nil {
		return wf, err
	}
	if _, err := pool.Exec(ctx, `INSERT INTO workflow.activities (id, type, regarding, regarding_type, owner, status, occur_at, completed_at,
			created_at, created_by, updated_at, updated_by, version)
		SELECT gen_random_uuid(), 'MEETING', 'opportunities/' || id, 'OPPORTUNITY', owner, 'DONE', now(), now(), now(), 'bench', now(), 'bench', 1
		FROM opportunity.opportunities WHERE id = ANY($1)
		AND NOT EXISTS (SELECT 1 FROM workflow.activities a WHERE a.regarding = 'opportunities/' || id AND a.type = 'MEETING')`, ids); err != nil {
		return wf, fmt.Errorf("meetings: %w", err)
	}
	conn, err := grpc.NewClient(workflowAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return wf, err
	}
	defer conn.Close()
	cond := func(id, c string) *workflowv1.ProcessStep {
		return &workflowv1.ProcessStep{Id: id, Title: id, Required: true, Kind: &workflowv1.ProcessStep_Condition{Condition: c}}
	}
	_, err = workflowv1.NewProcessServiceClient(conn).CreateProcessDefinition(metadata.AppendToOutgoingContext(ctx, "authorization", authorization),
		&workflowv1.CreateProcessDefinitionRequest{ProcessDefinition: &workflowv1.ProcessDefinition{
			DisplayName: "bench", RecordType: workflowv1.ProcessRecordType_PROCESS_RECORD_TYPE_OPPORTUNITY,
			Pipeline: "pipelines/00000000-0000-4000-8000-000000000001", Enforcement: workflowv1.Enforcement_ENFORCEMENT_BLOCK, Active: true,
			Stages: []*workflowv1.ProcessStage{
				{Stage: "needs_analysis", Steps: []*workflowv1.ProcessStep{cond("owned", `record.owner != ""`)}},
				{Stage: "proposal", Steps: []*workflowv1.ProcessStep{
					cond("amount", "has(record.amount) && record.amount.units > 0"),
					{Id: "meeting", Title: "meeting", Required: true, Kind: &workflowv1.ProcessStep_Activity{Activity: workflowv1.ActivityType_ACTIVITY_TYPE_MEETING}},
					{Id: "deck", Title: "deck", Kind: &workflowv1.ProcessStep_Checklist{Checklist: &workflowv1.ChecklistItem{}}},
				}},
			}}})
	if err != nil && status.Code(err) != codes.FailedPrecondition { // ACTIVE_PROCESS_EXISTS: a kept -data dir
		return wf, fmt.Errorf("define the process: %w", err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		var n int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM opportunity.process_gates WHERE active`).Scan(&n); err != nil {
			return wf, err
		}
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			return wf, fmt.Errorf("the opportunity service did not learn the process in a minute")
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The opportunities are mid-process: their instances exist (a record's
	// first check starts one, a write measured here only once per record).
	_, err = pool.Exec(ctx, `INSERT INTO workflow.process_instances (record, definition, version, created_at, updated_at)
		SELECT 'opportunities/' || o.id, d.id, d.version, now(), now()
		FROM unnest($1::uuid[]) o(id), workflow.process_definitions d WHERE d.active AND d.record_type = 'OPPORTUNITY'
		ON CONFLICT (record) DO NOTHING`, ids)
	return wf, err
}

// moveStage alternates the opportunity's stage; i/len(ids) flips per pass.
func moveStage(i int64) string {
	if (i/7)%2 == 0 {
		return "needs_analysis"
	}
	return "proposal"
}

var openStages = []struct {
	id, category string
	prob         int
}{{"qualification", "PIPELINE", 10}, {"needs_analysis", "PIPELINE", 25}, {"proposal", "BEST_CASE", 50}, {"negotiation", "COMMIT", 75}}

// load COPYs n opportunities of the default pipeline: 70% open across the
// open stages, 20% won, 10% lost; 50 owners; EUR and USD; expected close
// dates over the last and the next two years.
func load(ctx context.Context, pool interface {
	CopyFrom(context.Context, pgx.Identifier, []string, pgx.CopyFromSource) (int64, error)
}, n int) error {
	pipeline := uuid.MustParse("00000000-0000-4000-8000-000000000001")
	now := time.Now().UTC().Truncate(time.Microsecond)
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	r := rand.New(rand.NewPCG(1, 2))
	cols := []string{"id", "display_name", "account_id", "owner", "pipeline_id", "stage", "last_open_stage", "state", "currency_code",
		"amount", "expected_close_date", "probability", "forecast_category", "close_time", "stage_entered_at", "created_at",
		"created_by", "updated_at", "updated_by", "version"}
	const batch = 50_000
	for done := 0; done < n; done += batch {
		m := min(batch, n-done)
		rows := make([][]any, m)
		for i := range m {
			st := openStages[r.IntN(len(openStages))]
			state, stage, prob, cat := "OPEN", st.id, st.prob, st.category
			var closeTime *time.Time
			switch x := r.IntN(10); {
			case x >= 9:
				state, stage, prob, cat = "LOST", "lost", 0, "OMITTED"
			case x >= 7:
				state, stage, prob, cat = "WON", "won", 100, "CLOSED"
			}
			if state != "OPEN" {
				t := now.Add(-time.Duration(r.IntN(365*24)) * time.Hour)
				closeTime = &t
			}
			currency := "EUR"
			if r.IntN(5) == 0 {
				currency = "USD"
			}
			amount := pgtype.Numeric{Int: big.NewInt(int64(100_000 + r.IntN(10_000_000))), Exp: -2, Valid: true}
			rows[i] = []any{uuid.New(), fmt.Sprintf("Deal %d", done+i), uuid.New(), fmt.Sprintf("owner%02d", r.IntN(50)), pipeline,
				stage, st.id, state, currency, amount, today.AddDate(0, 0, r.IntN(3*365)-365), prob, cat, closeTime,
				now, now.Add(-time.Duration(r.IntN(2*365*24)) * time.Hour), "bench", now, "bench", int64(1)}
		}
		if _, err := pool.CopyFrom(ctx, pgx.Identifier{"opportunities"}, cols, pgx.CopyFromRows(rows)); err != nil {
			return fmt.Errorf("copy: %w", err)
		}
	}
	return nil
}

func environment(o options) string {
	cpus := "?"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		cpus = strconv.Itoa(strings.Count(string(b), "processor\t:"))
	}
	mode := ""
	if o.smoke {
		mode = " SMOKE RUN (tiny sizes; figures mean nothing);"
	}
	return fmt.Sprintf("%s CPUs;%s load generator, NATS, PostgreSQL (fsync on, shared_buffers 1GB) and the service on one machine; "+
		"moves: %v measured after %v warm-up; Postgres pool %d connections", cpus, mode, o.duration, o.warmup, o.dbConns)
}

// authorization is the Authorization header value of the benchmark's
// calls: a token the services it starts accept (authn.DevCredentials).
var authorization string
