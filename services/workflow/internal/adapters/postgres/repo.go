// Package postgres stores the workflow service's projection of the
// suite's records, activities, rules and their runs, and calendar feeds
// in its own schema. Every change, its timers and the outbox rows
// announcing it are written in one transaction.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	workflowv1 "github.com/crmsuite/crm/gen/go/crm/workflow/v1"
	"github.com/crmsuite/crm/platform/audit"
	"github.com/crmsuite/crm/platform/events"
	"github.com/crmsuite/crm/platform/outbox"
	"github.com/crmsuite/crm/platform/paging"
	"github.com/crmsuite/crm/platform/pg"
	"github.com/crmsuite/crm/platform/timer"
	"github.com/crmsuite/crm/services/workflow/internal/app"
	"github.com/crmsuite/crm/services/workflow/internal/domain"
	"github.com/crmsuite/crm/services/workflow/internal/protomap"
)

// Repo implements app.Repository and app.RuleStore.
type Repo struct {
	pool   *pgxpool.Pool
	outbox outbox.Writer
	pages  *paging.Codec
}

// New returns a repository over pool.
func New(pool *pgxpool.Pool, ow outbox.Writer, pages *paging.Codec) *Repo {
	return &Repo{pool: pool, outbox: ow, pages: pages}
}

var (
	_ app.Repository = (*Repo)(nil)
	_ app.RuleStore  = (*Repo)(nil)
)

func (r *Repo) InTx(ctx context.Context, fn func(ctx context.Context) error) error {
	return pg.InTx(ctx, r.pool, fn)
}

func (r *Repo) ListAudit(ctx context.Context, q audit.Query) ([]audit.Entry, string, error) {
	return audit.List(ctx, pg.Q(ctx, r.pool), r.pages, q)
}

// ---- records ----

const recordColumns = "name, type, display_name, owner, account, contact, status, message, deleted, seq"

func scanRecord(row pgx.Row) (*domain.Record, error) {
	var rec domain.Record
	var typ string
	var seq int64
	if err := row.Scan(&rec.Name, &typ, &rec.DisplayName, &rec.Owner, &rec.Account, &rec.Contact, &rec.Status, &rec.Message, &rec.Deleted, &seq); err != nil {
		return nil, err
	}
	rec.Type, rec.Seq = domain.RecordType(typ), uint64(seq)
	return &rec, nil
}

func (r *Repo) GetRecord(ctx context.Context, name string) (*domain.Record, error) {
	rec, err := scanRecord(pg.Q(ctx, r.pool).QueryRow(ctx, `SELECT `+recordColumns+` FROM records WHERE name = $1`, name))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, domain.ErrRecordNotFound(name)
	}
	return rec, err
}

// SaveRecord implements app.Repository: the row is locked, compared and
// written in the caller's transaction. A record fetched from its service
// (Seq 0) never overwrites one an event set.
func (r *Repo) SaveRecord(ctx context.Context, rec *domain.Record) (bool, *domain.Record, error) {
	var prev *domain.Record
	saved := false
	err := r.InTx(ctx, func(ctx context.Context) error {
		q := pg.Q(ctx, r.pool)
		p, err := scanRecord(q.QueryRow(ctx, `SELECT `+recordColumns+` FROM records WHERE name = $1 FOR UPDATE`, rec.Name))
		switch {
		case errors.Is(err, pgx.ErrNoRows):
		case err != nil:
			return err
		default:
			prev = p
			if rec.Seq <= p.Seq && !(rec.Seq == 0 && p.Seq == 0) {
				return nil
			}
		}
		// A lead keeps the account and contact it was converted into.
		if prev != nil && rec.Account == "" && rec.Type == domain.RecordLead {
			rec.Account, rec.Contact = prev.Account, prev.Contact
		}
		_, err = q.Exec(ctx, `INSERT INTO records (`+recordColumns+`, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, now())
			ON CONFLICT (name) DO UPDATE SET type = EXCLUDED.type, display_name = EXCLUDED.display_name, owner = EXCLUDED.owner,
				account = EXCLUDED.account, contact = EXCLUDED.contact, status = EXCLUDED.status, message = EXCLUDED.message,
				deleted = EXCLUDED.deleted, seq = EXCLUDED.seq, updated_at = now()`,
			rec.Name, string(rec.Type), rec.DisplayName, rec.Owner, rec.Account, rec.Contact, rec.Status, rec.Message, rec.Deleted, int64(rec.Seq))
		saved = err == nil
		return err
	})
	return saved, prev, err
}

// SaveRecords implements app.Repository for many records in two round
// trips: lock the stored ones, write those that are newer.
func (r *Repo) SaveRecords(ctx context.Context, recs []*domain.Record) ([]bool, []*domain.Record, error) {
	saved, prevs := make([]bool, len(recs)), make([]*domain.Record, len(recs))
	err := r.InTx(ctx, func(ctx context.Context) error {
		q := pg.Q(ctx, r.pool)
		names := make([]string, len(recs))
		for i, rec := range recs {
			names[i] = rec.Name
		}
		rows, err := q.Query(ctx, `SELECT `+recordColumns+` FROM records WHERE name = ANY($1) ORDER BY name FOR UPDATE`, names)
		if err != nil {
			return err
		}
		stored, err := collect(rows, scanRecord)
		if err != nil {
			return err
		}
		byName := make(map[string]*domain.Record, len(stored))
		for _, p := range stored {
			byName[p.Name] = p
		}
		var up []*domain.Record
		for i, rec := range recs {
			p := byName[rec.Name]
			prevs[i] = p
			if p != nil && rec.Seq <= p.Seq && !(rec.Seq == 0 && p.Seq == 0) {
				continue
			}
			if p != nil && rec.Account == "" && rec.Type == domain.RecordLead {
				rec.Account, rec.Contact = p.Account, p.Contact
			}
			saved[i] = true
			byName[rec.Name] = rec // a later one in the same batch compares to it
			up = append(up, rec)
		}
		if len(up) == 0 {
			return nil
		}
		// One row per name: the last of the batch.
		last := map[string]int{}
		for i, rec := range up {
			last[rec.Name] = i
		}
		var name, typ, display, owner, account, contact, status []string
		var message [][]byte
		var deleted []bool
		var seq []int64
		for i, rec := range up {
			if last[rec.Name] != i {
				continue
			}
			name, typ, display, owner = append(name, rec.Name), append(typ, string(rec.Type)), append(display, rec.DisplayName), append(owner, rec.Owner)
			account, contact, status = append(account, rec.Account), append(contact, rec.Contact), append(status, rec.Status)
			message, deleted, seq = append(message, rec.Message), append(deleted, rec.Deleted), append(seq, int64(rec.Seq))
		}
		_, err = q.Exec(ctx, `INSERT INTO records (`+recordColumns+`, updated_at)
			SELECT *, now() FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::bytea[], $9::boolean[], $10::bigint[])
			ON CONFLICT (name) DO UPDATE SET type = EXCLUDED.type, display_name = EXCLUDED.display_name, owner = EXCLUDED.owner,
				account = EXCLUDED.account, contact = EXCLUDED.contact, status = EXCLUDED.status, message = EXCLUDED.message,
				deleted = EXCLUDED.deleted, seq = EXCLUDED.seq, updated_at = now()`,
			name, typ, display, owner, account, contact, status, message, deleted, seq)
		return err
	})
	return saved, prevs, err
}

func (r *Repo) AccountOwner(ctx context.Context, account string) (string, error) {
	var owner string
	err := pg.Q(ctx, r.pool).QueryRow(ctx, `SELECT owner FROM records WHERE name = $1`, account).Scan(&owner)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	return owner, err
}

func (r *Repo) AddUsers(ctx context.Context, ids ...string) error {
	var keep []string
	for _, id := range ids {
		if id = strings.TrimSpace(id); id != "" && !strings.HasPrefix(id, "service:") && !strings.HasPrefix(id, "rule:") &&
			!strings.HasPrefix(id, "system:") && !strings.HasPrefix(id, "webform:") && id != "anonymous" {
			keep = append(keep, id)
		}
	}
	if len(keep) == 0 {
		return nil
	}
	_, err := pg.Q(ctx, r.pool).Exec(ctx, `INSERT INTO users (id) SELECT DISTINCT unnest($1::text[]) ON CONFLICT DO NOTHING`, keep)
	return err
}

func (r *Repo) UserExists(ctx context.Context, id string) (bool, error) {
	var ok bool
	err := pg.Q(ctx, r.pool).QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM users WHERE id = $1)`, id).Scan(&ok)
	return ok, err
}

func (r *Repo) RecordsAfter(ctx context.Context, t domain.RecordType, after string, limit int) ([]*domain.Record, error) {
	rows, err := pg.Q(ctx, r.pool).Query(ctx, `SELECT `+recordColumns+` FROM records WHERE type = $1 AND name > $2 AND NOT deleted
		ORDER BY name LIMIT $3`, string(t), after, limit)
	if err != nil {
		return nil, err
	}
	return collect(rows, scanRecord)
}

func (r *Repo) SetTimelineAccount(ctx context.Context, regarding, account string) error {
	_, err := pg.Q(ctx, r.pool).Exec(ctx, `UPDATE activities SET account = $2 WHERE regarding = $1 AND account <> $2`, regarding, account)
	return err
}

// ---- timers and notifications ----

func (r *Repo) SetTimer(ctx context.Context, purpose, key string, due time.Time, payload []byte) error {
	return timer.Set(ctx, pg.Q(ctx, r.pool), purpose, key, due, payload)
}

func (r *Repo) CancelTimer(ctx context.Context, purpose, key string) error {
	return timer.Cancel(ctx, pg.Q(ctx, r.pool), purpose, key)
}

func (r *Repo) Notify(ctx context.Context, n app.Notification) error {
	m, err := r.outbox.Message(ctx, n.Record, protomap.Notification(events.NewMeta(ctx, n.Run.String(), n.At), n))
	if err != nil {
		return err
	}
	return outbox.Append(ctx, pg.Q(ctx, r.pool), m)
}

// ---- activities ----

var (
	activityList = []string{"id", "type", "regarding", "regarding_type", "regarding_name", "account", "subject", "body", "direction",
		"outcome", "duration_us", "participants", "owner", "status", "occur_at", "due_at", "reminder_at", "completed_at", "cancel_reason",
		"rule_id", "key", "created_at", "created_by", "updated_at", "updated_by", "version"}
	activityColumns = strings.Join(activityList, ", ")
	insertActivity  = "INSERT INTO activities (" + activityColumns + ") VALUES (" + pg.Placeholders(1, len(activityList)) + ") ON CONFLICT (id) DO NOTHING"
	updateActivity  = "UPDATE activities SET (" + strings.Join(activityList[1:], ", ") + ") = (" + pg.Placeholders(2, len(activityList)) + ") WHERE id = $1"
)

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func timeOf(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

// pgUUID is u as pgx encodes it natively (uuid.UUID is a driver.Valuer,
// encoded through its text form: slow in bulk); uuid.Nil is NULL.
func pgUUID(u uuid.UUID) pgtype.UUID { return pgtype.UUID{Bytes: u, Valid: u != uuid.Nil} }

func activityArgs(a *domain.Activity) []any {
	return []any{pgUUID(a.ID), string(a.Type), a.Regarding, string(a.RegardingType), a.RegardingName, a.Account, a.Subject, a.Body,
		string(a.Direction), a.Outcome, a.Duration.Microseconds(), a.Participants, a.Owner, string(a.Status), nullTime(a.OccurAt),
		nullTime(a.DueAt), nullTime(a.ReminderAt), nullTime(a.CompletedAt), a.CancelReason, pgUUID(a.Rule), a.Key,
		a.CreatedAt, a.CreatedBy, a.UpdatedAt, a.UpdatedBy, a.Version}
}

func scanActivity(row pgx.Row) (*domain.Activity, error) {
	var (
		a                               domain.Activity
		typ, rtype, dir, status         string
		durUS                           int64
		occur, due, reminder, completed *time.Time
		rule                            *uuid.UUID
	)
	err := row.Scan(&a.ID, &typ, &a.Regarding, &rtype, &a.RegardingName, &a.Account, &a.Subject, &a.Body, &dir, &a.Outcome, &durUS,
		&a.Participants, &a.Owner, &status, &occur, &due, &reminder, &completed, &a.CancelReason, &rule, &a.Key,
		&a.CreatedAt, &a.CreatedBy, &a.UpdatedAt, &a.UpdatedBy, &a.Version)
	if err != nil {
		return nil, err
	}
	a.Type, a.RegardingType, a.Direction, a.Status = domain.ActivityType(typ), domain.RecordType(rtype), domain.Direction(dir), domain.Status(status)
	a.Duration = time.Duration(durUS) * time.Microsecond
	a.OccurAt, a.DueAt, a.ReminderAt, a.CompletedAt = timeOf(occur), timeOf(due), timeOf(reminder), timeOf(completed)
	if rule != nil {
		a.Rule = *rule
	}
	a.CreatedAt, a.UpdatedAt = a.CreatedAt.UTC(), a.UpdatedAt.UTC()
	return &a, nil
}

func (r *Repo) InsertActivity(ctx context.Context, a *domain.Activity, ch domain.Change, requestID string) (bool, error) {
	created := false
	err := r.InTx(ctx, func(ctx context.Context) error {
		tag, err := pg.Q(ctx, r.pool).Exec(ctx, insertActivity, activityArgs(a)...)
		if err != nil {
			return fmt.Errorf("insert activity: %w", err)
		}
		if created = tag.RowsAffected() == 1; !created {
			return nil
		}
		return r.activityWritten(ctx, nil, a, ch, requestID)
	})
	return created, err
}

// SaveActivity implements app.Repository: with before, the row is
// updated and the change audited; without, only ch's events and timers
// are written (a timer's event about an unchanged task).
func (r *Repo) SaveActivity(ctx context.Context, before, a *domain.Activity, ch domain.Change, requestID string) error {
	return r.InTx(ctx, func(ctx context.Context) error {
		if before != nil {
			if _, err := pg.Q(ctx, r.pool).Exec(ctx, updateActivity, activityArgs(a)...); err != nil {
				return fmt.Errorf("update activity: %w", err)
			}
		}
		return r.activityWritten(ctx, before, a, ch, requestID)
	})
}

func (r *Repo) DeleteActivity(ctx context.Context, a *domain.Activity, requestID string) error {
	return r.InTx(ctx, func(ctx context.Context) error {
		if _, err := pg.Q(ctx, r.pool).Exec(ctx, `DELETE FROM activities WHERE id = $1`, a.ID); err != nil {
			return err
		}
		entry, err := audit.New(ctx, protomap.Activity(a, time.Time{}), nil, requestID)
		if err != nil {
			return err
		}
		b := &pgx.Batch{}
		audit.Queue(b, entry)
		timer.QueueCancel(b, domain.TimerOverdue, a.ID.String())
		timer.QueueCancel(b, domain.TimerReminder, a.ID.String())
		m, err := protomap.ActivityEvent(events.NewMeta(ctx, requestID, a.UpdatedAt), a, domain.ActivityDeleted{})
		if err != nil {
			return err
		}
		msg, err := r.outbox.Message(ctx, a.ID.String(), m)
		if err != nil {
			return err
		}
		outbox.Queue(b, msg)
		return pg.Q(ctx, r.pool).SendBatch(ctx, b).Close()
	})
}

// activityWritten writes what goes with a change of an activity: the
// audit entry (when it changed), its timers and the outbox rows.
func (r *Repo) activityWritten(ctx context.Context, before, a *domain.Activity, ch domain.Change, requestID string) error {
	b := &pgx.Batch{}
	if before != nil || len(ch.Events) > 0 && isCreate(ch) {
		var old *workflowv1.Activity
		if before != nil {
			old = protomap.Activity(before, time.Time{})
		}
		entry, err := audit.New(ctx, old, protomap.Activity(a, time.Time{}), requestID)
		if err != nil {
			return err
		}
		audit.Queue(b, entry)
	}
	key := a.ID.String()
	for _, t := range ch.Timers {
		if t.Due.IsZero() {
			timer.QueueCancel(b, t.Purpose, key)
			continue
		}
		timer.QueueSet(b, t.Purpose, key, t.Due, nil)
	}
	for _, ev := range ch.Events {
		m, err := protomap.ActivityEvent(events.NewMeta(ctx, requestID, a.UpdatedAt), a, ev)
		if err != nil {
			return err
		}
		msg, err := r.outbox.Message(ctx, key, m)
		if err != nil {
			return err
		}
		outbox.Queue(b, msg)
	}
	if b.Len() == 0 {
		return nil
	}
	if err := pg.Q(ctx, r.pool).SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("activity change: %w", err)
	}
	return nil
}

func isCreate(ch domain.Change) bool {
	for _, ev := range ch.Events {
		if _, ok := ev.(domain.ActivityCreated); ok {
			return true
		}
	}
	return false
}

func (r *Repo) GetActivity(ctx context.Context, id uuid.UUID) (*domain.Activity, error) {
	return r.readActivity(ctx, `id = $1`, "", id)
}

func (r *Repo) LockActivity(ctx context.Context, id uuid.UUID) (*domain.Activity, error) {
	return r.readActivity(ctx, `id = $1`, " FOR UPDATE", id)
}

func (r *Repo) readActivity(ctx context.Context, where, lock string, id uuid.UUID) (*domain.Activity, error) {
	a, err := scanActivity(pg.Q(ctx, r.pool).QueryRow(ctx, `SELECT `+activityColumns+` FROM activities WHERE `+where+lock, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, domain.ErrActivityNotFound(id)
	}
	return a, err
}

func (r *Repo) LockOpenTasks(ctx context.Context, keys [][2]string) ([]*domain.Activity, error) {
	regarding, key := make([]string, len(keys)), make([]string, len(keys))
	for i, k := range keys {
		regarding[i], key[i] = k[0], k[1]
	}
	rows, err := pg.Q(ctx, r.pool).Query(ctx, `SELECT `+activityColumns+` FROM activities
		WHERE (regarding, key) IN (SELECT * FROM unnest($1::text[], $2::text[])) AND status = 'OPEN' AND key <> ''
		ORDER BY id FOR UPDATE`, regarding, key)
	if err != nil {
		return nil, err
	}
	return collect(rows, scanActivity)
}

// InsertActivities implements app.Repository: the rows by COPY, then their
// audit entries, timers and events in one batch.
func (r *Repo) InsertActivities(ctx context.Context, as []app.NewActivity) error {
	if len(as) == 0 {
		return nil
	}
	return r.InTx(ctx, func(ctx context.Context) error {
		q := pg.Q(ctx, r.pool)
		rows := make([][]any, len(as))
		for i, n := range as {
			rows[i] = activityArgs(n.Activity)
		}
		if _, err := q.CopyFrom(ctx, pgx.Identifier{"activities"}, activityList, pgx.CopyFromRows(rows)); err != nil {
			return fmt.Errorf("insert activities: %w", err)
		}
		b := &pgx.Batch{}
		entries := make([]*audit.Entry, 0, len(as))
		var timers []timer.Timer
		for _, n := range as {
			a := n.Activity
			entry, err := audit.New(ctx, nil, protomap.Activity(a, time.Time{}), n.RequestID)
			if err != nil {
				return err
			}
			entries = append(entries, entry)
			for _, t := range n.Change.Timers {
				if !t.Due.IsZero() {
					timers = append(timers, timer.Timer{Purpose: t.Purpose, Key: a.ID.String(), DueAt: t.Due})
				}
			}
			for _, ev := range n.Change.Events {
				m, err := protomap.ActivityEvent(events.NewMeta(ctx, n.RequestID, a.UpdatedAt), a, ev)
				if err != nil {
					return err
				}
				msg, err := r.outbox.Message(ctx, a.ID.String(), m)
				if err != nil {
					return err
				}
				outbox.Queue(b, msg)
			}
		}
		audit.Queue(b, entries...)
		timer.QueueSetAll(b, timers)
		if err := q.SendBatch(ctx, b).Close(); err != nil {
			return fmt.Errorf("insert activities: %w", err)
		}
		return nil
	})
}

func (r *Repo) LockActivitiesRegarding(ctx context.Context, regarding string) ([]*domain.Activity, error) {
	rows, err := pg.Q(ctx, r.pool).Query(ctx, `SELECT `+activityColumns+` FROM activities WHERE regarding = $1 ORDER BY id FOR UPDATE`, regarding)
	if err != nil {
		return nil, err
	}
	return collect(rows, scanActivity)
}

func collect[T any](rows pgx.Rows, scan func(pgx.Row) (T, error)) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// ForgetRecordPositions marks every record as set by no event, so that a
// replay of the streams applies every event again.
func (r *Repo) ForgetRecordPositions(ctx context.Context) error {
	_, err := pg.Q(ctx, r.pool).Exec(ctx, `UPDATE records SET seq = 0 WHERE seq > 0`)
	return err
}

// MoveTimelines implements app.Repository.
func (r *Repo) MoveTimelines(ctx context.Context, typ domain.RecordType, merged []string, survivor string) error {
	q := pg.Q(ctx, r.pool)
	stmts := []string{`UPDATE records SET contact = $2 WHERE contact = ANY($1)`}
	if typ == domain.RecordAccount {
		stmts = []string{
			`UPDATE records SET account = $2 WHERE account = ANY($1)`,
			`UPDATE activities SET account = $2 WHERE account = ANY($1)`,
		}
	}
	for _, stmt := range stmts {
		if _, err := q.Exec(ctx, stmt, merged, survivor); err != nil {
			return fmt.Errorf("move timelines: %w", err)
		}
	}
	return nil
}
