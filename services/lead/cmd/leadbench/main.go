// Command leadbench is the load tool behind `make bench`. It starts a
// durable PostgreSQL (fsync on) and NATS, runs the lead service and the
// gateway as separate processes (as deployed), and measures:
//
//   - CreateLead throughput and latency over gRPC and over REST through the
//     gateway, at several concurrencies, against the raw ceiling: the same
//     lead-plus-outbox-row insert done in-process as one pgx batch (one round
//     trip, durable commit), with no gRPC in front;
//   - the lead service's peak RSS during those runs;
//   - ListLeads with a filter and a text match over a table of N leads
//     (default 1,000,000): per-page latency percentiles.
//
// -smoke runs every part at tiny sizes in seconds (CI keeps the tool
// working; its figures mean nothing). Load generator and servers share the
// machine; the report says so.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"github.com/crmsuite/crm/platform/authn"
	"github.com/crmsuite/crm/platform/benchkit"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	leadv1 "github.com/crmsuite/crm/gen/go/crm/lead/v1"
	"github.com/crmsuite/crm/platform/auth"
	"github.com/crmsuite/crm/platform/outbox"
	"github.com/crmsuite/crm/platform/paging"
	"github.com/crmsuite/crm/platform/pg"
	"github.com/crmsuite/crm/platform/procs"
	"github.com/crmsuite/crm/platform/tracing/otlpsink"
	"github.com/crmsuite/crm/services/lead/internal/adapters/postgres"
	"github.com/crmsuite/crm/services/lead/internal/app"
	"github.com/crmsuite/crm/services/lead/internal/domain"
)

type options struct {
	binDir       string
	duration     time.Duration
	warmup       time.Duration
	concurrency  []int
	listRows     int
	listRequests int
	dbConns      int
	out          string
	creates      bool
	dataDir      string
	importRows   int
	leadMetrics  string
	smoke        bool
	methods      map[string]bool
	otel         bool
	dupRounds    int
}

func main() {
	var o options
	var conc string
	flag.StringVar(&o.binDir, "bin", "bin", "directory with the lead and gateway binaries (make build)")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "measured time per create run")
	flag.DurationVar(&o.warmup, "warmup", 2*time.Second, "unmeasured time before each create run")
	flag.StringVar(&conc, "concurrency", "1,8,32", "concurrency levels of the create runs")
	flag.IntVar(&o.listRows, "list-rows", 1_000_000, "leads in the table for the ListLeads run (0 skips it)")
	flag.IntVar(&o.listRequests, "list-requests", 400, "ListLeads requests measured")
	flag.IntVar(&o.dbConns, "db-conns", 32, "Postgres pool size of the service and of the raw run")
	flag.StringVar(&o.out, "out", "bench/results", "directory for the report (empty: print it only)")
	flag.BoolVar(&o.creates, "creates", true, "run the CreateLead measurements")
	flag.IntVar(&o.dupRounds, "dup-rounds", 2, "rounds of the duplicate-check runs (each round runs every variant once, alternating)")
	flag.IntVar(&o.importRows, "import-rows", 1_000_000, "rows per import run, gRPC and CSV (0 skips them)")
	flag.StringVar(&o.leadMetrics, "lead-metrics", "off", "METRICS_ADDR of the lead service (with PPROF=true in the environment, profile it there)")
	flag.StringVar(&o.dataDir, "data", "", "keep PostgreSQL here and reuse it (and its loaded leads) across runs; default a temp dir")
	flag.BoolVar(&o.smoke, "smoke", false, "tiny sizes and durations, report printed only: checks the tool works, measures nothing")
	methods := flag.String("methods", "raw,grpc,rest", "paths of the create runs: raw (in-process pgx batch), grpc, rest")
	flag.BoolVar(&o.otel, "otel", false, "trace the lead service and the gateway, every request, exporting over OTLP/gRPC to a receiver in this process that drops the spans")
	flag.Parse()
	o.methods = map[string]bool{}
	for _, m := range strings.Split(*methods, ",") {
		switch m = strings.TrimSpace(m); m {
		case "raw", "grpc", "rest":
			o.methods[m] = true
		default:
			fmt.Fprintln(os.Stderr, "bad -methods")
			os.Exit(2)
		}
	}
	if o.smoke {
		conc, o.listRows, o.listRequests, o.importRows, o.dupRounds = "1,4", 2000, 20, 2000, 1
		o.duration, o.warmup, o.out = time.Second, 200*time.Millisecond, ""
	}
	for _, c := range strings.Split(conc, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(c))
		if err != nil || n < 1 {
			fmt.Fprintln(os.Stderr, "bad -concurrency")
			os.Exit(2)
		}
		o.concurrency = append(o.concurrency, n)
	}
	if err := run(context.Background(), o); err != nil {
		fmt.Fprintln(os.Stderr, "leadbench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	tmp, err := os.MkdirTemp("", "leadbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	_ = os.Chmod(tmp, 0o755)
	pgDir, natsDir, err := benchkit.Dirs(tmp, o.dataDir)
	if err != nil {
		return err
	}
	logf, err := os.Create(filepath.Join(tmp, "services.log"))
	if err != nil {
		return err
	}
	defer logf.Close()

	step("starting durable PostgreSQL (fsync on) and NATS JetStream")
	// A database server sized for the table: 2 GB of cache holds the 1M
	// leads and their indexes (the machine has plenty of memory).
	backends, err := benchkit.Start(ctx, pgDir, "2GB", natsDir)
	if err != nil {
		return err
	}
	defer backends.Stop()
	dbURL := backends.DatabaseURL

	authEnv, bearer, err := authn.DevCredentials("bench", "admin")
	if err != nil {
		return err
	}
	authorization = bearer
	dbEnv, err := backends.DatabaseEnv("lead")
	if err != nil {
		return err
	}
	// With -otel, every request is traced (the default sampler follows
	// the caller, and the load generator sends no trace context: each
	// call is a new sampled trace) and exported in batches to sink.
	var otelEnv []string
	var sink *otlpsink.Sink
	if o.otel {
		if sink, err = otlpsink.Start(false); err != nil {
			return err
		}
		defer sink.Close()
		otelEnv = []string{"OTEL_EXPORTER_OTLP_ENDPOINT=http://" + sink.Addr(), "OTEL_EXPORTER_OTLP_PROTOCOL=grpc"}
	}
	leadAddr, httpAddr := benchkit.FreeAddr(), benchkit.FreeAddr()
	lead, err := procs.Start("lead", filepath.Join(o.binDir, "lead"), append(append(append([]string{
		"GRPC_ADDR=" + leadAddr, "METRICS_ADDR=" + o.leadMetrics, "NATS_URL=" + backends.NATSURL,
		"DB_MAX_CONNS=" + strconv.Itoa(o.dbConns), "PAGE_TOKEN_SECRET=bench", "LOG_LEVEL=info",
	}, dbEnv...), authEnv...), otelEnv...), logf)
	if err != nil {
		return err
	}
	defer lead.Stop(20 * time.Second) //nolint:errcheck
	if err := lead.WaitTCP(leadAddr, 2*time.Minute); err != nil {
		return err
	}
	serviceCPU = func() time.Duration { return cpuTime(lead.Pid()) }
	gw, err := procs.Start("gateway", filepath.Join(o.binDir, "gateway"), append([]string{
		"HTTP_ADDR=" + httpAddr, "LEAD_GRPC_ADDR=" + leadAddr, "LOG_LEVEL=info",
		// The load generator is one caller from one address: measure the
		// service, not the gateway's per-caller limit nor its per-address
		// limit (RATE_LIMIT_ADDRESS_RPS, 500/s by default), which would
		// answer 429 to the REST runs once they go faster than that.
		"RATE_LIMIT_RPS=0", "RATE_LIMIT_ADDRESS_RPS=0",
	}, otelEnv...), logf)
	if err != nil {
		return err
	}
	defer gw.Stop(20 * time.Second) //nolint:errcheck
	if err := gw.WaitTCP(httpAddr, time.Minute); err != nil {
		return err
	}

	pool, err := pg.Connect(ctx, pg.PoolConfig{URL: dbURL, Schema: "lead", MaxConns: int32(o.dbConns)})
	if err != nil {
		return err
	}
	defer pool.Close()
	conn, err := grpc.NewClient(leadAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	client := leadv1.NewLeadServiceClient(conn)

	rep := &report{started: time.Now(), spans: -1}
	rep.env = environment(o)

	// The raw ceiling: the repository's create, which is one pgx batch
	// (lead row + outbox row, one round trip, implicit transaction), called
	// in-process with no gRPC, validation or logging in front.
	repo := postgres.New(pool, outbox.Writer{Service: "lead"}, paging.NewCodec([]byte("bench")), "")
	rawLead := func(ctx context.Context, in domain.Lead) error {
		l, evs, err := domain.New(in, "bench", time.Now().UTC().Truncate(time.Microsecond))
		if err != nil {
			return err
		}
		return repo.Create(ctx, l, app.Change{Events: evs})
	}
	raw := func(ctx context.Context, i int64) error { return rawLead(ctx, benchLead(i)) }
	grpcCall := func(ctx context.Context, i int64) error {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", authorization)
		_, err := client.CreateLead(ctx, &leadv1.CreateLeadRequest{Lead: benchLeadProto(i)})
		return err
	}
	httpClient := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256, MaxConnsPerHost: 256}, Timeout: 30 * time.Second}
	restCall := func(ctx context.Context, i int64) error {
		body, _ := json.Marshal(map[string]any{
			"firstName": "Bench", "lastName": fmt.Sprintf("Rest%d", i), "company": "Load Inc",
			"email": fmt.Sprintf("rest%d@load.example", i), "rating": "RATING_WARM", "source": "SOURCE_IMPORT",
		})
		req, _ := http.NewRequestWithContext(ctx, "POST", "http://"+httpAddr+"/v1/leads", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", authorization)
		resp, err := httpClient.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	}

	var seq atomic.Int64
	for _, c := range o.concurrency {
		if !o.creates {
			break
		}
		for _, m := range []struct {
			key, name string
			fn        func(context.Context, int64) error
		}{{"raw", "raw pgx batch", raw}, {"grpc", "gRPC CreateLead", grpcCall}, {"rest", "REST POST /v1/leads", restCall}} {
			if !o.methods[m.key] {
				continue
			}
			step(fmt.Sprintf("create: %s at concurrency %d", m.name, c))
			res, err := load(ctx, c, o.warmup, o.duration, &seq, m.fn)
			if err != nil {
				return fmt.Errorf("%s c=%d: %w", m.name, c, err)
			}
			res.name, res.concurrency = m.name, c
			rep.creates = append(rep.creates, res)
		}
	}
	rep.peakRSS = peakRSS(lead.Pid())
	if sink != nil {
		rep.spans = sink.Bytes()
	}

	step("waiting for the outbox relay to publish everything")
	start := time.Now()
	for {
		var n int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM outbox`).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			break
		}
		if time.Since(start) > 5*time.Minute {
			return fmt.Errorf("outbox still holds %d rows after 5 minutes", n)
		}
		time.Sleep(100 * time.Millisecond)
	}
	rep.relayDrain = time.Since(start)

	if o.listRows > 0 {
		if err := listBench(ctx, o, pool, client, rep); err != nil {
			return err
		}
		if err := statsBench(ctx, o, pool, client, rep); err != nil {
			return err
		}
		if err := dupBench(ctx, o, pool, client, rawLead, &seq, rep); err != nil {
			return err
		}
	}
	if o.importRows > 0 {
		if err := importBench(ctx, o, pool, client, httpAddr, rep); err != nil {
			return err
		}
	}
	return rep.write(o.out)
}

func step(msg string) { fmt.Fprintf(os.Stderr, "leadbench: %s\n", msg) }

func benchLead(i int64) domain.Lead {
	return domain.Lead{
		FirstName: "Bench", LastName: fmt.Sprintf("Raw%d", i), Company: "Load Inc",
		Email: fmt.Sprintf("raw%d@load.example", i), Rating: domain.RatingWarm, Source: domain.SourceImport,
	}
}

func benchLeadProto(i int64) *leadv1.Lead {
	return &leadv1.Lead{
		FirstName: "Bench", LastName: fmt.Sprintf("Grpc%d", i), Company: "Load Inc",
		Email: fmt.Sprintf("grpc%d@load.example", i), Rating: leadv1.Rating_RATING_WARM, Source: leadv1.Source_SOURCE_IMPORT,
	}
}

type result struct {
	name        string
	concurrency int
	ops         int
	errors      int
	elapsed     time.Duration
	p50, p99    time.Duration
	// cpu the lead service used in the measured part, and the whole
	// machine (every process: the service, Postgres, NATS, this load
	// generator); 0: unknown.
	cpu, machineCPU time.Duration
}

// cpuPerOp is the lead service's CPU time per operation, "" if unknown.
func (r result) cpuPerOp() string {
	if r.cpu <= 0 || r.ops == 0 {
		return ""
	}
	s := fmt.Sprintf("%.0f µs", float64(r.cpu.Microseconds())/float64(r.ops))
	if r.machineCPU > 0 {
		s += fmt.Sprintf(" (machine %.0f µs)", float64(r.machineCPU.Microseconds())/float64(r.ops))
	}
	return s
}

// machineBusy is the CPU time all CPUs spent busy so far (not idle or
// waiting for I/O), from /proc/stat (clock ticks of 10ms).
func machineBusy() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
	if len(f) < 9 || f[0] != "cpu" {
		return 0
	}
	var busy int64
	for i, v := range f[1:9] {
		n, _ := strconv.ParseInt(v, 10, 64)
		if i != 3 && i != 4 { // idle, iowait
			busy += n
		}
	}
	return time.Duration(busy) * 10 * time.Millisecond
}

// serviceCPU, once the lead service runs, reads its CPU time (user and
// system) so far.
var serviceCPU func() time.Duration

// cpuTime is the CPU time (user + system) process pid has used, from
// /proc/<pid>/stat (clock ticks of 10ms).
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name in parentheses: state is field 3,
	// utime 14 and stime 15.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+st) * 10 * time.Millisecond
}

func (r result) rate() float64 { return float64(r.ops) / r.elapsed.Seconds() }

// load runs fn from c workers for warmup (discarded) then d, and reports
// throughput and latency percentiles of the measured part.
func load(ctx context.Context, c int, warmup, d time.Duration, seq *atomic.Int64, fn func(context.Context, int64) error) (result, error) {
	var measuring atomic.Bool
	stop := make(chan struct{})
	lat := make([][]time.Duration, c)
	errs := make([]int, c)
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for w := range c {
		lat[w] = make([]time.Duration, 0, 1<<16)
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				t0 := time.Now()
				err := fn(auth.WithPrincipal(ctx, auth.Principal{Subject: "bench"}), seq.Add(1))
				if !measuring.Load() {
					continue
				}
				if err != nil {
					errs[w]++
					firstErr.CompareAndSwap(nil, err)
					continue
				}
				lat[w] = append(lat[w], time.Since(t0))
			}
		})
	}
	time.Sleep(warmup)
	var cpu0 time.Duration
	if serviceCPU != nil {
		cpu0 = serviceCPU()
	}
	busy0 := machineBusy()
	measuring.Store(true)
	t0 := time.Now()
	time.Sleep(d)
	measuring.Store(false)
	elapsed := time.Since(t0)
	var cpu time.Duration
	if serviceCPU != nil {
		cpu = serviceCPU() - cpu0
	}
	busy := machineBusy() - busy0
	close(stop)
	wg.Wait()
	var all []time.Duration
	r := result{elapsed: elapsed, cpu: cpu, machineCPU: busy}
	for w := range c {
		all = append(all, lat[w]...)
		r.errors += errs[w]
	}
	if r.errors > 0 {
		return r, fmt.Errorf("%d errors, first: %v", r.errors, firstErr.Load())
	}
	r.ops = len(all)
	r.p50, r.p99 = benchkit.Percentile(all, 50), benchkit.Percentile(all, 99)
	return r, nil
}

// peakRSS is the high-water mark of a process's resident memory.
func peakRSS(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			kb, _ := strconv.Atoi(strings.Fields(line)[1])
			return fmt.Sprintf("%.1f MiB", float64(kb)/1024)
		}
	}
	return "unknown"
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
	return fmt.Sprintf("%s CPUs,%s load generator, NATS and PostgreSQL (fsync on, synchronous_commit on, shared_buffers 2GB) and the services all on one machine; "+
		"%v measured per run after %v warm-up; Postgres pool %d connections; tracing %s", cpus, mode, o.duration, o.warmup, o.dbConns,
		map[bool]string{false: "off", true: "on (-otel)"}[o.otel])
}

type report struct {
	started    time.Time
	env        string
	creates    []result
	peakRSS    string
	relayDrain time.Duration
	listSetup  string
	lists      []listResult
	stats      []listResult
	dupCreates []result
	// customerSetup says how the projection of contacts and accounts was
	// filled for the cross-entity runs.
	customerSetup string
	// guard is the guard statement's cost alone.
	guard    string
	dupLists []listResult
	imports  []importResult
	// bytes of spans the OTLP receiver got (-otel), -1 without.
	spans int64
}

type listResult struct {
	name          string
	requests      int
	p50, p99, max time.Duration
	avgRows       float64
}

func (r *report) write(dir string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# leadbench %s\n\n%s\n\n", r.started.Format(time.RFC3339), r.env)
	fmt.Fprintf(&b, "## CreateLead\n\n| path | concurrency | creates/s | p50 | p99 | vs raw | lead CPU/create |\n|---|---:|---:|---:|---:|---:|---:|\n")
	rawRate := map[int]float64{}
	grpcRate := map[int]float64{}
	for _, c := range r.creates {
		switch c.name {
		case "raw pgx batch":
			rawRate[c.concurrency] = c.rate()
		case "gRPC CreateLead":
			grpcRate[c.concurrency] = c.rate()
		}
		vs := ""
		if raw := rawRate[c.concurrency]; raw > 0 && c.name != "raw pgx batch" {
			vs = fmt.Sprintf("%.0f%%", 100*c.rate()/raw)
		}
		if g := grpcRate[c.concurrency]; g > 0 && strings.HasPrefix(c.name, "REST") {
			vs += fmt.Sprintf(" (%.0f%% of gRPC)", 100*c.rate()/g)
		}
		cpu := c.cpuPerOp()
		if c.name == "raw pgx batch" {
			cpu = "" // the work is in this process; the service only relays
		}
		fmt.Fprintf(&b, "| %s | %d | %.0f | %s | %s | %s | %s |\n", c.name, c.concurrency, c.rate(), ms(c.p50), ms(c.p99), vs, cpu)
	}
	fmt.Fprintf(&b, "\nLead service peak RSS (VmHWM) over the create runs: %s\n", r.peakRSS)
	if r.spans >= 0 {
		fmt.Fprintf(&b, "Tracing on (-otel): every request traced, %.1f MB of spans exported over OTLP/gRPC to a receiver in the load generator that dropped them undecoded.\n", float64(r.spans)/1e6)
	}
	fmt.Fprintf(&b, "Outbox relay drained the remaining backlog %v after the last run ended.\n", r.relayDrain.Round(time.Millisecond))
	if len(r.lists) > 0 {
		fmt.Fprintf(&b, "\n## ListLeads\n\n%s\n\n| query | requests | p50 | p99 | max | rows/page |\n|---|---:|---:|---:|---:|---:|\n", r.listSetup)
		for _, l := range r.lists {
			fmt.Fprintf(&b, "| %s | %d | %s | %s | %s | %.1f |\n", l.name, l.requests, ms(l.p50), ms(l.p99), ms(l.max), l.avgRows)
		}
	}
	if len(r.stats) > 0 {
		fmt.Fprintf(&b, "\n## GetLeadStatistics (same table, every lead)\n\nThe service's call against the raw SQL of the same work over one pgx connection (its ceiling), "+
			"and its parts: the counts and funnel (one GROUPING SETS scan), the per-product counts (a second scan, of the leads with products), the median days to qualify.\n\n"+
			"| run | requests | p50 | p99 | max |\n|---|---:|---:|---:|---:|\n")
		for _, l := range r.stats {
			fmt.Fprintf(&b, "| %s | %d | %s | %s | %s |\n", l.name, l.requests, ms(l.p50), ms(l.p99), ms(l.max))
		}
	}
	if len(r.dupCreates) > 0 {
		fmt.Fprintf(&b, "\n## Duplicate detection (same table)\n\nThe cross-entity runs after %s.\n\n"+
			"| path | concurrency | creates/s | p50 | p99 | lead CPU/create |\n|---|---:|---:|---:|---:|---:|\n", r.customerSetup)
		rate := map[string]float64{}
		for _, c := range r.dupCreates {
			cpu := c.cpuPerOp()
			if strings.HasPrefix(c.name, "raw") {
				cpu = ""
			}
			fmt.Fprintf(&b, "| %s | %d | %.0f | %s | %s | %s |\n", c.name, c.concurrency, c.rate(), ms(c.p50), ms(c.p99), cpu)
			rate[c.name] += c.rate()
		}
		if rate[dupLeadsOnly] > 0 && rate[dupCross] > 0 {
			fmt.Fprintf(&b, "\nRounds summed: CreateLead checking leads, contacts and accounts runs at %.0f%% of CreateLead checking leads only (target >= 80%%); "+
				"the raw Postgres ceiling of the same inserts and lookups at %.0f%% of its leads-only twin; gRPC reaches %.0f%% (leads only) and %.0f%% (cross-entity) of its ceiling; "+
				"with the cross-entity check CreateLead runs at %.0f%% of its rate with no check at all.\n",
				100*rate[dupCross]/rate[dupLeadsOnly], 100*rate[dupCrossRaw]/rate[dupLeadsOnlyRaw],
				100*rate[dupLeadsOnly]/rate[dupLeadsOnlyRaw], 100*rate[dupCross]/rate[dupCrossRaw], 100*rate[dupCross]/rate[dupOff])
		}
		if r.guard != "" {
			fmt.Fprintf(&b, "%s\n", r.guard)
		}
		fmt.Fprintf(&b, "\n| query | requests | p50 | p99 | max | groups/page |\n|---|---:|---:|---:|---:|---:|\n")
		for _, l := range r.dupLists {
			fmt.Fprintf(&b, "| %s | %d | %s | %s | %s | %.1f |\n", l.name, l.requests, ms(l.p50), ms(l.p99), ms(l.max), l.avgRows)
		}
	}
	if len(r.imports) > 0 {
		fmt.Fprintf(&b, "\n## ImportLeads (duplicate detection on, policy SKIP; onto the table above)\n\n"+
			"| path | rows | created | time | rows/s | outbox rows after | relay catch-up |\n|---|---:|---:|---:|---:|---:|---:|\n")
		for _, im := range r.imports {
			fmt.Fprintf(&b, "| %s | %d | %d | %v | %.0f | %d | %v |\n", im.name, im.rows, im.created,
				im.elapsed.Round(time.Millisecond), float64(im.rows)/im.elapsed.Seconds(), im.outboxed, im.catchUp.Round(time.Millisecond))
		}
	}
	fmt.Print("\n" + b.String())
	if dir == "" {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	path := filepath.Join(dir, "leadbench-"+r.started.Format("20060102-150405")+".md")
	slog.Info("report written", "path", path)
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }

// authorization is the Authorization header value of the benchmark's
// calls: a token the services it starts accept (authn.DevCredentials).
var authorization string
