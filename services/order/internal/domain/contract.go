package domain

import (
	"math/big"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	moneypb "google.golang.org/genproto/googleapis/type/money"

	"github.com/crmsuite/crm/platform/apperr"
	"github.com/crmsuite/crm/platform/money"
)

// ContractStatus of a contract.
type ContractStatus string

const (
	ContractStatusDraft       ContractStatus = "DRAFT"
	ContractStatusActive      ContractStatus = "ACTIVE"
	ContractStatusRenewed     ContractStatus = "RENEWED"
	ContractStatusNonRenewing ContractStatus = "NON_RENEWING"
	ContractStatusExpired     ContractStatus = "EXPIRED"
	ContractStatusCancelled   ContractStatus = "CANCELLED"
)

// Live reports a contract that is billing: in a term, not ended.
func (s ContractStatus) Live() bool {
	return s == ContractStatusActive || s == ContractStatusRenewed || s == ContractStatusNonRenewing
}

// TermOutcome says how a term ended.
type TermOutcome string

const (
	TermCurrent   TermOutcome = "CURRENT"
	TermRenewed   TermOutcome = "RENEWED"
	TermExpired   TermOutcome = "EXPIRED"
	TermCancelled TermOutcome = "CANCELLED"
)

// Term is one term of a contract. Its end is computed from the contract's
// start (start + Months, on the start's day clamped to the month's end),
// never from the previous term's end, so month ends do not drift.
type Term struct {
	Number int
	Start  Date
	// End is exclusive; zero when evergreen.
	End Date
	// Months from the contract's start to End.
	Months             int
	Outcome            TermOutcome
	RenewalOpportunity uuid.UUID
	// RenewalDueAt is when ContractRenewalDue was raised for the term.
	RenewalDueAt time.Time
	RenewalLost  bool
	EndedAt      time.Time
}

// RateChange is a version of the recurring lines, billed from From.
type RateChange struct {
	From  Date
	Lines []Line
	// Amount is the net per billing period.
	Amount *moneypb.Money
	Actor  string
	At     time.Time
}

// Contract is an ongoing service billed on a recurring interval.
type Contract struct {
	ID          uuid.UUID
	DisplayName string
	AccountID   uuid.UUID
	ContactID   uuid.UUID
	Owner       string
	Currency    string
	// Rates: the first is the contract's lines from its start, each later
	// one an amendment.
	Rates             []RateChange
	Status            ContractStatus
	Start             Date
	TermMonths        int
	Evergreen         bool
	Interval          BillingInterval
	AnchorDay         int
	AutoRenew         bool
	RenewalTermMonths int
	NoticeDays        int
	RenewalLeadDays   int
	Terms             []Term
	NoticeDate        Date
	CancelReason      string
	CancelEffective   Date
	SourceOpportunity uuid.UUID
	Description       string

	ActivatedAt time.Time
	CreatedAt   time.Time
	CreatedBy   string
	UpdatedAt   time.Time
	UpdatedBy   string
	Version     int64
}

// Contract defaults.
const DefaultRenewalLeadDays = 30

// Contract field names, as in the API.
const (
	FieldStartDate         Field = "start_date"
	FieldTermMonths        Field = "term_months"
	FieldEvergreen         Field = "evergreen"
	FieldBillingInterval   Field = "billing_interval"
	FieldAnchorDay         Field = "billing_anchor_day"
	FieldAutoRenew         Field = "auto_renew"
	FieldRenewalTermMonths Field = "renewal_term_months"
	FieldNoticeDays        Field = "notice_period_days"
	FieldRenewalLeadDays   Field = "renewal_lead_days"
)

// ContractFields can change through UpdateContract (of a draft).
var ContractFields = []Field{FieldDisplayName, FieldContact, FieldOwner, FieldCurrency, FieldLines, FieldStartDate, FieldTermMonths,
	FieldEvergreen, FieldBillingInterval, FieldAnchorDay, FieldAutoRenew, FieldRenewalTermMonths, FieldNoticeDays, FieldRenewalLeadDays,
	FieldDescription}

// ContractInput is what a caller sets on a contract. A zero AnchorDay
// defaults to the start's day (AnchorSet says the caller gave one, which
// must then be 1-31); a zero billing interval to monthly.
type ContractInput struct {
	Contract
	Lines     []Line
	AnchorSet bool
}

// Timer purposes of contracts (platform/timer), keyed by contract id.
const (
	TimerRenewalDue = "contract.renewal_due"
	TimerTermEnd    = "contract.term_end"
	// TimerForecastHorizon moves an evergreen contract's billing in the
	// revenue forecast on, a year before it runs out.
	TimerForecastHorizon = "contract.forecast_horizon"
)

// TimerChange sets (Due non-zero) or cancels a contract's timer.
type TimerChange struct {
	Purpose string
	Due     time.Time
	// Term the timer is for (its payload).
	Term int
}

// MovementKind of an MRR movement.
type MovementKind string

const (
	MovementNew         MovementKind = "NEW"
	MovementExpansion   MovementKind = "EXPANSION"
	MovementContraction MovementKind = "CONTRACTION"
	MovementChurn       MovementKind = "CHURN"
	MovementRenewal     MovementKind = "RENEWAL"
)

// Movement is a change of monthly recurring revenue from a date, written
// to the MRR ledger.
type Movement struct {
	Kind      MovementKind
	Effective Date
	// Delta of MRR, exact.
	Delta *big.Rat
}

// ContractChange is what a contract method asks the use case to save
// besides the contract.
type ContractChange struct {
	Events    []Event
	Timers    []TimerChange
	Movements []Movement
	// DropMovementsAfter, when set, deletes the contract's MRR movements
	// effective after it (plans a cancellation voids).
	DropMovementsAfter Date
	// Rebill says the billing schedule changed: the revenue forecast's
	// copy of it is rewritten.
	Rebill bool
}

// NewContract makes a draft contract.
func NewContract(in ContractInput, id uuid.UUID, actor string, now time.Time) (*Contract, []Event, error) {
	c := in.Contract
	c.ID = id
	if c.ID == uuid.Nil {
		c.ID = uuid.Must(uuid.NewV7())
	}
	c.normalize()
	if c.Owner == "" {
		c.Owner = actor
	}
	if c.DisplayName == "" {
		c.DisplayName = "Contract"
	}
	if c.Interval == "" {
		c.Interval = IntervalMonthly
	}
	if !in.AnchorSet {
		c.AnchorDay = c.Start.Day
	}
	if c.RenewalTermMonths == 0 {
		c.RenewalTermMonths = c.TermMonths
	}
	if c.RenewalLeadDays == 0 {
		c.RenewalLeadDays = DefaultRenewalLeadDays
	}
	c.Status = ContractStatusDraft
	lines := cloneLines(in.Lines)
	numberLines(lines, 0)
	c.Rates = []RateChange{{From: c.Start, Lines: lines, Actor: actor, At: now}}
	if err := c.settle(); err != nil {
		return nil, nil, err
	}
	c.CreatedAt, c.CreatedBy, c.UpdatedAt, c.UpdatedBy, c.Version = now, actor, now, actor, 1
	return &c, []Event{ContractCreated{}}, nil
}

func (c *Contract) normalize() {
	for _, s := range []*string{&c.DisplayName, &c.Owner, &c.Currency, &c.Description} {
		*s = strings.TrimSpace(*s)
	}
	c.Currency = strings.ToUpper(c.Currency)
}

// Lines are the recurring lines as last amended.
func (c *Contract) Lines() []Line { return c.Rates[len(c.Rates)-1].Lines }

// Recurring is the net per billing period as last amended.
func (c *Contract) Recurring() *moneypb.Money { return c.Rates[len(c.Rates)-1].Amount }

// settle checks the terms and prices the lines of every rate.
func (c *Contract) settle() error {
	var vs apperr.Violations
	if c.AccountID == uuid.Nil {
		vs.Add(string(FieldAccount), "ACCOUNT_REQUIRED", "a contract is for an account")
	}
	if c.Currency == "" {
		vs.Add(string(FieldCurrency), "CURRENCY_REQUIRED", "a contract has a currency")
	}
	switch {
	case c.Start.IsZero():
		vs.Add(string(FieldStartDate), "START_DATE_REQUIRED", "a contract has a start date")
	case !c.Start.Valid():
		vs.Add(string(FieldStartDate), "INVALID_DATE", "%s is not a calendar date", c.Start)
	}
	switch {
	case c.Evergreen && c.TermMonths != 0:
		vs.Add(string(FieldTermMonths), "EVERGREEN_HAS_NO_TERM", "an evergreen contract has no term: leave term_months 0")
	case !c.Evergreen && c.TermMonths <= 0:
		vs.Add(string(FieldTermMonths), "TERM_REQUIRED", "a termed contract runs at least one month (or set evergreen)")
	case c.TermMonths > 120:
		vs.Add(string(FieldTermMonths), "TERM_TOO_LONG", "a term is at most 120 months")
	}
	if !c.Evergreen && (c.RenewalTermMonths <= 0 || c.RenewalTermMonths > 120) {
		vs.Add(string(FieldRenewalTermMonths), "INVALID_RENEWAL_TERM", "a renewal term is 1 to 120 months")
	}
	if !c.Interval.Valid() {
		vs.Add(string(FieldBillingInterval), "INVALID_BILLING_INTERVAL", "billing interval is MONTHLY, QUARTERLY or YEARLY")
	}
	if c.AnchorDay < 1 || c.AnchorDay > 31 {
		vs.Add(string(FieldAnchorDay), "INVALID_ANCHOR_DAY", "the billing anchor day is 1 to 31, not %d", c.AnchorDay)
	}
	if c.NoticeDays < 0 || c.RenewalLeadDays < 0 || c.NoticeDays > 3650 || c.RenewalLeadDays > 3650 {
		vs.Add(string(FieldNoticeDays), "INVALID_DAYS", "notice and renewal lead days are 0 to 3650")
	}
	if utf8.RuneCountInString(c.DisplayName) > 200 {
		vs.Add(string(FieldDisplayName), "TOO_LONG", "at most 200 characters")
	}
	for i := range c.Rates {
		r := &c.Rates[i]
		if len(r.Lines) > MaxContractLines {
			vs.Add(string(FieldLines), "TOO_MANY_LINES", "a contract has at most %d recurring lines", MaxContractLines)
			break
		}
		if c.Currency == "" {
			break
		}
		t, lvs := PriceLines(string(FieldLines), c.Currency, r.Lines, 0)
		vs = append(vs, lvs...)
		if len(lvs) == 0 {
			r.Amount = MoneyOf(c.Currency, t.Net())
		}
	}
	if len(c.Rates) > 0 && c.Status == ContractStatusDraft {
		c.Rates[0].From = c.Start
	}
	return vs.Err()
}

func (c *Contract) touch(actor string, now time.Time) {
	c.UpdatedAt, c.UpdatedBy = now, actor
	c.Version++
}

func (c *Contract) wrongStatus(what, hint string) *apperr.Error {
	e := apperr.FailedPrecondition("INVALID_CONTRACT_STATUS", "contract %s is %s and cannot be %s: %s", c.ID, c.Status, what, hint)
	e.Preconditions = []apperr.PreconditionViolation{{Type: "INVALID_CONTRACT_STATUS", Subject: "contracts/" + c.ID.String(),
		Description: "the contract is " + string(c.Status)}}
	return e.WithMeta("status", string(c.Status))
}

// Update sets the fields in mask of a draft contract.
func (c *Contract) Update(patch ContractInput, mask []Field, actor string, now time.Time) ([]Event, error) {
	if c.Status != ContractStatusDraft {
		return nil, c.wrongStatus("updated", "only DRAFT contracts change by UpdateContract; a live one by :amend, :giveNotice, :renew or :cancel")
	}
	next := *c
	next.Rates = []RateChange{c.Rates[0]}
	p := patch.Contract
	p.normalize()
	var vs apperr.Violations
	for _, f := range mask {
		switch f {
		case FieldDisplayName:
			next.DisplayName = p.DisplayName
		case FieldContact:
			next.ContactID = p.ContactID
		case FieldOwner:
			if p.Owner == "" {
				vs.Add(string(f), "OWNER_REQUIRED", "owner cannot be cleared")
			}
			next.Owner = p.Owner
		case FieldCurrency:
			next.Currency = p.Currency
		case FieldLines:
			lines := cloneLines(patch.Lines)
			for i := range lines {
				lines[i].ID = ""
			}
			numberLines(lines, 0)
			next.Rates[0].Lines = lines
		case FieldStartDate:
			next.Start = p.Start
		case FieldTermMonths:
			next.TermMonths = p.TermMonths
		case FieldEvergreen:
			next.Evergreen = p.Evergreen
		case FieldBillingInterval:
			next.Interval = p.Interval
			if next.Interval == "" {
				next.Interval = IntervalMonthly
			}
		case FieldAnchorDay:
			next.AnchorDay = p.AnchorDay
			if !patch.AnchorSet {
				next.AnchorDay = next.Start.Day
			}
		case FieldAutoRenew:
			next.AutoRenew = p.AutoRenew
		case FieldRenewalTermMonths:
			next.RenewalTermMonths = p.RenewalTermMonths
			if next.RenewalTermMonths == 0 {
				next.RenewalTermMonths = next.TermMonths
			}
		case FieldNoticeDays:
			next.NoticeDays = p.NoticeDays
		case FieldRenewalLeadDays:
			next.RenewalLeadDays = p.RenewalLeadDays
		case FieldDescription:
			next.Description = p.Description
		case FieldAccount:
			if p.AccountID != c.AccountID {
				vs.Add("update_mask", "FIELD_NOT_UPDATABLE", "a contract stays with its account")
			}
		default:
			vs.Add("update_mask", "FIELD_NOT_UPDATABLE", "%s cannot be updated", f)
		}
	}
	if err := vs.Err(); err != nil {
		return nil, err
	}
	if next.DisplayName == "" {
		next.DisplayName = "Contract"
	}
	if err := next.settle(); err != nil {
		return nil, err
	}
	changed := c.diff(&next)
	if len(changed) == 0 {
		return nil, nil
	}
	*c = next
	c.touch(actor, now)
	return []Event{ContractUpdated{Changed: changed}}, nil
}

func (c *Contract) diff(n *Contract) []string {
	var changed []string
	add := func(f Field, differs bool) {
		if differs {
			changed = append(changed, string(f))
		}
	}
	add(FieldDisplayName, c.DisplayName != n.DisplayName)
	add(FieldContact, c.ContactID != n.ContactID)
	add(FieldOwner, c.Owner != n.Owner)
	add(FieldCurrency, c.Currency != n.Currency)
	add(FieldLines, !linesEqual(c.Lines(), n.Lines()))
	add(FieldStartDate, c.Start != n.Start)
	add(FieldTermMonths, c.TermMonths != n.TermMonths)
	add(FieldEvergreen, c.Evergreen != n.Evergreen)
	add(FieldBillingInterval, c.Interval != n.Interval)
	add(FieldAnchorDay, c.AnchorDay != n.AnchorDay)
	add(FieldAutoRenew, c.AutoRenew != n.AutoRenew)
	add(FieldRenewalTermMonths, c.RenewalTermMonths != n.RenewalTermMonths)
	add(FieldNoticeDays, c.NoticeDays != n.NoticeDays)
	add(FieldRenewalLeadDays, c.RenewalLeadDays != n.RenewalLeadDays)
	add(FieldDescription, c.Description != n.Description)
	return changed
}

// Term returns the current term (the last one); ok is false for a draft.
func (c *Contract) Term() (*Term, bool) {
	if len(c.Terms) == 0 {
		return nil, false
	}
	return &c.Terms[len(c.Terms)-1], true
}

// Monthly is the MRR of a net per-period amount.
func (c *Contract) Monthly(amount *moneypb.Money) *big.Rat {
	return MonthlyAmount(money.Rat(amount), c.Interval)
}

// rateAt is the rate in effect on d.
func (c *Contract) rateAt(d Date) RateChange {
	r := c.Rates[0]
	for _, x := range c.Rates[1:] {
		if !x.From.After(d) {
			r = x
		}
	}
	return r
}

// termTimers sets the renewal-due and term-end timers of the current
// term (none for an evergreen contract).
func (c *Contract) termTimers() []TimerChange {
	t, _ := c.Term()
	if c.Evergreen {
		return nil
	}
	end := t.End.Time()
	return []TimerChange{
		{Purpose: TimerRenewalDue, Due: end.AddDate(0, 0, -c.RenewalLeadDays), Term: t.Number},
		{Purpose: TimerTermEnd, Due: end, Term: t.Number},
	}
}

func cancelTimers(purposes ...string) []TimerChange {
	out := make([]TimerChange, len(purposes))
	for i, p := range purposes {
		out[i] = TimerChange{Purpose: p}
	}
	return out
}

// Activate starts the first term: DRAFT -> ACTIVE, with its timers and a
// NEW movement of MRR from the start date.
func (c *Contract) Activate(actor string, now time.Time) (ContractChange, error) {
	if c.Status != ContractStatusDraft {
		return ContractChange{}, c.wrongStatus("activated", "only DRAFT contracts are activated")
	}
	if len(c.Lines()) == 0 {
		e := apperr.FailedPrecondition("CONTRACT_HAS_NO_LINES", "contract %s has no recurring lines: add them before activating it", c.ID)
		e.Preconditions = []apperr.PreconditionViolation{{Type: "CONTRACT_HAS_NO_LINES", Subject: "contracts/" + c.ID.String(), Description: e.Message}}
		return ContractChange{}, e
	}
	t := Term{Number: 1, Start: c.Start, Months: c.TermMonths, Outcome: TermCurrent}
	if !c.Evergreen {
		t.End = TermEnd(c.Start, c.TermMonths)
	}
	c.Terms = []Term{t}
	c.Status, c.ActivatedAt = ContractStatusActive, now
	c.touch(actor, now)
	return ContractChange{
		Events:    []Event{ContractActivated{}},
		Timers:    c.termTimers(),
		Rebill:    true,
		Movements: []Movement{{Kind: MovementNew, Effective: c.Start, Delta: c.Monthly(c.Recurring())}},
	}, nil
}

// Amend replaces the recurring lines from effective on (today or later,
// within the current term, not before an earlier amendment's date):
// periods from then bill the new amount, earlier ones never change.
func (c *Contract) Amend(lines []Line, effective, today Date, actor string, now time.Time) (ContractChange, error) {
	if !c.Status.Live() {
		return ContractChange{}, c.wrongStatus("amended", "only live (ACTIVE, RENEWED, NON_RENEWING) contracts are amended; update a draft")
	}
	t, _ := c.Term()
	last := c.Rates[len(c.Rates)-1]
	var vs apperr.Violations
	switch {
	case effective.IsZero() || !effective.Valid():
		vs.Add("effective_date", "INVALID_DATE", "an amendment takes effect from a calendar date")
	case effective.Before(today):
		vs.Add("effective_date", "EFFECTIVE_DATE_PAST", "an amendment takes effect today or later, not %s: billed periods never change", effective)
	case effective.Before(c.Start):
		vs.Add("effective_date", "EFFECTIVE_DATE_BEFORE_START", "the contract starts on %s", c.Start)
	case !c.Evergreen && !effective.Before(t.End):
		vs.Add("effective_date", "EFFECTIVE_DATE_AFTER_TERM", "the current term ends on %s", t.End)
	case effective.Before(last.From):
		vs.Add("effective_date", "EFFECTIVE_DATE_BEFORE_AMENDMENT", "an amendment from %s is already planned: amend from then or later", last.From)
	}
	if len(lines) > MaxContractLines {
		vs.Add("lines", "TOO_MANY_LINES", "a contract has at most %d recurring lines", MaxContractLines)
	}
	if err := vs.Err(); err != nil {
		return ContractChange{}, err
	}
	ls := cloneLines(lines)
	for i := range ls {
		ls[i].ID = ""
	}
	numberLines(ls, 0)
	tot, lvs := PriceLines("lines", c.Currency, ls, 0)
	if len(lvs) > 0 {
		return ContractChange{}, lvs.Err()
	}
	r := RateChange{From: effective, Lines: ls, Amount: MoneyOf(c.Currency, tot.Net()), Actor: actor, At: now}
	if effective == last.From {
		c.Rates[len(c.Rates)-1] = r // a second amendment from the same day replaces the first
	} else {
		c.Rates = append(c.Rates, r)
	}
	c.touch(actor, now)
	ch := ContractChange{Events: []Event{ContractAmended{Effective: effective, Previous: last.Amount, Recurring: r.Amount}}, Rebill: true}
	delta := new(big.Rat).Sub(c.Monthly(r.Amount), c.Monthly(last.Amount))
	switch delta.Sign() {
	case 1:
		ch.Movements = []Movement{{Kind: MovementExpansion, Effective: effective, Delta: delta}}
	case -1:
		ch.Movements = []Movement{{Kind: MovementContraction, Effective: effective, Delta: delta}}
	}
	return ch, nil
}

// GiveNotice records the customer's notice: the contract expires at the
// end of the current term. Notice inside the notice period is too late.
func (c *Contract) GiveNotice(date, today Date, actor string, now time.Time) (ContractChange, error) {
	if c.Status != ContractStatusActive && c.Status != ContractStatusRenewed {
		return ContractChange{}, c.wrongStatus("given notice", "notice is given on ACTIVE or RENEWED contracts")
	}
	if c.Evergreen {
		e := apperr.FailedPrecondition("EVERGREEN_CONTRACT", "contract %s is evergreen: it has no term to end; cancel it from a date instead", c.ID)
		return ContractChange{}, e
	}
	if date.IsZero() {
		date = today
	}
	if !date.Valid() {
		return ContractChange{}, apperr.InvalidField("notice_date", "INVALID_DATE", "%s is not a calendar date", date)
	}
	t, _ := c.Term()
	if deadline := t.End.AddDays(-c.NoticeDays); date.After(deadline) {
		e := apperr.FailedPrecondition("NOTICE_PERIOD_PASSED",
			"notice on %s is too late: the term ends on %s and needs %d days' notice (by %s)", date, t.End, c.NoticeDays, deadline)
		e.Preconditions = []apperr.PreconditionViolation{{Type: "NOTICE_PERIOD_PASSED", Subject: "contracts/" + c.ID.String(), Description: e.Message}}
		return ContractChange{}, e
	}
	c.Status, c.NoticeDate = ContractStatusNonRenewing, date
	c.touch(actor, now)
	return ContractChange{Events: []Event{ContractNoticeGiven{Date: date}}, Timers: cancelTimers(TimerRenewalDue)}, nil
}

// Renew starts the next term at the end of the current one (status
// RENEWED), with its timers and a RENEWAL movement. opportunity is the won
// renewal opportunity, if that is what renewed it. term, when not 0, must
// be the current term: a renewal of a term already renewed changes
// nothing (ok false).
func (c *Contract) Renew(term int, opportunity uuid.UUID, actor string, now time.Time) (ch ContractChange, ok bool, err error) {
	if !c.Status.Live() {
		return ContractChange{}, false, c.wrongStatus("renewed", "only live contracts renew")
	}
	if c.Evergreen {
		return ContractChange{}, false, apperr.FailedPrecondition("EVERGREEN_CONTRACT", "contract %s is evergreen: it does not renew", c.ID)
	}
	t, _ := c.Term()
	if term != 0 && term != t.Number {
		return ContractChange{}, false, nil
	}
	t.Outcome, t.EndedAt = TermRenewed, now
	if opportunity != uuid.Nil {
		t.RenewalOpportunity = opportunity
	}
	next := Term{Number: t.Number + 1, Start: t.End, Months: t.Months + c.RenewalTermMonths, Outcome: TermCurrent}
	next.End = TermEnd(c.Start, next.Months)
	c.Terms = append(c.Terms, next)
	c.Status, c.NoticeDate = ContractStatusRenewed, Date{}
	c.touch(actor, now)
	return ContractChange{
		Events:    []Event{ContractRenewed{Term: next.Number, Opportunity: opportunity}},
		Timers:    c.termTimers(),
		Rebill:    true,
		Movements: []Movement{{Kind: MovementRenewal, Effective: next.Start, Delta: new(big.Rat)}},
	}, true, nil
}

// RenewalDue is the renewal timer of term firing: the contract raises
// ContractRenewalDue once, noting when, and names the renewal
// opportunity the opportunity service opens for it. A timer of another
// term, or of a contract no longer renewing, changes nothing.
func (c *Contract) RenewalDue(term int, opportunity uuid.UUID, accountOwner string, now time.Time) []Event {
	t, ok := c.Term()
	if !ok || t.Number != term || (c.Status != ContractStatusActive && c.Status != ContractStatusRenewed) || !t.RenewalDueAt.IsZero() {
		return nil
	}
	t.RenewalDueAt, t.RenewalOpportunity = now, opportunity
	c.touch(SystemActor, now)
	return []Event{ContractRenewalDue{Term: term, AccountOwner: accountOwner}}
}

// SystemActor changes contracts on timers.
const SystemActor = "system:order"

// TermEnded is the term-end timer of term firing: a contract with notice
// expires; an auto-renewing one renews; any other expires. A timer of
// another term changes nothing.
func (c *Contract) TermEnded(term int, now time.Time) (ContractChange, error) {
	t, ok := c.Term()
	if !ok || t.Number != term || !c.Status.Live() {
		return ContractChange{}, nil
	}
	if c.AutoRenew && c.Status != ContractStatusNonRenewing {
		ch, _, err := c.Renew(term, uuid.Nil, SystemActor, now)
		return ch, err
	}
	t.Outcome, t.EndedAt = TermExpired, now
	c.Status = ContractStatusExpired
	c.touch(SystemActor, now)
	return ContractChange{
		Events:    []Event{ContractExpired{Term: term}},
		Timers:    cancelTimers(TimerRenewalDue, TimerTermEnd),
		Movements: []Movement{{Kind: MovementChurn, Effective: t.End, Delta: new(big.Rat).Neg(c.Monthly(c.rateAt(t.End.AddDays(-1)).Amount))}},
	}, nil
}

// RenewalLost records that term's renewal opportunity was lost: a contract
// that does not renew by itself will expire at the term's end.
func (c *Contract) RenewalLost(term int, actor string, now time.Time) []Event {
	t, ok := c.Term()
	if !ok || t.Number != term || t.RenewalLost {
		return nil
	}
	t.RenewalLost = true
	c.touch(actor, now)
	return []Event{ContractUpdated{Changed: []string{"terms"}}}
}

// Cancel ends a contract from effective (today when zero), not before its
// start nor after the current term's end, with a reason. A draft is just
// cancelled.
func (c *Contract) Cancel(reason string, effective, today Date, actor string, now time.Time) (ContractChange, error) {
	reason = strings.TrimSpace(reason)
	if reason == "" {
		return ContractChange{}, apperr.InvalidField("reason", "REASON_REQUIRED", "say why the contract is cancelled")
	}
	if c.Status != ContractStatusDraft && !c.Status.Live() {
		return ContractChange{}, c.wrongStatus("cancelled", "expired or cancelled contracts are not cancelled")
	}
	if effective.IsZero() {
		effective = today
		if effective.Before(c.Start) {
			effective = c.Start
		}
	}
	t, live := c.Term()
	var vs apperr.Violations
	switch {
	case !effective.Valid():
		vs.Add("effective_date", "INVALID_DATE", "%s is not a calendar date", effective)
	case effective.Before(c.Start):
		vs.Add("effective_date", "END_BEFORE_START", "the contract starts on %s; it cannot end before that (%s)", c.Start, effective)
	case live && !c.Evergreen && effective.After(t.End):
		vs.Add("effective_date", "EFFECTIVE_DATE_AFTER_TERM", "the current term ends on %s: give notice to end it then", t.End)
	}
	if err := vs.Err(); err != nil {
		return ContractChange{}, err
	}
	ch := ContractChange{
		Events: []Event{ContractCancelled{Reason: reason, Effective: effective}},
		Timers: cancelTimers(TimerRenewalDue, TimerTermEnd),
		Rebill: live,
	}
	if live {
		t.Outcome, t.EndedAt = TermCancelled, now
		ch.DropMovementsAfter = effective
		// What was recurring on the day before the end leaves MRR then;
		// planned amendments after it never happen.
		if before := effective.AddDays(-1); !before.Before(c.Start) {
			ch.Movements = []Movement{{Kind: MovementChurn, Effective: effective, Delta: new(big.Rat).Neg(c.Monthly(c.rateAt(before).Amount))}}
		} else {
			ch.Movements = []Movement{{Kind: MovementChurn, Effective: effective, Delta: new(big.Rat).Neg(c.Monthly(c.Rates[0].Amount))}}
		}
		var kept []RateChange
		for _, r := range c.Rates {
			if r.From.Before(effective) || len(kept) == 0 {
				kept = append(kept, r)
			}
		}
		c.Rates = kept
	}
	c.Status, c.CancelReason, c.CancelEffective = ContractStatusCancelled, reason, effective
	c.touch(actor, now)
	return ch, nil
}

// ScheduleInput is the contract's billing: from its start through the
// current term's end (or the cancellation), an evergreen one through
// horizon.
func (c *Contract) ScheduleInput(horizon Date) ScheduleInput {
	in := ScheduleInput{Currency: c.Currency, Start: c.Start, AnchorDay: c.AnchorDay, Interval: c.Interval, Horizon: horizon}
	switch t, ok := c.Term(); {
	case c.Status == ContractStatusCancelled && !c.CancelEffective.IsZero():
		in.End = c.CancelEffective
	case ok && !c.Evergreen:
		in.End = t.End
	case !ok && !c.Evergreen:
		in.End = TermEnd(c.Start, c.TermMonths)
	}
	for _, r := range c.Rates {
		in.Rates = append(in.Rates, Rate{From: r.From, Amount: money.Rat(r.Amount)})
	}
	return in
}

// TermOf is the number of the term a date falls in (the last term for
// dates after it).
func (c *Contract) TermOf(d Date) int {
	n := 1
	for _, t := range c.Terms {
		if !d.Before(t.Start) {
			n = t.Number
		}
	}
	return n
}

// ErrContractNotFound is returned for a contract that does not exist.
func ErrContractNotFound(id uuid.UUID) error {
	return apperr.NotFound("CONTRACT_NOT_FOUND", "contract %s not found", id)
}
