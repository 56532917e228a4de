package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	workflowv1 "github.com/crmsuite/crm/gen/go/crm/workflow/v1"
	"github.com/crmsuite/crm/platform/aipfilter"
	"github.com/crmsuite/crm/platform/apperr"
	"github.com/crmsuite/crm/platform/audit"
	"github.com/crmsuite/crm/platform/events"
	"github.com/crmsuite/crm/platform/outbox"
	"github.com/crmsuite/crm/platform/pg"
	"github.com/crmsuite/crm/platform/timer"
	"github.com/crmsuite/crm/services/workflow/internal/app"
	"github.com/crmsuite/crm/services/workflow/internal/domain"
	"github.com/crmsuite/crm/services/workflow/internal/protomap"
	"github.com/crmsuite/crm/services/workflow/internal/rules"
)

var _ app.DirectoryStore = (*Repo)(nil)

// DirectoryListFilters are the filter schemas of the directory's list
// RPCs, by RPC name, for tests that walk every field.
func DirectoryListFilters() map[string]*aipfilter.Schema {
	return map[string]*aipfilter.Schema{"ListUsers": userFilter, "ListAssignments": assignmentFilter}
}

// userFilter is what ListUsers' filter may name; keep the proto comment
// of ListUsersRequest.filter in step.
var userFilter = aipfilter.NewSchema(map[string]aipfilter.Field{
	"active":      {Column: "active", Kind: aipfilter.Bool},
	"teams":       {Column: "teams", Kind: aipfilter.String, Array: true},
	"territories": {Column: "territories", Kind: aipfilter.String, Array: true},
})

// assignmentFilter is what ListAssignments' filter may name.
var assignmentFilter = aipfilter.NewSchema(map[string]aipfilter.Field{
	"flagged":     {Column: "flagged", Kind: aipfilter.Bool},
	"state":       {Column: "state", Kind: aipfilter.Enum, EnumType: workflowv1.AssignmentState(0).Type(), EnumPrefix: "ASSIGNMENT_STATE_"},
	"owner":       {Column: "owner", Kind: aipfilter.String},
	"rule":        {Column: "'assignmentRules/' || rule_id::text", Kind: aipfilter.String},
	"decide_time": {Column: "decided_at", Kind: aipfilter.Timestamp},
})

// ---- users ----

const userColumns = `id, display_name, email, time_zone, working_hours, active, out_of_office, teams, territories, capacity, deleted,
	created_at, created_by, updated_at, updated_by, version`

// hours is how working hours are stored.
type hours struct {
	Day   int `json:"day"`
	Start int `json:"start"`
	End   int `json:"end"`
}

func scanUser(row pgx.Row) (*domain.User, error) {
	var u domain.User
	var wh, ooo []byte
	if err := row.Scan(&u.ID, &u.DisplayName, &u.Email, &u.TimeZone, &wh, &u.Active, &ooo, &u.Teams, &u.Territories, &u.Capacity, &u.Deleted,
		&u.CreatedAt, &u.CreatedBy, &u.UpdatedAt, &u.UpdatedBy, &u.Version); err != nil {
		return nil, err
	}
	var hs []hours
	if err := json.Unmarshal(wh, &hs); err != nil {
		return nil, fmt.Errorf("user %s working hours: %w", u.ID, err)
	}
	for _, h := range hs {
		u.WorkingHours = append(u.WorkingHours, domain.WorkingInterval{Day: time.Weekday(h.Day), Start: h.Start, End: h.End})
	}
	if err := json.Unmarshal(ooo, &u.OutOfOffice); err != nil {
		return nil, fmt.Errorf("user %s out of office: %w", u.ID, err)
	}
	return &u, nil
}

func (r *Repo) GetUser(ctx context.Context, id string, lock bool) (*domain.User, error) {
	sql := `SELECT ` + userColumns + ` FROM directory_users WHERE id = $1`
	if lock {
		sql += ` FOR UPDATE`
	}
	u, err := scanUser(pg.Q(ctx, r.pool).QueryRow(ctx, sql, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, domain.ErrUserNotFound(id)
	}
	return u, err
}

// SaveUser writes u, its audit entry and UserChanged (whose version
// orders it for the lead service's copy).
func (r *Repo) SaveUser(ctx context.Context, before, u *domain.User, requestID string) error {
	return r.InTx(ctx, func(ctx context.Context) error {
		q := pg.Q(ctx, r.pool)
		hs := make([]hours, len(u.WorkingHours))
		for i, w := range u.WorkingHours {
			hs[i] = hours{Day: int(w.Day), Start: w.Start, End: w.End}
		}
		wh, err := json.Marshal(hs)
		if err != nil {
			return err
		}
		ooo := u.OutOfOffice
		if ooo == nil {
			ooo = []domain.OutOfOffice{}
		}
		oooJSON, err := json.Marshal(ooo)
		if err != nil {
			return err
		}
		teams, territories := nonNil(u.Teams), nonNil(u.Territories)
		if before == nil {
			_, err = q.Exec(ctx, `INSERT INTO directory_users (`+userColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`,
				u.ID, u.DisplayName, u.Email, u.TimeZone, wh, u.Active, oooJSON, teams, territories, u.Capacity, u.Deleted,
				u.CreatedAt, u.CreatedBy, u.UpdatedAt, u.UpdatedBy, u.Version)
			if pg.IsUniqueViolation(err, "directory_users_pkey") {
				return apperr.AlreadyExists("USER_EXISTS", "users/%s is in the directory already", u.ID)
			}
		} else {
			_, err = q.Exec(ctx, `UPDATE directory_users SET display_name = $2, email = $3, time_zone = $4, working_hours = $5, active = $6,
				out_of_office = $7, teams = $8, territories = $9, capacity = $10, deleted = $11, created_at = $12, created_by = $13,
				updated_at = $14, updated_by = $15, version = $16 WHERE id = $1`,
				u.ID, u.DisplayName, u.Email, u.TimeZone, wh, u.Active, oooJSON, teams, territories, u.Capacity, u.Deleted,
				u.CreatedAt, u.CreatedBy, u.UpdatedAt, u.UpdatedBy, u.Version)
		}
		if err != nil {
			return fmt.Errorf("save user: %w", err)
		}
		var prev, next *workflowv1.User
		if before != nil && !before.Deleted {
			prev = protomap.User(before)
		}
		if !u.Deleted {
			next = protomap.User(u)
		}
		if err := audit.Record(ctx, q, prev, next, requestID); err != nil {
			return err
		}
		m, err := r.outbox.Message(ctx, protomap.UserName(u.ID), protomap.UserChanged(events.NewMeta(ctx, requestID, u.UpdatedAt), u))
		if err != nil {
			return err
		}
		return outbox.Append(ctx, q, m)
	})
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

type userCursor struct {
	ID string `json:"id"`
}

func (r *Repo) ListUsers(ctx context.Context, filter string, pageSize int, pageToken string) ([]*domain.User, string, error) {
	var args []any
	clause, err := userFilter.Where(filter, &args)
	if err != nil {
		return nil, "", err
	}
	key := "users\x00" + filter
	where := []string{"NOT deleted", clause.SQL}
	if pageToken != "" {
		var c userCursor
		if err := r.pages.Decode(pageToken, key, &c); err != nil {
			return nil, "", err
		}
		args = append(args, c.ID)
		where = append(where, fmt.Sprintf("id > $%d", len(args)))
	}
	args = append(args, pageSize+1)
	rows, err := pg.Q(ctx, r.pool).Query(ctx, fmt.Sprintf(`SELECT %s FROM directory_users WHERE %s ORDER BY id LIMIT $%d`,
		userColumns, strings.Join(where, " AND "), len(args)), args...)
	if err != nil {
		return nil, "", fmt.Errorf("list users: %w", err)
	}
	out, err := collect(rows, scanUser)
	if err != nil || len(out) <= pageSize {
		return out, "", err
	}
	out = out[:pageSize]
	next, err := r.pages.Encode(key, userCursor{ID: out[pageSize-1].ID})
	return out, next, err
}

func (r *Repo) DirectoryUsers(ctx context.Context, ids []string) (map[string]*domain.User, error) {
	out := map[string]*domain.User{}
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := pg.Q(ctx, r.pool).Query(ctx, `SELECT `+userColumns+` FROM directory_users WHERE id = ANY($1)`, ids)
	if err != nil {
		return nil, err
	}
	us, err := collect(rows, scanUser)
	for _, u := range us {
		out[u.ID] = u
	}
	return out, err
}

func (r *Repo) TeamMembers(ctx context.Context, teams []string) (map[string][]string, error) {
	out := map[string][]string{}
	if len(teams) == 0 {
		return out, nil
	}
	rows, err := pg.Q(ctx, r.pool).Query(ctx, `SELECT t, u.id FROM directory_users u, unnest(u.teams) t
		WHERE u.teams && $1::text[] AND NOT u.deleted AND t = ANY($1) ORDER BY u.id`, teams)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var t, id string
		if err := rows.Scan(&t, &id); err != nil {
			return nil, err
		}
		out[t] = append(out[t], id)
	}
	return out, rows.Err()
}

// ---- assignment rules ----

const assignmentRuleColumns = `id, display_name, record_type, condition, priority, strategy, candidates, load_measure, by_field, any_time,
	fallback_owner, enabled, deleted, created_at, created_by, updated_at, updated_by, version`

func scanAssignmentRule(row pgx.Row) (*domain.AssignmentRule, error) {
	var r domain.AssignmentRule
	var cands, byField []byte
	if err := row.Scan(&r.ID, &r.DisplayName, &r.RecordType, &r.Condition, &r.Priority, &r.Strategy, &cands, &r.LoadMeasure, &byField,
		&r.AnyTime, &r.FallbackOwner, &r.Enabled, &r.Deleted, &r.CreatedAt, &r.CreatedBy, &r.UpdatedAt, &r.UpdatedBy, &r.Version); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(cands, &r.Candidates); err != nil {
		return nil, fmt.Errorf("assignment rule %s candidates: %w", r.ID, err)
	}
	if byField != nil {
		r.ByField = &domain.FieldRouting{}
		if err := json.Unmarshal(byField, r.ByField); err != nil {
			return nil, fmt.Errorf("assignment rule %s by_field: %w", r.ID, err)
		}
	}
	return &r, nil
}

func (r *Repo) SaveAssignmentRule(ctx context.Context, before, ar *domain.AssignmentRule, requestID string) error {
	return r.InTx(ctx, func(ctx context.Context) error {
		q := pg.Q(ctx, r.pool)
		cands, err := json.Marshal(ar.Candidates)
		if err != nil {
			return err
		}
		var byField []byte
		if ar.ByField != nil {
			if byField, err = json.Marshal(ar.ByField); err != nil {
				return err
			}
		}
		args := []any{ar.ID, ar.DisplayName, ar.RecordType, ar.Condition, ar.Priority, ar.Strategy, cands, ar.LoadMeasure, byField, ar.AnyTime,
			ar.FallbackOwner, ar.Enabled, ar.Deleted, ar.CreatedAt, ar.CreatedBy, ar.UpdatedAt, ar.UpdatedBy, ar.Version}
		if before == nil {
			_, err = q.Exec(ctx, `INSERT INTO assignment_rules (`+assignmentRuleColumns+`)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)`, args...)
		} else {
			_, err = q.Exec(ctx, `UPDATE assignment_rules SET display_name = $2, record_type = $3, condition = $4, priority = $5, strategy = $6,
				candidates = $7, load_measure = $8, by_field = $9, any_time = $10, fallback_owner = $11, enabled = $12, deleted = $13,
				created_at = $14, created_by = $15, updated_at = $16, updated_by = $17, version = $18 WHERE id = $1`, args...)
		}
		if err != nil {
			return fmt.Errorf("save assignment rule: %w", err)
		}
		var prev, next *workflowv1.AssignmentRule
		if before != nil {
			prev = protomap.AssignmentRule(before)
		}
		if !ar.Deleted {
			next = protomap.AssignmentRule(ar)
		}
		return audit.Record(ctx, q, prev, next, requestID)
	})
}

func (r *Repo) GetAssignmentRule(ctx context.Context, id uuid.UUID, lock bool) (*domain.AssignmentRule, error) {
	sql := `SELECT ` + assignmentRuleColumns + ` FROM assignment_rules WHERE id = $1 AND NOT deleted`
	if lock {
		sql += ` FOR UPDATE`
	}
	ar, err := scanAssignmentRule(pg.Q(ctx, r.pool).QueryRow(ctx, sql, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, domain.ErrAssignmentRuleNotFound(id)
	}
	return ar, err
}

type ruleOrderCursor struct {
	Type     string    `json:"type"`
	Priority int       `json:"p"`
	Time     time.Time `json:"t"`
	ID       uuid.UUID `json:"id"`
}

func (r *Repo) ListAssignmentRules(ctx context.Context, pageSize int, pageToken string) ([]*domain.AssignmentRule, string, error) {
	args := []any{}
	where := "NOT deleted"
	if pageToken != "" {
		var c ruleOrderCursor
		if err := r.pages.Decode(pageToken, "assignmentRules", &c); err != nil {
			return nil, "", err
		}
		args = append(args, c.Type, c.Priority, c.Time, c.ID)
		where += " AND (record_type, priority, created_at, id) > ($1, $2, $3, $4)"
	}
	args = append(args, pageSize+1)
	rows, err := pg.Q(ctx, r.pool).Query(ctx, fmt.Sprintf(`SELECT %s FROM assignment_rules WHERE %s
		ORDER BY record_type, priority, created_at, id LIMIT $%d`, assignmentRuleColumns, where, len(args)), args...)
	if err != nil {
		return nil, "", fmt.Errorf("list assignment rules: %w", err)
	}
	out, err := collect(rows, scanAssignmentRule)
	if err != nil || len(out) <= pageSize {
		return out, "", err
	}
	out = out[:pageSize]
	last := out[pageSize-1]
	next, err := r.pages.Encode("assignmentRules", ruleOrderCursor{Type: string(last.RecordType), Priority: last.Priority, Time: last.CreatedAt, ID: last.ID})
	return out, next, err
}

func (r *Repo) EnabledAssignmentRules(ctx context.Context, t domain.RecordType) ([]*domain.AssignmentRule, error) {
	rows, err := pg.Q(ctx, r.pool).Query(ctx, `SELECT `+assignmentRuleColumns+` FROM assignment_rules
		WHERE record_type = $1 AND enabled AND NOT deleted ORDER BY priority, created_at, id`, t)
	if err != nil {
		return nil, err
	}
	return collect(rows, scanAssignmentRule)
}

// ---- deciding ----

func (r *Repo) AssignedRecords(ctx context.Context, records []string) (map[string]bool, error) {
	rows, err := pg.Q(ctx, r.pool).Query(ctx, `SELECT record FROM assignments WHERE record = ANY($1)`, records)
	if err != nil {
		return nil, err
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	out := make(map[string]bool, len(names))
	for _, n := range names {
		out[n] = true
	}
	return out, err
}

// LockCursors makes the cursors that do not exist yet and locks them all,
// in key order (so transactions locking several never deadlock).
func (r *Repo) LockCursors(ctx context.Context, keys []app.CursorKey) (map[app.CursorKey]string, error) {
	out := map[app.CursorKey]string{}
	if len(keys) == 0 {
		return out, nil
	}
	slices.SortFunc(keys, func(a, b app.CursorKey) int {
		if c := strings.Compare(a.Rule.String(), b.Rule.String()); c != 0 {
			return c
		}
		return strings.Compare(a.Bucket, b.Bucket)
	})
	ids, buckets := make([]uuid.UUID, len(keys)), make([]string, len(keys))
	for i, k := range keys {
		ids[i], buckets[i] = k.Rule, k.Bucket
	}
	q := pg.Q(ctx, r.pool)
	if _, err := q.Exec(ctx, `INSERT INTO assignment_cursors (rule_id, bucket)
		SELECT * FROM unnest($1::uuid[], $2::text[]) ORDER BY 1, 2 ON CONFLICT DO NOTHING`, ids, buckets); err != nil {
		return nil, fmt.Errorf("make cursors: %w", err)
	}
	rows, err := q.Query(ctx, `SELECT c.rule_id, c.bucket, c.last_user FROM assignment_cursors c
		JOIN unnest($1::uuid[], $2::text[]) AS k(rule_id, bucket) ON k.rule_id = c.rule_id AND k.bucket = c.bucket
		ORDER BY c.rule_id, c.bucket FOR UPDATE OF c`, ids, buckets)
	if err != nil {
		return nil, fmt.Errorf("lock cursors: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k app.CursorKey
		var last string
		if err := rows.Scan(&k.Rule, &k.Bucket, &last); err != nil {
			return nil, err
		}
		out[k] = last
	}
	return out, rows.Err()
}

func (r *Repo) SaveCursors(ctx context.Context, last map[app.CursorKey]string) error {
	if len(last) == 0 {
		return nil
	}
	var ids []uuid.UUID
	var buckets, users []string
	for k, u := range last {
		ids, buckets, users = append(ids, k.Rule), append(buckets, k.Bucket), append(users, u)
	}
	_, err := pg.Q(ctx, r.pool).Exec(ctx, `UPDATE assignment_cursors c SET last_user = k.last_user, picks = c.picks + 1
		FROM unnest($1::uuid[], $2::text[], $3::text[]) AS k(rule_id, bucket, last_user)
		WHERE c.rule_id = k.rule_id AND c.bucket = k.bucket`, ids, buckets, users)
	return err
}

func (r *Repo) Loads(ctx context.Context, t domain.RecordType, m domain.LoadMeasure, users []string) (map[string]int64, error) {
	out := make(map[string]int64, len(users))
	if len(users) == 0 {
		return out, nil
	}
	var rows pgx.Rows
	var err error
	q := pg.Q(ctx, r.pool)
	if m == domain.LoadOpenTasks {
		rows, err = q.Query(ctx, `SELECT owner, count(*) FROM activities WHERE owner = ANY($1) AND status = 'OPEN' AND due_at IS NOT NULL GROUP BY owner`, users)
	} else {
		// Open records it owns, and those assigned to it that the
		// projection does not show as its own yet.
		rows, err = q.Query(ctx, `SELECT owner, sum(n)::bigint FROM (
				SELECT owner, count(*) AS n FROM records WHERE owner = ANY($1) AND type = $2 AND status = ANY($3) AND NOT deleted GROUP BY owner
				UNION ALL
				SELECT a.owner, count(*) FROM assignments a JOIN records rec ON rec.name = a.record
				WHERE a.owner = ANY($1) AND NOT a.settled AND a.record_type = $2 AND rec.owner <> a.owner GROUP BY a.owner
			) l GROUP BY owner`, users, string(t), rules.OpenStatuses(t))
	}
	if err != nil {
		return nil, fmt.Errorf("loads: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var u string
		var n int64
		if err := rows.Scan(&u, &n); err != nil {
			return nil, err
		}
		out[u] = n
	}
	return out, rows.Err()
}

const assignmentColumns = `record, record_type, rule_id, rule_version, rule_display_name, strategy, previous_owner, owner, flagged, candidates,
	rules_skipped, reason, routed_by, state, error, event_id, decided_at, applied_at, attempts`

func assignmentArgs(a *domain.Assignment) ([]any, error) {
	cands, err := json.Marshal(a.Candidates)
	if err != nil {
		return nil, err
	}
	return []any{a.Record, a.RecordType, a.Rule, a.RuleVersion, a.RuleDisplayName, a.Strategy, a.PreviousOwner, a.Owner, a.Flagged, cands,
		nonNil(a.RulesSkipped), a.Reason, a.RoutedBy, a.State, a.Error, a.EventID, a.DecidedAt, nullTime(a.AppliedAt), a.Attempts}, nil
}

func scanAssignment(row pgx.Row) (*domain.Assignment, error) {
	var a domain.Assignment
	var cands []byte
	var applied *time.Time
	if err := row.Scan(&a.Record, &a.RecordType, &a.Rule, &a.RuleVersion, &a.RuleDisplayName, &a.Strategy, &a.PreviousOwner, &a.Owner, &a.Flagged,
		&cands, &a.RulesSkipped, &a.Reason, &a.RoutedBy, &a.State, &a.Error, &a.EventID, &a.DecidedAt, &applied, &a.Attempts); err != nil {
		return nil, err
	}
	a.AppliedAt = timeOf(applied)
	if err := json.Unmarshal(cands, &a.Candidates); err != nil {
		return nil, fmt.Errorf("assignment of %s candidates: %w", a.Record, err)
	}
	return &a, nil
}

// InsertAssignments writes the assignments (kept ones settled at once)
// and arms the pending ones' apply timers, in one round trip.
func (r *Repo) InsertAssignments(ctx context.Context, as []*domain.Assignment) error {
	if len(as) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	var timers []timer.Timer
	for _, a := range as {
		args, err := assignmentArgs(a)
		if err != nil {
			return err
		}
		b.Queue(`INSERT INTO assignments (`+assignmentColumns+`, settled)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)`,
			append(args, a.State != domain.AssignmentPending)...)
		if a.State == domain.AssignmentPending {
			timers = append(timers, timer.Timer{Purpose: domain.TimerAssignmentApply, Key: a.Record, DueAt: a.DecidedAt})
		}
	}
	timer.QueueSetAll(b, timers)
	if err := pg.Q(ctx, r.pool).SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("insert assignments: %w", err)
	}
	return nil
}

func (r *Repo) LockAssignment(ctx context.Context, record string) (*domain.Assignment, error) {
	a, err := scanAssignment(pg.Q(ctx, r.pool).QueryRow(ctx, `SELECT `+assignmentColumns+` FROM assignments WHERE record = $1 FOR UPDATE`, record))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, domain.ErrAssignmentNotFound(record)
	}
	return a, err
}

func (r *Repo) SaveAssignment(ctx context.Context, a *domain.Assignment, settled bool) error {
	_, err := pg.Q(ctx, r.pool).Exec(ctx, `UPDATE assignments SET state = $2, error = $3, applied_at = $4, attempts = $5, settled = settled OR $6
		WHERE record = $1`, a.Record, a.State, a.Error, nullTime(a.AppliedAt), a.Attempts, settled)
	return err
}

func (r *Repo) GetAssignment(ctx context.Context, record string) (*domain.Assignment, error) {
	a, err := scanAssignment(pg.Q(ctx, r.pool).QueryRow(ctx, `SELECT `+assignmentColumns+` FROM assignments WHERE record = $1`, record))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, domain.ErrAssignmentNotFound(record)
	}
	return a, err
}

type assignmentCursor struct {
	Time   time.Time `json:"t"`
	Record string    `json:"r"`
}

func (r *Repo) ListAssignments(ctx context.Context, filter string, pageSize int, pageToken string) ([]*domain.Assignment, string, error) {
	var args []any
	clause, err := assignmentFilter.Where(filter, &args)
	if err != nil {
		return nil, "", err
	}
	key := "assignments\x00" + filter
	where := []string{clause.SQL}
	if pageToken != "" {
		var c assignmentCursor
		if err := r.pages.Decode(pageToken, key, &c); err != nil {
			return nil, "", err
		}
		args = append(args, c.Time, c.Record)
		where = append(where, fmt.Sprintf("(decided_at, record) < ($%d, $%d)", len(args)-1, len(args)))
	}
	args = append(args, pageSize+1)
	rows, err := pg.Q(ctx, r.pool).Query(ctx, fmt.Sprintf(`SELECT %s FROM assignments WHERE %s ORDER BY decided_at DESC, record DESC LIMIT $%d`,
		assignmentColumns, strings.Join(where, " AND "), len(args)), args...)
	if err != nil {
		return nil, "", fmt.Errorf("list assignments: %w", err)
	}
	out, err := collect(rows, scanAssignment)
	if err != nil || len(out) <= pageSize {
		return out, "", err
	}
	out = out[:pageSize]
	last := out[pageSize-1]
	next, err := r.pages.Encode(key, assignmentCursor{Time: last.DecidedAt, Record: last.Record})
	return out, next, err
}

func (r *Repo) SettleAssignments(ctx context.Context, records []string) error {
	_, err := pg.Q(ctx, r.pool).Exec(ctx, `UPDATE assignments SET settled = true WHERE record = ANY($1) AND NOT settled`, records)
	return err
}
