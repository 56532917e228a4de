package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc/metadata"

	leadv1 "github.com/crmsuite/crm/gen/go/crm/lead/v1"
	"github.com/crmsuite/crm/platform/benchkit"
	"github.com/crmsuite/crm/services/lead/internal/domain"
)

// A synthetic but CRM-shaped population: a few hundred first names, some
// thousands of last names and companies, 50 owners, a status mix with most
// leads still open.
var (
	firstNames = strings.Fields(`james mary john patricia robert jennifer michael linda william elizabeth david barbara
		richard susan joseph jessica thomas sarah charles karen christopher nancy daniel lisa matthew betty anthony
		margaret mark sandra donald ashley steven kimberly paul emily andrew donna joshua michelle kenneth dorothy kevin
		carol brian amanda george melissa timothy deborah ronald stephanie edward rebecca jason sharon jeffrey laura ryan
		cynthia jacob kathleen gary amy nicholas angela eric shirley jonathan anna stephen brenda larry pamela justin emma
		scott nicole brandon helen benjamin samantha samuel katherine gregory christine alexander debra frank rachel
		patrick carolyn raymond janet jack catherine dennis maria jerry heather tyler diane aaron ruth jose julie adam
		olivia henry joyce nathan virginia douglas victoria zachary kelly peter lauren kyle christina ethan joan walter`)
	syllables = strings.Fields(`an ber cal dor el fen gar hol ist jor kel lan mor nor ost pal quin ros sten tor ul
		val wes xan yor zel brook field ridge stone wood ton son ley man ford`)
	companyWords = strings.Fields(`acme globex initech umbrella hooli vandelay stark wayne wonka tyrell cyberdyne
		soylent massive dynamic aperture oscorp virtucon gringotts monarch nakatomi weyland prestige sterling cooper
		pied piper dunder mifflin bluth kramerica gekko sirius oceanic duff tricell`)
	companySuffixes = strings.Fields(`systems labs group holdings logistics foods partners consulting media energy`)
	statuses        = []struct {
		name   string
		weight int
	}{{"NEW", 40}, {"CONTACTED", 25}, {"NURTURING", 15}, {"QUALIFIED", 10}, {"DISQUALIFIED", 10}}
	ratings = []string{"", "COLD", "WARM", "HOT"}
	sources = []string{"WEB_FORM", "IMPORT", "REFERRAL", "CAMPAIGN", "TRADE_SHOW", "ADVERTISEMENT", "INTEGRATION", "MANUAL", "OTHER"}
)

// longSyllables are the syllables long enough for a text match.
var longSyllables = func() (out []string) {
	for _, s := range syllables {
		if len(s) >= 3 {
			out = append(out, s)
		}
	}
	return out
}()

type population struct {
	lastNames []string
	companies []string
}

func newPopulation(r *rand.Rand) population {
	var p population
	seen := map[string]bool{}
	for len(p.lastNames) < 5000 {
		n := syllables[r.IntN(len(syllables))] + syllables[r.IntN(len(syllables))] + syllables[r.IntN(len(syllables))]
		if !seen[n] {
			seen[n] = true
			p.lastNames = append(p.lastNames, n)
		}
	}
	for i := range 20000 {
		p.companies = append(p.companies, fmt.Sprintf("%s %s %d",
			companyWords[r.IntN(len(companyWords))], companySuffixes[r.IntN(len(companySuffixes))], i))
	}
	return p
}

func pick[T any](r *rand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }

func (p population) status(r *rand.Rand) string {
	n := r.IntN(100)
	for _, s := range statuses {
		if n < s.weight {
			return s.name
		}
		n -= s.weight
	}
	return "NEW"
}

// listBench fills the leads table with rows leads (COPY, straight into the
// service's table) and measures ListLeads pages over gRPC.
func listBench(ctx context.Context, o options, pool *pgxpool.Pool, client leadv1.LeadServiceClient, rep *report) error {
	// The create runs left their leads (all alike, all newest): the list
	// run measures the synthetic population alone.
	if _, err := pool.Exec(ctx, `DELETE FROM leads WHERE created_by = 'bench'`); err != nil {
		return err
	}
	if _, err := pool.Exec(ctx, `VACUUM ANALYZE leads`); err != nil {
		return err
	}
	r := rand.New(rand.NewPCG(1, 2))
	pop := newPopulation(r)
	now := time.Now().UTC()
	var have int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM leads WHERE created_by = 'import'`).Scan(&have); err != nil {
		return err
	}
	if have >= o.listRows {
		step(fmt.Sprintf("list: reusing %d loaded leads", have))
		rep.listSetup = fmt.Sprintf("%d leads (reused from an earlier load), page size 50, one client, requests over gRPC", have)
		return listQueries(ctx, o, pool, r, pop, now, client, rep)
	}
	step(fmt.Sprintf("list: loading %d leads with COPY", o.listRows))
	t0 := time.Now()
	cols := []string{"id", "first_name", "last_name", "company", "email", "phone", "source", "campaign", "rating",
		"status", "owner", "disqualify_reason", "created_at", "created_by", "updated_at", "updated_by", "version",
		"email_norm", "phone_norm", "name_key", "lifecycle_stage", "mql_at", "sql_at", "products"}
	var recentEmails []string
	i := 0
	_, err := pool.CopyFrom(ctx, pgx.Identifier{"leads"}, cols, pgx.CopyFromFunc(func() ([]any, error) {
		if i >= o.listRows {
			return nil, nil
		}
		i++
		first, last := pick(r, firstNames), pick(r, pop.lastNames)
		company := pick(r, pop.companies)
		status := pop.status(r)
		var reason any
		if status == "DISQUALIFIED" {
			reason = "NO_BUDGET"
		}
		// Leads arrive over two years, in order, as they do in real life:
		// created_at grows with the physical order of the table.
		created := now.Add(-730 * 24 * time.Hour).Add(time.Duration(i) * (730 * 24 * time.Hour / time.Duration(o.listRows)))
		campaign := ""
		if r.IntN(3) == 0 {
			campaign = fmt.Sprintf("campaign-%02d", r.IntN(30))
		}
		domainPart := strings.ReplaceAll(strings.Fields(company)[0], " ", "") + ".example"
		email := fmt.Sprintf("%s.%s%d@%s", first, last, i, domainPart)
		// About 2% of leads arrive again with an email seen shortly before;
		// phones collide by chance (one million drawn from ten million).
		if len(recentEmails) > 0 && r.IntN(50) == 0 {
			email = strings.ToUpper(recentEmails[r.IntN(len(recentEmails))])
		}
		if len(recentEmails) < 1000 {
			recentEmails = append(recentEmails, email)
		} else {
			recentEmails[r.IntN(1000)] = email
		}
		phone := fmt.Sprintf("+1 555 %07d", r.IntN(10_000_000))
		stage, mqlAt, sqlAt := lifecycle(r, created)
		return []any{
			uuid.Must(uuid.NewV7()), first, last, company, email, phone, pick(r, sources), campaign, pick(r, ratings), status,
			fmt.Sprintf("user%02d", r.IntN(50)), reason, created, "import", created, "import", int64(1),
			domain.NormalizeEmail(email), domain.NormalizePhone(phone, "US"), domain.CompanyAndNameKey(first, last, company),
			stage, mqlAt, sqlAt, productsOfInterest(r),
		}, nil
	}))
	if err != nil {
		return fmt.Errorf("copy leads: %w", err)
	}
	// COPY went around the service: note the duplicate keys it loaded, as
	// an operator would after a bulk load.
	if _, err := pool.Exec(ctx, "SELECT refresh_duplicate_keys()"); err != nil {
		return err
	}
	if _, err := pool.Exec(ctx, "VACUUM ANALYZE leads"); err != nil {
		return err
	}
	rep.listSetup = fmt.Sprintf("%d leads (loaded with COPY in %v, all indexes in place), page size 50, one client, "+
		"requests over gRPC to the lead service; names, companies, owners and statuses drawn from a fixed synthetic population",
		o.listRows, time.Since(t0).Round(time.Second))

	return listQueries(ctx, o, pool, r, pop, now, client, rep)
}

func listQueries(ctx context.Context, o options, pool *pgxpool.Pool, r *rand.Rand, pop population, now time.Time, client leadv1.LeadServiceClient, rep *report) error {
	// A running server has its hot table in cache; a freshly loaded or
	// restarted one does not. Warm it as production would be.
	// Nor is it flushing a just-loaded gigabyte to disk.
	if _, err := pool.Exec(ctx, `CHECKPOINT`); err != nil {
		return err
	}
	if _, err := pool.Exec(ctx, `CREATE EXTENSION IF NOT EXISTS pg_prewarm WITH SCHEMA public`); err == nil {
		step("list: prewarming the leads table and its indexes")
		if _, err := pool.Exec(ctx, `SELECT public.pg_prewarm(c.oid::regclass) FROM pg_class c
			JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'lead' AND c.relname LIKE 'leads%'`); err != nil {
			return fmt.Errorf("prewarm: %w", err)
		}
		rep.listSetup += "; table and indexes prewarmed into shared buffers (pg_prewarm)"
	}
	ctx = metadata.AppendToOutgoingContext(ctx, "authorization", authorization)
	type query struct {
		name   string
		filter func() string
		page2  bool
	}
	queries := []query{
		{"status + text (last name)", func() string {
			return fmt.Sprintf(`status = STATUS_NEW AND text:"%s"`, pick(r, pop.lastNames))
		}, false},
		{"status + text (last name), 2nd page", func() string {
			return fmt.Sprintf(`status = STATUS_NEW AND text:"%s"`, pick(r, pop.lastNames))
		}, true},
		{"owner + text (company word)", func() string {
			return fmt.Sprintf(`owner = "user%02d" AND text:"%s"`, r.IntN(50), pick(r, companyWords))
		}, false},
		{"rating + text (common fragment)", func() string {
			return fmt.Sprintf(`rating = RATING_HOT AND text:"%s"`, pick(r, longSyllables))
		}, false},
		{"text (one email)", func() string {
			return fmt.Sprintf(`text:"%s.%s"`, pick(r, firstNames), pick(r, pop.lastNames))
		}, false},
		{"lifecycle stage (SQL)", func() string { return `lifecycle_stage = SQL` }, false},
		{"lifecycle stage (MQL) + owner", func() string { return fmt.Sprintf(`lifecycle_stage = MQL AND owner = "user%02d"`, r.IntN(50)) }, false},
		{"campaign + created range + text", func() string {
			from := now.Add(-time.Duration(r.IntN(600)) * 24 * time.Hour).Format(time.RFC3339)
			return fmt.Sprintf(`campaign = "campaign-%02d" AND create_time >= "%s" AND text:"%s"`, r.IntN(30), from, pick(r, firstNames))
		}, false},
	}
	for _, q := range queries {
		step("list: " + q.name)
		var lat []time.Duration
		rows, misses := 0, 0
		for n := 0; n < o.listRequests+20; n++ {
			req := &leadv1.ListLeadsRequest{Filter: q.filter(), PageSize: 50}
			if q.page2 {
				first, err := client.ListLeads(ctx, req)
				if err != nil {
					return fmt.Errorf("%s: %w", q.name, err)
				}
				if first.NextPageToken == "" {
					if misses++; misses > 10*o.listRequests {
						break // the table is too small for second pages
					}
					n--
					continue
				}
				req.PageToken = first.NextPageToken
			}
			t := time.Now()
			resp, err := client.ListLeads(ctx, req)
			if err != nil {
				return fmt.Errorf("%s: %w", q.name, err)
			}
			if n >= 20 { // the first 20 warm up
				lat = append(lat, time.Since(t))
				rows += len(resp.Leads)
			}
		}
		if len(lat) == 0 {
			continue
		}
		res := listResult{name: q.name, requests: len(lat), avgRows: float64(rows) / float64(len(lat))}
		res.p50, res.p99 = benchkit.Percentile(lat, 50), benchkit.Percentile(lat, 99)
		res.max = lat[len(lat)-1]
		rep.lists = append(rep.lists, res)
	}
	return nil
}
