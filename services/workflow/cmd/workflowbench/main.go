// Command workflowbench measures the workflow service at size. It starts a
// durable PostgreSQL (fsync on) and NATS JetStream, runs the lead and
// workflow services as their own processes (as deployed), and measures,
// each against its raw ceiling in the same run:
//
//   - rule throughput: N leads (default 100,000) imported through the lead
//     service's streaming import, rated HOT, WARM and COLD in turn: the
//     seeded rating rules give each a call-back task. Reported: the import
//     rate, and the time until every task exists (tasks/s); the ceiling
//     is the same rows (tasks, their audit entries, timers and events,
//     and the rule runs) written straight into Postgres in batches;
//   - timers: N open tasks (default 100,000) falling due within the same
//     minute: the time until every TaskOverdue is published, none missed
//     and none doubled; the ceiling is the timer engine firing as many
//     timers with a one-row handler in-process;
//   - timelines: an account with N activities (default 100,000) across
//     1,000 records: ListActivities' first page as a manager, latency
//     percentiles, against the same SQL run directly;
//   - my tasks: N open tasks (default 1,000,000) over 1,000 owners:
//     ListTasks' first page as a salesperson, against the same SQL;
//   - SLA timers: N running SLA clocks (default 100,000) breaching within
//     the same minute, then as many at once: the time until every
//     SlaBreached is published, none missed and none doubled; the ceiling
//     is the same claims, updates, outbox rows and deletes straight in
//     Postgres.
//
// -smoke runs every part at tiny sizes in seconds (CI keeps the tool
// working; its figures mean nothing).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	leadv1 "github.com/crmsuite/crm/gen/go/crm/lead/v1"
	workflowv1 "github.com/crmsuite/crm/gen/go/crm/workflow/v1"
	"github.com/crmsuite/crm/platform/authn"
	"github.com/crmsuite/crm/platform/benchkit"
	"github.com/crmsuite/crm/platform/events"
	"github.com/crmsuite/crm/platform/natsx"
	"github.com/crmsuite/crm/platform/pg"
	"github.com/crmsuite/crm/platform/procs"
)

type options struct {
	binDir          string
	leads           int
	dueTasks        int
	slaTimers       int
	timeline        int
	tasks           int
	requests        int
	dbConns         int
	consumerWorkers int
	dataDir         string
	smoke           bool
	parts           string
	dueIn           time.Duration
	slaDueIn        time.Duration
	dueWindow       time.Duration
}

func main() {
	var o options
	flag.StringVar(&o.binDir, "bin", "", "directory with the lead and workflow binaries; default: go build them")
	flag.IntVar(&o.leads, "leads", 100_000, "leads imported for the rule throughput")
	flag.IntVar(&o.dueTasks, "due-tasks", 100_000, "open tasks falling due within one minute")
	flag.IntVar(&o.slaTimers, "sla-timers", 100_000, "SLA clocks breaching within one minute")
	flag.IntVar(&o.timeline, "timeline", 100_000, "activities on one account's timeline")
	flag.IntVar(&o.tasks, "tasks", 1_000_000, "open tasks over 1,000 owners for 'my tasks'")
	flag.IntVar(&o.requests, "requests", 500, "requests measured per list")
	flag.IntVar(&o.dbConns, "db-conns", 32, "Postgres pool size of the services and of the raw runs")
	flag.IntVar(&o.consumerWorkers, "consumer-workers", 8, "events each consumer of the services applies at once")
	flag.StringVar(&o.dataDir, "data", "", "keep PostgreSQL here (and its loaded rows across runs); default a temp dir")
	flag.BoolVar(&o.smoke, "smoke", false, "tiny sizes: checks the tool works, measures nothing")
	flag.StringVar(&o.parts, "parts", "rules,timers,timeline,tasks,sla", "which parts to run")
	flag.DurationVar(&o.dueIn, "due-in", 10*time.Second, "when the tasks start falling due, after loading")
	flag.DurationVar(&o.dueWindow, "due-window", time.Minute, "the tasks fall due spread over this")
	flag.DurationVar(&o.slaDueIn, "sla-due-in", time.Minute, "when the SLA clocks start breaching, after loading (their rows are wider)")
	flag.Parse()
	if o.smoke {
		o.leads, o.dueTasks, o.timeline, o.tasks, o.requests, o.slaTimers = 1000, 1000, 2000, 5000, 20, 1000
		o.dueIn, o.dueWindow, o.slaDueIn = 2*time.Second, 2*time.Second, 3*time.Second
	}
	if err := run(context.Background(), o); err != nil {
		fmt.Fprintln(os.Stderr, "workflowbench:", err)
		os.Exit(1)
	}
}

func step(msg string) { fmt.Fprintf(os.Stderr, "workflowbench: %s\n", msg) }

type bench struct {
	o        options
	pool     *pgxpool.Pool
	js       jetstream.JetStream
	leads    leadv1.LeadServiceClient
	wf       workflowv1.WorkflowServiceClient
	wfConn   *grpc.ClientConn
	backends *benchkit.Backends
	devAuth  []string
	// workflow is the running workflow service; startWorkflow starts it
	// again (after stopping it).
	workflow      *procs.Proc
	startWorkflow func() (*procs.Proc, error)
}

// as is a call context of user with roles (a dev token).
func (b *bench) as(ctx context.Context, user string, roles ...string) (context.Context, error) {
	var secret string
	for _, kv := range b.devAuth {
		if v, ok := strings.CutPrefix(kv, "AUTH_HS256_SECRET="); ok {
			secret = v
		}
	}
	tok, err := authn.Mint([]byte(secret), "crm", "crm", user, roles, 24*time.Hour)
	if err != nil {
		return nil, err
	}
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tok), nil
}

func run(ctx context.Context, o options) error {
	tmp, err := os.MkdirTemp("", "workflowbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	_ = os.Chmod(tmp, 0o755)
	if o.binDir == "" {
		step("building the services")
		o.binDir = tmp
		for _, svc := range []string{"lead", "workflow"} {
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
	authEnv, _, err := authn.DevCredentials("bench", "admin")
	if err != nil {
		return err
	}
	addrs := map[string]string{"lead": benchkit.FreeAddr(), "workflow": benchkit.FreeAddr()}
	start := func(svc string) (*procs.Proc, error) {
		dbEnv, err := backends.DatabaseEnv(svc)
		if err != nil {
			return nil, err
		}
		p, err := procs.Start(svc, filepath.Join(o.binDir, svc), append(append([]string{
			"GRPC_ADDR=" + addrs[svc], "METRICS_ADDR=" + os.Getenv("WORKFLOWBENCH_METRICS_"+strings.ToUpper(svc)), "PPROF=" + os.Getenv("WORKFLOWBENCH_PPROF"),
			"NATS_URL=" + backends.NATSURL, "LEAD_GRPC_ADDR=" + addrs["lead"], "ACCOUNT_GRPC_ADDR=" + benchkit.FreeAddr(),
			"OPPORTUNITY_GRPC_ADDR=" + benchkit.FreeAddr(), "ORDER_GRPC_ADDR=" + benchkit.FreeAddr(),
			"DB_MAX_CONNS=" + strconv.Itoa(o.dbConns), "PAGE_TOKEN_SECRET=bench", "LOG_LEVEL=warn", "CONSUMER_WORKERS=" + strconv.Itoa(o.consumerWorkers),
			"TIMER_POLL_INTERVAL=200ms",
		}, dbEnv...), authEnv...), logf)
		if err != nil {
			return nil, err
		}
		return p, p.WaitTCP(addrs[svc], 2*time.Minute)
	}
	leadProc, err := start("lead")
	if err != nil {
		return err
	}
	defer leadProc.Stop(20 * time.Second) //nolint:errcheck
	wfProc, err := start("workflow")
	if err != nil {
		return err
	}
	var b *bench
	defer func() {
		if b != nil {
			_ = b.workflow.Stop(20 * time.Second)
		} else {
			_ = wfProc.Stop(20 * time.Second)
		}
	}()
	dial := func(addr string) (*grpc.ClientConn, error) {
		return grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	}
	leadConn, err := dial(addrs["lead"])
	if err != nil {
		return err
	}
	defer leadConn.Close()
	wfConn, err := dial(addrs["workflow"])
	if err != nil {
		return err
	}
	defer wfConn.Close()
	pool, err := pg.Connect(ctx, pg.PoolConfig{URL: backends.DatabaseURL, Schema: "workflow", MaxConns: int32(o.dbConns)})
	if err != nil {
		return err
	}
	defer pool.Close()
	nc, js, err := natsx.Connect(backends.NATSURL, "workflowbench", slog.Default())
	if err != nil {
		return err
	}
	defer nc.Close()
	b = &bench{o: o, pool: pool, js: js, leads: leadv1.NewLeadServiceClient(leadConn), wf: workflowv1.NewWorkflowServiceClient(wfConn), wfConn: wfConn,
		backends: backends, devAuth: authEnv, workflow: wfProc, startWorkflow: func() (*procs.Proc, error) { return start("workflow") }}

	fmt.Printf("# workflowbench %s\n\n%s\n\n", time.Now().Format(time.RFC3339), environment(o))
	parts := strings.Split(o.parts, ",")
	for _, p := range []struct {
		name string
		fn   func(context.Context) error
	}{{"rules", b.rules}, {"timers", b.timers}, {"timeline", b.timelines}, {"tasks", b.myTasks}, {"sla", b.slaTimers}} {
		if slices.Contains(parts, p.name) {
			if err := p.fn(ctx); err != nil {
				return fmt.Errorf("%s: %w", p.name, err)
			}
		}
	}
	return nil
}

func (b *bench) count(ctx context.Context, q string, args ...any) (int, error) {
	var n int
	err := b.pool.QueryRow(ctx, q, args...).Scan(&n)
	return n, err
}

// subjectCount is how many events of a subject a stream holds.
func (b *bench) subjectCount(ctx context.Context, service, subject string) (uint64, error) {
	s, err := b.js.Stream(ctx, events.StreamName("", service))
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(subject))
	if err != nil {
		return 0, err
	}
	return info.State.Subjects[subject], nil
}

var ratings = []leadv1.Rating{leadv1.Rating_RATING_HOT, leadv1.Rating_RATING_WARM, leadv1.Rating_RATING_COLD}

// rules imports the leads and waits for their call-backs: with the
// workflow service running along (both share the machine's CPUs), then
// with it stopped during the import and started after (each alone).
func (b *bench) rules(ctx context.Context) error {
	type result struct{ imported, done time.Duration }
	var rs [2]result
	for i, along := range []bool{true, false} {
		imported, done, err := b.importRun(ctx, along)
		if err != nil {
			return err
		}
		rs[i] = result{imported, done}
	}
	step("ceiling: the same rows written straight into Postgres")
	ceiling, err := b.rulesCeiling(ctx, b.o.leads)
	if err != nil {
		return err
	}
	n := float64(b.o.leads)
	fmt.Printf("## Rule throughput (%d imported leads, the seeded rating rules: 3 runs and 1 call-back task per lead)\n\n", b.o.leads)
	fmt.Printf("| run | measure | time | rate |\n|---|---|---:|---:|\n")
	fmt.Printf("| workflow running along | lead import (the lead service, gRPC stream, 1,000 rows per message) | %v | %.0f rows/s |\n", rs[0].imported.Round(time.Millisecond), n/rs[0].imported.Seconds())
	fmt.Printf("| workflow running along | every call-back task exists, from the import's start | %v | %.0f tasks/s |\n", rs[0].done.Round(time.Millisecond), n/rs[0].done.Seconds())
	fmt.Printf("| each alone | lead import, the workflow service stopped | %v | %.0f rows/s |\n", rs[1].imported.Round(time.Millisecond), n/rs[1].imported.Seconds())
	fmt.Printf("| each alone | every call-back task exists, from the workflow service's start | %v | %.0f tasks/s |\n", rs[1].done.Round(time.Millisecond), n/rs[1].done.Seconds())
	fmt.Printf("| ceiling | the runs, tasks, audit entries, timers and events written straight into Postgres, 1,000 leads per transaction | %v | %.0f tasks/s |\n\n",
		ceiling.Round(time.Millisecond), n/ceiling.Seconds())
	return nil
}

// importRun imports b.o.leads leads and waits for their call-backs; with
// along false the workflow service is stopped during the import and done
// counts from its start.
func (b *bench) importRun(ctx context.Context, along bool) (imported, done time.Duration, err error) {
	before, err := b.count(ctx, `SELECT count(*) FROM activities WHERE key = 'callback'`)
	if err != nil {
		return 0, 0, err
	}
	if !along {
		if err := b.workflow.Stop(20 * time.Second); err != nil {
			return 0, 0, err
		}
	}
	ctx2, err := b.as(ctx, "importer", "sales")
	if err != nil {
		return 0, 0, err
	}
	step(fmt.Sprintf("importing %d rated leads", b.o.leads))
	stream, err := b.leads.ImportLeads(ctx2)
	if err != nil {
		return 0, 0, err
	}
	t0 := time.Now()
	if err := stream.Send(&leadv1.ImportLeadsRequest{Kind: &leadv1.ImportLeadsRequest_Options{Options: &leadv1.ImportOptions{
		DisplayName: "bench.csv", DuplicatePolicy: leadv1.DuplicatePolicy_DUPLICATE_POLICY_CREATE_ANYWAY}}}); err != nil {
		return 0, 0, err
	}
	run := uuid.NewString()[:8]
	recvErr := make(chan error, 1)
	go func() {
		for {
			if _, err := stream.Recv(); err != nil {
				if errors.Is(err, io.EOF) {
					err = nil
				}
				recvErr <- err
				return
			}
		}
	}()
	const perMessage = 1000
	for start := 0; start < b.o.leads; start += perMessage {
		rows := make([]*leadv1.ImportRow, 0, perMessage)
		for i := start; i < min(start+perMessage, b.o.leads); i++ {
			rows = append(rows, &leadv1.ImportRow{Line: int64(i + 1), Lead: &leadv1.Lead{
				FirstName: "Bench", LastName: fmt.Sprintf("Lead %s-%d", run, i), Company: fmt.Sprintf("Company %s-%d", run, i),
				Email: fmt.Sprintf("lead-%s-%d@bench.example", run, i), Rating: ratings[i%3]}})
		}
		if err := stream.Send(&leadv1.ImportLeadsRequest{Kind: &leadv1.ImportLeadsRequest_Rows{Rows: &leadv1.ImportRows{Rows: rows}}}); err != nil {
			return 0, 0, err
		}
	}
	if err := stream.CloseSend(); err != nil {
		return 0, 0, err
	}
	if err := <-recvErr; err != nil {
		return 0, 0, err
	}
	imported = time.Since(t0)
	step(fmt.Sprintf("imported in %v; waiting for the call-backs", imported.Round(time.Millisecond)))
	if !along {
		if b.workflow, err = b.startWorkflow(); err != nil {
			return 0, 0, err
		}
		t0 = time.Now()
	}
	for deadline := time.Now().Add(30 * time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		n, err := b.count(ctx, `SELECT count(*) FROM activities WHERE key = 'callback'`)
		if err != nil {
			return 0, 0, err
		}
		if n-before >= b.o.leads {
			done = time.Since(t0)
			break
		}
	}
	if done == 0 {
		return 0, 0, errors.New("not every lead got its call-back within 30 minutes")
	}
	tasks, err := b.count(ctx, `SELECT count(*) FROM activities WHERE key = 'callback'`)
	if err != nil {
		return 0, 0, err
	}
	if tasks-before != b.o.leads {
		return 0, 0, fmt.Errorf("%d call-backs for %d leads", tasks-before, b.o.leads)
	}
	return imported, done, nil
}

// rulesCeiling writes what the rules write for n leads (3 runs, 1 task
// with its audit entry, 2 timers and an outbox row per lead), in batches
// of 1,000 leads per transaction, into a copy of the tables.
func (b *bench) rulesCeiling(ctx context.Context, n int) (time.Duration, error) {
	if _, err := b.pool.Exec(ctx, `DROP SCHEMA IF EXISTS ceiling CASCADE; CREATE SCHEMA ceiling;
		CREATE TABLE ceiling.activities (LIKE workflow.activities INCLUDING ALL);
		CREATE TABLE ceiling.rule_runs (LIKE workflow.rule_runs INCLUDING ALL);
		CREATE TABLE ceiling.audit_log (LIKE workflow.audit_log INCLUDING ALL);
		CREATE TABLE ceiling.timers (LIKE workflow.timers INCLUDING ALL);
		CREATE TABLE ceiling.outbox (LIKE workflow.outbox INCLUDING ALL)`); err != nil {
		return 0, err
	}
	defer b.pool.Exec(ctx, `DROP SCHEMA ceiling CASCADE`) //nolint:errcheck
	rule := uuid.New()
	t0 := time.Now()
	for start := 0; start < n; start += 1000 {
		err := pg.InTx(ctx, b.pool, func(ctx context.Context) error {
			q := pg.Q(ctx, b.pool)
			now := time.Now().UTC()
			var acts, runs, audits, timers, outs [][]any
			for i := start; i < min(start+1000, n); i++ {
				id, lead := uuid.New(), "leads/"+uuid.NewString()
				acts = append(acts, []any{id, "CALL", lead, "LEAD", "Bench", "", "Call back", "", "", "", int64(0), []string{}, "owner", "OPEN",
					now.AddDate(0, 0, 1), rule, "callback", now, "rule", now, "rule", int64(1)})
				for range 3 {
					runs = append(runs, []any{uuid.New(), rule, int64(1), lead, uuid.New(), "crm.events.v1.LeadCreated", "importer", true, "SUCCEEDED",
						[]byte(`[{"index":0,"done":true}]`), now, now})
				}
				audits = append(audits, []any{"activities/" + id.String(), "crm.workflow.v1.Activity", "create", "rule", "crm.events.v1.LeadsImported", now,
					[]byte(`{"name": {"new": "activities/x"}, "subject": {"new": "Call back"}, "status": {"new": "ACTIVITY_STATUS_OPEN"}}`)})
				timers = append(timers, []any{"task.overdue", id.String(), now.AddDate(0, 0, 1)}, []any{"task.reminder", id.String(), now.AddDate(0, 0, 1)})
				outs = append(outs, []any{uuid.New(), "crm.workflow.activity_created", "crm.events.v1.ActivityCreated", id.String(), make([]byte, 400)})
			}
			for _, c := range []struct {
				table string
				cols  []string
				rows  [][]any
			}{
				{"activities", []string{"id", "type", "regarding", "regarding_type", "regarding_name", "account", "subject", "body", "direction", "outcome",
					"duration_us", "participants", "owner", "status", "due_at", "rule_id", "key", "created_at", "created_by", "updated_at", "updated_by", "version"}, acts},
				{"rule_runs", []string{"id", "rule_id", "rule_version", "record", "event_id", "event_type", "event_actor", "condition_result", "status",
					"actions", "created_at", "finished_at"}, runs},
				{"timers", []string{"purpose", "key", "due_at"}, timers},
				{"audit_log", []string{"record", "record_type", "action", "actor", "method", "occurred_at", "changes"}, audits},
				{"outbox", []string{"event_id", "subject", "event_type", "aggregate_id", "payload"}, outs},
			} {
				if _, err := q.(pgx.Tx).CopyFrom(ctx, pgx.Identifier{"ceiling", c.table}, c.cols, pgx.CopyFromRows(c.rows)); err != nil {
					return fmt.Errorf("%s: %w", c.table, err)
				}
			}
			return nil
		})
		if err != nil {
			return 0, err
		}
	}
	return time.Since(t0), nil
}

func environment(o options) string {
	mode := ""
	if o.smoke {
		mode = " SMOKE RUN (tiny sizes; figures mean nothing);"
	}
	return fmt.Sprintf("%d CPUs;%s load generator, NATS, PostgreSQL (fsync on, shared_buffers 1GB) and the lead and workflow services on one machine; "+
		"Postgres pools %d connections; services' consumers %d workers", runtime.NumCPU(), mode, o.dbConns, o.consumerWorkers)
}
