package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/proto"

	"github.com/crmsuite/crm/platform/apperr"
	"github.com/crmsuite/crm/platform/audit"
	"github.com/crmsuite/crm/platform/events"
	"github.com/crmsuite/crm/platform/outbox"
	"github.com/crmsuite/crm/platform/pg"
	"github.com/crmsuite/crm/platform/timer"
	"github.com/crmsuite/crm/services/workflow/internal/app"
	"github.com/crmsuite/crm/services/workflow/internal/bizcal"
	"github.com/crmsuite/crm/services/workflow/internal/domain"
	"github.com/crmsuite/crm/services/workflow/internal/protomap"
)

var _ app.SlaStore = (*Repo)(nil)

// ---- business calendars ----

var (
	calendarList = []string{"id", "display_name", "time_zone", "working_hours", "holidays", "first_year", "last_year", "deleted",
		"created_at", "created_by", "updated_at", "updated_by", "version"}
	calendarColumns = strings.Join(calendarList, ", ")
)

// The JSON forms of working hours (ISO weekday: 1 is Monday) and
// holidays.
type (
	workingJSON struct {
		Day   int `json:"day"`
		Start int `json:"start"`
		End   int `json:"end"`
	}
	holidayJSON struct {
		Date string `json:"date"`
		Name string `json:"name,omitempty"`
	}
)

func calendarArgs(c *domain.BusinessCalendar) []any {
	hours := make([]workingJSON, len(c.WorkingHours))
	for i, w := range c.WorkingHours {
		day := int(w.Day)
		if w.Day == time.Sunday {
			day = 7
		}
		hours[i] = workingJSON{day, w.Start, w.End}
	}
	days := make([]holidayJSON, len(c.Holidays))
	for i, h := range c.Holidays {
		days[i] = holidayJSON{h.Date.String(), h.Name}
	}
	wh, _ := json.Marshal(hours)
	hd, _ := json.Marshal(days)
	return []any{c.ID, c.DisplayName, c.TimeZone, wh, hd, c.FirstYear, c.LastYear, c.Deleted, c.CreatedAt, c.CreatedBy, c.UpdatedAt, c.UpdatedBy, c.Version}
}

func scanCalendar(row pgx.Row) (*domain.BusinessCalendar, error) {
	var c domain.BusinessCalendar
	var wh, hd []byte
	if err := row.Scan(&c.ID, &c.DisplayName, &c.TimeZone, &wh, &hd, &c.FirstYear, &c.LastYear, &c.Deleted,
		&c.CreatedAt, &c.CreatedBy, &c.UpdatedAt, &c.UpdatedBy, &c.Version); err != nil {
		return nil, err
	}
	var hours []workingJSON
	var days []holidayJSON
	if err := json.Unmarshal(wh, &hours); err != nil {
		return nil, fmt.Errorf("calendar %s working hours: %w", c.ID, err)
	}
	if err := json.Unmarshal(hd, &days); err != nil {
		return nil, fmt.Errorf("calendar %s holidays: %w", c.ID, err)
	}
	for _, w := range hours {
		c.WorkingHours = append(c.WorkingHours, domain.WorkingInterval{Day: time.Weekday(w.Day % 7), Start: w.Start, End: w.End})
	}
	for _, h := range days {
		t, err := time.Parse(time.DateOnly, h.Date)
		if err != nil {
			return nil, fmt.Errorf("calendar %s holiday %q: %w", c.ID, h.Date, err)
		}
		c.Holidays = append(c.Holidays, domain.Holiday{Date: bizcal.Date{Year: t.Year(), Month: t.Month(), Day: t.Day()}, Name: h.Name})
	}
	c.CreatedAt, c.UpdatedAt = c.CreatedAt.UTC(), c.UpdatedAt.UTC()
	return &c, nil
}

func (r *Repo) InsertBusinessCalendar(ctx context.Context, c *domain.BusinessCalendar, requestID string) error {
	return r.InTx(ctx, func(ctx context.Context) error {
		q := pg.Q(ctx, r.pool)
		if _, err := q.Exec(ctx, `INSERT INTO business_calendars (`+calendarColumns+`) VALUES (`+pg.Placeholders(1, len(calendarList))+`)`,
			calendarArgs(c)...); err != nil {
			return fmt.Errorf("insert business calendar: %w", err)
		}
		return audit.Record(ctx, q, nil, protomap.BusinessCalendar(c), requestID)
	})
}

func (r *Repo) SaveBusinessCalendar(ctx context.Context, before, c *domain.BusinessCalendar) error {
	return r.InTx(ctx, func(ctx context.Context) error {
		q := pg.Q(ctx, r.pool)
		if _, err := q.Exec(ctx, `UPDATE business_calendars SET (`+strings.Join(calendarList[1:], ", ")+`) = (`+
			pg.Placeholders(2, len(calendarList))+`) WHERE id = $1`, calendarArgs(c)...); err != nil {
			return fmt.Errorf("update business calendar: %w", err)
		}
		after := protomap.BusinessCalendar(c)
		if c.Deleted {
			after = nil
		}
		return audit.Record(ctx, q, protomap.BusinessCalendar(before), after, "")
	})
}

func (r *Repo) GetBusinessCalendar(ctx context.Context, id uuid.UUID) (*domain.BusinessCalendar, error) {
	return r.readCalendar(ctx, "", id)
}

func (r *Repo) LockBusinessCalendar(ctx context.Context, id uuid.UUID) (*domain.BusinessCalendar, error) {
	return r.readCalendar(ctx, " FOR UPDATE", id)
}

func (r *Repo) readCalendar(ctx context.Context, lock string, id uuid.UUID) (*domain.BusinessCalendar, error) {
	c, err := scanCalendar(pg.Q(ctx, r.pool).QueryRow(ctx, `SELECT `+calendarColumns+` FROM business_calendars WHERE id = $1 AND NOT deleted`+lock, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, domain.ErrBusinessCalendarNotFound(id)
	}
	return c, err
}

func (r *Repo) BusinessCalendars(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]*domain.BusinessCalendar, error) {
	out := map[uuid.UUID]*domain.BusinessCalendar{}
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := pg.Q(ctx, r.pool).Query(ctx, `SELECT `+calendarColumns+` FROM business_calendars WHERE id = ANY($1)`, ids)
	if err != nil {
		return nil, err
	}
	cs, err := collect(rows, scanCalendar)
	for _, c := range cs {
		out[c.ID] = c
	}
	return out, err
}

func (r *Repo) ListBusinessCalendars(ctx context.Context, pageSize int, pageToken string) ([]*domain.BusinessCalendar, string, error) {
	return listByCreation(ctx, r, "business_calendars", calendarColumns, scanCalendar, pageSize, pageToken,
		func(c *domain.BusinessCalendar) (time.Time, uuid.UUID) { return c.CreatedAt, c.ID })
}

// listByCreation is a keyset-paged list of a table's rows that are not
// deleted, oldest first.
func listByCreation[T any](ctx context.Context, r *Repo, table, columns string, scan func(pgx.Row) (T, error), pageSize int, pageToken string,
	key func(T) (time.Time, uuid.UUID)) ([]T, string, error) {
	args := []any{}
	where := "NOT deleted"
	if pageToken != "" {
		var c cursor
		if err := r.pages.Decode(pageToken, table, &c); err != nil {
			return nil, "", err
		}
		if c.Time == nil {
			return nil, "", apperr.InvalidField("page_token", "INVALID_PAGE_TOKEN", "page token does not fit the order")
		}
		args = append(args, *c.Time, c.ID)
		where += " AND (created_at, id) > ($1, $2)"
	}
	args = append(args, pageSize+1)
	rows, err := pg.Q(ctx, r.pool).Query(ctx, fmt.Sprintf(`SELECT %s FROM %s WHERE %s ORDER BY created_at, id LIMIT $%d`, columns, table, where, len(args)), args...)
	if err != nil {
		return nil, "", err
	}
	out, err := collect(rows, scan)
	if err != nil || len(out) <= pageSize {
		return out, "", err
	}
	out = out[:pageSize]
	t, id := key(out[len(out)-1])
	next, err := r.pages.Encode(table, cursor{Time: &t, ID: id})
	return out, next, err
}

// ---- policies ----

var (
	policyList = []string{"id", "display_name", "description", "enabled", "record_type", "condition", "priority", "calendar_id", "targets",
		"warning_percent", "pause_statuses", "deleted", "created_at", "created_by", "updated_at", "updated_by", "version"}
	policyColumns = strings.Join(policyList, ", ")
)

type targetJSON struct {
	Kind       string   `json:"kind"`
	DurationUS int64    `json:"duration_us"`
	Stages     []string `json:"stages,omitempty"`
}

func policyArgs(p *domain.SlaPolicy) []any {
	ts := make([]targetJSON, len(p.Targets))
	for i, t := range p.Targets {
		ts[i] = targetJSON{string(t.Kind), t.Duration.Microseconds(), t.Stages}
	}
	targets, _ := json.Marshal(ts)
	pause := p.PauseStatuses
	if pause == nil {
		pause = []string{}
	}
	return []any{p.ID, p.DisplayName, p.Description, p.Enabled, string(p.RecordType), p.Condition, p.Priority, p.CalendarID, targets,
		p.WarningPercent, pause, p.Deleted, p.CreatedAt, p.CreatedBy, p.UpdatedAt, p.UpdatedBy, p.Version}
}

func scanPolicy(row pgx.Row) (*domain.SlaPolicy, error) {
	var p domain.SlaPolicy
	var rt string
	var targets []byte
	if err := row.Scan(&p.ID, &p.DisplayName, &p.Description, &p.Enabled, &rt, &p.Condition, &p.Priority, &p.CalendarID, &targets,
		&p.WarningPercent, &p.PauseStatuses, &p.Deleted, &p.CreatedAt, &p.CreatedBy, &p.UpdatedAt, &p.UpdatedBy, &p.Version); err != nil {
		return nil, err
	}
	var ts []targetJSON
	if err := json.Unmarshal(targets, &ts); err != nil {
		return nil, fmt.Errorf("policy %s targets: %w", p.ID, err)
	}
	for _, t := range ts {
		p.Targets = append(p.Targets, domain.SlaTarget{Kind: domain.SlaTargetKind(t.Kind), Duration: time.Duration(t.DurationUS) * time.Microsecond, Stages: t.Stages})
	}
	p.RecordType = domain.RecordType(rt)
	p.CreatedAt, p.UpdatedAt = p.CreatedAt.UTC(), p.UpdatedAt.UTC()
	return &p, nil
}

func (r *Repo) InsertSlaPolicy(ctx context.Context, p *domain.SlaPolicy, requestID string) error {
	return r.InTx(ctx, func(ctx context.Context) error {
		q := pg.Q(ctx, r.pool)
		if _, err := q.Exec(ctx, `INSERT INTO sla_policies (`+policyColumns+`) VALUES (`+pg.Placeholders(1, len(policyList))+`)`, policyArgs(p)...); err != nil {
			return fmt.Errorf("insert SLA policy: %w", err)
		}
		return audit.Record(ctx, q, nil, protomap.SlaPolicy(p), requestID)
	})
}

func (r *Repo) SaveSlaPolicy(ctx context.Context, before, p *domain.SlaPolicy) error {
	return r.InTx(ctx, func(ctx context.Context) error {
		q := pg.Q(ctx, r.pool)
		if _, err := q.Exec(ctx, `UPDATE sla_policies SET (`+strings.Join(policyList[1:], ", ")+`) = (`+
			pg.Placeholders(2, len(policyList))+`) WHERE id = $1`, policyArgs(p)...); err != nil {
			return fmt.Errorf("update SLA policy: %w", err)
		}
		after := protomap.SlaPolicy(p)
		if p.Deleted {
			after = nil
		}
		return audit.Record(ctx, q, protomap.SlaPolicy(before), after, "")
	})
}

func (r *Repo) GetSlaPolicy(ctx context.Context, id uuid.UUID) (*domain.SlaPolicy, error) {
	return r.readPolicy(ctx, "", id)
}

func (r *Repo) LockSlaPolicy(ctx context.Context, id uuid.UUID) (*domain.SlaPolicy, error) {
	return r.readPolicy(ctx, " FOR UPDATE", id)
}

func (r *Repo) readPolicy(ctx context.Context, lock string, id uuid.UUID) (*domain.SlaPolicy, error) {
	p, err := scanPolicy(pg.Q(ctx, r.pool).QueryRow(ctx, `SELECT `+policyColumns+` FROM sla_policies WHERE id = $1 AND NOT deleted`+lock, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, domain.ErrSlaPolicyNotFound(id)
	}
	return p, err
}

func (r *Repo) ListSlaPolicies(ctx context.Context, pageSize int, pageToken string) ([]*domain.SlaPolicy, string, error) {
	return listByCreation(ctx, r, "sla_policies", policyColumns, scanPolicy, pageSize, pageToken,
		func(p *domain.SlaPolicy) (time.Time, uuid.UUID) { return p.CreatedAt, p.ID })
}

func (r *Repo) ApplicableSlaPolicies(ctx context.Context, t domain.RecordType) ([]*domain.SlaPolicy, error) {
	rows, err := pg.Q(ctx, r.pool).Query(ctx, `SELECT `+policyColumns+` FROM sla_policies WHERE record_type = $1 AND enabled AND NOT deleted
		ORDER BY priority DESC, created_at, id`, string(t))
	if err != nil {
		return nil, err
	}
	return collect(rows, scanPolicy)
}

func (r *Repo) SlaPoliciesUsing(ctx context.Context, calendar uuid.UUID) ([]*domain.SlaPolicy, error) {
	rows, err := pg.Q(ctx, r.pool).Query(ctx, `SELECT `+policyColumns+` FROM sla_policies WHERE calendar_id = $1 AND NOT deleted ORDER BY created_at, id`, calendar)
	if err != nil {
		return nil, err
	}
	return collect(rows, scanPolicy)
}

func (r *Repo) SlaPolicies(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]*domain.SlaPolicy, error) {
	out := map[uuid.UUID]*domain.SlaPolicy{}
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := pg.Q(ctx, r.pool).Query(ctx, `SELECT `+policyColumns+` FROM sla_policies WHERE id = ANY($1)`, ids)
	if err != nil {
		return nil, err
	}
	ps, err := collect(rows, scanPolicy)
	for _, p := range ps {
		out[p.ID] = p
	}
	return out, err
}

// ---- clocks ----

var (
	clockList = []string{"id", "record", "record_type", "record_name", "owner", "policy_id", "target", "stage", "started_at", "seg_starts", "seg_ends",
		"running_since", "paused", "calendar_id", "target_us", "warning_percent", "elapsed_us", "warn_at", "breach_at", "warned_at", "breached_at",
		"met_at", "finished_at", "updated_at"}
	clockColumns = strings.Join(clockList, ", ")
	upsertClock  = `INSERT INTO sla_clocks (` + clockColumns + `) VALUES (` + pg.Placeholders(1, len(clockList)) + `)
		ON CONFLICT (id) DO UPDATE SET (` + strings.Join(clockList[1:], ", ") + `) = (` + excluded(clockList[1:]) + `)`
)

func excluded(cols []string) string {
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = "EXCLUDED." + c
	}
	return strings.Join(out, ", ")
}

func clockArgs(c *domain.SlaClock) []any {
	starts, ends := make([]time.Time, len(c.Segments)), make([]time.Time, len(c.Segments))
	for i, s := range c.Segments {
		starts[i], ends[i] = s.Start, s.End
	}
	return []any{pgUUID(c.ID), c.Record, string(c.RecordType), c.RecordName, c.Owner, pgUUID(c.PolicyID), string(c.Target), c.Stage, c.StartedAt,
		starts, ends, nullTime(c.RunningSince), c.Paused, pgUUID(c.CalendarID), c.TargetDuration.Microseconds(), c.WarningPercent,
		c.Elapsed.Microseconds(), nullTime(c.WarnAt), nullTime(c.BreachAt), nullTime(c.WarnedAt), nullTime(c.BreachedAt), nullTime(c.MetAt),
		nullTime(c.FinishedAt), c.UpdatedAt}
}

func scanClock(row pgx.Row) (*domain.SlaClock, error) {
	var (
		c                                                domain.SlaClock
		rt, target                                       string
		starts, ends                                     []time.Time
		running, warnAt, breachAt, warned, breached, met *time.Time
		finished                                         *time.Time
		targetUS, elapsedUS                              int64
	)
	if err := row.Scan(&c.ID, &c.Record, &rt, &c.RecordName, &c.Owner, &c.PolicyID, &target, &c.Stage, &c.StartedAt, &starts, &ends,
		&running, &c.Paused, &c.CalendarID, &targetUS, &c.WarningPercent, &elapsedUS, &warnAt, &breachAt, &warned, &breached, &met,
		&finished, &c.UpdatedAt); err != nil {
		return nil, err
	}
	c.RecordType, c.Target = domain.RecordType(rt), domain.SlaTargetKind(target)
	c.TargetDuration, c.Elapsed = time.Duration(targetUS)*time.Microsecond, time.Duration(elapsedUS)*time.Microsecond
	for i := range starts {
		c.Segments = append(c.Segments, domain.Segment{Start: starts[i].UTC(), End: ends[i].UTC()})
	}
	c.StartedAt, c.UpdatedAt = c.StartedAt.UTC(), c.UpdatedAt.UTC()
	c.RunningSince, c.WarnAt, c.BreachAt = timeOf(running), timeOf(warnAt), timeOf(breachAt)
	c.WarnedAt, c.BreachedAt, c.MetAt, c.FinishedAt = timeOf(warned), timeOf(breached), timeOf(met), timeOf(finished)
	return &c, nil
}

func (r *Repo) LockSlaClocks(ctx context.Context, records []string) ([]*domain.SlaClock, error) {
	rows, err := pg.Q(ctx, r.pool).Query(ctx, `SELECT `+clockColumns+` FROM sla_clocks WHERE record = ANY($1) ORDER BY id FOR UPDATE`, records)
	if err != nil {
		return nil, err
	}
	return collect(rows, scanClock)
}

func (r *Repo) LockSlaClocksByID(ctx context.Context, ids []uuid.UUID) ([]*domain.SlaClock, error) {
	rows, err := pg.Q(ctx, r.pool).Query(ctx, `SELECT `+clockColumns+` FROM sla_clocks WHERE id = ANY($1) ORDER BY id FOR UPDATE`, ids)
	if err != nil {
		return nil, err
	}
	return collect(rows, scanClock)
}

// SaveSlaClocks implements app.SlaStore: each clock upserted, its timers
// set at its deadlines or cancelled, in one round trip.
func (r *Repo) SaveSlaClocks(ctx context.Context, clocks []*domain.SlaClock) error {
	if len(clocks) == 0 {
		return nil
	}
	now := time.Now().UTC()
	b := &pgx.Batch{}
	var set []timer.Timer
	for _, c := range clocks {
		c.UpdatedAt = now
		b.Queue(upsertClock, clockArgs(c)...)
		key := c.ID.String()
		for _, t := range []struct {
			purpose string
			due     time.Time
		}{{domain.TimerSlaWarning, c.WarnAt}, {domain.TimerSlaBreach, c.BreachAt}} {
			if t.due.IsZero() {
				timer.QueueCancel(b, t.purpose, key)
			} else {
				set = append(set, timer.Timer{Purpose: t.purpose, Key: key, DueAt: t.due})
			}
		}
	}
	timer.QueueSetAll(b, set)
	if err := pg.Q(ctx, r.pool).SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("save SLA clocks: %w", err)
	}
	return nil
}

func (r *Repo) DeleteSlaClocks(ctx context.Context, records []string) error {
	rows, err := pg.Q(ctx, r.pool).Query(ctx, `DELETE FROM sla_clocks WHERE record = ANY($1) RETURNING id::text`, records)
	if err != nil {
		return err
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || len(ids) == 0 {
		return err
	}
	_, err = pg.Q(ctx, r.pool).Exec(ctx, `DELETE FROM timers WHERE purpose = ANY($1) AND key = ANY($2)`,
		[]string{domain.TimerSlaWarning, domain.TimerSlaBreach}, ids)
	return err
}

func (r *Repo) ListSlaClocks(ctx context.Context, record string) ([]*domain.SlaClock, error) {
	rows, err := pg.Q(ctx, r.pool).Query(ctx, `SELECT `+clockColumns+` FROM sla_clocks WHERE record = $1 ORDER BY started_at, id`, record)
	if err != nil {
		return nil, err
	}
	return collect(rows, scanClock)
}

func (r *Repo) RunningSlaClocks(ctx context.Context, policy, calendar uuid.UUID, after uuid.UUID, limit int) ([]*domain.SlaClock, error) {
	col, id := "policy_id", policy
	if policy == uuid.Nil {
		col, id = "calendar_id", calendar
	}
	rows, err := pg.Q(ctx, r.pool).Query(ctx, `SELECT `+clockColumns+` FROM sla_clocks WHERE `+col+` = $1 AND id > $2 AND finished_at IS NULL
		ORDER BY id LIMIT $3 FOR UPDATE`, id, after, limit)
	if err != nil {
		return nil, err
	}
	return collect(rows, scanClock)
}

func (r *Repo) FirstResponses(ctx context.Context, records []string) (map[string]time.Time, error) {
	rows, err := pg.Q(ctx, r.pool).Query(ctx, `SELECT regarding, min(coalesce(occur_at, completed_at, created_at)) FROM activities
		WHERE regarding = ANY($1) AND status = 'DONE' AND type IN ('CALL', 'MEETING', 'EMAIL') AND NOT (type = 'EMAIL' AND direction = 'INBOUND')
		GROUP BY regarding`, records)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]time.Time{}
	for rows.Next() {
		var rec string
		var at time.Time
		if err := rows.Scan(&rec, &at); err != nil {
			return nil, err
		}
		out[rec] = at.UTC()
	}
	return out, rows.Err()
}

// SlaFired implements app.SlaStore: the clocks' facts in one statement, a
// breached clock's pending warning timer cancelled, and the events.
func (r *Repo) SlaFired(ctx context.Context, fired []app.SlaFiring) ([]proto.Message, error) {
	last := map[uuid.UUID]*domain.SlaClock{}
	var order []uuid.UUID
	var breached []string
	for _, f := range fired {
		if _, ok := last[f.Clock.ID]; !ok {
			order = append(order, f.Clock.ID)
		}
		if f.Breach {
			last[f.Clock.ID] = f.Clock
			breached = append(breached, f.Clock.ID.String())
		} else if _, ok := last[f.Clock.ID]; !ok {
			last[f.Clock.ID] = f.Clock
		}
	}
	ids := make([]uuid.UUID, len(order))
	warned, breachedAt, warnAt, breachAt := make([]*time.Time, len(order)), make([]*time.Time, len(order)), make([]*time.Time, len(order)), make([]*time.Time, len(order))
	for i, id := range order {
		c := last[id]
		ids[i], warned[i], breachedAt[i], warnAt[i], breachAt[i] = id, nullTime(c.WarnedAt), nullTime(c.BreachedAt), nullTime(c.WarnAt), nullTime(c.BreachAt)
	}
	b := &pgx.Batch{}
	b.Queue(`UPDATE sla_clocks c SET warned_at = f.warned_at, breached_at = f.breached_at, warn_at = f.warn_at, breach_at = f.breach_at, updated_at = now()
		FROM unnest($1::uuid[], $2::timestamptz[], $3::timestamptz[], $4::timestamptz[], $5::timestamptz[]) AS f(id, warned_at, breached_at, warn_at, breach_at)
		WHERE c.id = f.id`, ids, warned, breachedAt, warnAt, breachAt)
	if len(breached) > 0 {
		b.Queue(`DELETE FROM timers WHERE purpose = $1 AND key = ANY($2)`, domain.TimerSlaWarning, breached)
	}
	msgs := make([]proto.Message, len(fired))
	for i, f := range fired {
		m := protomap.SlaEvent(events.NewMeta(ctx, "", time.Time{}), f)
		msg, err := r.outbox.Message(ctx, f.Clock.Record, m)
		if err != nil {
			return nil, err
		}
		outbox.Queue(b, msg)
		msgs[i] = m
	}
	if err := pg.Q(ctx, r.pool).SendBatch(ctx, b).Close(); err != nil {
		return nil, fmt.Errorf("SLA fired: %w", err)
	}
	return msgs, nil
}

// SlaReport implements app.SlaStore: per owner and per policy and target,
// over the clocks started in [from, to).
func (r *Repo) SlaReport(ctx context.Context, from, to time.Time) (byOwner, byPolicy []domain.SlaReportRow, err error) {
	const measures = `count(*), count(*) FILTER (WHERE finished_at IS NOT NULL OR breached_at IS NOT NULL),
		count(*) FILTER (WHERE breached_at IS NOT NULL),
		percentile_cont(0.5) WITHIN GROUP (ORDER BY elapsed_us) FILTER (WHERE finished_at IS NOT NULL)`
	scan := func(rows pgx.Rows, owner bool) ([]domain.SlaReportRow, error) {
		defer rows.Close()
		var out []domain.SlaReportRow
		for rows.Next() {
			var row domain.SlaReportRow
			var key, target string
			var median *float64
			if err := rows.Scan(&key, &row.PolicyName, &target, &row.Clocks, &row.Decided, &row.Breached, &median); err != nil {
				return nil, err
			}
			if owner {
				row.Owner = key
			} else if row.PolicyID, err = uuid.Parse(key); err != nil {
				return nil, err
			}
			row.Target = domain.SlaTargetKind(target)
			if median != nil {
				row.Median, row.HasMedian = time.Duration(*median)*time.Microsecond, true
			}
			out = append(out, row)
		}
		return out, rows.Err()
	}
	q := pg.Q(ctx, r.pool)
	rows, err := q.Query(ctx, `SELECT owner, '', target, `+measures+` FROM sla_clocks WHERE started_at >= $1 AND started_at < $2
		GROUP BY owner, target ORDER BY owner, target`, from, to)
	if err != nil {
		return nil, nil, err
	}
	if byOwner, err = scan(rows, true); err != nil {
		return nil, nil, err
	}
	rows, err = q.Query(ctx, `SELECT c.policy_id::text, p.display_name, c.target, `+strings.ReplaceAll(measures, "elapsed_us", "c.elapsed_us")+`
		FROM sla_clocks c JOIN sla_policies p ON p.id = c.policy_id WHERE c.started_at >= $1 AND c.started_at < $2
		GROUP BY c.policy_id, p.display_name, c.target ORDER BY p.display_name, c.policy_id, c.target`, from, to)
	if err != nil {
		return nil, nil, err
	}
	byPolicy, err = scan(rows, false)
	return byOwner, byPolicy, err
}
