package postgres

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	eventsv1 "github.com/crmsuite/crm/gen/go/crm/events/v1"
	leadv1 "github.com/crmsuite/crm/gen/go/crm/lead/v1"
	"github.com/crmsuite/crm/platform/apperr"
	"github.com/crmsuite/crm/platform/audit"
	"github.com/crmsuite/crm/platform/events"
	"github.com/crmsuite/crm/platform/outbox"
	"github.com/crmsuite/crm/platform/pg"
	"github.com/crmsuite/crm/services/lead/internal/app"
	"github.com/crmsuite/crm/services/lead/internal/domain"
	"github.com/crmsuite/crm/services/lead/internal/protomap"
)

var _ app.ImportStore = (*Repo)(nil)

// importedPerEvent is how many leads one LeadsImported event carries.
const importedPerEvent = 500

const jobColumns = `id, request_id, display_name, state, mode, duplicate_policy, default_source, default_owner,
	attempt, received, created, updated, skipped, rejected, error, created_by, created_at, finished_at`

func scanJob(row pgx.Row) (*domain.ImportJob, error) {
	var j domain.ImportJob
	var requestID *uuid.UUID
	var mode, policy, source string
	err := row.Scan(&j.ID, &requestID, &j.Options.DisplayName, &j.State, &mode, &policy, &source, &j.Options.DefaultOwner,
		&j.Attempt, &j.Counts.Received, &j.Counts.Created, &j.Counts.Updated, &j.Counts.Skipped, &j.Counts.Rejected,
		&j.Error, &j.CreatedBy, &j.CreatedAt, &j.FinishedAt)
	if err != nil {
		return nil, err
	}
	if requestID != nil {
		j.Options.RequestID = *requestID
	}
	j.Options.Mode, j.Options.Policy, j.Options.DefaultSource = domain.ImportMode(mode), domain.DuplicatePolicy(policy), domain.Source(source)
	j.CreatedAt = j.CreatedAt.UTC()
	return &j, nil
}

// StartImport implements app.ImportStore. A job with the same id (the
// request id) that has not succeeded is restarted: next attempt, counts
// reset; the options it was first started with stay.
func (r *Repo) StartImport(ctx context.Context, j *domain.ImportJob) (*domain.ImportJob, error) {
	var requestID *uuid.UUID
	if j.Options.RequestID != uuid.Nil {
		requestID = &j.Options.RequestID
	}
	q := pg.Q(ctx, r.pool)
	started, err := scanJob(q.QueryRow(ctx, `INSERT INTO import_jobs (id, request_id, display_name, state, mode,
			duplicate_policy, default_source, default_owner, created_by, created_at)
		VALUES ($1, $2, $3, 'RUNNING', $4, $5, $6, $7, $8, $9)
		ON CONFLICT (id) DO UPDATE SET attempt = import_jobs.attempt + 1, state = 'RUNNING', received = 0, created = 0,
			updated = 0, skipped = 0, rejected = 0, error = '', finished_at = NULL
			WHERE import_jobs.state <> 'SUCCEEDED'
		RETURNING `+jobColumns,
		j.ID, requestID, j.Options.DisplayName, string(j.Options.Mode), string(j.Options.Policy),
		string(j.Options.DefaultSource), j.Options.DefaultOwner, j.CreatedBy, j.CreatedAt))
	if errors.Is(err, pgx.ErrNoRows) {
		return r.GetImportJob(ctx, j.ID) // finished already
	}
	if err != nil {
		return nil, fmt.Errorf("start import: %w", err)
	}
	if _, err := q.Exec(ctx, `DELETE FROM import_rejections WHERE job_id = $1`, j.ID); err != nil {
		return nil, err
	}
	return started, nil
}

// GetImportJob implements app.ImportStore.
func (r *Repo) GetImportJob(ctx context.Context, id uuid.UUID) (*domain.ImportJob, error) {
	j, err := scanJob(pg.Q(ctx, r.pool).QueryRow(ctx, `SELECT `+jobColumns+` FROM import_jobs WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, apperr.NotFound("IMPORT_JOB_NOT_FOUND", "import job %s not found", id)
	}
	return j, err
}

// FinishImport implements app.ImportStore.
func (r *Repo) FinishImport(ctx context.Context, j *domain.ImportJob) error {
	_, err := pg.Q(ctx, r.pool).Exec(ctx, `UPDATE import_jobs SET state = $3, error = $4, finished_at = $5
		WHERE id = $1 AND attempt = $2`, j.ID, j.Attempt, j.State, j.Error, j.FinishedAt)
	return err
}

type rejectionCursor struct {
	Line int64 `json:"l"`
}

// ListImportRejections implements app.ImportStore.
func (r *Repo) ListImportRejections(ctx context.Context, id uuid.UUID, pageSize int, pageToken string) ([]domain.ImportRejection, string, error) {
	queryKey := "import-rejections\x00" + id.String()
	c := rejectionCursor{Line: -1}
	if pageToken != "" {
		if err := r.pages.Decode(pageToken, queryKey, &c); err != nil {
			return nil, "", err
		}
	}
	rows, err := pg.Q(ctx, r.pool).Query(ctx, `SELECT line, reason, message, fields, duplicates FROM import_rejections
		WHERE job_id = $1 AND line > $2 ORDER BY line LIMIT $3`, id, c.Line, pageSize+1)
	if err != nil {
		return nil, "", err
	}
	defer rows.Close()
	var out []domain.ImportRejection
	for rows.Next() {
		var rj domain.ImportRejection
		if err := rows.Scan(&rj.Line, &rj.Reason, &rj.Message, &rj.Fields, &rj.Duplicates); err != nil {
			return nil, "", err
		}
		out = append(out, rj)
	}
	if err := rows.Err(); err != nil || len(out) <= pageSize {
		return out, "", err
	}
	out = out[:pageSize]
	next, err := r.pages.Encode(queryKey, rejectionCursor{Line: out[pageSize-1].Line})
	return out, next, err
}

// ImportBatch implements app.ImportStore.
func (r *Repo) ImportBatch(ctx context.Context, j *domain.ImportJob, fn func(ctx context.Context, tx app.ImportTx) error) error {
	return pg.InTx(ctx, r.pool, func(ctx context.Context) error {
		q := pg.Q(ctx, r.pool)
		var attempt int
		if err := q.QueryRow(ctx, `SELECT attempt FROM import_jobs WHERE id = $1 FOR UPDATE`, j.ID).Scan(&attempt); err != nil {
			return err
		}
		if attempt != j.Attempt {
			return app.ErrImportSuperseded
		}
		return fn(ctx, &importTx{ctx: ctx, q: q, r: r, job: j, batch: &pgx.Batch{}, locked: map[uuid.UUID]*leadv1.Lead{}})
	})
}

// importTx is one import batch's transaction. Reads go out at once; writes
// are queued and sent together by Finish.
type importTx struct {
	ctx   context.Context
	q     pg.Querier
	r     *Repo
	job   *domain.ImportJob
	batch *pgx.Batch
	// locked are the leads LockLeads read, as they were, for the audit
	// trail of their updates.
	locked map[uuid.UUID]*leadv1.Lead
}

func (t *importTx) Existing(ids []uuid.UUID, keys []domain.DuplicateKeys) (domain.ExistingLeads, error) {
	ex := domain.ExistingLeads{Imported: map[uuid.UUID]bool{}, ByKey: map[domain.DuplicateRule]map[string][]uuid.UUID{}}
	var emails, phones, names []string
	for _, k := range keys {
		if k.Email != "" {
			emails = append(emails, k.Email)
		}
		if k.Phone != "" {
			phones = append(phones, k.Phone)
		}
		if k.CompanyAndName != "" {
			names = append(names, k.CompanyAndName)
		}
	}
	rows, err := t.q.Query(t.ctx, `SELECT '', '', id FROM leads WHERE id = ANY($1)
		UNION ALL SELECT 'EMAIL', email_norm, id FROM (SELECT email_norm, id, created_at FROM leads
			WHERE email_norm = ANY($2) AND email_norm <> '' AND status <> 'MERGED' ORDER BY created_at) e
		UNION ALL SELECT 'PHONE', phone_norm, id FROM (SELECT phone_norm, id, created_at FROM leads
			WHERE phone_norm = ANY($3) AND phone_norm <> '' AND status <> 'MERGED' ORDER BY created_at) p
		UNION ALL SELECT 'COMPANY_AND_NAME', name_key, id FROM (SELECT name_key, id, created_at FROM leads
			WHERE name_key = ANY($4) AND name_key <> '' AND status <> 'MERGED' ORDER BY created_at) n`,
		ids, emails, phones, names)
	if err != nil {
		return ex, fmt.Errorf("import lookup: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var rule, key string
		var id uuid.UUID
		if err := rows.Scan(&rule, &key, &id); err != nil {
			return ex, err
		}
		if rule == "" {
			ex.Imported[id] = true
			continue
		}
		r := domain.DuplicateRule(rule)
		if ex.ByKey[r] == nil {
			ex.ByKey[r] = map[string][]uuid.UUID{}
		}
		ex.ByKey[r][key] = append(ex.ByKey[r][key], id)
	}
	if err := rows.Err(); err != nil {
		return ex, err
	}
	rows.Close()
	return ex, t.existingCustomers(&ex, keys)
}

// existingCustomers fills ex.Customers: the contacts and accounts of the
// projection (migration 013) holding the rows' keys.
func (t *importTx) existingCustomers(ex *domain.ExistingLeads, keys []domain.DuplicateKeys) error {
	var rules, values []string
	for _, k := range keys {
		for _, rk := range [][2]string{{"EMAIL", k.Email}, {"PHONE", k.Phone}, {"COMPANY_NAME", k.Company}, {"WEB_DOMAIN", k.WebDomain}} {
			if rk[1] != "" {
				rules, values = append(rules, rk[0]), append(values, rk[1])
			}
		}
	}
	ex.Customers = map[domain.DuplicateRule]map[string][]string{}
	if len(rules) == 0 {
		return nil
	}
	rows, err := t.q.Query(t.ctx, `SELECT ck.rule, ck.key, lower(r.kind) || 's/' || r.id::text
		FROM unnest($1::text[], $2::text[]) AS k (rule, key)
		JOIN customer_keys ck ON ck.rule = k.rule AND ck.key = k.key
		JOIN customer_records r ON r.id = ck.record_id AND r.state = 'LIVE'
		ORDER BY r.kind DESC, r.id`, rules, values)
	if err != nil {
		return fmt.Errorf("import customer lookup: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var rule, key, name string
		if err := rows.Scan(&rule, &key, &name); err != nil {
			return err
		}
		r := domain.DuplicateRule(rule)
		if ex.Customers[r] == nil {
			ex.Customers[r] = map[string][]string{}
		}
		if !slices.Contains(ex.Customers[r][key], name) {
			ex.Customers[r][key] = append(ex.Customers[r][key], name)
		}
	}
	return rows.Err()
}

func (t *importTx) LockLeads(ids []uuid.UUID) (map[uuid.UUID]*domain.Lead, error) {
	rows, err := t.q.Query(t.ctx, `SELECT `+leadColumns+` FROM leads WHERE id = ANY($1) ORDER BY id FOR UPDATE`, ids)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[uuid.UUID]*domain.Lead{}
	for rows.Next() {
		l, err := scanLead(rows)
		if err != nil {
			return nil, err
		}
		out[l.ID] = l
		t.locked[l.ID] = protomap.Lead(l)
	}
	return out, rows.Err()
}

// Create copies the leads into a session-local staging table and inserts
// them from there, leaving alone ids that exist (rows an earlier attempt of
// the same import already created).
func (t *importTx) Create(leads []*domain.Lead, keys []domain.DuplicateKeys) ([]*domain.Lead, error) {
	if len(leads) == 0 {
		return nil, nil
	}
	if _, err := t.q.Exec(t.ctx, `CREATE TEMP TABLE IF NOT EXISTS import_stage (LIKE leads INCLUDING DEFAULTS) ON COMMIT DELETE ROWS`); err != nil {
		return nil, err
	}
	rows := make([][]any, len(leads))
	for i, l := range leads {
		rows[i] = leadArgsWithKeys(l, keys[i])
	}
	if _, err := t.q.CopyFrom(t.ctx, pgx.Identifier{"import_stage"}, writeColumnList, pgx.CopyFromRows(rows)); err != nil {
		return nil, fmt.Errorf("import copy: %w", err)
	}
	res, err := t.q.Query(t.ctx, `INSERT INTO leads (`+insertColumns+`) SELECT `+insertColumns+` FROM import_stage
		ON CONFLICT (id) DO NOTHING RETURNING id`)
	if err != nil {
		return nil, fmt.Errorf("import insert: %w", err)
	}
	inserted := map[uuid.UUID]bool{}
	for res.Next() {
		var id uuid.UUID
		if err := res.Scan(&id); err != nil {
			res.Close()
			return nil, err
		}
		inserted[id] = true
	}
	res.Close()
	if err := res.Err(); err != nil {
		return nil, fmt.Errorf("import insert: %w", err)
	}
	if t.job.Options.Policy != domain.DuplicatesSkip && len(inserted) > 0 {
		// Only these policies let an import make duplicates.
		t.batch.Queue(noteDuplicateKeys, slices.Collect(maps.Keys(inserted)))
	}
	var out []*domain.Lead
	for _, l := range leads {
		if inserted[l.ID] {
			out = append(out, l)
		}
	}
	entries := make([]*audit.Entry, 0, len(out))
	for start := 0; start < len(out); start += importedPerEvent {
		chunk := out[start:min(start+importedPerEvent, len(out))]
		ev := &eventsv1.LeadsImported{
			Meta:      events.NewMeta(t.ctx, t.requestID(), chunk[0].CreatedAt),
			ImportJob: "importJobs/" + t.job.ID.String(),
		}
		for _, l := range chunk {
			m := protomap.Lead(l)
			ev.Leads = append(ev.Leads, m)
			if l.OwnerDefaulted {
				ev.OwnerDefaultedLeadIds = append(ev.OwnerDefaultedLeadIds, l.ID.String())
			}
			e, err := audit.New(t.ctx, nil, m, t.requestID())
			if err != nil {
				return nil, err
			}
			entries = append(entries, e)
		}
		// Each chunk is its own aggregate (its first lead): consumers may
		// apply an import's chunks side by side; they share no lead.
		msg, err := t.r.outbox.Message(t.ctx, protomap.LeadName(chunk[0].ID), ev)
		if err != nil {
			return nil, err
		}
		outbox.Queue(t.batch, msg)
	}
	if err := audit.Copy(t.ctx, t.q, entries); err != nil {
		return nil, err
	}
	return out, nil
}

func (t *importTx) Save(l *domain.Lead, evs []domain.Event) error {
	msgs, err := t.r.messages(t.ctx, l, app.Change{Events: evs, RequestID: t.requestID()})
	if err != nil {
		return err
	}
	e, err := audit.New(t.ctx, t.locked[l.ID], protomap.Lead(l), t.requestID())
	if err != nil {
		return err
	}
	k := l.DuplicateKeys(t.r.phoneRegion)
	t.batch.Queue(updateLead, leadArgsWithKeys(l, k)...)
	t.batch.Queue(noteDuplicateLead, l.ID, k.Email, k.Phone, k.CompanyAndName)
	outbox.Queue(t.batch, msgs...)
	audit.Queue(t.batch, e)
	return nil
}

func (t *importTx) Finish(c domain.ImportCounts, rejections []domain.ImportRejection) error {
	for _, rj := range rejections {
		t.batch.Queue(`INSERT INTO import_rejections (job_id, line, reason, message, fields, duplicates)
			VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`,
			t.job.ID, rj.Line, rj.Reason, rj.Message, nonNil(rj.Fields), nonNil(rj.Duplicates))
	}
	t.batch.Queue(`UPDATE import_jobs SET received = received + $2, created = created + $3, updated = updated + $4,
		skipped = skipped + $5, rejected = rejected + $6 WHERE id = $1`,
		t.job.ID, c.Received, c.Created, c.Updated, c.Skipped, c.Rejected)
	return t.q.SendBatch(t.ctx, t.batch).Close()
}

func (t *importTx) requestID() string {
	if t.job.Options.RequestID == uuid.Nil {
		return ""
	}
	return t.job.Options.RequestID.String()
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
