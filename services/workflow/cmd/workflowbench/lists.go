package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	eventsv1 "github.com/crmsuite/crm/gen/go/crm/events/v1"
	workflowv1 "github.com/crmsuite/crm/gen/go/crm/workflow/v1"
	"github.com/crmsuite/crm/platform/benchkit"
	"github.com/crmsuite/crm/platform/events"
	"github.com/crmsuite/crm/platform/pg"
	"github.com/crmsuite/crm/platform/timer"
)

var activityCols = []string{"id", "type", "regarding", "regarding_type", "regarding_name", "account", "subject", "owner", "status",
	"occur_at", "due_at", "created_at", "created_by", "updated_at", "updated_by", "version"}

// activity is a row of activityCols: logged (occur) or an open task (due).
func activity(id uuid.UUID, regarding, rtype, account, owner string, occur, due *time.Time) []any {
	status, now := "DONE", time.Now().UTC()
	if due != nil {
		status = "OPEN"
	}
	return []any{id, "CALL", regarding, rtype, "Bench record", account, "Bench activity", owner, status, occur, due, now, "bench", now, "bench", int64(1)}
}

// copyActivities COPYs rows into activities, 50,000 per transaction.
func (b *bench) copyActivities(ctx context.Context, rows [][]any) error {
	for start := 0; start < len(rows); start += 50_000 {
		if _, err := b.pool.CopyFrom(ctx, pgx.Identifier{"activities"}, activityCols, pgx.CopyFromRows(rows[start:min(start+50_000, len(rows))])); err != nil {
			return err
		}
	}
	_, err := b.pool.Exec(ctx, `ANALYZE activities`)
	return err
}

// timers loads open tasks falling due within the window and waits for
// every TaskOverdue.
func (b *bench) timers(ctx context.Context) error {
	n := b.o.dueTasks
	step(fmt.Sprintf("loading %d open tasks falling due within %v", n, b.o.dueWindow))
	subject := events.Subject("", "workflow", &eventsv1.TaskOverdue{})
	before, err := b.subjectCount(ctx, "workflow", subject)
	if err != nil {
		return err
	}
	first := time.Now().Add(b.o.dueIn).UTC().Truncate(time.Microsecond)
	r := rand.New(rand.NewPCG(1, 2))
	rows := make([][]any, n)
	timers := make([][]any, n)
	var lastDue time.Duration
	for i := range n {
		id := uuid.New()
		offset := time.Duration(r.Int64N(int64(b.o.dueWindow) + 1)).Truncate(time.Microsecond)
		lastDue = max(lastDue, offset)
		due := first.Add(offset)
		rows[i] = activity(id, "leads/"+uuid.NewString(), "LEAD", "", "owner"+strconv.Itoa(i%1000), nil, &due)
		timers[i] = []any{"task.overdue", id.String(), due}
	}
	if err := b.copyActivities(ctx, rows); err != nil {
		return err
	}
	if _, err := b.pool.CopyFrom(ctx, pgx.Identifier{"timers"}, []string{"purpose", "key", "due_at"}, pgx.CopyFromRows(timers)); err != nil {
		return err
	}
	if _, err := b.pool.Exec(ctx, `ANALYZE timers`); err != nil {
		return err
	}
	if wait := time.Until(first); wait < 0 {
		return fmt.Errorf("loading took longer than -due-in (%v late): raise it", -wait)
	}
	step("waiting for every TaskOverdue")
	var published time.Duration
	for deadline := first.Add(10 * time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		k, err := b.subjectCount(ctx, "workflow", subject)
		if err != nil {
			return err
		}
		if int(k-before) >= n {
			published = time.Since(first)
			break
		}
	}
	time.Sleep(2 * time.Second) // anything doubled would show by now
	k, err := b.subjectCount(ctx, "workflow", subject)
	if err != nil {
		return err
	}
	if published == 0 || int(k-before) != n {
		return fmt.Errorf("%d TaskOverdue published for %d tasks", k-before, n)
	}
	step("ceiling: the timer engine in-process, one row per timer")
	ceiling, err := engineCeiling(ctx, b.backends.DatabaseURL, n)
	if err != nil {
		return err
	}
	round := func(d time.Duration) time.Duration { return d.Round(100 * time.Millisecond) }
	fmt.Printf("## Task timers (%d open tasks due within %v)\n\n", n, b.o.dueWindow)
	fmt.Printf("| measure | from the first due moment | from the last due moment |\n|---|---:|---:|\n")
	fmt.Printf("| every TaskOverdue published (%d, none missed, none doubled) | %v | %v |\n", k-before, round(published), round(published-lastDue))
	fmt.Printf("| ceiling: the engine firing %d due timers with a one-row handler in-process | %v (%.0f timers/s) | |\n\n",
		n, ceiling.Round(10*time.Millisecond), float64(n)/ceiling.Seconds())
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

// latencies calls fn requests times (after 10 unmeasured) and the raw
// query as often, interleaved.
func (b *bench) latencies(ctx context.Context, fn, raw func(context.Context) error) (api, direct []time.Duration, err error) {
	for i := range b.o.requests + 10 {
		t0 := time.Now()
		if err := fn(ctx); err != nil {
			return nil, nil, err
		}
		d := time.Since(t0)
		t0 = time.Now()
		if err := raw(ctx); err != nil {
			return nil, nil, err
		}
		if i >= 10 {
			api, direct = append(api, d), append(direct, time.Since(t0))
		}
	}
	return api, direct, nil
}

func report(title string, api, direct []time.Duration) {
	fmt.Printf("## %s (%d requests each)\n\n| path | p50 | p99 | max |\n|---|---:|---:|---:|\n", title, len(api))
	for _, r := range []struct {
		name string
		d    []time.Duration
	}{{"gRPC (the workflow service)", api}, {"raw: the same SQL straight on Postgres", direct}} {
		fmt.Printf("| %s | %v | %v | %v |\n", r.name, benchkit.Round(benchkit.Percentile(r.d, 50)), benchkit.Round(benchkit.Percentile(r.d, 99)),
			benchkit.Round(benchkit.Percentile(r.d, 100)))
	}
	fmt.Println()
}

// timelines: one account's timeline of b.o.timeline activities across
// 1,000 records of it.
func (b *bench) timelines(ctx context.Context) error {
	account := "accounts/" + uuid.NewString()
	step(fmt.Sprintf("loading %d activities across 1,000 records of %s", b.o.timeline, account))
	recs := [][]any{{account, "ACCOUNT", "Bench account", "manager", account, "ACTIVE", int64(1)}}
	var names []string
	for i := range 999 {
		coll, typ := "contacts/", "CONTACT"
		if i%2 == 1 {
			coll, typ = "opportunities/", "OPPORTUNITY"
		}
		name := coll + uuid.NewString()
		names = append(names, name)
		recs = append(recs, []any{name, typ, "Bench record " + strconv.Itoa(i), "owner" + strconv.Itoa(i%50), account, "", int64(1)})
	}
	names = append(names, account)
	if _, err := b.pool.CopyFrom(ctx, pgx.Identifier{"records"}, []string{"name", "type", "display_name", "owner", "account", "status", "seq"},
		pgx.CopyFromRows(recs)); err != nil {
		return err
	}
	r := rand.New(rand.NewPCG(5, 6))
	rows := make([][]any, b.o.timeline)
	now := time.Now().UTC()
	for i := range rows {
		at := now.Add(-time.Duration(r.Int64N(int64(365 * 24 * time.Hour)))).Truncate(time.Microsecond)
		rows[i] = activity(uuid.New(), names[i%len(names)], "CONTACT", account, "owner"+strconv.Itoa(i%50), &at, nil)
	}
	if err := b.copyActivities(ctx, rows); err != nil {
		return err
	}
	call, err := b.as(ctx, "mia", "manager")
	if err != nil {
		return err
	}
	cols := "id, type, regarding, regarding_type, regarding_name, account, subject, body, direction, outcome, duration_us, participants, owner, status, " +
		"occur_at, due_at, reminder_at, completed_at, cancel_reason, rule_id, key, created_at, created_by, updated_at, updated_by, version"
	api, direct, err := b.latencies(ctx, func(ctx context.Context) error {
		resp, err := b.wf.ListActivities(call, &workflowv1.ListActivitiesRequest{Parent: account})
		if err == nil && len(resp.Activities) != 50 {
			err = fmt.Errorf("first page of %d", len(resp.Activities))
		}
		return err
	}, func(ctx context.Context) error {
		rows, err := b.pool.Query(ctx, `SELECT `+cols+` FROM activities a WHERE a.account = $1 AND a.account <> '' ORDER BY a.at DESC, a.id DESC LIMIT 51`, account)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
		}
		return rows.Err()
	})
	if err != nil {
		return err
	}
	report(fmt.Sprintf("An account's timeline: first page of 50, newest first, as a manager (%d activities across 1,000 records)", b.o.timeline), api, direct)
	return nil
}

// myTasks: b.o.tasks open tasks over 1,000 owners; a salesperson's first
// page.
func (b *bench) myTasks(ctx context.Context) error {
	have, err := b.count(ctx, `SELECT count(*) FROM activities WHERE subject = 'Bench activity' AND status = 'OPEN' AND owner LIKE 'sales%'`)
	if err != nil {
		return err
	}
	owners := 1000
	if b.o.tasks < 100*owners {
		owners = 50 // smoke sizes: still more than a page each
	}
	if have < b.o.tasks {
		step(fmt.Sprintf("loading %d open tasks over %d owners", b.o.tasks-have, owners))
		r := rand.New(rand.NewPCG(7, 8))
		now := time.Now().UTC()
		rows := make([][]any, b.o.tasks-have)
		for i := range rows {
			due := now.Add(time.Duration(r.Int64N(int64(60*24*time.Hour))) - 7*24*time.Hour).Truncate(time.Microsecond)
			rows[i] = activity(uuid.New(), "leads/"+uuid.NewString(), "LEAD", "", "sales"+strconv.Itoa(i%owners), nil, &due)
		}
		if err := b.copyActivities(ctx, rows); err != nil {
			return err
		}
	}
	call, err := b.as(ctx, "sales42", "sales")
	if err != nil {
		return err
	}
	cols := "id, type, regarding, regarding_type, regarding_name, account, subject, body, direction, outcome, duration_us, participants, owner, status, " +
		"occur_at, due_at, reminder_at, completed_at, cancel_reason, rule_id, key, created_at, created_by, updated_at, updated_by, version"
	api, direct, err := b.latencies(ctx, func(ctx context.Context) error {
		resp, err := b.wf.ListTasks(call, &workflowv1.ListTasksRequest{})
		if err == nil && len(resp.Tasks) != 50 {
			err = fmt.Errorf("first page of %d", len(resp.Tasks))
		}
		return err
	}, func(ctx context.Context) error {
		rows, err := b.pool.Query(ctx, `SELECT `+cols+` FROM activities WHERE owner = $1 AND status = 'OPEN' ORDER BY due_at, id LIMIT 51`, "sales42")
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
		}
		return rows.Err()
	})
	if err != nil {
		return err
	}
	report(fmt.Sprintf("My tasks: a salesperson's first page of 50 by due time (%d open tasks over %d owners)", b.o.tasks, owners), api, direct)
	return nil
}
