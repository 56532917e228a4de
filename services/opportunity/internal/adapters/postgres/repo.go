// Package postgres stores pipelines, opportunities, their stage history
// and loss reasons in the service's own schema. Every change, its history
// and the outbox rows announcing it are written in one transaction.
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
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	moneypb "google.golang.org/genproto/googleapis/type/money"

	opportunityv1 "github.com/crmsuite/crm/gen/go/crm/opportunity/v1"
	"github.com/crmsuite/crm/platform/apperr"
	"github.com/crmsuite/crm/platform/audit"
	"github.com/crmsuite/crm/platform/events"
	"github.com/crmsuite/crm/platform/money"
	"github.com/crmsuite/crm/platform/outbox"
	"github.com/crmsuite/crm/platform/paging"
	"github.com/crmsuite/crm/platform/pg"
	"github.com/crmsuite/crm/platform/resname"
	"github.com/crmsuite/crm/services/opportunity/internal/app"
	"github.com/crmsuite/crm/services/opportunity/internal/domain"
	"github.com/crmsuite/crm/services/opportunity/internal/protomap"
)

// Repo implements app.Repository.
type Repo struct {
	pool   *pgxpool.Pool
	outbox outbox.Writer
	pages  *paging.Codec
}

// New returns a repository over pool.
func New(pool *pgxpool.Pool, ow outbox.Writer, pages *paging.Codec) *Repo {
	return &Repo{pool: pool, outbox: ow, pages: pages}
}

var _ app.Repository = (*Repo)(nil)

func (r *Repo) InTx(ctx context.Context, fn func(ctx context.Context) error) error {
	return pg.InTx(ctx, r.pool, fn)
}

// ---- pipelines ----

const pipelineColumns = "id, display_name, is_default, stages, created_at, created_by, updated_at, updated_by, version"

type stageJSON struct {
	ID               string `json:"id"`
	DisplayName      string `json:"display_name"`
	Kind             string `json:"kind"`
	Probability      int    `json:"probability"`
	ForecastCategory string `json:"forecast_category"`
	Retired          bool   `json:"retired,omitempty"`
}

func pipelineArgs(p *domain.Pipeline) []any {
	stages := make([]stageJSON, len(p.Stages))
	for i, s := range p.Stages {
		stages[i] = stageJSON{ID: s.ID, DisplayName: s.DisplayName, Kind: string(s.Kind), Probability: s.Probability,
			ForecastCategory: string(s.ForecastCategory), Retired: s.Retired}
	}
	js, _ := json.Marshal(stages)
	return []any{p.ID, p.DisplayName, p.Default, js, p.CreatedAt, p.CreatedBy, p.UpdatedAt, p.UpdatedBy, p.Version}
}

func scanPipeline(row pgx.Row) (*domain.Pipeline, error) {
	var p domain.Pipeline
	var js []byte
	if err := row.Scan(&p.ID, &p.DisplayName, &p.Default, &js, &p.CreatedAt, &p.CreatedBy, &p.UpdatedAt, &p.UpdatedBy, &p.Version); err != nil {
		return nil, err
	}
	var stages []stageJSON
	if err := json.Unmarshal(js, &stages); err != nil {
		return nil, fmt.Errorf("pipeline %s stages: %w", p.ID, err)
	}
	for _, s := range stages {
		p.Stages = append(p.Stages, domain.Stage{ID: s.ID, DisplayName: s.DisplayName, Kind: domain.StageKind(s.Kind),
			Probability: s.Probability, ForecastCategory: domain.ForecastCategory(s.ForecastCategory), Retired: s.Retired})
	}
	p.CreatedAt, p.UpdatedAt = p.CreatedAt.UTC(), p.UpdatedAt.UTC()
	return &p, nil
}

func (r *Repo) InsertPipeline(ctx context.Context, p *domain.Pipeline, requestID string) error {
	return r.writePipeline(ctx, p, `INSERT INTO pipelines (`+pipelineColumns+`) VALUES (`+pg.Placeholders(1, 9)+`)`, nil, requestID)
}

func (r *Repo) SavePipeline(ctx context.Context, p *domain.Pipeline, moves map[string]string, requestID string) error {
	return r.writePipeline(ctx, p, `UPDATE pipelines SET (display_name, is_default, stages, created_at, created_by, updated_at, updated_by, version) = (`+
		pg.Placeholders(2, 9)+`) WHERE id = $1`, moves, requestID)
}

func (r *Repo) writePipeline(ctx context.Context, p *domain.Pipeline, sql string, moves map[string]string, requestID string) error {
	return r.InTx(ctx, func(ctx context.Context) error {
		q := pg.Q(ctx, r.pool)
		if _, err := q.Exec(ctx, sql, pipelineArgs(p)...); err != nil {
			if pg.IsUniqueViolation(err, "pipelines_one_default") {
				// Two pipelines made the default at once: one wins.
				return apperr.Aborted("CONCURRENT_DEFAULT_CHANGE", "another pipeline was made the default at the same time; read and retry")
			}
			return fmt.Errorf("write pipeline: %w", err)
		}
		msg, err := r.outbox.Message(ctx, p.ID.String(), protomap.PipelineChanged(events.NewMeta(ctx, requestID, p.UpdatedAt), p, moves))
		if err != nil {
			return err
		}
		return outbox.Append(ctx, q, msg)
	})
}

func (r *Repo) UnsetDefault(ctx context.Context, except uuid.UUID, actor string, now time.Time) error {
	return r.InTx(ctx, func(ctx context.Context) error {
		p, err := scanPipeline(pg.Q(ctx, r.pool).QueryRow(ctx,
			`SELECT `+pipelineColumns+` FROM pipelines WHERE is_default AND id <> $1 FOR UPDATE`, except))
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		p.Default, p.UpdatedAt, p.UpdatedBy = false, now, actor
		p.Version++
		return r.SavePipeline(ctx, p, nil, "")
	})
}

func (r *Repo) GetPipeline(ctx context.Context, id uuid.UUID) (*domain.Pipeline, error) {
	return r.readPipeline(ctx, `id = $1`, "", id)
}

func (r *Repo) LockPipeline(ctx context.Context, id uuid.UUID) (*domain.Pipeline, error) {
	return r.readPipeline(ctx, `id = $1`, " FOR UPDATE", id)
}

func (r *Repo) SharePipeline(ctx context.Context, id uuid.UUID) (*domain.Pipeline, error) {
	if id == uuid.Nil {
		return r.readPipeline(ctx, `is_default`, " FOR KEY SHARE")
	}
	return r.readPipeline(ctx, `id = $1`, " FOR KEY SHARE", id)
}

func (r *Repo) SharePipelineOf(ctx context.Context, opportunityID uuid.UUID) (*domain.Pipeline, error) {
	p, err := scanPipeline(pg.Q(ctx, r.pool).QueryRow(ctx, `SELECT `+pipelineColumns+` FROM pipelines
		WHERE id = (SELECT pipeline_id FROM opportunities WHERE id = $1) FOR KEY SHARE`, opportunityID))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, domain.ErrOpportunityNotFound(opportunityID)
	}
	return p, err
}

func (r *Repo) readPipeline(ctx context.Context, where, lock string, args ...any) (*domain.Pipeline, error) {
	p, err := scanPipeline(pg.Q(ctx, r.pool).QueryRow(ctx, `SELECT `+pipelineColumns+` FROM pipelines WHERE `+where+lock, args...))
	if errors.Is(err, pgx.ErrNoRows) {
		id := uuid.Nil
		if len(args) > 0 {
			id = args[0].(uuid.UUID)
		}
		return nil, domain.ErrPipelineNotFound(id)
	}
	return p, err
}

func (r *Repo) StageCounts(ctx context.Context, pipelineID uuid.UUID, stages []string) (map[string]int, error) {
	out := map[string]int{}
	if len(stages) == 0 {
		return out, nil
	}
	rows, err := pg.Q(ctx, r.pool).Query(ctx, `SELECT stage, count(*) FROM opportunities
		WHERE pipeline_id = $1 AND stage = ANY($2) GROUP BY stage`, pipelineID, stages)
	if err != nil {
		return nil, fmt.Errorf("stage counts: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var s string
		var n int
		if err := rows.Scan(&s, &n); err != nil {
			return nil, err
		}
		out[s] = n
	}
	return out, rows.Err()
}

func (r *Repo) LockInStage(ctx context.Context, pipelineID uuid.UUID, stage string) ([]*domain.Opportunity, error) {
	rows, err := pg.Q(ctx, r.pool).Query(ctx, `SELECT `+opportunityColumns+` FROM opportunities
		WHERE pipeline_id = $1 AND stage = $2 ORDER BY id FOR UPDATE`, pipelineID, stage)
	if err != nil {
		return nil, fmt.Errorf("opportunities in stage: %w", err)
	}
	defer rows.Close()
	var out []*domain.Opportunity
	for rows.Next() {
		o, err := scanOpportunity(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

// ---- opportunities ----

var (
	opportunityList = []string{"id", "display_name", "account_id", "contact_id", "owner", "source_lead", "pipeline_id", "stage",
		"last_open_stage", "state", "currency_code", "amount", "line_items", "expected_close_date", "probability",
		"probability_overridden", "forecast_category", "forecast_overridden", "next_step", "description", "loss_reason",
		"competitor", "close_note", "close_time", "stage_entered_at", "created_at", "created_by", "updated_at", "updated_by", "version",
		"type", "renewal_contract_id", "renewal_term", "contract_terms", "buying_committee", "win_reason"}
	opportunityColumns = strings.Join(opportunityList, ", ")
	insertOpportunity  = "INSERT INTO opportunities (" + opportunityColumns + ") VALUES (" +
		pg.Placeholders(1, len(opportunityList)) + ") ON CONFLICT (id) DO NOTHING"
	// insertRenewal gives way to an existing row with the id or with the
	// same (renewal_contract_id, renewal_term): one renewal per term.
	insertRenewal = "INSERT INTO opportunities (" + opportunityColumns + ") VALUES (" +
		pg.Placeholders(1, len(opportunityList)) + ") ON CONFLICT DO NOTHING"
	updateOpportunity = "UPDATE opportunities SET (" + strings.Join(opportunityList[1:], ", ") + ") = (" +
		pg.Placeholders(2, len(opportunityList)) + ") WHERE id = $1"
)

// termsJSON is the contract_terms column.
type termsJSON struct {
	BillingInterval string `json:"billing_interval"`
	TermMonths      int    `json:"term_months"`
	AutoRenew       bool   `json:"auto_renew"`
}

type lineJSON struct {
	Product         string `json:"product"`
	Quantity        string `json:"quantity"`
	UnitPrice       string `json:"unit_price"`
	DiscountPercent string `json:"discount_percent,omitempty"`
	Amount          string `json:"amount"`
}

func decimalOf(m *moneypb.Money) *string {
	if m == nil {
		return nil
	}
	d := money.Decimal(m)
	return &d
}

func opportunityArgs(o *domain.Opportunity) []any {
	lines := make([]lineJSON, len(o.LineItems))
	for i, li := range o.LineItems {
		lines[i] = lineJSON{Product: li.Product, Quantity: li.Quantity, UnitPrice: money.Decimal(li.UnitPrice),
			DiscountPercent: li.DiscountPercent, Amount: money.Decimal(li.Amount)}
	}
	lj, _ := json.Marshal(lines)
	var contact *uuid.UUID
	if o.ContactID != uuid.Nil {
		contact = &o.ContactID
	}
	var closeDate, closeTime *time.Time
	if !o.ExpectedCloseDate.IsZero() {
		d := time.Date(o.ExpectedCloseDate.Year, time.Month(o.ExpectedCloseDate.Month), o.ExpectedCloseDate.Day, 0, 0, 0, 0, time.UTC)
		closeDate = &d
	}
	if !o.CloseTime.IsZero() {
		closeTime = &o.CloseTime
	}
	var renewalContract *uuid.UUID
	var renewalTerm *int
	if o.RenewalContract != uuid.Nil {
		renewalContract, renewalTerm = &o.RenewalContract, &o.RenewalTerm
	}
	var terms []byte
	if t := o.ContractTerms; t != nil {
		terms, _ = json.Marshal(termsJSON{BillingInterval: string(t.Interval), TermMonths: t.TermMonths, AutoRenew: t.AutoRenew})
	}
	return []any{o.ID, o.DisplayName, o.AccountID, contact, o.Owner, protomap.LeadName(o.SourceLead), o.PipelineID, o.Stage,
		o.LastOpenStage, string(o.State), o.CurrencyCode, decimalOf(o.Amount), lj, closeDate, o.Probability,
		o.ProbabilityOverridden, string(o.ForecastCategory), o.ForecastOverridden, o.NextStep, o.Description, o.LossReason,
		o.Competitor, o.CloseNote, closeTime, o.StageEnteredAt, o.CreatedAt, o.CreatedBy, o.UpdatedAt, o.UpdatedBy, o.Version,
		string(o.Type), renewalContract, renewalTerm, terms, committeeJSON(o.BuyingCommittee), o.WinReason}
}

// memberJSON is an entry of the buying_committee column.
type memberJSON struct {
	Contact uuid.UUID `json:"contact"`
	Roles   []string  `json:"roles"`
}

func committeeJSON(ms []domain.CommitteeMember) []byte {
	out := make([]memberJSON, len(ms))
	for i, m := range ms {
		out[i] = memberJSON{Contact: m.ContactID, Roles: m.Roles}
	}
	b, _ := json.Marshal(out)
	return b
}

func scanOpportunity(row pgx.Row, extra ...any) (*domain.Opportunity, error) {
	var (
		o                    domain.Opportunity
		contact              *uuid.UUID
		source, state, fc    string
		amount               *string
		lj                   []byte
		closeDate, closeTime *time.Time
		typ                  string
		renewalContract      *uuid.UUID
		renewalTerm          *int
		terms, committee     []byte
	)
	err := row.Scan(append([]any{&o.ID, &o.DisplayName, &o.AccountID, &contact, &o.Owner, &source, &o.PipelineID, &o.Stage,
		&o.LastOpenStage, &state, &o.CurrencyCode, &amount, &lj, &closeDate, &o.Probability,
		&o.ProbabilityOverridden, &fc, &o.ForecastOverridden, &o.NextStep, &o.Description, &o.LossReason,
		&o.Competitor, &o.CloseNote, &closeTime, &o.StageEnteredAt, &o.CreatedAt, &o.CreatedBy, &o.UpdatedAt, &o.UpdatedBy, &o.Version,
		&typ, &renewalContract, &renewalTerm, &terms, &committee, &o.WinReason}, extra...)...)
	if err != nil {
		return nil, err
	}
	o.State, o.ForecastCategory, o.Type = domain.State(state), domain.ForecastCategory(fc), domain.Type(typ)
	if renewalContract != nil && renewalTerm != nil {
		o.RenewalContract, o.RenewalTerm = *renewalContract, *renewalTerm
	}
	if terms != nil {
		var t termsJSON
		if err := json.Unmarshal(terms, &t); err != nil {
			return nil, fmt.Errorf("opportunity %s contract terms: %w", o.ID, err)
		}
		o.ContractTerms = &domain.ContractTerms{Interval: domain.BillingInterval(t.BillingInterval), TermMonths: t.TermMonths, AutoRenew: t.AutoRenew}
	}
	var members []memberJSON
	if err := json.Unmarshal(committee, &members); err != nil {
		return nil, fmt.Errorf("opportunity %s buying committee: %w", o.ID, err)
	}
	o.BuyingCommittee = make([]domain.CommitteeMember, len(members))
	for i, m := range members {
		o.BuyingCommittee[i] = domain.CommitteeMember{ContactID: m.Contact, Roles: m.Roles}
	}
	if contact != nil {
		o.ContactID = *contact
	}
	o.SourceLead, _ = resname.Parse(source, "leads")
	if amount != nil {
		if o.Amount, err = money.FromDecimal(o.CurrencyCode, *amount); err != nil {
			return nil, fmt.Errorf("opportunity %s amount: %w", o.ID, err)
		}
	}
	var lines []lineJSON
	if err := json.Unmarshal(lj, &lines); err != nil {
		return nil, fmt.Errorf("opportunity %s line items: %w", o.ID, err)
	}
	o.LineItems = make([]domain.LineItem, len(lines))
	for i, l := range lines {
		up, err1 := money.FromDecimal(o.CurrencyCode, l.UnitPrice)
		amt, err2 := money.FromDecimal(o.CurrencyCode, l.Amount)
		if err := errors.Join(err1, err2); err != nil {
			return nil, fmt.Errorf("opportunity %s line item %d: %w", o.ID, i, err)
		}
		o.LineItems[i] = domain.LineItem{Product: l.Product, Quantity: l.Quantity, UnitPrice: up, DiscountPercent: l.DiscountPercent, Amount: amt}
	}
	if closeDate != nil {
		o.ExpectedCloseDate = domain.Date{Year: closeDate.Year(), Month: int(closeDate.Month()), Day: closeDate.Day()}
	}
	if closeTime != nil {
		o.CloseTime = closeTime.UTC()
	}
	o.StageEnteredAt, o.CreatedAt, o.UpdatedAt = o.StageEnteredAt.UTC(), o.CreatedAt.UTC(), o.UpdatedAt.UTC()
	return &o, nil
}

func (r *Repo) InsertOpportunity(ctx context.Context, o *domain.Opportunity, ch app.Change) (bool, error) {
	return r.insert(ctx, insertOpportunity, o, ch)
}

func (r *Repo) InsertRenewal(ctx context.Context, o *domain.Opportunity, ch app.Change) (bool, error) {
	return r.insert(ctx, insertRenewal, o, ch)
}

func (r *Repo) insert(ctx context.Context, sql string, o *domain.Opportunity, ch app.Change) (bool, error) {
	created := false
	err := r.InTx(ctx, func(ctx context.Context) error {
		tag, err := pg.Q(ctx, r.pool).Exec(ctx, sql, opportunityArgs(o)...)
		if err != nil {
			return fmt.Errorf("insert opportunity: %w", err)
		}
		if created = tag.RowsAffected() == 1; !created {
			return nil
		}
		return r.appendEvents(ctx, o, ch, nil, protomap.Opportunity(o))
	})
	return created, err
}

// SaveOpportunity implements app.Repository; the caller holds the row
// lock. The audit entry compares o with the row as it is before the
// update.
func (r *Repo) SaveOpportunity(ctx context.Context, o *domain.Opportunity, ch app.Change) error {
	return r.InTx(ctx, func(ctx context.Context) error {
		old, err := r.readOpportunity(ctx, o.ID, "")
		if err != nil {
			return err
		}
		if _, err := pg.Q(ctx, r.pool).Exec(ctx, updateOpportunity, opportunityArgs(o)...); err != nil {
			return fmt.Errorf("update opportunity: %w", err)
		}
		return r.appendEvents(ctx, o, ch, protomap.Opportunity(old), protomap.Opportunity(o))
	})
}

func (r *Repo) DeleteOpportunity(ctx context.Context, o *domain.Opportunity, ch app.Change) error {
	return r.InTx(ctx, func(ctx context.Context) error {
		old, err := r.readOpportunity(ctx, o.ID, "")
		if err != nil {
			return err
		}
		if _, err := pg.Q(ctx, r.pool).Exec(ctx, `DELETE FROM opportunities WHERE id = $1`, o.ID); err != nil {
			return fmt.Errorf("delete opportunity: %w", err)
		}
		return r.appendEvents(ctx, o, ch, protomap.Opportunity(old), nil)
	})
}

// appendEvents writes the outbox rows of ch's events, the stage history
// entries of its stage changes and the audit entry of the change from
// before to after (nil: created, deleted), in one round trip.
func (r *Repo) appendEvents(ctx context.Context, o *domain.Opportunity, ch app.Change, before, after *opportunityv1.Opportunity) error {
	b := &pgx.Batch{}
	if err := r.queueEvents(ctx, b, o, ch, before, after); err != nil {
		return err
	}
	if b.Len() == 0 {
		return nil
	}
	if err := pg.Q(ctx, r.pool).SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("opportunity events: %w", err)
	}
	return nil
}

// InsertRenewals implements app.Repository: the inserts in one round
// trip, then what goes with those that were made in another.
func (r *Repo) InsertRenewals(ctx context.Context, ns []app.NewRecord) error {
	return r.InTx(ctx, func(ctx context.Context) error {
		created := make([]bool, len(ns))
		b := &pgx.Batch{}
		for i, n := range ns {
			b.Queue(insertRenewal, opportunityArgs(n.Opportunity)...).Exec(func(tag pgconn.CommandTag) error {
				created[i] = tag.RowsAffected() == 1
				return nil
			})
		}
		if err := pg.Q(ctx, r.pool).SendBatch(ctx, b).Close(); err != nil {
			return fmt.Errorf("insert renewals: %w", err)
		}
		b = &pgx.Batch{}
		for i, n := range ns {
			if created[i] {
				if err := r.queueEvents(n.Ctx(ctx), b, n.Opportunity, n.Change, nil, protomap.Opportunity(n.Opportunity)); err != nil {
					return err
				}
			}
		}
		if b.Len() == 0 {
			return nil
		}
		if err := pg.Q(ctx, r.pool).SendBatch(ctx, b).Close(); err != nil {
			return fmt.Errorf("renewal events: %w", err)
		}
		return nil
	})
}

// queueEvents adds to b the outbox rows of ch's events, the stage history
// entries of its stage changes and the audit entry of the change from
// before to after (nil: created, deleted).
func (r *Repo) queueEvents(ctx context.Context, b *pgx.Batch, o *domain.Opportunity, ch app.Change, before, after *opportunityv1.Opportunity) error {
	entry, err := audit.New(ctx, before, after, ch.RequestID)
	if err != nil {
		return err
	}
	audit.Queue(b, entry)
	for _, ev := range ch.Events {
		if sc, ok := ev.(domain.StageChanged); ok {
			c := sc.Change
			b.Queue(`INSERT INTO stage_changes (id, opportunity_id, pipeline_id, from_stage, to_stage, actor, changed_at, time_in_previous)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, c.ID, c.OpportunityID, c.PipelineID, c.From, c.To, c.Actor, c.At, c.TimeInPrevious.Microseconds())
		}
		m, err := protomap.OpportunityEvent(events.NewMeta(ctx, ch.RequestID, o.UpdatedAt), o, ev)
		if err != nil {
			return err
		}
		msg, err := r.outbox.Message(ctx, o.ID.String(), m)
		if err != nil {
			return err
		}
		outbox.Queue(b, msg)
	}
	return nil
}

func (r *Repo) GetOpportunity(ctx context.Context, id uuid.UUID) (*domain.Opportunity, error) {
	return r.readOpportunity(ctx, id, "")
}

func (r *Repo) LockOpportunity(ctx context.Context, id uuid.UUID) (*domain.Opportunity, error) {
	return r.readOpportunity(ctx, id, " FOR UPDATE")
}

func (r *Repo) readOpportunity(ctx context.Context, id uuid.UUID, lock string) (*domain.Opportunity, error) {
	o, err := scanOpportunity(pg.Q(ctx, r.pool).QueryRow(ctx, `SELECT `+opportunityColumns+` FROM opportunities WHERE id = $1`+lock, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, domain.ErrOpportunityNotFound(id)
	}
	return o, err
}

// ---- loss and win reasons ----

func (r *Repo) LossReasons(ctx context.Context) ([]domain.LossReason, error) {
	return r.reasons(ctx, "loss_reasons")
}

func (r *Repo) ReplaceLossReasons(ctx context.Context, rs []domain.LossReason) error {
	return r.replaceReasons(ctx, "loss_reasons", rs)
}

func (r *Repo) WinReasons(ctx context.Context) ([]domain.WinReason, error) {
	return r.reasons(ctx, "win_reasons")
}

func (r *Repo) ReplaceWinReasons(ctx context.Context, rs []domain.WinReason) error {
	return r.replaceReasons(ctx, "win_reasons", rs)
}

// reasons reads a reasons table (loss_reasons or win_reasons: a constant,
// never input).
func (r *Repo) reasons(ctx context.Context, table string) ([]domain.Reason, error) {
	rows, err := pg.Q(ctx, r.pool).Query(ctx, `SELECT id, display_name, retired FROM `+table+` ORDER BY retired, position, id`)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", table, err)
	}
	defer rows.Close()
	var out []domain.Reason
	for rows.Next() {
		var lr domain.Reason
		if err := rows.Scan(&lr.ID, &lr.DisplayName, &lr.Retired); err != nil {
			return nil, err
		}
		out = append(out, lr)
	}
	return out, rows.Err()
}

func (r *Repo) replaceReasons(ctx context.Context, table string, rs []domain.Reason) error {
	return r.InTx(ctx, func(ctx context.Context) error {
		q := pg.Q(ctx, r.pool)
		// Serialise replacements: each reads and rewrites the whole list.
		if _, err := q.Exec(ctx, `LOCK TABLE `+table+` IN SHARE ROW EXCLUSIVE MODE`); err != nil {
			return err
		}
		ids := make([]string, len(rs))
		b := &pgx.Batch{}
		for i, lr := range rs {
			ids[i] = lr.ID
			b.Queue(`INSERT INTO `+table+` (id, display_name, retired, position) VALUES ($1, $2, false, $3)
				ON CONFLICT (id) DO UPDATE SET display_name = EXCLUDED.display_name, retired = false, position = EXCLUDED.position`,
				lr.ID, lr.DisplayName, i+1)
		}
		b.Queue(`UPDATE `+table+` SET retired = true WHERE NOT (id = ANY($1))`, ids)
		if err := q.SendBatch(ctx, b).Close(); err != nil {
			return fmt.Errorf("replace %s: %w", table, err)
		}
		return nil
	})
}

// ListAudit implements app.Repository.
func (r *Repo) ListAudit(ctx context.Context, q audit.Query) ([]audit.Entry, string, error) {
	return audit.List(ctx, pg.Q(ctx, r.pool), r.pages, q)
}
