package main

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc/metadata"

	leadv1 "github.com/crmsuite/crm/gen/go/crm/lead/v1"
	"github.com/crmsuite/crm/platform/benchkit"
	"github.com/crmsuite/crm/platform/pg"
	"github.com/crmsuite/crm/services/lead/internal/domain"
)

// dupBench measures duplicate detection on the loaded table, at the
// highest concurrency, once the projection of the account service's
// customers holds as many contacts as there are leads (and a tenth as many
// accounts): CreateLead with the check off (allow_duplicate), checking
// leads only as before customers were checked (the projection's key table
// swapped for an empty one), and checking leads, contacts and accounts;
// each check beside its raw Postgres ceiling (the repository's create,
// check included, in-process: the same inserts and lookups with no gRPC in
// front). The variants alternate, -dup-rounds rounds, so that what else
// the machine does falls on all of them alike. Then the first page of
// ListDuplicateGroups.
func dupBench(ctx context.Context, o options, pool *pgxpool.Pool, client leadv1.LeadServiceClient, rawLead func(context.Context, domain.Lead) error, seq *atomic.Int64, rep *report) error {
	ctx = metadata.AppendToOutgoingContext(ctx, "authorization", authorization)
	c := o.concurrency[len(o.concurrency)-1]
	grpcCreate := func(check bool) func(context.Context, int64) error {
		return func(ctx context.Context, i int64) error {
			_, err := client.CreateLead(ctx, &leadv1.CreateLeadRequest{Lead: dupBenchLead(i), AllowDuplicate: !check})
			return err
		}
	}
	rawCreate := func(ctx context.Context, i int64) error {
		l := dupBenchLead(i)
		return rawLead(ctx, domain.Lead{FirstName: l.FirstName, LastName: l.LastName, Company: l.Company, Email: l.Email,
			Phone: l.Phone, Website: l.Website, Rating: domain.RatingWarm, Source: domain.SourceImport})
	}
	if err := loadCustomers(ctx, o, pool, rep); err != nil {
		return err
	}
	defer func() {
		if err := projection(ctx, pool, true); err != nil {
			step("could not put the projection back: " + err.Error())
		}
	}()
	for round := range o.dupRounds {
		for _, m := range []struct {
			name      string
			customers bool
			fn        func(context.Context, int64) error
		}{
			{dupOff, true, grpcCreate(false)},
			{dupLeadsOnly, false, grpcCreate(true)},
			{dupCross, true, grpcCreate(true)},
			{dupLeadsOnlyRaw, false, rawCreate},
			{dupCrossRaw, true, rawCreate},
		} {
			if err := projection(ctx, pool, m.customers); err != nil {
				return err
			}
			step(fmt.Sprintf("duplicates: %s (round %d)", m.name, round+1))
			res, err := load(ctx, c, o.warmup, o.duration, seq, m.fn)
			if err != nil {
				return fmt.Errorf("%s: %w", m.name, err)
			}
			res.name, res.concurrency = m.name, c
			rep.dupCreates = append(rep.dupCreates, res)
		}
	}
	if err := guardCost(ctx, o, pool, seq, rep); err != nil {
		return err
	}
	for _, rule := range []leadv1.DuplicateRule{leadv1.DuplicateRule_DUPLICATE_RULE_UNSPECIFIED, leadv1.DuplicateRule_DUPLICATE_RULE_EMAIL,
		leadv1.DuplicateRule_DUPLICATE_RULE_PHONE, leadv1.DuplicateRule_DUPLICATE_RULE_COMPANY_AND_NAME} {
		step(fmt.Sprintf("duplicates: ListDuplicateGroups first page, rule %s", rule))
		var lat []time.Duration
		groups := 0
		requests := o.listRequests
		if rule == leadv1.DuplicateRule_DUPLICATE_RULE_COMPANY_AND_NAME {
			requests = 20 // nearly no groups: each page reads the whole index
		}
		for n := range requests + 20 {
			t := time.Now()
			resp, err := client.ListDuplicateGroups(ctx, &leadv1.ListDuplicateGroupsRequest{PageSize: 50, Rule: rule})
			if err != nil {
				return err
			}
			if n >= 20 {
				lat = append(lat, time.Since(t))
				groups += len(resp.Groups)
			}
		}
		res := listResult{name: "ListDuplicateGroups first page, rule " + rule.String(), requests: len(lat), avgRows: float64(groups) / float64(len(lat))}
		res.p50, res.p99 = benchkit.Percentile(lat, 50), benchkit.Percentile(lat, 99)
		res.max = lat[len(lat)-1]
		rep.dupLists = append(rep.dupLists, res)
	}
	return nil
}

const (
	dupOff          = "gRPC CreateLead, duplicate check off"
	dupLeadsOnly    = "gRPC CreateLead, check against leads only (projection swapped out: as before)"
	dupLeadsOnlyRaw = "raw pgx batch, check against leads only"
	dupCross        = "gRPC CreateLead, check against leads, contacts and accounts"
	dupCrossRaw     = "raw pgx batch, check against leads, contacts and accounts"
)

// dupBenchLead is a lead that matches nothing (so the check reads every
// key's index and passes): its email, phone and web domain are its own,
// its company no account's.
func dupBenchLead(i int64) *leadv1.Lead {
	l := benchLeadProto(i)
	l.Phone = fmt.Sprintf("+1 212 %07d", i%10_000_000)
	l.Website = fmt.Sprintf("https://www.grpc%d.example", i)
	return l
}

// loadCustomers fills the projection of the account service's customers
// (migration 013) with COPY, as its consumer would have from the events:
// one contact per loaded lead (an email and a phone each, no lead's nor
// an imported row's: area code 332)
// and a tenth as many accounts (name and web domain).
func loadCustomers(ctx context.Context, o options, pool *pgxpool.Pool, rep *report) error {
	contacts, accounts := o.listRows, o.listRows/10
	var have int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM customer_records`).Scan(&have); err != nil {
		return err
	}
	// The empty twin of the key table that the leads-only runs use, owned
	// by the service's role like the original.
	if _, err := pool.Exec(ctx, `CREATE TABLE IF NOT EXISTS customer_keys_parked (LIKE customer_keys INCLUDING ALL)`); err != nil {
		return err
	}
	var owner string
	if err := pool.QueryRow(ctx, `SELECT tableowner FROM pg_tables WHERE schemaname = current_schema() AND tablename = 'customer_keys'`).Scan(&owner); err != nil {
		return err
	}
	if _, err := pool.Exec(ctx, `ALTER TABLE customer_keys_parked OWNER TO `+pgx.Identifier{owner}.Sanitize()); err != nil {
		return err
	}
	if err := projection(ctx, pool, true); err != nil {
		return err
	}
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM customer_records`).Scan(&have); err != nil {
		return err
	}
	if have >= contacts+accounts {
		rep.customerSetup = fmt.Sprintf("%d contacts and accounts in the projection (reused from an earlier load)", have)
		return nil
	}
	step(fmt.Sprintf("duplicates: loading %d contacts and %d accounts into the projection with COPY", contacts, accounts))
	t0 := time.Now()
	if _, err := pool.Exec(ctx, `TRUNCATE customer_records CASCADE`); err != nil {
		return err
	}
	ids := make([]uuid.UUID, contacts+accounts)
	i := 0
	_, err := pool.CopyFrom(ctx, pgx.Identifier{"customer_records"}, []string{"id", "kind", "display_name", "version", "state"},
		pgx.CopyFromFunc(func() ([]any, error) {
			if i >= len(ids) {
				return nil, nil
			}
			ids[i] = uuid.Must(uuid.NewV7())
			kind, name := "CONTACT", fmt.Sprintf("Contact %d", i)
			if i >= contacts {
				kind, name = "ACCOUNT", fmt.Sprintf("Customer Account %d", i)
			}
			i++
			return []any{ids[i-1], kind, name, int64(1), "LIVE"}, nil
		}))
	if err != nil {
		return fmt.Errorf("copy customer records: %w", err)
	}
	i = 0
	_, err = pool.CopyFrom(ctx, pgx.Identifier{"customer_keys"}, []string{"rule", "key", "record_id"},
		pgx.CopyFromFunc(func() ([]any, error) {
			if i >= 2*len(ids) {
				return nil, nil
			}
			n, second := i/2, i%2 == 1
			i++
			switch {
			case n < contacts && !second:
				return []any{"EMAIL", domain.NormalizeEmail(fmt.Sprintf("contact%d@customer.example", n)), ids[n]}, nil
			case n < contacts:
				return []any{"PHONE", domain.NormalizePhone(fmt.Sprintf("+1 332 %07d", n%10_000_000), "US"), ids[n]}, nil
			case !second:
				return []any{"COMPANY_NAME", fmt.Sprintf("customer account %d", n), ids[n]}, nil
			default:
				return []any{"WEB_DOMAIN", fmt.Sprintf("account%d.example", n), ids[n]}, nil
			}
		}))
	if err != nil {
		return fmt.Errorf("copy customer keys: %w", err)
	}
	if _, err := pool.Exec(ctx, `VACUUM ANALYZE customer_records, customer_keys`); err != nil {
		return err
	}
	rep.customerSetup = fmt.Sprintf("%d contacts and %d accounts (%d keys) loaded into the projection with COPY in %v",
		contacts, accounts, 2*len(ids), time.Since(t0).Round(time.Second))
	return nil
}

// projection puts the loaded customer keys in place (with) or an empty key
// table instead (without), by renaming the two tables in one transaction:
// the guard function's cached plan is invalidated and finds the other one.
// Bench only: the service never runs without its table.
func projection(ctx context.Context, pool *pgxpool.Pool, with bool) error {
	var loaded int64
	if err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM (SELECT 1 FROM customer_keys LIMIT 1) k)`).Scan(&loaded); err != nil {
		return err
	}
	if (loaded == 1) == with {
		return nil
	}
	return pg.InTx(ctx, pool, func(ctx context.Context) error {
		for _, sql := range []string{
			`ALTER TABLE customer_keys RENAME TO customer_keys_swap`,
			`ALTER TABLE customer_keys_parked RENAME TO customer_keys`,
			`ALTER TABLE customer_keys_swap RENAME TO customer_keys_parked`,
		} {
			if _, err := pg.Q(ctx, pool).Exec(ctx, sql); err != nil {
				return fmt.Errorf("swap the projection: %w", err)
			}
		}
		return nil
	})
}

// guardCost times the duplicate guard statement alone (the lookups a
// create adds, no insert, no commit to wait for), one caller, leads only
// against leads, contacts and accounts, alternating: its marginal cost
// per create, which the throughput runs' noise on a shared machine can
// hide.
func guardCost(ctx context.Context, o options, pool *pgxpool.Pool, seq *atomic.Int64, rep *report) error {
	n := 2000
	if o.smoke {
		n = 100
	}
	step(fmt.Sprintf("duplicates: the guard statement alone, %d calls per variant and round", n))
	var lat [2][]time.Duration
	for range 3 {
		for v, customers := range []bool{false, true} {
			if err := projection(ctx, pool, customers); err != nil {
				return err
			}
			for range n {
				l := dupBenchLead(seq.Add(1))
				t0 := time.Now()
				if _, err := pool.Exec(ctx, `SELECT assert_no_duplicate($1, $2, $3, $4, $5, $6)`, uuid.New(),
					domain.NormalizeEmail(l.Email), domain.NormalizePhone(l.Phone, ""), domain.CompanyAndNameKey(l.FirstName, l.LastName, l.Company),
					"load inc", "grpc"+fmt.Sprint(seq.Load())+".example"); err != nil {
					return fmt.Errorf("guard: %w", err)
				}
				lat[v] = append(lat[v], time.Since(t0))
			}
		}
	}
	rep.guard = fmt.Sprintf("The guard statement alone (%d calls each, one caller, alternating in 3 rounds; round trip included): "+
		"leads only p50 %s, p99 %s; leads, contacts and accounts p50 %s, p99 %s.",
		len(lat[0]), ms(benchkit.Percentile(lat[0], 50)), ms(benchkit.Percentile(lat[0], 99)),
		ms(benchkit.Percentile(lat[1], 50)), ms(benchkit.Percentile(lat[1], 99)))
	return projection(ctx, pool, true)
}
