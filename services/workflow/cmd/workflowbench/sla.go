package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"google.golang.org/genproto/googleapis/type/dayofweek"
	"google.golang.org/genproto/googleapis/type/timeofday"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/crmsuite/crm/gen/go/crm/events/v1"
	workflowv1 "github.com/crmsuite/crm/gen/go/crm/workflow/v1"
	"github.com/crmsuite/crm/platform/events"
	"github.com/crmsuite/crm/platform/pg"
)

var clockCols = []string{"id", "record", "record_type", "record_name", "owner", "policy_id", "target", "started_at", "running_since",
	"calendar_id", "target_us", "warning_percent", "warned_at", "breach_at", "updated_at"}

// slaTimers measures SLA breaches: b.o.slaTimers running clocks (their
// warnings fired already) whose breaches fall due spread over the due
// window, then as many due at once; each run counts SlaBreached on the
// stream until every one is there, and checks none is doubled. The
// ceiling is the same work straight in Postgres: claim a batch of due
// timers, mark their clocks breached, write an outbox row each, delete
// the timers.
func (b *bench) slaTimers(ctx context.Context) error {
	n := b.o.slaTimers
	call, err := b.as(ctx, "bench-admin", "admin")
	if err != nil {
		return err
	}
	sla := workflowv1.NewSlaServiceClient(b.wfConn)
	year := int32(time.Now().Year())
	always := &workflowv1.BusinessCalendar{DisplayName: "Bench: around the clock", TimeZone: "UTC", FirstYear: year, LastYear: year + 1}
	for d := dayofweek.DayOfWeek_MONDAY; d <= dayofweek.DayOfWeek_SUNDAY; d++ {
		always.WorkingHours = append(always.WorkingHours, &workflowv1.WorkingInterval{Day: d, StartTime: &timeofday.TimeOfDay{}, EndTime: &timeofday.TimeOfDay{Hours: 24}})
	}
	cal, err := sla.CreateBusinessCalendar(call, &workflowv1.CreateBusinessCalendarRequest{BusinessCalendar: always})
	if err != nil {
		return err
	}
	policy, err := sla.CreateSlaPolicy(call, &workflowv1.CreateSlaPolicyRequest{SlaPolicy: &workflowv1.SlaPolicy{
		DisplayName: "Bench: first response in an hour", RecordType: workflowv1.RecordType_RECORD_TYPE_LEAD, Calendar: cal.Name,
		Targets: []*workflowv1.SlaTarget{{Kind: workflowv1.SlaTargetKind_SLA_TARGET_KIND_FIRST_RESPONSE, Duration: durationpb.New(time.Hour)}}}})
	if err != nil {
		return err
	}
	calID, policyID := uuid.MustParse(cal.Name[len("businessCalendars/"):]), uuid.MustParse(policy.Name[len("slaPolicies/"):])
	spread, spreadLast, err := b.slaRun(ctx, n, b.o.dueWindow, calID, policyID)
	if err != nil {
		return err
	}
	burst, _, err := b.slaRun(ctx, n, 0, calID, policyID)
	if err != nil {
		return err
	}
	step("ceiling: the same work straight in Postgres, 500 timers per transaction")
	ceiling, err := b.slaCeiling(ctx, n, calID, policyID)
	if err != nil {
		return err
	}
	round := func(d time.Duration) time.Duration { return d.Round(100 * time.Millisecond) }
	fmt.Printf("## SLA timers (%d running clocks breaching; the workflow service fires them in batches of 500, one SlaBreached each)\n\n", n)
	fmt.Printf("| run | every SlaBreached published (none missed, none doubled), from the first due moment | from the last due moment | rate |\n|---|---:|---:|---:|\n")
	fmt.Printf("| due spread over %v | %v | %v | |\n", b.o.dueWindow, round(spread), (spread - spreadLast).Round(10*time.Millisecond))
	fmt.Printf("| due at once | %v | | %.0f breaches/s |\n", round(burst), float64(n)/burst.Seconds())
	fmt.Printf("| ceiling: claim, mark breached, outbox row, delete, in one statement per 500 (no NATS) | %v | | %.0f breaches/s |\n",
		ceiling.Round(10*time.Millisecond), float64(n)/ceiling.Seconds())
	fmt.Printf("| due at once / ceiling | %.0f %% of the ceiling's rate | | |\n\n", 100*ceiling.Seconds()/burst.Seconds())
	return nil
}

// slaClockRows are n running clocks of the bench policy whose breaches
// fall due from first, spread over window, warned already; and their
// breach timers.
func slaClockRows(n int, first time.Time, window time.Duration, calID, policyID uuid.UUID) (clocks, timers [][]any, last time.Duration) {
	r := rand.New(rand.NewPCG(3, 4))
	clocks, timers = make([][]any, n), make([][]any, n)
	now := time.Now().UTC()
	for i := range n {
		offset := time.Duration(r.Int64N(int64(window) + 1)).Truncate(time.Microsecond)
		last = max(last, offset)
		due := first.Add(offset)
		id := uuid.New()
		start := due.Add(-time.Hour)
		clocks[i] = []any{id, "leads/" + uuid.NewString(), "LEAD", "Bench lead " + strconv.Itoa(i), "owner" + strconv.Itoa(i%1000), policyID,
			"FIRST_RESPONSE", start, start, calID, time.Hour.Microseconds(), 75, start.Add(45 * time.Minute), due, now}
		timers[i] = []any{"sla.breach", id.String(), due}
	}
	return clocks, timers, last
}

// slaRun loads n clocks breaching over window (0: all at once) and waits
// for their SlaBreached.
func (b *bench) slaRun(ctx context.Context, n int, window time.Duration, calID, policyID uuid.UUID) (published, last time.Duration, err error) {
	step(fmt.Sprintf("loading %d SLA clocks breaching within %v", n, window))
	subject := events.Subject("", "workflow", &eventsv1.SlaBreached{})
	before, err := b.subjectCount(ctx, "workflow", subject)
	if err != nil {
		return 0, 0, err
	}
	first := time.Now().Add(b.o.slaDueIn).UTC().Truncate(time.Microsecond)
	clocks, timers, last := slaClockRows(n, first, window, calID, policyID)
	for start := 0; start < n; start += 50_000 {
		if _, err := b.pool.CopyFrom(ctx, pgx.Identifier{"sla_clocks"}, clockCols, pgx.CopyFromRows(clocks[start:min(start+50_000, n)])); err != nil {
			return 0, 0, err
		}
	}
	if _, err := b.pool.CopyFrom(ctx, pgx.Identifier{"timers"}, []string{"purpose", "key", "due_at"}, pgx.CopyFromRows(timers)); err != nil {
		return 0, 0, err
	}
	if _, err := b.pool.Exec(ctx, `ANALYZE sla_clocks; ANALYZE timers`); err != nil {
		return 0, 0, err
	}
	if wait := time.Until(first); wait < 0 {
		return 0, 0, fmt.Errorf("loading took longer than -sla-due-in (%v late): raise it", -wait)
	}
	step("waiting for every SlaBreached")
	for deadline := first.Add(10 * time.Minute); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		k, err := b.subjectCount(ctx, "workflow", subject)
		if err != nil {
			return 0, 0, err
		}
		if int(k-before) >= n {
			published = time.Since(first)
			break
		}
	}
	time.Sleep(2 * time.Second) // anything doubled would show by now
	k, err := b.subjectCount(ctx, "workflow", subject)
	if err != nil {
		return 0, 0, err
	}
	if published == 0 || int(k-before) != n {
		return 0, 0, fmt.Errorf("%d SlaBreached published for %d clocks", k-before, n)
	}
	ids := make([]uuid.UUID, n)
	for i, c := range clocks {
		ids[i] = c[0].(uuid.UUID)
	}
	breached, err := b.count(ctx, `SELECT count(*) FROM sla_clocks WHERE id = ANY($1) AND breached_at IS NOT NULL AND breach_at IS NULL`, ids)
	if err != nil {
		return 0, 0, err
	}
	if breached != n {
		return 0, 0, fmt.Errorf("%d of %d clocks breached", breached, n)
	}
	return published, last, nil
}

// slaCeiling does what firing n breaches does to Postgres, straight in
// SQL, in a copy of the tables: per transaction, claim 500 due timers,
// mark their clocks breached, write an outbox row (a real SlaBreached's
// size) each and delete the timers.
func (b *bench) slaCeiling(ctx context.Context, n int, calID, policyID uuid.UUID) (time.Duration, error) {
	if _, err := b.pool.Exec(ctx, `DROP SCHEMA IF EXISTS slaceiling CASCADE; CREATE SCHEMA slaceiling;
		CREATE TABLE slaceiling.sla_clocks (LIKE workflow.sla_clocks INCLUDING ALL);
		CREATE TABLE slaceiling.timers (LIKE workflow.timers INCLUDING ALL);
		CREATE TABLE slaceiling.outbox (LIKE workflow.outbox INCLUDING ALL)`); err != nil {
		return 0, err
	}
	defer b.pool.Exec(ctx, `DROP SCHEMA slaceiling CASCADE`) //nolint:errcheck
	clocks, timers, _ := slaClockRows(n, time.Now().Add(-time.Minute).UTC().Truncate(time.Microsecond), 0, calID, policyID)
	if _, err := b.pool.CopyFrom(ctx, pgx.Identifier{"slaceiling", "sla_clocks"}, clockCols, pgx.CopyFromRows(clocks)); err != nil {
		return 0, err
	}
	if _, err := b.pool.CopyFrom(ctx, pgx.Identifier{"slaceiling", "timers"}, []string{"purpose", "key", "due_at"}, pgx.CopyFromRows(timers)); err != nil {
		return 0, err
	}
	if _, err := b.pool.Exec(ctx, `ANALYZE slaceiling.sla_clocks; ANALYZE slaceiling.timers`); err != nil {
		return 0, err
	}
	sample, err := proto.Marshal(&eventsv1.SlaBreached{Meta: &eventsv1.EventMeta{EventId: uuid.NewString(), OccurTime: timestamppb.Now(), Actor: "service:workflow"},
		SlaClockId: uuid.NewString(), Record: "leads/" + uuid.NewString(), Owner: "owner1", SlaClock: &workflowv1.SlaClock{
			Name: "slaClocks/" + uuid.NewString(), Record: "leads/" + uuid.NewString(), RecordDisplayName: "Bench lead 1", Owner: "owner1",
			Policy: "slaPolicies/" + policyID.String(), Target: workflowv1.SlaTargetKind_SLA_TARGET_KIND_FIRST_RESPONSE,
			Status: workflowv1.SlaStatus_SLA_STATUS_BREACHED, TargetDuration: durationpb.New(time.Hour), Elapsed: durationpb.New(time.Hour),
			Remaining: durationpb.New(0), Calendar: "businessCalendars/" + calID.String(), TimeZone: "UTC", StartTime: timestamppb.Now(),
			WarnedTime: timestamppb.Now(), BreachedTime: timestamppb.Now(),
			RunningIntervals: []*workflowv1.SlaInterval{{StartTime: timestamppb.Now()}}}})
	if err != nil {
		return 0, err
	}
	t0 := time.Now()
	for {
		var fired int
		err := pg.InTx(ctx, b.pool, func(ctx context.Context) error {
			return pg.Q(ctx, b.pool).QueryRow(ctx, `WITH due AS (
					SELECT purpose, key FROM slaceiling.timers WHERE due_at <= now() AND failed_at IS NULL AND purpose = 'sla.breach'
					ORDER BY due_at LIMIT 500 FOR UPDATE SKIP LOCKED),
				fired AS (
					UPDATE slaceiling.sla_clocks c SET breached_at = c.breach_at, breach_at = NULL, updated_at = now()
					FROM due WHERE c.id = due.key::uuid AND c.breached_at IS NULL RETURNING c.id, c.record),
				published AS (
					INSERT INTO slaceiling.outbox (event_id, subject, event_type, aggregate_id, payload)
					SELECT gen_random_uuid(), 'crm.workflow.sla_breached', 'crm.events.v1.SlaBreached', record, $1 FROM fired),
				deleted AS (
					DELETE FROM slaceiling.timers t USING due WHERE t.purpose = due.purpose AND t.key = due.key RETURNING 1)
				SELECT count(*) FROM deleted`, sample).Scan(&fired)
		})
		if err != nil {
			return 0, err
		}
		if fired == 0 {
			break
		}
	}
	elapsed := time.Since(t0)
	var rows int
	if err := b.pool.QueryRow(ctx, `SELECT count(*) FROM slaceiling.outbox`).Scan(&rows); err != nil {
		return 0, err
	}
	if rows != n {
		return 0, fmt.Errorf("ceiling: %d outbox rows for %d breaches", rows, n)
	}
	return elapsed, nil
}
