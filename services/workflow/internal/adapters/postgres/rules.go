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
	"github.com/jackc/pgx/v5/pgtype"

	workflowv1 "github.com/crmsuite/crm/gen/go/crm/workflow/v1"
	"github.com/crmsuite/crm/platform/aipfilter"
	"github.com/crmsuite/crm/platform/apperr"
	"github.com/crmsuite/crm/platform/audit"
	"github.com/crmsuite/crm/platform/pg"
	"github.com/crmsuite/crm/services/workflow/internal/domain"
	"github.com/crmsuite/crm/services/workflow/internal/protomap"
)

var (
	ruleList = []string{"id", "display_name", "description", "enabled", "event_types", "time_record_type", "time_field", "time_offset_us",
		"time_yearly", "condition", "actions", "seeded", "deleted", "created_at", "created_by", "updated_at", "updated_by", "version",
		"process_definition", "process_version"}
	ruleColumns = strings.Join(ruleList, ", ")
)

func ruleArgs(r *domain.Rule) []any {
	actions, _ := json.Marshal(r.Actions)
	var rt, field string
	var offset int64
	var yearly bool
	if t := r.Time; t != nil {
		rt, field, offset, yearly = string(t.RecordType), t.Field, t.Offset.Microseconds(), t.Yearly
	}
	types := r.EventTypes
	if types == nil {
		types = []string{}
	}
	var process *uuid.UUID
	if r.Process != uuid.Nil {
		process = &r.Process
	}
	return []any{r.ID, r.DisplayName, r.Description, r.Enabled, types, rt, field, offset, yearly, r.Condition, actions, r.Seeded,
		r.Deleted, r.CreatedAt, r.CreatedBy, r.UpdatedAt, r.UpdatedBy, r.Version, process, r.ProcessVersion}
}

// SetProcessRulesEnabled enables or disables every rule a definition made
// (it was activated or deactivated).
func (r *Repo) SetProcessRulesEnabled(ctx context.Context, process uuid.UUID, enabled bool) error {
	_, err := pg.Q(ctx, r.pool).Exec(ctx, `UPDATE rules SET enabled = $2 WHERE process_definition = $1 AND enabled <> $2 AND NOT deleted`, process, enabled)
	return err
}

// ProcessInstanceVersions are the definition and version of the records'
// instances (records without one are left out).
func (r *Repo) ProcessInstanceVersions(ctx context.Context, records []string) (map[string]domain.ProcessInstance, error) {
	rows, err := pg.Q(ctx, r.pool).Query(ctx, `SELECT record, definition, version FROM process_instances WHERE record = ANY($1)`, records)
	if err != nil {
		return nil, err
	}
	out := map[string]domain.ProcessInstance{}
	for rows.Next() {
		var in domain.ProcessInstance
		if err := rows.Scan(&in.Record, &in.Definition, &in.Version); err != nil {
			rows.Close()
			return nil, err
		}
		out[in.Record] = in
	}
	return out, rows.Err()
}

func scanRule(row pgx.Row) (*domain.Rule, error) {
	var r domain.Rule
	var rt, field string
	var offset int64
	var yearly bool
	var actions []byte
	var process *uuid.UUID
	err := row.Scan(&r.ID, &r.DisplayName, &r.Description, &r.Enabled, &r.EventTypes, &rt, &field, &offset, &yearly, &r.Condition,
		&actions, &r.Seeded, &r.Deleted, &r.CreatedAt, &r.CreatedBy, &r.UpdatedAt, &r.UpdatedBy, &r.Version, &process, &r.ProcessVersion)
	if err != nil {
		return nil, err
	}
	if process != nil {
		r.Process = *process
	}
	if rt != "" {
		r.Time = &domain.TimeTrigger{RecordType: domain.RecordType(rt), Field: field, Offset: time.Duration(offset) * time.Microsecond, Yearly: yearly}
	}
	if err := json.Unmarshal(actions, &r.Actions); err != nil {
		return nil, fmt.Errorf("rule %s actions: %w", r.ID, err)
	}
	r.CreatedAt, r.UpdatedAt = r.CreatedAt.UTC(), r.UpdatedAt.UTC()
	return &r, nil
}

func (r *Repo) InsertRule(ctx context.Context, rule *domain.Rule, requestID string) error {
	return r.InTx(ctx, func(ctx context.Context) error {
		if _, err := pg.Q(ctx, r.pool).Exec(ctx, `INSERT INTO rules (`+ruleColumns+`) VALUES (`+pg.Placeholders(1, len(ruleList))+`)`, ruleArgs(rule)...); err != nil {
			return fmt.Errorf("insert rule: %w", err)
		}
		return audit.Record(ctx, pg.Q(ctx, r.pool), nil, protomap.Rule(rule), requestID)
	})
}

func (r *Repo) SaveRule(ctx context.Context, before, rule *domain.Rule) error {
	return r.InTx(ctx, func(ctx context.Context) error {
		if _, err := pg.Q(ctx, r.pool).Exec(ctx, `UPDATE rules SET (`+strings.Join(ruleList[1:], ", ")+`) = (`+
			pg.Placeholders(2, len(ruleList))+`) WHERE id = $1`, ruleArgs(rule)...); err != nil {
			return fmt.Errorf("update rule: %w", err)
		}
		after := protomap.Rule(rule)
		if rule.Deleted {
			after = nil
		}
		return audit.Record(ctx, pg.Q(ctx, r.pool), protomap.Rule(before), after, "")
	})
}

func (r *Repo) GetRule(ctx context.Context, id uuid.UUID) (*domain.Rule, error) {
	return r.readRule(ctx, "", id)
}

func (r *Repo) LockRule(ctx context.Context, id uuid.UUID) (*domain.Rule, error) {
	return r.readRule(ctx, " FOR UPDATE", id)
}

func (r *Repo) readRule(ctx context.Context, lock string, id uuid.UUID) (*domain.Rule, error) {
	rule, err := scanRule(pg.Q(ctx, r.pool).QueryRow(ctx, `SELECT `+ruleColumns+` FROM rules WHERE id = $1 AND NOT deleted`+lock, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, domain.ErrRuleNotFound(id)
	}
	return rule, err
}

func (r *Repo) ListRules(ctx context.Context, pageSize int, pageToken string) ([]*domain.Rule, string, error) {
	args := []any{}
	where := "NOT deleted"
	if pageToken != "" {
		var c cursor
		if err := r.pages.Decode(pageToken, "rules", &c); err != nil {
			return nil, "", err
		}
		if c.Time == nil {
			return nil, "", apperr.InvalidField("page_token", "INVALID_PAGE_TOKEN", "page token does not fit the order")
		}
		args = append(args, *c.Time, c.ID)
		where += " AND (created_at, id) > ($1, $2)"
	}
	args = append(args, pageSize+1)
	rows, err := pg.Q(ctx, r.pool).Query(ctx, fmt.Sprintf(`SELECT %s FROM rules WHERE %s ORDER BY created_at, id LIMIT $%d`, ruleColumns, where, len(args)), args...)
	if err != nil {
		return nil, "", err
	}
	out, err := collect(rows, scanRule)
	if err != nil || len(out) <= pageSize {
		return out, "", err
	}
	out = out[:pageSize]
	last := out[len(out)-1]
	next, err := r.pages.Encode("rules", cursor{Time: &last.CreatedAt, ID: last.ID})
	return out, next, err
}

func (r *Repo) CountEventRules(ctx context.Context, eventType string, except uuid.UUID) (int, error) {
	var n int
	err := pg.Q(ctx, r.pool).QueryRow(ctx, `SELECT count(*) FROM rules WHERE enabled AND NOT deleted AND event_types @> ARRAY[$1] AND id <> $2`,
		eventType, except).Scan(&n)
	return n, err
}

func (r *Repo) EventRules(ctx context.Context, eventType string) ([]*domain.Rule, error) {
	rows, err := pg.Q(ctx, r.pool).Query(ctx, `SELECT `+ruleColumns+` FROM rules WHERE enabled AND NOT deleted AND event_types @> ARRAY[$1]
		ORDER BY created_at, id LIMIT $2`, eventType, domain.MaxRulesPerEvent)
	if err != nil {
		return nil, err
	}
	return collect(rows, scanRule)
}

func (r *Repo) TimeRules(ctx context.Context, t domain.RecordType) ([]*domain.Rule, error) {
	rows, err := pg.Q(ctx, r.pool).Query(ctx, `SELECT `+ruleColumns+` FROM rules WHERE enabled AND NOT deleted AND time_record_type = $1
		ORDER BY created_at, id`, string(t))
	if err != nil {
		return nil, err
	}
	return collect(rows, scanRule)
}

// ---- runs ----

var (
	runList = []string{"id", "rule_id", "rule_version", "record", "event_id", "event_type", "event_actor", "due_at", "input",
		"condition_result", "status", "actions", "error", "attempts", "created_at", "finished_at"}
	runColumns = strings.Join(runList, ", ")
)

func runArgs(run *domain.Run) []any {
	var event *uuid.UUID
	if run.EventID != uuid.Nil {
		event = &run.EventID
	}
	actions, _ := json.Marshal(run.Actions)
	var input []byte
	if len(run.Input) > 0 {
		input = run.Input
	}
	return []any{run.ID, run.RuleID, run.RuleVersion, run.Record, event, run.EventType, run.EventActor, nullTime(run.DueAt), input,
		run.ConditionResult, string(run.Status), actions, run.Error, run.Attempts, run.CreatedAt, nullTime(run.FinishedAt)}
}

func scanRun(row pgx.Row) (*domain.Run, error) {
	var run domain.Run
	var event *uuid.UUID
	var due, finished *time.Time
	var input, actions []byte
	var status string
	err := row.Scan(&run.ID, &run.RuleID, &run.RuleVersion, &run.Record, &event, &run.EventType, &run.EventActor, &due, &input,
		&run.ConditionResult, &status, &actions, &run.Error, &run.Attempts, &run.CreatedAt, &finished)
	if err != nil {
		return nil, err
	}
	if event != nil {
		run.EventID = *event
	}
	run.DueAt, run.FinishedAt, run.Status, run.Input = timeOf(due), timeOf(finished), domain.RunStatus(status), input
	run.CreatedAt = run.CreatedAt.UTC()
	if err := json.Unmarshal(actions, &run.Actions); err != nil {
		return nil, fmt.Errorf("run %s actions: %w", run.ID, err)
	}
	return &run, nil
}

// InsertRuns implements app.RuleStore in one statement: the unique
// indexes on (rule, event, record) and (rule, record, due time) make a
// second run of the same trigger insert nothing.
func (r *Repo) InsertRuns(ctx context.Context, runs []*domain.Run) (map[uuid.UUID]bool, error) {
	n := len(runs)
	var (
		id, rule, event                      = make([]pgtype.UUID, n), make([]pgtype.UUID, n), make([]pgtype.UUID, n)
		version                              = make([]int64, n)
		record, eventType, actor, status, er = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		due, finished                        = make([]*time.Time, n), make([]*time.Time, n)
		input                                = make([]*string, n)
		actions                              = make([]string, n)
		holds                                = make([]bool, n)
		attempts                             = make([]int32, n)
		created                              = make([]time.Time, n)
	)
	for i, run := range runs {
		id[i], rule[i], event[i] = pgUUID(run.ID), pgUUID(run.RuleID), pgUUID(run.EventID)
		version[i], record[i], eventType[i], actor[i] = run.RuleVersion, run.Record, run.EventType, run.EventActor
		due[i], finished[i], created[i] = nullTime(run.DueAt), nullTime(run.FinishedAt), run.CreatedAt
		if len(run.Input) > 0 {
			in := string(run.Input)
			input[i] = &in
		}
		a, _ := json.Marshal(run.Actions)
		actions[i], holds[i], status[i], er[i], attempts[i] = string(a), run.ConditionResult, string(run.Status), run.Error, int32(run.Attempts)
	}
	rows, err := pg.Q(ctx, r.pool).Query(ctx, `INSERT INTO rule_runs (`+runColumns+`)
		SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::bigint[], $4::text[], $5::uuid[], $6::text[], $7::text[], $8::timestamptz[],
			$9::text[]::jsonb[], $10::boolean[], $11::text[], $12::text[]::jsonb[], $13::text[], $14::int[], $15::timestamptz[], $16::timestamptz[])
		ON CONFLICT DO NOTHING RETURNING id`,
		id, rule, version, record, event, eventType, actor, due, input, holds, status, actions, er, attempts, created, finished)
	if err != nil {
		return nil, fmt.Errorf("insert runs: %w", err)
	}
	inserted := map[uuid.UUID]bool{}
	for rows.Next() {
		var id uuid.UUID
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, err
		}
		inserted[id] = true
	}
	return inserted, rows.Err()
}

func (r *Repo) SaveRun(ctx context.Context, run *domain.Run) error {
	_, err := pg.Q(ctx, r.pool).Exec(ctx, `UPDATE rule_runs SET (`+strings.Join(runList[1:], ", ")+`) = (`+
		pg.Placeholders(2, len(runList))+`) WHERE id = $1`, runArgs(run)...)
	return err
}

func (r *Repo) LockRun(ctx context.Context, id uuid.UUID) (*domain.Run, error) {
	run, err := scanRun(pg.Q(ctx, r.pool).QueryRow(ctx, `SELECT `+runColumns+` FROM rule_runs WHERE id = $1 FOR UPDATE`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, apperr.NotFound("RUN_NOT_FOUND", "run %s not found", id)
	}
	return run, err
}

func (r *Repo) CountLoopRuns(ctx context.Context, rule uuid.UUID, record, actor string, since time.Time) (int, error) {
	var n int
	err := pg.Q(ctx, r.pool).QueryRow(ctx, `SELECT count(*) FROM rule_runs WHERE rule_id = $1 AND record = $2 AND event_actor = $3
		AND created_at >= $4 AND condition_result`, rule, record, actor, since).Scan(&n)
	return n, err
}

// runFilter is what ListRuleRuns' filter may name.
var runFilter = aipfilter.NewSchema(map[string]aipfilter.Field{
	"record":      {Column: "record", Kind: aipfilter.String},
	"status":      {Column: "status", Kind: aipfilter.Enum, EnumType: workflowv1.RuleRunStatus(0).Type(), EnumPrefix: "RULE_RUN_STATUS_"},
	"event_type":  {Column: "event_type", Kind: aipfilter.String},
	"create_time": {Column: "created_at", Kind: aipfilter.Timestamp},
})

// ListRuns pages a rule's runs (every rule's for uuid.Nil), newest first.
func (r *Repo) ListRuns(ctx context.Context, rule uuid.UUID, filter string, pageSize int, pageToken string) ([]*domain.Run, string, error) {
	var args []any
	clause, err := runFilter.Where(filter, &args)
	if err != nil {
		return nil, "", err
	}
	where := []string{clause.SQL}
	queryKey := "runs\x00" + rule.String() + "\x00" + filter
	if rule != uuid.Nil {
		args = append(args, rule)
		where = append(where, fmt.Sprintf("rule_id = $%d", len(args)))
	}
	if pageToken != "" {
		var c cursor
		if err := r.pages.Decode(pageToken, queryKey, &c); err != nil {
			return nil, "", err
		}
		if c.Time == nil {
			return nil, "", apperr.InvalidField("page_token", "INVALID_PAGE_TOKEN", "page token does not fit the order")
		}
		args = append(args, *c.Time, c.ID)
		where = append(where, fmt.Sprintf("(created_at, id) < ($%d, $%d)", len(args)-1, len(args)))
	}
	args = append(args, pageSize+1)
	rows, err := pg.Q(ctx, r.pool).Query(ctx, fmt.Sprintf(`SELECT %s FROM rule_runs WHERE %s ORDER BY created_at DESC, id DESC LIMIT $%d`,
		runColumns, strings.Join(where, " AND "), len(args)), args...)
	if err != nil {
		return nil, "", fmt.Errorf("list runs: %w", err)
	}
	out, err := collect(rows, scanRun)
	if err != nil || len(out) <= pageSize {
		return out, "", err
	}
	out = out[:pageSize]
	last := out[len(out)-1]
	next, err := r.pages.Encode(queryKey, cursor{Time: &last.CreatedAt, ID: last.ID})
	return out, next, err
}
