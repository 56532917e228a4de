// Command conversionbench measures lead conversion end to end, the first
// flow that crosses services (`make bench`). It starts a durable
// PostgreSQL (fsync on) and NATS JetStream, runs the lead and account
// services as separate processes (as deployed) and:
//
//   - qualifies leads into new accounts and contacts at a fixed rate
//     (default 50/s for 30 s) and measures, per conversion, the time from
//     the QualifyLead call returning to the lead's conversion turning
//     COMPLETE (observed as the lead service's LeadUpdated event naming
//     the conversion, so an upper bound by the relay's publish delay), and
//     checks afterwards that every account and contact is readable;
//   - steps the rate up until completions fall behind: the sustained
//     throughput and where it saturates.
//
// -smoke runs every part at tiny rates in seconds (CI keeps the tool
// working; its figures mean nothing). Load generator and servers share the
// machine; the report says so.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"github.com/crmsuite/crm/platform/authn"
	"github.com/crmsuite/crm/platform/benchkit"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	accountv1 "github.com/crmsuite/crm/gen/go/crm/account/v1"
	eventsv1 "github.com/crmsuite/crm/gen/go/crm/events/v1"
	leadv1 "github.com/crmsuite/crm/gen/go/crm/lead/v1"
	"github.com/crmsuite/crm/platform/events"
	"github.com/crmsuite/crm/platform/procs"
)

type options struct {
	binDir   string
	rate     int
	duration time.Duration
	steps    []int
	stepDur  time.Duration
	out      string
	smoke    bool
	// warmRate conversions per second for warmDur before the measured
	// runs.
	warmRate int
	warmDur  time.Duration
}

func main() {
	var o options
	var steps string
	flag.StringVar(&o.binDir, "bin", "bin", "directory with the lead and account binaries (make build)")
	flag.IntVar(&o.rate, "rate", 50, "conversions per second of the latency run")
	flag.DurationVar(&o.duration, "duration", 30*time.Second, "length of the latency run")
	flag.StringVar(&steps, "steps", "100,200,400", "conversion rates of the saturation runs (empty skips them)")
	flag.DurationVar(&o.stepDur, "step-duration", 10*time.Second, "length of each saturation run")
	flag.StringVar(&o.out, "out", "bench/results", "directory for the report (empty: print it only)")
	flag.BoolVar(&o.smoke, "smoke", false, "tiny rates and durations, report printed only: checks the tool works, measures nothing")
	flag.Parse()
	o.warmRate, o.warmDur = 20, 5*time.Second
	if o.smoke {
		o.rate, o.duration, steps, o.stepDur, o.out = 10, 2*time.Second, "20", 2*time.Second, ""
		o.warmRate, o.warmDur = 10, time.Second
	}
	for _, s := range strings.Split(steps, ",") {
		if s = strings.TrimSpace(s); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n <= 0 {
				fmt.Fprintln(os.Stderr, "conversionbench: bad -steps")
				os.Exit(2)
			}
			o.steps = append(o.steps, n)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "conversionbench:", err)
		os.Exit(1)
	}
}

func step(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "conversionbench: "+format+"\n", args...)
}

func run(ctx context.Context, o options) error {
	tmp, err := os.MkdirTemp("", "conversionbench-")
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
	authorization = bearer
	leadAddr, accountAddr := benchkit.FreeAddr(), benchkit.FreeAddr()
	env := []string{"METRICS_ADDR=off", "NATS_URL=" + backends.NATSURL, "PAGE_TOKEN_SECRET=bench",
		"LOG_LEVEL=warn", "LEAD_GRPC_ADDR=" + leadAddr, "ACCOUNT_GRPC_ADDR=" + accountAddr}
	env = append(env, authEnv...)
	pids := map[string]int{}
	for _, svc := range []struct{ name, addr string }{{"account", accountAddr}, {"lead", leadAddr}} {
		dbEnv, err := backends.DatabaseEnv(svc.name)
		if err != nil {
			return err
		}
		p, err := procs.Start(svc.name, filepath.Join(o.binDir, svc.name), append(append([]string{"GRPC_ADDR=" + svc.addr}, env...), dbEnv...), logf)
		if err != nil {
			return err
		}
		defer p.Stop(20 * time.Second) //nolint:errcheck
		if err := p.WaitTCP(svc.addr, 2*time.Minute); err != nil {
			return err
		}
		pids[svc.name] = p.Pid()
	}
	leads := leadv1.NewLeadServiceClient(dialOrDie(leadAddr))
	accounts := accountv1.NewAccountServiceClient(dialOrDie(accountAddr))

	nc, err := nats.Connect(backends.NATSURL)
	if err != nil {
		return err
	}
	defer nc.Close()
	w := newWatcher()
	sub, err := nc.Subscribe(events.Subject("", "lead", &eventsv1.LeadUpdated{}), w.onLeadUpdated)
	if err != nil {
		return err
	}
	defer sub.Unsubscribe() //nolint:errcheck
	_ = sub.SetPendingLimits(-1, -1)

	c := &converter{leads: leads, w: w, pids: pids}
	step("warm-up: %v at %d/s", o.warmDur, o.warmRate)
	c.runAt(ctx, o.warmRate, o.warmDur)
	if _, err := c.settle(ctx, 30*time.Second); err != nil {
		return err
	}

	rep := report{started: time.Now(), env: environment(o)}
	step("latency run: %d/s for %v", o.rate, o.duration)
	r := c.runAt(ctx, o.rate, o.duration)
	lat, err := c.settle(ctx, 60*time.Second)
	if err != nil {
		return err
	}
	r.latencies = lat
	rep.latency = r
	step("checking every account and contact is readable")
	if err := c.checkReadable(ctx, accounts); err != nil {
		return err
	}
	for _, rate := range o.steps {
		step("saturation run: %d/s for %v", rate, o.stepDur)
		r := c.runAt(ctx, rate, o.stepDur)
		lat, err := c.settle(ctx, 2*time.Minute)
		if err != nil {
			return err
		}
		r.latencies = lat
		rep.steps = append(rep.steps, r)
	}
	return rep.write(o.out)
}

func dialOrDie(addr string) *grpc.ClientConn {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		panic(err)
	}
	return conn
}

// watcher notes when each lead's conversion was seen COMPLETE.
type watcher struct {
	mu       sync.Mutex
	complete map[string]time.Time
}

func newWatcher() *watcher { return &watcher{complete: map[string]time.Time{}} }

func (w *watcher) onLeadUpdated(m *nats.Msg) {
	at := time.Now()
	var ev eventsv1.LeadUpdated
	if proto.Unmarshal(m.Data, &ev) != nil || ev.GetLead().GetConversion().GetState() != leadv1.ConversionState_CONVERSION_STATE_COMPLETE {
		return
	}
	w.mu.Lock()
	if _, ok := w.complete[ev.LeadId]; !ok {
		w.complete[ev.LeadId] = at
	}
	w.mu.Unlock()
}

func (w *watcher) seen(lead string) (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	t, ok := w.complete[lead]
	return t, ok
}

// converter creates and qualifies leads and remembers when each qualify
// returned.
type converter struct {
	leads leadv1.LeadServiceClient
	w     *watcher
	seq   int
	pids  map[string]int

	mu        sync.Mutex
	pending   map[string]time.Time // lead id -> qualify returned
	converted []*leadv1.Conversion
	errors    int
}

type runResult struct {
	rate      int
	duration  time.Duration
	issued    int
	achieved  float64
	errors    int
	latencies []time.Duration
	// cpu is the CPU time each part used per second of the run (1.0 =
	// one core busy).
	cpu map[string]float64
}

// runAt starts a conversion every 1/rate seconds for d (open loop: a slow
// answer does not delay the next conversion).
func (c *converter) runAt(ctx context.Context, rate int, d time.Duration) runResult {
	ctx = metadata.AppendToOutgoingContext(ctx, "authorization", authorization)
	if c.pending == nil {
		c.pending = map[string]time.Time{}
	}
	cpuBefore := cpuTimes(c.pids)
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	end := time.Now().Add(d)
	var wg sync.WaitGroup
	issued := 0
	start := time.Now()
	for time.Now().Before(end) && ctx.Err() == nil {
		<-tick.C
		c.seq++
		i := c.seq
		issued++
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.convertOne(ctx, i)
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	c.mu.Lock()
	defer c.mu.Unlock()
	r := runResult{rate: rate, duration: d, issued: issued, achieved: float64(issued) / elapsed.Seconds(), errors: c.errors,
		cpu: map[string]float64{}}
	for k, v := range cpuTimes(c.pids) {
		r.cpu[k] = (v - cpuBefore[k]).Seconds() / elapsed.Seconds()
	}
	c.errors = 0
	return r
}

func (c *converter) convertOne(ctx context.Context, i int) {
	l, err := c.leads.CreateLead(ctx, &leadv1.CreateLeadRequest{Lead: &leadv1.Lead{
		FirstName: "Bench", LastName: fmt.Sprintf("Person %d", i), Company: fmt.Sprintf("Bench Co %d", i),
		Email: fmt.Sprintf("p%d@bench%d.example", i, i),
	}})
	if err == nil {
		var q *leadv1.Lead
		q, err = c.leads.QualifyLead(ctx, &leadv1.QualifyLeadRequest{
			Name: l.Name, AccountTarget: &leadv1.QualifyLeadRequest_NewAccount{NewAccount: &leadv1.NewAccount{}},
		})
		if err == nil {
			returned := time.Now()
			c.mu.Lock()
			c.pending[strings.TrimPrefix(q.Name, "leads/")] = returned
			c.converted = append(c.converted, q.GetConversion())
			c.mu.Unlock()
			return
		}
	}
	c.mu.Lock()
	c.errors++
	c.mu.Unlock()
	slog.Warn("conversion failed", "error", err)
}

// settle waits until every pending conversion was seen complete and
// returns their latencies.
func (c *converter) settle(ctx context.Context, timeout time.Duration) ([]time.Duration, error) {
	deadline := time.Now().Add(timeout)
	for {
		c.mu.Lock()
		var lat []time.Duration
		left := 0
		for id, returned := range c.pending {
			if at, ok := c.w.seen(id); ok {
				lat = append(lat, max(at.Sub(returned), 0))
			} else {
				left++
			}
		}
		if left == 0 {
			c.pending = map[string]time.Time{}
			c.mu.Unlock()
			return lat, nil
		}
		c.mu.Unlock()
		if time.Now().After(deadline) || ctx.Err() != nil {
			return nil, fmt.Errorf("%d conversions not complete after %v", left, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (c *converter) checkReadable(ctx context.Context, accounts accountv1.AccountServiceClient) error {
	ctx = metadata.AppendToOutgoingContext(ctx, "authorization", authorization)
	c.mu.Lock()
	convs := c.converted
	c.mu.Unlock()
	for _, cv := range convs {
		a, err := accounts.GetAccount(ctx, &accountv1.GetAccountRequest{Name: cv.Account})
		if err != nil {
			return fmt.Errorf("%s: %w", cv.Account, err)
		}
		ct, err := accounts.GetContact(ctx, &accountv1.GetContactRequest{Name: cv.Contact})
		if err != nil {
			return fmt.Errorf("%s: %w", cv.Contact, err)
		}
		if ct.Account != a.Name {
			return errors.New(cv.Contact + " is not on " + a.Name)
		}
	}
	step("%d accounts and contacts readable and linked", len(convs))
	return nil
}

// cpuTimes reads the CPU time (user + system) used so far by the services,
// by every postgres process, and by this process (load generator and the
// embedded NATS server).
func cpuTimes(pids map[string]int) map[string]time.Duration {
	out := map[string]time.Duration{"bench+nats": procCPU("self")}
	for name, pid := range pids {
		out[name] = procCPU(strconv.Itoa(pid))
	}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		if comm, _ := os.ReadFile("/proc/" + e.Name() + "/comm"); strings.TrimSpace(string(comm)) == "postgres" {
			out["postgres"] += procCPU(e.Name())
		}
	}
	return out
}

func procCPU(pid string) time.Duration {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0
	}
	// Fields after the command (which may contain spaces) in parentheses.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / 100 // USER_HZ
}

func environment(o options) string {
	cpus := "?"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		cpus = strconv.Itoa(strings.Count(string(b), "processor\t:"))
	}
	mode := ""
	if o.smoke {
		mode = " SMOKE RUN (tiny rates; figures mean nothing);"
	}
	return fmt.Sprintf("%s CPUs;%s load generator, NATS, PostgreSQL (fsync on, synchronous_commit on) and the lead and account services on one machine; "+
		"each conversion = CreateLead + QualifyLead over gRPC, open loop", cpus, mode)
}

type report struct {
	started time.Time
	env     string
	latency runResult
	steps   []runResult
}

func (r report) write(dir string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# Conversion benchmark, %s\n\n%s\n\n", r.started.UTC().Format(time.RFC3339), r.env)
	fmt.Fprintf(&b, "Latency from QualifyLead returning to the lead's conversion COMPLETE (account and contact created, lead updated):\n\n")
	fmt.Fprintf(&b, "| target rate | achieved | conversions | errors | p50 | p90 | p99 | max | CPU cores busy: lead / account / postgres / bench+NATS |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, x := range append([]runResult{r.latency}, r.steps...) {
		lat := x.latencies
		fmt.Fprintf(&b, "| %d/s for %v | %.1f/s | %d | %d | %s | %s | %s | %s | %.2f / %.2f / %.2f / %.2f |\n", x.rate, x.duration, x.achieved, x.issued, x.errors,
			ms(benchkit.Percentile(lat, 50)), ms(benchkit.Percentile(lat, 90)), ms(benchkit.Percentile(lat, 99)), ms(benchkit.Percentile(lat, 100)),
			x.cpu["lead"], x.cpu["account"], x.cpu["postgres"], x.cpu["bench+nats"])
	}
	out := b.String()
	fmt.Print(out)
	if dir == "" {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	name := filepath.Join(dir, "conversion-"+r.started.UTC().Format("20060102-150405")+".md")
	step("report written to %s", name)
	return os.WriteFile(name, []byte(out), 0o644)
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

// authorization is the Authorization header value of the benchmark's
// calls: a token the services it starts accept (authn.DevCredentials).
var authorization string
