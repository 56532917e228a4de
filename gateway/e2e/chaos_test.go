package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/crmsuite/crm/platform/events"
	"github.com/crmsuite/crm/platform/inbox"
	"github.com/crmsuite/crm/platform/testkit"
)

// TestLifecycleChaos drives N records through the whole lifecycle over
// REST, while every part of the suite fails in turn, and then checks that
// each record ended complete and once.
//
// A record: a HOT lead is qualified into a new account and contact, with
// an opportunity and a draft order; the opportunity gets a recurring line
// and contract terms and is won, which makes a draft contract; the order
// is confirmed (a credit check with the account service); the contract is
// back-dated so that its renewal falls due at once and activated; the
// renewal timer fires and the opportunity service opens the renewal
// opportunity. Meanwhile each service and the gateway are killed with
// SIGKILL and restarted, NATS is stopped and restarted on its store, and
// PostgreSQL is crashed (SIGKILL) and restarted on its data directory.
// The client retries transient failures (connection errors, 502/503/504,
// 429, a request still in progress) with the same request ids.
//
// CHAOS_N sets N (default 30), CHAOS_ROUNDS how often the faults go round
// (default 1) and CHAOS_CONVERGE how long the suite may take to settle
// after the last fault (default 2m).
func TestLifecycleChaos(t *testing.T) {
	t.Parallel()
	n := chaosEnvInt(t, "CHAOS_N", 30)
	rounds := chaosEnvInt(t, "CHAOS_ROUNDS", 1)
	converge := 2 * time.Minute
	if v := os.Getenv("CHAOS_CONVERGE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("CHAOS_CONVERGE: %v", err)
		}
		converge = d
	}

	began := time.Now()
	pg := testkit.PrivatePostgres(t)
	db := pg.Database(t)
	s := startStackWith(t, stackOptions{privateNATS: true, database: db,
		// The client's retries are not abuse.
		env: []string{"RATE_LIMIT_RPS=0", "RATE_LIMIT_ADDRESS_RPS=0"}})
	c := &chaosClient{base: s.base, auth: testkit.Bearer("alice"), http: &http.Client{Timeout: 20 * time.Second}, retries: map[string]int{}}

	const down = time.Second
	type fault struct {
		name   string
		inject func()
	}
	restartAfterKill := func(p *testkit.Proc) func() {
		return func() { p.Kill(); time.Sleep(down); p.Restart() }
	}
	faults := []fault{
		{"kill -9 lead", restartAfterKill(s.lead)},
		{"kill -9 account", restartAfterKill(s.account)},
		{"kill -9 opportunity", restartAfterKill(s.opps)},
		{"kill -9 order", restartAfterKill(s.orders)},
		{"kill -9 workflow", restartAfterKill(s.workflow)},
		{"kill -9 gateway", restartAfterKill(s.gateway)},
		{"restart NATS", func() { s.nats.Stop(t); time.Sleep(2 * down); s.nats.Restart(t) }},
		{"kill -9 postgres", func() { pg.Kill(t); time.Sleep(2 * down); pg.Start(t) }},
	}
	const gap = 2 * time.Second
	window := time.Duration(rounds*len(faults)) * (gap + 2*down)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	start := time.Now()
	since := func() string { return fmt.Sprintf("+%5.1fs", time.Since(start).Seconds()) }
	t.Logf("chaos: suite up in %v; N=%d records, %d faults x %d rounds, records released over %v",
		start.Sub(began).Round(100*time.Millisecond), n, len(faults), rounds, window)

	// Records start evenly over the fault window, so that every fault
	// finds records at every step; a few run at a time.
	records := make([]*chaosRecord, n)
	for i := range records {
		records[i] = &chaosRecord{i: i, step: "not started"}
	}
	sem := make(chan struct{}, 8)
	var drivers sync.WaitGroup
	release := make(chan struct{})
	go func() {
		defer close(release)
		for _, r := range records {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			drivers.Go(func() {
				defer func() { <-sem }()
				r.err = c.drive(ctx, r)
				r.mu.Lock()
				r.done = true
				r.mu.Unlock()
			})
			select {
			case <-time.After(window / time.Duration(n)):
			case <-ctx.Done():
				return
			}
		}
	}()
	driven := make(chan struct{})
	go func() { <-release; drivers.Wait(); close(driven) }()

	time.Sleep(gap)
	var injected []string
	for round := range rounds {
		for _, f := range faults {
			at, inFlight := since(), steps(records)
			t0 := time.Now()
			f.inject()
			injected = append(injected, fmt.Sprintf("%s at %s", f.name, strings.TrimSpace(at)))
			t.Logf("chaos: %s round %d: %s, back after %v; records were at: %s", at, round+1, f.name, time.Since(t0).Round(10*time.Millisecond), inFlight)
			time.Sleep(gap)
		}
	}
	faultsEnd := time.Now()
	t.Logf("chaos: %s last fault over; waiting for the records and the queues", since())

	check := &chaosCheck{db: db, nats: s.nats, n: n}
	defer check.close()
	deadline := faultsEnd.Add(converge)
	var outstanding string
	for {
		select {
		case <-driven:
			outstanding = check.outstanding(t, ctx)
		default:
			outstanding = "records still being driven: " + stuck(records)
		}
		if outstanding == "" {
			break
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("chaos: not converged %v after the last fault: %s", converge, outstanding)
		}
		time.Sleep(250 * time.Millisecond)
	}
	convergedIn := time.Since(faultsEnd)
	t.Logf("chaos: %s settled, %v after the last fault; client retries: %s", since(), convergedIn.Round(100*time.Millisecond), c.retrySummary())
	for _, r := range records {
		if r.err != nil {
			t.Errorf("record %d (%s): %v", r.i, r.lead, r.err)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	check.assert(t, ctx, records)
	t.Logf("chaos: N=%d, faults: %s; converged %v after the last fault (%v in all)",
		n, strings.Join(injected, ", "), convergedIn.Round(100*time.Millisecond), time.Since(start).Round(100*time.Millisecond))
}

func chaosEnvInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	i, err := strconv.Atoi(v)
	if err != nil || i < 1 {
		t.Fatalf("%s: %q, want a positive number", name, v)
	}
	return i
}

// chaosRecord is one record's way through the lifecycle: the names of what
// it made, the step it is at.
type chaosRecord struct {
	i                                                             int
	lead, account, contact, opportunity, order, contract, renewal string
	err                                                           error

	mu   sync.Mutex
	step string
	done bool
}

func (r *chaosRecord) at(step string) {
	r.mu.Lock()
	r.step = step
	r.mu.Unlock()
}

// steps counts the records in flight by the step they are at.
func steps(records []*chaosRecord) string {
	count := map[string]int{}
	for _, r := range records {
		r.mu.Lock()
		if !r.done && r.step != "not started" {
			count[r.step]++
		}
		r.mu.Unlock()
	}
	var out []string
	for step, k := range count {
		out = append(out, fmt.Sprintf("%s %d", step, k))
	}
	slices.Sort(out)
	return strings.Join(out, ", ")
}

func stuck(records []*chaosRecord) string {
	var out []string
	for _, r := range records {
		r.mu.Lock()
		if !r.done {
			out = append(out, fmt.Sprintf("%d at %q", r.i, r.step))
		}
		r.mu.Unlock()
	}
	return strings.Join(out, ", ")
}

// chaosClient talks REST to the gateway and retries what a careful client
// retries: with the same request, so with the same request id.
type chaosClient struct {
	base, auth string
	http       *http.Client
	mu         sync.Mutex
	retries    map[string]int
}

func (c *chaosClient) retried(why string) {
	c.mu.Lock()
	c.retries[why]++
	c.mu.Unlock()
}

func (c *chaosClient) retrySummary() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var parts []string
	total := 0
	for why, k := range c.retries {
		parts = append(parts, fmt.Sprintf("%s x%d", why, k))
		total += k
	}
	slices.Sort(parts)
	return fmt.Sprintf("%d (%s)", total, strings.Join(parts, ", "))
}

// transient says whether an answer is worth the same request again, and
// why.
func transient(r response, err error) (string, bool) {
	if err != nil {
		switch {
		case errors.Is(err, context.DeadlineExceeded), strings.Contains(err.Error(), "Client.Timeout"):
			return "client timeout", true
		case strings.Contains(err.Error(), "connection refused"):
			return "connection refused", true
		default:
			return "connection error", true
		}
	}
	switch r.status {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return strconv.Itoa(r.status), true
	case http.StatusConflict:
		if reason, _ := r.violations(); reason == "REQUEST_IN_PROGRESS" {
			return "409 REQUEST_IN_PROGRESS", true
		}
	}
	return "", false
}

// call sends the request until the answer is not transient (or ctx ends).
func (c *chaosClient) call(ctx context.Context, method, path string, body any) (response, error) {
	var raw []byte
	if body != nil {
		var err error
		if raw, err = json.Marshal(body); err != nil {
			return response{}, err
		}
	}
	wait := 100 * time.Millisecond
	for {
		r, err := c.once(ctx, method, path, raw)
		why, retry := transient(r, err)
		if !retry {
			return r, nil
		}
		if ctx.Err() != nil {
			return r, fmt.Errorf("%s %s: gave up (%s): %w", method, path, why, ctx.Err())
		}
		c.retried(why)
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Second)
	}
}

func (c *chaosClient) once(ctx context.Context, method, path string, body []byte) (response, error) {
	var rdr io.Reader
	if body != nil {
		rdr = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rdr)
	if err != nil {
		return response{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", c.auth)
	resp, err := c.http.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return response{}, err
	}
	r := response{status: resp.StatusCode, raw: raw}
	if len(raw) > 0 && raw[0] == '{' {
		if err := json.Unmarshal(raw, &r.body); err != nil {
			return r, fmt.Errorf("%s %s: body is not JSON: %v: %s", method, path, err, raw)
		}
	}
	return r, nil
}

// must sends the request and wants 200.
func (c *chaosClient) must(ctx context.Context, method, path string, body any) (response, error) {
	r, err := c.call(ctx, method, path, body)
	if err != nil {
		return r, err
	}
	if r.status != http.StatusOK {
		return r, fmt.Errorf("%s %s: status %d: %s", method, path, r.status, r.raw)
	}
	return r, nil
}

// until polls cond until it holds; cond's error ends the wait.
func until(ctx context.Context, cond func() (bool, error)) error {
	for {
		ok, err := cond()
		if err != nil || ok {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func (c *chaosClient) drive(ctx context.Context, r *chaosRecord) error {
	// One request id per step: every retry of a step sends it again.
	leadReq, qualifyReq, winReq, confirmReq, activateReq := uuid.NewString(), uuid.NewString(), uuid.NewString(), uuid.NewString(), uuid.NewString()
	tag := uuid.NewString()[:8]

	r.at("create lead")
	lead, err := c.must(ctx, "POST", "/v1/leads?requestId="+leadReq, map[string]any{
		"firstName": "Chaos", "lastName": fmt.Sprintf("Record %d %s", r.i, tag), "company": fmt.Sprintf("Chaos %d %s Ltd", r.i, tag),
		"email": fmt.Sprintf("chaos-%d-%s@chaos.example", r.i, tag), "rating": "RATING_HOT",
	})
	if err != nil {
		return err
	}
	r.lead = lead.str("name")

	r.at("qualify")
	if _, err := c.must(ctx, "POST", "/v1/"+r.lead+":qualify", map[string]any{
		"requestId":   qualifyReq,
		"newAccount":  map[string]any{"currencyCode": "EUR"},
		"opportunity": map[string]any{"displayName": fmt.Sprintf("Chaos %d support", r.i), "amount": map[string]any{"currencyCode": "EUR", "units": "3000"}},
		"order": map[string]any{"lines": []map[string]any{{"productCode": "SETUP", "quantity": "1",
			"unitPrice": map[string]any{"currencyCode": "EUR", "units": "500"}}}},
	}); err != nil {
		return err
	}

	r.at("conversion complete")
	if err := until(ctx, func() (bool, error) {
		got, err := c.must(ctx, "GET", "/v1/"+r.lead, nil)
		if err != nil {
			return false, err
		}
		conv := conversion(got)
		switch conv["state"] {
		case "CONVERSION_STATE_COMPLETE":
			r.account, _ = conv["account"].(string)
			r.contact, _ = conv["contact"].(string)
			r.opportunity, _ = conv["opportunity"].(string)
			r.order, _ = conv["order"].(string)
			return true, nil
		case "CONVERSION_STATE_FAILED":
			return false, fmt.Errorf("conversion failed: %s", got.raw)
		}
		return false, nil
	}); err != nil {
		return err
	}

	r.at("opportunity terms")
	if _, err := c.must(ctx, "PATCH", "/v1/"+r.opportunity+"?updateMask=line_items,contract_terms", map[string]any{
		"account": r.account, "displayName": fmt.Sprintf("Chaos %d support", r.i),
		"lineItems":     []map[string]any{{"product": "SUPPORT", "quantity": "1", "unitPrice": map[string]any{"currencyCode": "EUR", "units": "250"}}},
		"contractTerms": map[string]any{"billingInterval": "BILLING_INTERVAL_MONTHLY", "termMonths": 12},
	}); err != nil {
		return err
	}
	r.at("win")
	if _, err := c.must(ctx, "POST", "/v1/"+r.opportunity+":win", map[string]any{"requestId": winReq}); err != nil {
		return err
	}

	r.at("confirm order")
	confirmed, err := c.must(ctx, "POST", "/v1/"+r.order+":confirm", map[string]any{"requestId": confirmReq})
	if err != nil {
		return err
	}
	if confirmed.str("status") != "ORDER_STATUS_CONFIRMED" {
		return fmt.Errorf("confirmed order: %s", confirmed.raw)
	}

	r.at("contract from the win")
	if err := until(ctx, func() (bool, error) {
		got, err := c.must(ctx, "GET", fmt.Sprintf("/v1/contracts?filter=source_opportunity=%%22%s%%22", r.opportunity), nil)
		if err != nil {
			return false, err
		}
		cs := got.list("contracts")
		if len(cs) > 1 {
			return false, fmt.Errorf("%d contracts from one win: %s", len(cs), got.raw)
		}
		if len(cs) == 1 {
			r.contract, _ = cs[0]["name"].(string)
		}
		return len(cs) == 1, nil
	}); err != nil {
		return err
	}

	// Started eleven months ago, renewal due 60 days before the term ends:
	// due at once on activation.
	r.at("back-date contract")
	started := time.Now().UTC().AddDate(0, -11, 0)
	if _, err := c.must(ctx, "PATCH", "/v1/"+r.contract, map[string]any{
		"account": r.account, "currencyCode": "EUR",
		"startDate":       map[string]any{"year": started.Year(), "month": int(started.Month()), "day": started.Day()},
		"renewalLeadDays": 60, "billingAnchorDay": started.Day(),
	}); err != nil {
		return err
	}
	r.at("activate contract")
	active, err := c.must(ctx, "POST", "/v1/"+r.contract+":activate", map[string]any{"requestId": activateReq})
	if err != nil {
		return err
	}
	if active.str("status") != "CONTRACT_STATUS_ACTIVE" {
		return fmt.Errorf("activated contract: %s", active.raw)
	}

	r.at("renewal opportunity")
	return until(ctx, func() (bool, error) {
		got, err := c.must(ctx, "GET", "/v1/"+r.contract, nil)
		if err != nil {
			return false, err
		}
		if r.renewal = got.str("renewalOpportunity"); r.renewal == "" {
			return false, nil
		}
		opp, err := c.call(ctx, "GET", "/v1/"+r.renewal, nil)
		switch {
		case err != nil:
			return false, err
		case opp.status == http.StatusNotFound:
			return false, nil
		case opp.status != http.StatusOK:
			return false, fmt.Errorf("renewal opportunity: status %d: %s", opp.status, opp.raw)
		case opp.str("type") != "OPPORTUNITY_TYPE_RENEWAL" || opp.str("renewalContract") != r.contract:
			return false, fmt.Errorf("renewal opportunity: %s", opp.raw)
		}
		r.at("done")
		return true, nil
	})
}

// chaosCheck reads what the services made, from their schemas and streams.
type chaosCheck struct {
	db   string
	nats *testkit.NATS
	n    int

	pool *pgxpool.Pool
	js   jetstream.JetStream
}

var chaosSchemas = []string{"lead", "account", "opportunity", "order", "workflow"}

func (k *chaosCheck) connect(t *testing.T, ctx context.Context) error {
	if k.pool == nil {
		pool, err := pgxpool.New(ctx, k.db)
		if err != nil {
			return err
		}
		k.pool = pool
	}
	if k.js == nil {
		k.js = k.nats.Observer(t)
	}
	return nil
}

func (k *chaosCheck) close() {
	if k.pool != nil {
		k.pool.Close()
	}
}

// outstanding is what keeps the suite from having settled: rows in an
// outbox, events a consumer has not acknowledged. "" once settled.
func (k *chaosCheck) outstanding(t *testing.T, ctx context.Context) string {
	if err := k.connect(t, ctx); err != nil {
		return err.Error()
	}
	var out []string
	for _, schema := range chaosSchemas {
		var rows int
		if err := k.pool.QueryRow(ctx, fmt.Sprintf(`SELECT count(*) FROM %q.outbox`, schema)).Scan(&rows); err != nil {
			return err.Error()
		}
		if rows > 0 {
			out = append(out, fmt.Sprintf("%s outbox: %d rows", schema, rows))
		}
	}
	streams := k.js.ListStreams(ctx)
	for info := range streams.Info() {
		stream, err := k.js.Stream(ctx, info.Config.Name)
		if err != nil {
			return err.Error()
		}
		consumers := stream.ListConsumers(ctx)
		for ci := range consumers.Info() {
			if ci.NumPending > 0 || ci.NumAckPending > 0 {
				out = append(out, fmt.Sprintf("consumer %s: %d pending, %d unacknowledged", ci.Name, ci.NumPending, ci.NumAckPending))
			}
		}
		if err := consumers.Err(); err != nil {
			return err.Error()
		}
	}
	if err := streams.Err(); err != nil {
		return err.Error()
	}
	return strings.Join(out, "; ")
}

// assert checks every record, every table and every stream.
func (k *chaosCheck) assert(t *testing.T, ctx context.Context, records []*chaosRecord) {
	t.Helper()
	one := func(what, sql string, args ...any) {
		t.Helper()
		var got int
		if err := k.pool.QueryRow(ctx, sql, args...).Scan(&got); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if got != 1 {
			t.Errorf("%s: %d, want exactly 1", what, got)
		}
	}
	for _, r := range records {
		id := func(name string) string { return name[strings.IndexByte(name, '/')+1:] }
		one(r.lead+" COMPLETE", `SELECT count(*) FROM lead.leads WHERE id = $1 AND status = 'QUALIFIED' AND conversion->>'state' = 'COMPLETE'`, id(r.lead))
		one(r.lead+" account", `SELECT count(*) FROM account.accounts WHERE source_lead = $1`, r.lead)
		one(r.lead+" contact", `SELECT count(*) FROM account.contacts WHERE source_lead = $1`, r.lead)
		one(r.lead+" opportunity", `SELECT count(*) FROM opportunity.opportunities WHERE source_lead = $1 AND state = 'WON'`, r.lead)
		one(r.lead+" order", `SELECT count(*) FROM "order".orders WHERE source_lead = $1 AND status = 'CONFIRMED'`, r.lead)
		one(r.opportunity+" contract", `SELECT count(*) FROM "order".contracts WHERE source_opportunity = $1 AND status = 'ACTIVE'`, r.opportunity)
		one(r.contract+" renewal opportunity", `SELECT count(*) FROM opportunity.opportunities WHERE renewal_contract = $1 AND type = 'RENEWAL'`, r.contract)
		one(r.lead+" call-back task", `SELECT count(*) FROM workflow.activities WHERE regarding = $1 AND key = 'callback'`, r.lead)
		// The workflow service's projection ends as the records did: no
		// event lost, none applied over a newer one.
		for name, status := range map[string]string{r.lead: "QUALIFIED", r.account: "ACTIVE", r.contact: "", r.opportunity: "WON",
			r.order: "CONFIRMED", r.contract: "ACTIVE", r.renewal: "OPEN"} {
			one(name+" "+status+" in the workflow projection", `SELECT count(*) FROM workflow.records WHERE name = $1 AND status = $2`, name, status)
		}
	}
	// Nothing beyond the records: a duplicate without a link shows here.
	n := len(records)
	for _, c := range []struct {
		what string
		sql  string
		want int
	}{
		{"leads", `SELECT count(*) FROM lead.leads`, n},
		{"conversions not COMPLETE", `SELECT count(*) FROM lead.leads WHERE conversion->>'state' IS DISTINCT FROM 'COMPLETE'`, 0},
		{"accounts", `SELECT count(*) FROM account.accounts`, n},
		{"contacts", `SELECT count(*) FROM account.contacts`, n},
		{"opportunities", `SELECT count(*) FROM opportunity.opportunities`, 2 * n},
		{"orders", `SELECT count(*) FROM "order".orders`, n},
		{"contracts", `SELECT count(*) FROM "order".contracts`, n},
		{"tasks", `SELECT count(*) FROM workflow.activities`, n},
	} {
		var got int
		if err := k.pool.QueryRow(ctx, c.sql).Scan(&got); err != nil {
			t.Fatalf("%s: %v", c.what, err)
		}
		if got != c.want {
			t.Errorf("%s: %d, want %d", c.what, got, c.want)
		}
	}
	for _, schema := range chaosSchemas {
		var failed int
		if err := k.pool.QueryRow(ctx, fmt.Sprintf(`SELECT count(*) FROM %q.timers WHERE failed_at IS NOT NULL`, schema)).Scan(&failed); err != nil {
			t.Fatalf("%s timers: %v", schema, err)
		}
		if failed > 0 {
			t.Errorf("%s: %d timers failed for good", schema, failed)
		}
	}
	k.assertStreams(t, ctx, n)
}

// assertStreams reads every event the services published: no event id
// twice on a stream, each once-per-record event exactly once per record,
// and nothing dead-lettered.
func (k *chaosCheck) assertStreams(t *testing.T, ctx context.Context, n int) {
	t.Helper()
	ns := k.nats.Namespace
	perRecord := map[string]int{
		"crm.events.v1.LeadCreated": n, "crm.events.v1.LeadQualified": n,
		"crm.events.v1.AccountCreated": n, "crm.events.v1.ContactCreated": n,
		"crm.events.v1.OpportunityCreated": 2 * n, "crm.events.v1.OpportunityWon": n,
		"crm.events.v1.OrderCreated": n, "crm.events.v1.OrderConfirmed": n,
		"crm.events.v1.ContractCreated": n, "crm.events.v1.ContractActivated": n, "crm.events.v1.ContractRenewalDue": n,
	}
	seen := map[string]int{}
	aggregates := map[string]map[string]bool{}
	for _, service := range chaosSchemas {
		stream, err := k.js.Stream(ctx, events.StreamName(ns, service))
		if err != nil {
			t.Fatalf("stream of %s: %v", service, err)
		}
		info, err := stream.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		ids := map[string]bool{}
		for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
			m, err := stream.GetMsg(ctx, seq)
			if errors.Is(err, jetstream.ErrMsgNotFound) {
				continue
			}
			if err != nil {
				t.Fatalf("%s #%d: %v", service, seq, err)
			}
			id, typ := m.Header.Get(events.HeaderMsgID), m.Header.Get(events.HeaderType)
			if ids[id] {
				t.Errorf("%s stream: event %s (%s) twice", service, id, typ)
			}
			ids[id] = true
			seen[typ]++
			if aggregates[typ] == nil {
				aggregates[typ] = map[string]bool{}
			}
			aggregates[typ][m.Header.Get(events.HeaderAggregate)] = true
		}
		t.Logf("chaos: %s stream: %d events", service, len(ids))
	}
	for typ, want := range perRecord {
		if seen[typ] != want || len(aggregates[typ]) != want {
			t.Errorf("%s: %d events for %d records, want %d for %d", typ, seen[typ], len(aggregates[typ]), want, want)
		}
	}
	dlq, err := k.js.Stream(ctx, inbox.DeadLetterStream(ns).Name)
	if err != nil {
		t.Fatalf("dead-letter stream: %v", err)
	}
	info, err := dlq.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := dlq.GetMsg(ctx, seq)
		if err != nil {
			continue
		}
		t.Errorf("dead letter on %s: %s", m.Subject, m.Header.Get(inbox.HeaderDLQReason))
	}
}
