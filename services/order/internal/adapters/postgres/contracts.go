package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	orderv1 "github.com/crmsuite/crm/gen/go/crm/order/v1"
	"github.com/crmsuite/crm/platform/audit"
	"github.com/crmsuite/crm/platform/events"
	"github.com/crmsuite/crm/platform/money"
	"github.com/crmsuite/crm/platform/outbox"
	"github.com/crmsuite/crm/platform/pg"
	"github.com/crmsuite/crm/platform/timer"
	"github.com/crmsuite/crm/services/order/internal/app"
	"github.com/crmsuite/crm/services/order/internal/domain"
	"github.com/crmsuite/crm/services/order/internal/protomap"
)

// ForecastHorizonYears is how far ahead an evergreen contract's billing is
// kept in the revenue forecast; a timer a year before the horizon moves
// it on (domain.TimerForecastHorizon).
const ForecastHorizonYears = 5

type rateJSON struct {
	From   string     `json:"from"`
	Lines  []lineJSON `json:"lines"`
	Amount string     `json:"amount"`
	Actor  string     `json:"actor"`
	At     time.Time  `json:"at"`
}

type termJSON struct {
	Number             int       `json:"number"`
	Start              string    `json:"start"`
	End                string    `json:"end,omitempty"`
	Months             int       `json:"months"`
	Outcome            string    `json:"outcome"`
	RenewalOpportunity uuid.UUID `json:"renewal_opportunity,omitzero"`
	RenewalDueAt       time.Time `json:"renewal_due_at,omitzero"`
	RenewalLost        bool      `json:"renewal_lost,omitempty"`
	EndedAt            time.Time `json:"ended_at,omitzero"`
}

func dateString(d domain.Date) string {
	if d.IsZero() {
		return ""
	}
	return d.String()
}

func parseDate(s string) (domain.Date, error) {
	if s == "" {
		return domain.Date{}, nil
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return domain.Date{}, err
	}
	return domain.DateOf(t), nil
}

var (
	contractList = []string{"id", "display_name", "account_id", "contact_id", "owner", "currency_code", "rates", "recurring_amount",
		"status", "start_date", "term_months", "evergreen", "billing_interval", "billing_anchor_day", "auto_renew", "renewal_term_months",
		"notice_period_days", "renewal_lead_days", "terms", "term_number", "term_end_date", "notice_date", "cancel_reason",
		"cancel_effective_date", "source_opportunity_id", "description", "activated_at", "created_at", "created_by", "updated_at",
		"updated_by", "version"}
	contractColumns = strings.Join(contractList, ", ")
	insertContract  = "INSERT INTO contracts (" + contractColumns + ") VALUES (" + pg.Placeholders(1, len(contractList)) + ") ON CONFLICT DO NOTHING"
	updateContract  = "UPDATE contracts SET (" + strings.Join(contractList[1:], ", ") + ") = (" + pg.Placeholders(2, len(contractList)) + ") WHERE id = $1"
)

func contractArgs(c *domain.Contract) []any {
	rates := make([]rateJSON, len(c.Rates))
	for i, r := range c.Rates {
		rates[i] = rateJSON{From: dateString(r.From), Lines: linesJSON(r.Lines), Amount: decimal(r.Amount), Actor: r.Actor, At: r.At}
	}
	terms := make([]termJSON, len(c.Terms))
	for i, t := range c.Terms {
		terms[i] = termJSON{Number: t.Number, Start: dateString(t.Start), End: dateString(t.End), Months: t.Months, Outcome: string(t.Outcome),
			RenewalOpportunity: t.RenewalOpportunity, RenewalDueAt: t.RenewalDueAt, RenewalLost: t.RenewalLost, EndedAt: t.EndedAt}
	}
	rj, _ := json.Marshal(rates)
	tj, _ := json.Marshal(terms)
	termNumber, termEnd := 0, domain.Date{}
	if t, ok := c.Term(); ok {
		termNumber, termEnd = t.Number, t.End
	}
	return []any{c.ID, c.DisplayName, c.AccountID, nullUUID(c.ContactID), c.Owner, c.Currency, rj, decimal(c.Recurring()),
		string(c.Status), c.Start.Time(), c.TermMonths, c.Evergreen, string(c.Interval), c.AnchorDay, c.AutoRenew, c.RenewalTermMonths,
		c.NoticeDays, c.RenewalLeadDays, tj, termNumber, nullDate(termEnd), nullDate(c.NoticeDate), c.CancelReason,
		nullDate(c.CancelEffective), nullUUID(c.SourceOpportunity), c.Description, nullTime(c.ActivatedAt),
		c.CreatedAt, c.CreatedBy, c.UpdatedAt, c.UpdatedBy, c.Version}
}

func scanContract(row pgx.Row) (*domain.Contract, error) {
	var (
		c                                  domain.Contract
		contact, source                    *uuid.UUID
		rj, tj                             []byte
		recurring, status, interval        string
		start                              time.Time
		termNumber                         int
		termEnd, notice, cancel, activated *time.Time
	)
	err := row.Scan(&c.ID, &c.DisplayName, &c.AccountID, &contact, &c.Owner, &c.Currency, &rj, &recurring, &status, &start,
		&c.TermMonths, &c.Evergreen, &interval, &c.AnchorDay, &c.AutoRenew, &c.RenewalTermMonths, &c.NoticeDays, &c.RenewalLeadDays,
		&tj, &termNumber, &termEnd, &notice, &c.CancelReason, &cancel, &source, &c.Description, &activated,
		&c.CreatedAt, &c.CreatedBy, &c.UpdatedAt, &c.UpdatedBy, &c.Version)
	if err != nil {
		return nil, err
	}
	c.ContactID, c.SourceOpportunity = uuidOf(contact), uuidOf(source)
	c.Status, c.Interval, c.Start = domain.ContractStatus(status), domain.BillingInterval(interval), domain.DateOf(start)
	c.NoticeDate, c.CancelEffective, c.ActivatedAt = dateOf(notice), dateOf(cancel), timeOf(activated)
	c.CreatedAt, c.UpdatedAt = c.CreatedAt.UTC(), c.UpdatedAt.UTC()
	var rates []rateJSON
	var terms []termJSON
	if err := errors.Join(json.Unmarshal(rj, &rates), json.Unmarshal(tj, &terms)); err != nil {
		return nil, fmt.Errorf("contract %s: %w", c.ID, err)
	}
	for _, r := range rates {
		from, err1 := parseDate(r.From)
		lines, err2 := linesOf(c.Currency, r.Lines)
		amount, err3 := money.FromDecimal(c.Currency, r.Amount)
		if err := errors.Join(err1, err2, err3); err != nil {
			return nil, fmt.Errorf("contract %s rates: %w", c.ID, err)
		}
		c.Rates = append(c.Rates, domain.RateChange{From: from, Lines: lines, Amount: amount, Actor: r.Actor, At: r.At.UTC()})
	}
	for _, t := range terms {
		s, err1 := parseDate(t.Start)
		e, err2 := parseDate(t.End)
		if err := errors.Join(err1, err2); err != nil {
			return nil, fmt.Errorf("contract %s terms: %w", c.ID, err)
		}
		c.Terms = append(c.Terms, domain.Term{Number: t.Number, Start: s, End: e, Months: t.Months, Outcome: domain.TermOutcome(t.Outcome),
			RenewalOpportunity: t.RenewalOpportunity, RenewalDueAt: t.RenewalDueAt.UTC(), RenewalLost: t.RenewalLost, EndedAt: t.EndedAt.UTC()})
	}
	for i := range c.Terms {
		if c.Terms[i].RenewalDueAt.Equal(time.Time{}.UTC()) {
			c.Terms[i].RenewalDueAt = time.Time{}
		}
		if c.Terms[i].EndedAt.Equal(time.Time{}.UTC()) {
			c.Terms[i].EndedAt = time.Time{}
		}
	}
	return &c, nil
}

func (r *Repo) InsertContract(ctx context.Context, c *domain.Contract, ch app.ContractSave) (bool, error) {
	created := false
	err := r.InTx(ctx, func(ctx context.Context) error {
		tag, err := pg.Q(ctx, r.pool).Exec(ctx, insertContract, contractArgs(c)...)
		if err != nil {
			return fmt.Errorf("insert contract: %w", err)
		}
		if created = tag.RowsAffected() == 1; !created {
			return nil
		}
		return r.contractWritten(ctx, nil, c, ch)
	})
	return created, err
}

// SaveContract implements app.Repository; the caller holds the row lock.
func (r *Repo) SaveContract(ctx context.Context, c *domain.Contract, ch app.ContractSave) error {
	return r.SaveContracts(ctx, []app.ContractWrite{{Contract: c, Save: ch}})
}

// SaveContracts implements app.Repository: every contract's update and
// what goes with it in one round trip.
func (r *Repo) SaveContracts(ctx context.Context, ws []app.ContractWrite) error {
	return r.InTx(ctx, func(ctx context.Context) error {
		b := &pgx.Batch{}
		for _, w := range ws {
			old := w.Save.Before
			if old == nil {
				var err error
				if old, err = r.readContract(ctx, "id = $1", "", w.Contract.ID); err != nil {
					return err
				}
			}
			b.Queue(updateContract, contractArgs(w.Contract)...)
			if err := r.queueContract(ctx, b, old, w.Contract, w.Save); err != nil {
				return err
			}
		}
		if err := pg.Q(ctx, r.pool).SendBatch(ctx, b).Close(); err != nil {
			return fmt.Errorf("save contracts: %w", err)
		}
		var rebill []*domain.Contract
		for _, w := range ws {
			if w.Save.Rebill {
				rebill = append(rebill, w.Contract)
			}
		}
		return r.refreshRevenue(ctx, rebill...)
	})
}

// contractWritten writes what goes with a change of a contract (see
// queueContract) and its billing schedule in the revenue forecast.
func (r *Repo) contractWritten(ctx context.Context, old, c *domain.Contract, ch app.ContractSave) error {
	b := &pgx.Batch{}
	if err := r.queueContract(ctx, b, old, c, ch); err != nil {
		return err
	}
	if err := pg.Q(ctx, r.pool).SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("contract change: %w", err)
	}
	if !ch.Rebill {
		return nil
	}
	return r.refreshRevenue(ctx, c)
}

// queueContract adds to b what goes with a change of a contract from old
// (nil: created): the audit entry, the outbox rows of its events, its
// timers and its MRR movements.
func (r *Repo) queueContract(ctx context.Context, b *pgx.Batch, old, c *domain.Contract, ch app.ContractSave) error {
	var before *orderv1.Contract
	if old != nil {
		before = protomap.Contract(old)
	}
	entry, err := audit.New(ctx, before, protomap.Contract(c), ch.RequestID)
	if err != nil {
		return err
	}
	audit.Queue(b, entry)
	key := c.ID.String()
	for _, t := range ch.Timers {
		if t.Due.IsZero() {
			timer.QueueCancel(b, t.Purpose, key)
			continue
		}
		timer.QueueSet(b, t.Purpose, key, t.Due, []byte(strconv.Itoa(t.Term)))
	}
	if !ch.DropMovementsAfter.IsZero() {
		b.Queue(`DELETE FROM mrr_movements WHERE contract_id = $1 AND effective_date > $2`, c.ID, ch.DropMovementsAfter.Time())
	}
	for _, m := range ch.Movements {
		b.Queue(`INSERT INTO mrr_movements (contract_id, owner, currency_code, kind, effective_date, delta) VALUES ($1, $2, $3, $4, $5, $6)`,
			c.ID, c.Owner, c.Currency, string(m.Kind), m.Effective.Time(), ratString(m.Delta))
	}
	if c.Status != domain.ContractStatusDraft && (old == nil || old.Owner != c.Owner) {
		// The ledger belongs to the contract's owner of the day.
		b.Queue(`UPDATE mrr_movements SET owner = $2 WHERE contract_id = $1`, c.ID, c.Owner)
	}
	for _, ev := range ch.Events {
		m, err := protomap.ContractEvent(events.NewMeta(ctx, ch.RequestID, c.UpdatedAt), c, ev)
		if err != nil {
			return err
		}
		msg, err := r.outbox.Message(ctx, key, m)
		if err != nil {
			return err
		}
		outbox.Queue(b, msg)
	}
	return nil
}

type revenueKey struct {
	month           time.Time
	owner, currency string
}

type revenueCell struct {
	amount  *big.Rat
	periods int
}

// refreshRevenue replaces each contract's billing schedule in the revenue
// forecast (contract_revenue) and moves the monthly totals by the
// difference. A draft bills nothing; an evergreen contract is kept
// through a horizon that its timer moves on.
func (r *Repo) refreshRevenue(ctx context.Context, cs ...*domain.Contract) error {
	if len(cs) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	moved := revenueDeltas{}
	for _, c := range cs {
		if err := r.queueContractRevenue(ctx, b, moved, c); err != nil {
			return err
		}
	}
	moved.queue(b)
	if err := pg.Q(ctx, r.pool).SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("contract revenue: %w", err)
	}
	return nil
}

// queueContractRevenue queues c's new billing schedule and adds what it
// moves in the monthly totals to moved.
func (r *Repo) queueContractRevenue(ctx context.Context, b *pgx.Batch, moved revenueDeltas, c *domain.Contract) error {
	q := pg.Q(ctx, r.pool)
	rows, err := q.Query(ctx, `SELECT month, owner, currency_code, amount::text, periods FROM contract_revenue WHERE contract_id = $1`, c.ID)
	if err != nil {
		return err
	}
	for rows.Next() {
		var k revenueKey
		var amount string
		var periods int
		if err := rows.Scan(&k.month, &k.owner, &k.currency, &amount, &periods); err != nil {
			rows.Close()
			return err
		}
		a, err := parseRat(amount)
		if err != nil {
			rows.Close()
			return err
		}
		moved.add(k, nil, 0, a.Neg(a), -periods)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	current := map[revenueKey]revenueCell{}
	if c.Status != domain.ContractStatusDraft {
		horizon := domain.DateOf(r.now().UTC().AddDate(ForecastHorizonYears, 0, 0))
		ps, err := domain.Schedule(c.ScheduleInput(horizon))
		if err != nil {
			return fmt.Errorf("contract %s schedule: %w", c.ID, err)
		}
		for _, p := range ps {
			k := revenueKey{month: domain.Date{Year: p.Start.Year, Month: p.Start.Month, Day: 1}.Time(), owner: c.Owner, currency: c.Currency}
			cell := current[k]
			if cell.amount == nil {
				cell.amount = new(big.Rat)
			}
			cell.amount.Add(cell.amount, money.Rat(p.Amount))
			cell.periods++
			current[k] = cell
			moved.add(k, nil, 0, money.Rat(p.Amount), 1)
		}
		if c.Evergreen && c.Status.Live() {
			timer.QueueSet(b, domain.TimerForecastHorizon, c.ID.String(), horizon.Time().AddDate(-1, 0, 0), nil)
		}
	}
	if c.Evergreen && !c.Status.Live() {
		timer.QueueCancel(b, domain.TimerForecastHorizon, c.ID.String())
	}
	b.Queue(`DELETE FROM contract_revenue WHERE contract_id = $1`, c.ID)
	for k, cell := range current {
		b.Queue(`INSERT INTO contract_revenue (contract_id, month, owner, currency_code, amount, periods) VALUES ($1, $2, $3, $4, $5, $6)`,
			c.ID, k.month, k.owner, k.currency, ratString(cell.amount), cell.periods)
	}
	return nil
}

func (r *Repo) GetContract(ctx context.Context, id uuid.UUID) (*domain.Contract, error) {
	return r.readContract(ctx, "id = $1", "", id)
}

func (r *Repo) LockContract(ctx context.Context, id uuid.UUID) (*domain.Contract, error) {
	return r.readContract(ctx, "id = $1", " FOR UPDATE", id)
}

// LockContracts implements app.Repository, locking in id order (as every
// batch does) so that two batches never wait on each other in a circle.
func (r *Repo) LockContracts(ctx context.Context, ids []uuid.UUID) ([]*domain.Contract, error) {
	rows, err := pg.Q(ctx, r.pool).Query(ctx, `SELECT `+contractColumns+` FROM contracts WHERE id = ANY($1) ORDER BY id FOR UPDATE`, ids)
	if err != nil {
		return nil, fmt.Errorf("lock contracts: %w", err)
	}
	return collect(rows, scanContract)
}

func (r *Repo) LockContractOfOpportunity(ctx context.Context, opportunity uuid.UUID) (*domain.Contract, error) {
	return r.readContract(ctx, "source_opportunity_id = $1", " FOR UPDATE", opportunity)
}

func (r *Repo) readContract(ctx context.Context, where, lock string, id uuid.UUID) (*domain.Contract, error) {
	c, err := scanContract(pg.Q(ctx, r.pool).QueryRow(ctx, `SELECT `+contractColumns+` FROM contracts WHERE `+where+lock, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, domain.ErrContractNotFound(id)
	}
	return c, err
}
