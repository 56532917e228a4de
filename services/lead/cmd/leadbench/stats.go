package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc/metadata"

	leadv1 "github.com/crmsuite/crm/gen/go/crm/lead/v1"
	"github.com/crmsuite/crm/platform/benchkit"
)

// lifecycle draws a lead's MQL/SQL stage: 40 % MQL, 20 % SQL, the rest
// none; the stage times follow the creation.
func lifecycle(r *rand.Rand, created time.Time) (stage string, mqlAt, sqlAt *time.Time) {
	switch n := r.IntN(10); {
	case n < 4:
		m := created.Add(time.Hour)
		return "MQL", &m, nil
	case n < 6:
		m, s := created.Add(time.Hour), created.Add(48*time.Hour)
		return "SQL", &m, &s
	}
	return "", nil, nil
}

// productsOfInterest draws a lead's products: 30 % of leads want one to
// three of 40 products.
func productsOfInterest(r *rand.Rand) []byte {
	if r.IntN(10) >= 3 {
		return []byte("[]")
	}
	type product struct {
		Product  string `json:"product"`
		Quantity string `json:"quantity"`
	}
	var ps []product
	seen := map[int]bool{}
	for range 1 + r.IntN(3) {
		n := r.IntN(40)
		if seen[n] {
			continue
		}
		seen[n] = true
		ps = append(ps, product{Product: fmt.Sprintf("SKU-%02d", n), Quantity: fmt.Sprint(1 + r.IntN(5))})
	}
	b, _ := json.Marshal(ps)
	return b
}

// The lead statistics' SQL (adapters/postgres/statistics.go) over every
// lead, for the raw ceiling.
const (
	statsWhere  = `created_at >= $1 AND created_at < $2 AND status <> 'MERGED' AND ($3 = '' OR owner = $3)`
	statsCounts = `SELECT GROUPING(status) = 0, GROUPING(source) = 0, GROUPING(campaign) = 0, GROUPING(owner) = 0,
		GROUPING(disqualify_reason) = 0, coalesce(status, ''), coalesce(source, ''), coalesce(campaign, ''), coalesce(owner, ''),
		coalesce(disqualify_reason, ''), count(*), count(*) FILTER (WHERE status = 'QUALIFIED'),
		count(*) FILTER (WHERE status IN ('QUALIFIED', 'DISQUALIFIED')), count(*) FILTER (WHERE mql_at IS NOT NULL),
		count(*) FILTER (WHERE sql_at IS NOT NULL), count(*) FILTER (WHERE sql_at IS NOT NULL AND status = 'QUALIFIED')
		FROM leads WHERE ` + statsWhere + `
		GROUP BY GROUPING SETS ((), (status), (source), (campaign), (owner), (disqualify_reason)) ORDER BY 11 DESC, 6, 7, 8, 9, 10`
	statsProducts = `SELECT min(p.product), count(*), count(*) FILTER (WHERE status = 'QUALIFIED'),
		count(*) FILTER (WHERE status IN ('QUALIFIED', 'DISQUALIFIED'))
		FROM leads, jsonb_to_recordset(products) AS p(product text) WHERE ` + statsWhere + ` AND products <> '[]'
		GROUP BY lower(p.product) ORDER BY 2 DESC, 1`
	statsMedian = `SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM qualified_at - created_at) / 86400)
		FROM leads WHERE ` + statsWhere + ` AND status = 'QUALIFIED' AND qualified_at IS NOT NULL`
)

// statsBench measures GetLeadStatistics over the whole loaded table, and
// the raw SQL of the same work.
func statsBench(ctx context.Context, o options, pool *pgxpool.Pool, client leadv1.LeadServiceClient, rep *report) error {
	n := max(3, o.listRequests/40)
	gctx := metadata.AppendToOutgoingContext(ctx, "authorization", authorization)
	args := []any{time.Time{}, time.Now().Add(time.Hour), ""}
	drain := func(sql string) error {
		rows, err := pool.Query(ctx, sql, args...)
		if err != nil {
			return err
		}
		for rows.Next() {
		}
		rows.Close()
		return rows.Err()
	}
	runs := []struct {
		name string
		do   func() error
	}{
		{"GetLeadStatistics over gRPC", func() error {
			_, err := client.GetLeadStatistics(gctx, &leadv1.GetLeadStatisticsRequest{})
			return err
		}},
		{"raw SQL, all three queries", func() error {
			for _, q := range []string{statsCounts, statsProducts, statsMedian} {
				if err := drain(q); err != nil {
					return err
				}
			}
			return nil
		}},
		{"raw SQL, counts and funnel", func() error { return drain(statsCounts) }},
		{"raw SQL, per product", func() error { return drain(statsProducts) }},
		{"raw SQL, median", func() error { return drain(statsMedian) }},
	}
	for _, run := range runs {
		step("statistics: " + run.name)
		var lat []time.Duration
		for i := range n + 2 {
			t := time.Now()
			if err := run.do(); err != nil {
				return fmt.Errorf("%s: %w", run.name, err)
			}
			if i >= 2 { // the first two warm up
				lat = append(lat, time.Since(t))
			}
		}
		res := listResult{name: run.name, requests: len(lat)}
		res.p50, res.p99 = benchkit.Percentile(lat, 50), benchkit.Percentile(lat, 99)
		res.max = lat[len(lat)-1]
		rep.stats = append(rep.stats, res)
	}
	return nil
}
