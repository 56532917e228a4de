package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	workflowv1 "github.com/crmsuite/crm/gen/go/crm/workflow/v1"
	"github.com/crmsuite/crm/platform/apperr"
	"github.com/crmsuite/crm/platform/audit"
	"github.com/crmsuite/crm/platform/events"
	"github.com/crmsuite/crm/platform/outbox"
	"github.com/crmsuite/crm/platform/pg"
	"github.com/crmsuite/crm/services/workflow/internal/app"
	"github.com/crmsuite/crm/services/workflow/internal/domain"
	"github.com/crmsuite/crm/services/workflow/internal/protomap"
)

var _ app.ProcessStore = (*Repo)(nil)

const processColumns = `d.id, d.record_type, d.pipeline, v.display_name, v.enforcement, v.active, v.stages, v.version,
	d.created_at, d.created_by, v.created_at, v.created_by`

func scanProcess(row pgx.Row) (*domain.ProcessDefinition, error) {
	var d domain.ProcessDefinition
	var stages []byte
	if err := row.Scan(&d.ID, &d.RecordType, &d.Pipeline, &d.DisplayName, &d.Enforcement, &d.Active, &stages, &d.Version,
		&d.CreatedAt, &d.CreatedBy, &d.UpdatedAt, &d.UpdatedBy); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(stages, &d.Stages); err != nil {
		return nil, fmt.Errorf("process %s stages: %w", d.ID, err)
	}
	return &d, nil
}

// saveProcessVersion writes d's version row, the definition's latest
// settings, its audit entry and ProcessDefinitionChanged.
func (r *Repo) saveProcessVersion(ctx context.Context, before, d *domain.ProcessDefinition, requestID string) error {
	q := pg.Q(ctx, r.pool)
	stages, err := json.Marshal(d.Stages)
	if err != nil {
		return err
	}
	if before == nil {
		_, err = q.Exec(ctx, `INSERT INTO process_definitions (id, record_type, pipeline, display_name, enforcement, active, version, created_at, created_by, updated_at, updated_by)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $8, $9)`,
			d.ID, d.RecordType, d.Pipeline, d.DisplayName, d.Enforcement, d.Active, d.Version, d.CreatedAt, d.CreatedBy)
	} else {
		_, err = q.Exec(ctx, `UPDATE process_definitions SET display_name = $2, enforcement = $3, active = $4, version = $5, updated_at = $6, updated_by = $7 WHERE id = $1`,
			d.ID, d.DisplayName, d.Enforcement, d.Active, d.Version, d.UpdatedAt, d.UpdatedBy)
	}
	if err != nil {
		if pg.IsUniqueViolation(err, "process_definitions_one_active") {
			return apperr.FailedPrecondition("ACTIVE_PROCESS_EXISTS", "another process of %s records is active: deactivate it first", d.RecordType)
		}
		return fmt.Errorf("save process definition: %w", err)
	}
	if _, err := q.Exec(ctx, `INSERT INTO process_definition_versions (definition, version, display_name, enforcement, active, stages, created_at, created_by)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, d.ID, d.Version, d.DisplayName, d.Enforcement, d.Active, stages, d.UpdatedAt, d.UpdatedBy); err != nil {
		return fmt.Errorf("insert process version: %w", err)
	}
	var prev *workflowv1.ProcessDefinition
	if before != nil {
		prev = protomap.ProcessDefinition(before)
	}
	if err := audit.Record(ctx, q, prev, protomap.ProcessDefinition(d), requestID); err != nil {
		return err
	}
	m, err := r.outbox.Message(ctx, d.ID.String(), protomap.ProcessDefinitionChanged(events.NewMeta(ctx, requestID, d.UpdatedAt), d))
	if err != nil {
		return err
	}
	return outbox.Append(ctx, q, m)
}

func (r *Repo) InsertProcessDefinition(ctx context.Context, d *domain.ProcessDefinition, requestID string) error {
	return r.InTx(ctx, func(ctx context.Context) error { return r.saveProcessVersion(ctx, nil, d, requestID) })
}

func (r *Repo) SaveProcessDefinition(ctx context.Context, before, d *domain.ProcessDefinition) error {
	return r.InTx(ctx, func(ctx context.Context) error { return r.saveProcessVersion(ctx, before, d, "") })
}

func (r *Repo) LockProcessDefinition(ctx context.Context, id uuid.UUID) (*domain.ProcessDefinition, error) {
	d, err := scanProcess(pg.Q(ctx, r.pool).QueryRow(ctx, `SELECT `+processColumns+`
		FROM process_definitions d JOIN process_definition_versions v ON v.definition = d.id AND v.version = d.version
		WHERE d.id = $1 FOR UPDATE OF d`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, domain.ErrProcessDefinitionNotFound(id, 0)
	}
	return d, err
}

func (r *Repo) GetProcessDefinition(ctx context.Context, id uuid.UUID, version int64) (*domain.ProcessDefinition, error) {
	d, err := scanProcess(pg.Q(ctx, r.pool).QueryRow(ctx, `SELECT `+processColumns+`
		FROM process_definitions d JOIN process_definition_versions v ON v.definition = d.id
		WHERE d.id = $1 AND v.version = CASE WHEN $2::bigint > 0 THEN $2 ELSE d.version END`, id, version))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, domain.ErrProcessDefinitionNotFound(id, version)
	}
	return d, err
}

func (r *Repo) ActiveProcessDefinition(ctx context.Context, t domain.RecordType, pipeline string) (*domain.ProcessDefinition, error) {
	d, err := scanProcess(pg.Q(ctx, r.pool).QueryRow(ctx, `SELECT `+processColumns+`
		FROM process_definitions d JOIN process_definition_versions v ON v.definition = d.id AND v.version = d.version
		WHERE d.record_type = $1 AND d.pipeline = $2 AND d.active`, t, pipeline))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	return d, err
}

func (r *Repo) ListProcessDefinitions(ctx context.Context, pageSize int, pageToken string) ([]*domain.ProcessDefinition, string, error) {
	args := []any{}
	where := "true"
	if pageToken != "" {
		var c cursor
		if err := r.pages.Decode(pageToken, "processDefinitions", &c); err != nil {
			return nil, "", err
		}
		if c.Time == nil {
			return nil, "", apperr.InvalidField("page_token", "INVALID_PAGE_TOKEN", "page token does not fit the order")
		}
		args = append(args, *c.Time, c.ID)
		where = "(d.created_at, d.id) > ($1, $2)"
	}
	args = append(args, pageSize+1)
	rows, err := pg.Q(ctx, r.pool).Query(ctx, fmt.Sprintf(`SELECT %s
		FROM process_definitions d JOIN process_definition_versions v ON v.definition = d.id AND v.version = d.version
		WHERE %s ORDER BY d.created_at, d.id LIMIT $%d`, processColumns, where, len(args)), args...)
	if err != nil {
		return nil, "", err
	}
	out, err := collect(rows, scanProcess)
	if err != nil || len(out) <= pageSize {
		return out, "", err
	}
	out = out[:pageSize]
	last := out[len(out)-1]
	next, err := r.pages.Encode("processDefinitions", cursor{Time: &last.CreatedAt, ID: last.ID})
	return out, next, err
}

const instanceColumns = `i.record, i.definition, i.version, i.ticked, i.created_at, i.updated_at`

func scanInstance(row pgx.Row, extra ...any) (*domain.ProcessInstance, error) {
	var in domain.ProcessInstance
	if err := row.Scan(append([]any{&in.Record, &in.Definition, &in.Version, &in.Ticked, &in.CreatedAt, &in.UpdatedAt}, extra...)...); err != nil {
		return nil, err
	}
	return &in, nil
}

func (r *Repo) GetProcessInstance(ctx context.Context, record string, lock bool) (*domain.ProcessInstance, bool, error) {
	var active bool
	sql := `SELECT ` + instanceColumns + `, d.active FROM process_instances i JOIN process_definitions d ON d.id = i.definition WHERE i.record = $1`
	if lock {
		sql += ` FOR UPDATE OF i`
	}
	in, err := scanInstance(pg.Q(ctx, r.pool).QueryRow(ctx, sql, record), &active)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, false, nil
	}
	return in, active, err
}

func (r *Repo) ProcessState(ctx context.Context, record string) (*domain.ProcessInstance, bool, []string, error) {
	var active *bool
	var acts []string
	var in domain.ProcessInstance
	var def *uuid.UUID
	var version *int64
	var created, updated *time.Time
	err := pg.Q(ctx, r.pool).QueryRow(ctx, `SELECT i.definition, i.version, i.ticked, i.created_at, i.updated_at, d.active,
			ARRAY(SELECT DISTINCT a.type FROM activities a WHERE a.regarding = $1 AND a.status = 'DONE')
		FROM (SELECT 1) one
		LEFT JOIN process_instances i ON i.record = $1
		LEFT JOIN process_definitions d ON d.id = i.definition`, record).
		Scan(&def, &version, &in.Ticked, &created, &updated, &active, &acts)
	if err != nil {
		return nil, false, nil, err
	}
	if def == nil {
		return nil, false, acts, nil
	}
	in.Record, in.Definition, in.Version, in.CreatedAt, in.UpdatedAt = record, *def, *version, *created, *updated
	return &in, active != nil && *active, acts, nil
}

func (r *Repo) StartProcessInstance(ctx context.Context, in *domain.ProcessInstance) (*domain.ProcessInstance, error) {
	out, err := scanInstance(pg.Q(ctx, r.pool).QueryRow(ctx, `INSERT INTO process_instances AS i (record, definition, version, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $4)
		ON CONFLICT (record) DO UPDATE SET definition = excluded.definition, version = excluded.version, ticked = '{}',
			created_at = excluded.created_at, updated_at = excluded.updated_at
		WHERE NOT EXISTS (SELECT 1 FROM process_definitions d WHERE d.id = i.definition AND d.active)
		RETURNING `+instanceColumns, in.Record, in.Definition, in.Version, in.CreatedAt))
	if errors.Is(err, pgx.ErrNoRows) { // another caller started it on an active definition
		out, _, err = r.GetProcessInstance(ctx, in.Record, false)
	}
	if err != nil {
		return nil, fmt.Errorf("start process instance: %w", err)
	}
	return out, nil
}

func (r *Repo) SaveProcessInstance(ctx context.Context, in *domain.ProcessInstance) error {
	_, err := pg.Q(ctx, r.pool).Exec(ctx, `UPDATE process_instances SET version = $2, ticked = $3, updated_at = $4 WHERE record = $1`,
		in.Record, in.Version, in.Ticked, in.UpdatedAt)
	return err
}

func (r *Repo) DoneActivityTypes(ctx context.Context, record string) ([]string, error) {
	rows, err := pg.Q(ctx, r.pool).Query(ctx, `SELECT DISTINCT type FROM activities WHERE regarding = $1 AND status = 'DONE'`, record)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

type missingStep struct {
	Stage string `json:"stage"`
	ID    string `json:"id"`
	Title string `json:"title,omitempty"`
}

func (r *Repo) InsertProcessException(ctx context.Context, e *domain.ProcessException) error {
	ms := make([]missingStep, len(e.Missing))
	for i, m := range e.Missing {
		ms[i] = missingStep{Stage: m.Stage, ID: m.Step.ID, Title: m.Step.Title}
	}
	missing, err := json.Marshal(ms)
	if err != nil {
		return err
	}
	_, err = pg.Q(ctx, r.pool).Exec(ctx, `INSERT INTO process_exceptions (record, definition, version, to_stage, kind, actor, reason, missing, request_id, at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (record, request_id) WHERE request_id <> '' DO NOTHING`,
		e.Record, e.Definition, e.Version, e.ToStage, e.Kind, e.Actor, e.Reason, missing, e.RequestID, e.At)
	return err
}

type exceptionCursor struct {
	Time time.Time `json:"t"`
	ID   int64     `json:"id"`
}

func (r *Repo) ListProcessExceptions(ctx context.Context, record string, pageSize int, pageToken string) ([]*domain.ProcessException, string, error) {
	args := []any{record}
	where := "record = $1"
	if pageToken != "" {
		var c exceptionCursor
		if err := r.pages.Decode(pageToken, "processExceptions", &c); err != nil {
			return nil, "", err
		}
		args = append(args, c.Time, c.ID)
		where += " AND (at, id) < ($2, $3)"
	}
	args = append(args, pageSize+1)
	rows, err := pg.Q(ctx, r.pool).Query(ctx, fmt.Sprintf(`SELECT id, record, definition, version, to_stage, kind, actor, reason, missing, at
		FROM process_exceptions WHERE %s ORDER BY at DESC, id DESC LIMIT $%d`, where, len(args)), args...)
	if err != nil {
		return nil, "", err
	}
	var ids []int64
	out, err := collect(rows, func(row pgx.Row) (*domain.ProcessException, error) {
		var e domain.ProcessException
		var id int64
		var missing []byte
		if err := row.Scan(&id, &e.Record, &e.Definition, &e.Version, &e.ToStage, &e.Kind, &e.Actor, &e.Reason, &missing, &e.At); err != nil {
			return nil, err
		}
		var ms []missingStep
		if err := json.Unmarshal(missing, &ms); err != nil {
			return nil, err
		}
		for _, m := range ms {
			e.Missing = append(e.Missing, domain.StageStep{Stage: m.Stage, Step: domain.ProcessStep{ID: m.ID, Title: m.Title}})
		}
		ids = append(ids, id)
		return &e, nil
	})
	if err != nil || len(out) <= pageSize {
		return out, "", err
	}
	out = out[:pageSize]
	next, err := r.pages.Encode("processExceptions", exceptionCursor{Time: out[pageSize-1].At, ID: ids[pageSize-1]})
	return out, next, err
}
