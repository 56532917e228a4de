// Command accountbench measures the account service's contact lists at
// size. It starts a durable PostgreSQL (fsync on) and NATS, runs the
// account service as its own process (as deployed), loads N contacts
// (default 1,000,000; 80 % with a birthday, each with 0-2 roles) with
// COPY, and measures the latency of one page (50) of:
//
//   - ListUpcomingBirthdays over the next 30 days, unfiltered, by role,
//     and by owner;
//   - ListContacts filtered by role;
//
// each over gRPC against the raw ceiling of the same page read in-process
// through the use case and repository (no gRPC, no auth, same SQL), in
// the same run.
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
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	accountv1 "github.com/crmsuite/crm/gen/go/crm/account/v1"
	"github.com/crmsuite/crm/platform/auth"
	"github.com/crmsuite/crm/platform/authn"
	"github.com/crmsuite/crm/platform/benchkit"
	"github.com/crmsuite/crm/platform/outbox"
	"github.com/crmsuite/crm/platform/paging"
	"github.com/crmsuite/crm/platform/pg"
	"github.com/crmsuite/crm/platform/procs"
	"github.com/crmsuite/crm/services/account/internal/adapters/postgres"
	"github.com/crmsuite/crm/services/account/internal/app"
)

type options struct {
	bin      string
	rows     int
	requests int
	dataDir  string
	smoke    bool
}

func main() {
	var o options
	flag.StringVar(&o.bin, "bin", "", "the account binary; default: go build it")
	flag.IntVar(&o.rows, "rows", 1_000_000, "contacts to load")
	flag.IntVar(&o.requests, "requests", 200, "requests measured per list and path")
	flag.StringVar(&o.dataDir, "data", "", "keep PostgreSQL here and reuse it (and its loaded rows) across runs; default a temp dir")
	flag.BoolVar(&o.smoke, "smoke", false, "tiny sizes: checks the tool works, measures nothing")
	flag.Parse()
	if o.smoke {
		o.rows, o.requests = 5000, 20
	}
	if err := run(context.Background(), o); err != nil {
		fmt.Fprintln(os.Stderr, "accountbench:", err)
		os.Exit(1)
	}
}

func step(msg string) { fmt.Fprintf(os.Stderr, "accountbench: %s\n", msg) }

// roles the loaded contacts get, from the seeded list.
var roles = []string{"decision_maker", "economic_buyer", "procurement", "finance", "technical", "legal", "user", "influencer"}

func run(ctx context.Context, o options) error {
	tmp, err := os.MkdirTemp("", "accountbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	_ = os.Chmod(tmp, 0o755)
	if o.bin == "" {
		step("building the account service")
		o.bin = filepath.Join(tmp, "account")
		if out, err := exec.CommandContext(ctx, "go", "build", "-o", o.bin, "github.com/crmsuite/crm/services/account/cmd/account").CombinedOutput(); err != nil {
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
	logf, err := os.Create(filepath.Join(tmp, "service.log"))
	if err != nil {
		return err
	}
	defer logf.Close()
	authEnv, bearer, err := authn.DevCredentials("bench", "admin")
	if err != nil {
		return err
	}
	dbEnv, err := backends.DatabaseEnv("account")
	if err != nil {
		return err
	}
	addr := benchkit.FreeAddr()
	svcProc, err := procs.Start("account", o.bin, append(append([]string{
		"GRPC_ADDR=" + addr, "METRICS_ADDR=off", "NATS_URL=" + backends.NATSURL, "PAGE_TOKEN_SECRET=bench", "LOG_LEVEL=warn",
	}, dbEnv...), authEnv...), logf)
	if err != nil {
		return err
	}
	defer svcProc.Stop(20 * time.Second) //nolint:errcheck
	if err := svcProc.WaitTCP(addr, 2*time.Minute); err != nil {
		return err
	}
	pool, err := pg.Connect(ctx, pg.PoolConfig{URL: backends.DatabaseURL, Schema: "account", MaxConns: 8})
	if err != nil {
		return err
	}
	defer pool.Close()
	var have int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM contacts`).Scan(&have); err != nil {
		return err
	}
	if have < o.rows {
		step(fmt.Sprintf("loading %d contacts with COPY", o.rows-have))
		t0 := time.Now()
		if err := load(ctx, pool, o.rows-have); err != nil {
			return err
		}
		step(fmt.Sprintf("loaded in %v; analyzing", time.Since(t0).Round(time.Second)))
		if _, err := pool.Exec(ctx, `VACUUM ANALYZE contacts`); err != nil {
			return err
		}
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	client := accountv1.NewAccountServiceClient(conn)
	callCtx := metadata.AppendToOutgoingContext(ctx, "authorization", bearer)
	svc := app.New(postgres.New(pool, outbox.Writer{Service: "account"}, paging.NewCodec([]byte("bench")), ""), "")
	rawCtx := auth.WithPrincipal(ctx, auth.Principal{Subject: "bench"})

	fmt.Printf("# accountbench %s\n\n%s\n\n", time.Now().Format(time.RFC3339), environment(o))
	fmt.Printf("## One page (50) of %d contacts\n\n| list | filter | rows on the page | gRPC p50 | gRPC p99 | raw p50 | raw p99 | raw / gRPC (p50) |\n|---|---|---:|---:|---:|---:|---:|---:|\n", o.rows)
	type part struct {
		list, filter string
		grpc, raw    func() (int, error)
	}
	var parts []part
	for _, filter := range []string{"", `role = "finance"`, `owner = "owner07"`} {
		parts = append(parts, part{"ListUpcomingBirthdays (30 days)", filter,
			func() (int, error) {
				resp, err := client.ListUpcomingBirthdays(callCtx, &accountv1.ListUpcomingBirthdaysRequest{Days: 30, Filter: filter, PageSize: 50})
				return len(resp.GetBirthdays()), err
			},
			func() (int, error) {
				bs, _, err := svc.ListUpcomingBirthdays(rawCtx, 30, time.UTC, app.ListQuery{Filter: filter, PageSize: 50})
				return len(bs), err
			}})
	}
	parts = append(parts, part{"ListContacts", `role = "finance"`,
		func() (int, error) {
			resp, err := client.ListContacts(callCtx, &accountv1.ListContactsRequest{Filter: `role = "finance"`, PageSize: 50})
			return len(resp.GetContacts()), err
		},
		func() (int, error) {
			cs, _, err := svc.ListContacts(rawCtx, app.ListQuery{Filter: `role = "finance"`, PageSize: 50})
			return len(cs), err
		}})
	for _, p := range parts {
		step(fmt.Sprintf("%s %s", p.list, p.filter))
		gl, n, err := measure(o.requests, p.grpc)
		if err != nil {
			return fmt.Errorf("%s %s over gRPC: %w", p.list, p.filter, err)
		}
		rl, _, err := measure(o.requests, p.raw)
		if err != nil {
			return fmt.Errorf("%s %s raw: %w", p.list, p.filter, err)
		}
		g50, r50 := benchkit.Percentile(gl, 50), benchkit.Percentile(rl, 50)
		shown := "`" + p.filter + "`"
		if p.filter == "" {
			shown = "(none)"
		}
		fmt.Printf("| %s | %s | %d | %v | %v | %v | %v | %.0f %% |\n", p.list, shown, n,
			benchkit.Round(g50), benchkit.Round(benchkit.Percentile(gl, 99)), benchkit.Round(r50), benchkit.Round(benchkit.Percentile(rl, 99)),
			100*r50.Seconds()/g50.Seconds())
	}
	fmt.Println()
	return nil
}

// measure runs fn requests times after 5 unmeasured ones and returns the
// latencies and the last result's size.
func measure(requests int, fn func() (int, error)) ([]time.Duration, int, error) {
	var lat []time.Duration
	n := 0
	for i := range requests + 5 {
		t0 := time.Now()
		got, err := fn()
		if err != nil {
			return nil, 0, err
		}
		if i >= 5 {
			lat = append(lat, time.Since(t0))
		}
		n = got
	}
	return lat, n, nil
}

// load copies n contacts in: 80 % with a birthday (a fifth of them
// without the year), 0-2 roles, 50 owners.
func load(ctx context.Context, pool interface {
	CopyFrom(context.Context, pgx.Identifier, []string, pgx.CopyFromSource) (int64, error)
}, n int) error {
	now := time.Now().UTC().Truncate(time.Microsecond)
	r := rand.New(rand.NewPCG(3, 4))
	cols := []string{"id", "first_name", "last_name", "owner", "birthday", "roles", "created_at", "created_by", "updated_at", "updated_by", "version", "search"}
	const batch = 50_000
	for done := 0; done < n; done += batch {
		m := min(batch, n-done)
		rows := make([][]any, m)
		for i := range m {
			var birthday []byte
			if r.IntN(5) > 0 {
				d := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, r.IntN(366)) // 2000 is a leap year
				year := 1950 + r.IntN(55)
				if r.IntN(5) == 0 {
					year = 0
				}
				birthday, _ = json.Marshal(map[string]int{"Year": year, "Month": int(d.Month()), "Day": d.Day()})
			}
			rs := []string{}
			for range r.IntN(3) {
				if role := roles[r.IntN(len(roles))]; !slices.Contains(rs, role) {
					rs = append(rs, role)
				}
			}
			last := fmt.Sprintf("Contact%d", done+i)
			rows[i] = []any{uuid.Must(uuid.NewV7()), "Bench", last, fmt.Sprintf("owner%02d", r.IntN(50)), birthday, rs,
				now.Add(-time.Duration(r.IntN(2*365*24)) * time.Hour), "bench", now, "bench", int64(1), strings.ToLower("bench " + last)}
		}
		if _, err := pool.CopyFrom(ctx, pgx.Identifier{"contacts"}, cols, pgx.CopyFromRows(rows)); err != nil {
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
		"%d sequential requests per row after 5 unmeasured; raw = the same page through the use case and repository in-process", cpus, mode, o.requests)
}
