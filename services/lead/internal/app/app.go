// Package app holds the lead use cases: it loads leads through the
// Repository, lets the domain decide, and hands the changed lead and its
// events back to be saved atomically.
package app

import (
	"context"
	"github.com/crmsuite/crm/platform/recordmerge"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"

	"github.com/crmsuite/crm/platform/apperr"
	"github.com/crmsuite/crm/platform/audit"
	"github.com/crmsuite/crm/platform/auth"
	"github.com/crmsuite/crm/platform/authz"
	"github.com/crmsuite/crm/platform/etag"
	"github.com/crmsuite/crm/platform/processgate"
	"github.com/crmsuite/crm/services/lead/internal/domain"
)

// Change is what a use case asks the repository to save with a lead.
type Change struct {
	Events []domain.Event
	// Delete removes the lead (after its events are recorded).
	Delete bool
	// RequestID of the request that caused the change, for the events.
	RequestID string
	// AllowDuplicate saves the lead even if another one shares a duplicate
	// key with it.
	AllowDuplicate bool
	// Audit is an entry written with the change besides the lead's own
	// (a process gate passed with steps missing).
	Audit *audit.Entry
}

// ListQuery is a page request for ListLeads.
type ListQuery struct {
	// Owner restricts the list to the leads of one owner ("" all); the
	// caller's own filter cannot widen it.
	Owner     string
	Filter    string
	OrderBy   string
	PageSize  int
	PageToken string
}

// Repository stores leads and their events.
type Repository interface {
	// Repoint moves converted leads' back-links to merged accounts or
	// contacts to the survivor, in the caller's transaction.
	Repoint(ctx context.Context, m recordmerge.Merge) (int, error)
	// Create inserts a new lead and its events.
	Create(ctx context.Context, l *domain.Lead, ch Change) error
	Get(ctx context.Context, id uuid.UUID) (*domain.Lead, error)
	List(ctx context.Context, q ListQuery) (leads []*domain.Lead, nextPageToken string, err error)
	// Mutate locks the lead, lets fn change it, and saves the lead with the
	// change fn returns, all in one transaction. A change without events
	// writes nothing. Unknown ids are domain.ErrNotFound.
	Mutate(ctx context.Context, id uuid.UUID, fn func(l *domain.Lead) (Change, error)) (*domain.Lead, error)
	// FindDuplicates returns the leads sharing a duplicate key with id,
	// oldest first.
	FindDuplicates(ctx context.Context, id uuid.UUID) ([]Duplicate, error)
	ListDuplicateGroups(ctx context.Context, rule domain.DuplicateRule, pageSize int, pageToken string) ([]DuplicateGroup, string, error)
	// Merge loads the primary and the duplicates (locked, in id order,
	// unless dryRun), lets fn merge them, and saves the leads and the
	// events in one transaction; a dry run saves nothing. Unknown ids are
	// NotFound.
	Merge(ctx context.Context, primary uuid.UUID, duplicates []uuid.UUID, dryRun bool,
		fn func(primary *domain.Lead, duplicates []*domain.Lead) (Change, error)) (*domain.Lead, []*domain.Lead, error)
	Statistics(ctx context.Context, q StatisticsQuery) (Statistics, error)
	// ExportActivities writes, in one transaction, a LeadActivityLogged
	// event for each of up to limit of the activities the lead service
	// kept, those after `after` in id order not exported yet (or every one,
	// when all), and notes them exported. Each event carries the lead the
	// activity belongs to now (the lead its own was merged into, if it
	// was) and has an id derived from the activity's. It returns how many
	// it wrote and the last activity id of the page, uuid.Nil when none
	// was left.
	ExportActivities(ctx context.Context, after uuid.UUID, limit int, all bool) (int, uuid.UUID, error)
	// ListAudit pages through the audit trail.
	ListAudit(ctx context.Context, q audit.Query) ([]audit.Entry, string, error)
}

// StatisticsQuery selects the leads statistics count: created in [From, To),
// of Owner (all when empty).
type StatisticsQuery struct {
	From, To time.Time
	Owner    string
}

// Statistics about leads; keys are the domain's enum values ("" for none).
type Statistics struct {
	From, To                                                    time.Time
	Total                                                       int64
	ByStatus, BySource, ByCampaign, ByOwner                     []Count
	ConversionBySource, ConversionByCampaign, ConversionByOwner []ConversionRate
	MedianDaysToQualify                                         float64
	DisqualificationReasons                                     []Count
	// Lifecycle is the MQL -> SQL -> qualified funnel of all the leads
	// counted; the others split it by source, campaign and owner.
	Lifecycle                                                LifecycleFunnel
	LifecycleBySource, LifecycleByCampaign, LifecycleByOwner []LifecycleFunnel
	// ByProduct counts the leads interested in each product, most wanted
	// first; ConversionByProduct is their conversion, in the same order.
	ByProduct           []Count
	ConversionByProduct []ConversionRate
}

// LifecycleFunnel is how many leads with Key reached MQL (or went past
// it), SQL, and, of those at SQL, were converted.
type LifecycleFunnel struct {
	Key                 string
	MQL, SQL, Qualified int64
}

// MQLToSQL is SQL/MQL, 0 when no MQL.
func (f LifecycleFunnel) MQLToSQL() float64 { return ratio(f.SQL, f.MQL) }

// SQLToQualified is Qualified/SQL, 0 when no SQL.
func (f LifecycleFunnel) SQLToQualified() float64 { return ratio(f.Qualified, f.SQL) }

func ratio(a, b int64) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// Count is how many leads have Key.
type Count struct {
	Key   string
	Count int64
}

// ConversionRate is how many leads with Key were qualified, of those
// closed (qualified or disqualified).
type ConversionRate struct {
	Key               string
	Qualified, Closed int64
}

// Rate is Qualified/Closed, 0 when nothing closed.
func (c ConversionRate) Rate() float64 {
	if c.Closed == 0 {
		return 0
	}
	return float64(c.Qualified) / float64(c.Closed)
}

// MergeResult is what a merge did, or would do.
type MergeResult struct {
	Lead    *domain.Lead
	Merged  []*domain.Lead
	Changed []string
}

// Duplicate is a lead that looks like another, and why.
type Duplicate struct {
	Lead  *domain.Lead
	Rules []domain.DuplicateRule
}

// DuplicateGroup is the leads sharing one duplicate key, oldest first.
type DuplicateGroup struct {
	Rule  domain.DuplicateRule
	Key   string
	Leads []uuid.UUID
}

// Service is the lead use cases.
type Service struct {
	repo       Repository
	customers  Customers
	gate       processgate.Checker
	snapshot   func(*domain.Lead) proto.Message
	stuck      StuckConversions
	stuckAfter time.Duration
	// running reports whether the installation runs a module (nil: all).
	running      func(module string) bool
	directory    Directory
	customerKeys CustomerKeys
	now          func() time.Time
}

// New returns the use cases over repo.
func New(repo Repository) *Service {
	return &Service{repo: repo, now: func() time.Time {
		// Postgres keeps microseconds; so do we, so that what a call
		// returns equals what a later read returns.
		return time.Now().UTC().Truncate(time.Microsecond)
	}}
}

// CreateLead creates a lead owned by the caller unless it names an owner.
// A lead that looks like an existing one is refused unless allowDuplicate.
// A salesperson creates leads it owns only.
func (s *Service) CreateLead(ctx context.Context, in domain.Lead, requestID string, allowDuplicate bool) (*domain.Lead, error) {
	if in.Owner != "" {
		if err := authz.ScopeOf(ctx).CheckOwner(in.Owner); err != nil {
			return nil, err
		}
	}
	l, evs, err := domain.New(in, auth.Actor(ctx), s.now())
	if err != nil {
		return nil, err
	}
	if err := s.repo.Create(ctx, l, Change{Events: evs, RequestID: requestID, AllowDuplicate: allowDuplicate}); err != nil {
		return nil, err
	}
	return l, nil
}

// GetLead returns a lead the caller may read: a salesperson reads the
// leads it owns.
func (s *Service) GetLead(ctx context.Context, id uuid.UUID) (*domain.Lead, error) {
	scope := authz.ScopeOf(ctx)
	l, err := s.repo.Get(ctx, id)
	if err != nil {
		return nil, scope.Hide(err)
	}
	if err := scope.CheckOwner(l.Owner); err != nil {
		return nil, err
	}
	return l, nil
}

// ListLeads lists the leads the caller may read.
func (s *Service) ListLeads(ctx context.Context, q ListQuery) ([]*domain.Lead, string, error) {
	owner, err := authz.ScopeOf(ctx).OwnerFilter("")
	if err != nil {
		return nil, "", err
	}
	q.Owner = owner
	return s.repo.List(ctx, q)
}

// change runs fn on the locked lead if the caller may change it: a
// salesperson changes the leads it owns; others' are PermissionDenied and
// stay as they are.
func (s *Service) change(ctx context.Context, id uuid.UUID, fn func(l *domain.Lead) (Change, error)) (*domain.Lead, error) {
	scope := authz.ScopeOf(ctx)
	l, err := s.repo.Mutate(ctx, id, func(l *domain.Lead) (Change, error) {
		if err := scope.CheckOwner(l.Owner); err != nil {
			return Change{}, err
		}
		return fn(l)
	})
	return l, scope.Hide(err)
}

// UpdateLead sets the fields in mask; with a non-empty etag only if the
// lead is unchanged since it was read. A change that makes the lead look
// like another one is refused unless allowDuplicate.
func (s *Service) UpdateLead(ctx context.Context, id uuid.UUID, patch domain.Lead, mask []domain.Field, ifMatch string, allowDuplicate bool, ov Override) (*domain.Lead, error) {
	gate, err := s.checkProcess(ctx, id, statusIn(patch, mask), ov, "")
	if err != nil {
		return nil, err
	}
	return s.change(ctx, id, func(l *domain.Lead) (Change, error) {
		if err := etag.Check(ifMatch, l.Version); err != nil {
			return Change{}, err
		}
		was := l.Lifecycle.Stage
		evs, err := l.Update(patch, mask, auth.Actor(ctx), s.now())
		if err == nil {
			err = checkStageMove(ctx, l.ID, was, l.Lifecycle.Stage)
		}
		return Change{Events: evs, AllowDuplicate: allowDuplicate, Audit: gate}, err
	})
}

// checkStageMove lets only managers and admins (and the workflow
// service's rules, which admins configure) move a lead's lifecycle stage
// back: SQL to MQL undoes sales' acceptance, clearing it marketing's. The
// lead's audit trail records the move with the rest of the change.
func checkStageMove(ctx context.Context, id uuid.UUID, from, to domain.LifecycleStage) error {
	if !from.Backwards(to) || authz.ScopeOf(ctx).All {
		return nil
	}
	toName := string(to)
	if toName == "" {
		toName = "no stage"
	}
	return apperr.PermissionDenied("LIFECYCLE_STAGE_BACKWARDS",
		"lead %s is %s: only a manager or an admin may move its lifecycle stage back to %s", id, from, toName).
		WithMeta("lifecycle_stage", string(from)).WithMeta("requested_lifecycle_stage", toName)
}

// MergeLeads folds duplicates into primary (see domain.Lead.Merge); with
// dryRun it only reports what would happen.
func (s *Service) MergeLeads(ctx context.Context, primary uuid.UUID, duplicates []uuid.UUID, sources map[domain.Field]uuid.UUID, ifMatch, requestID string, dryRun bool) (MergeResult, error) {
	var res MergeResult
	lead, merged, err := s.repo.Merge(ctx, primary, duplicates, dryRun, func(p *domain.Lead, dups []*domain.Lead) (Change, error) {
		if err := etag.Check(ifMatch, p.Version); err != nil {
			return Change{}, err
		}
		evs, err := p.Merge(dups, sources, auth.Actor(ctx), s.now())
		if err != nil {
			return Change{}, err
		}
		res.Changed = evs[0].(domain.Merged).Changed
		return Change{Events: evs, RequestID: requestID}, nil
	})
	if err != nil {
		return MergeResult{}, err
	}
	res.Lead, res.Merged = lead, merged
	return res, nil
}

// LeadStatistics counts leads created in a range; a zero To means now.
func (s *Service) LeadStatistics(ctx context.Context, q StatisticsQuery) (Statistics, error) {
	if q.To.IsZero() {
		q.To = s.now().Add(time.Microsecond)
	}
	owner, err := authz.ScopeOf(ctx).OwnerFilter(q.Owner)
	if err != nil {
		return Statistics{}, err
	}
	q.Owner = owner
	if !q.From.Before(q.To) {
		return Statistics{}, apperr.InvalidField("start_time", "EMPTY_RANGE", "start_time must be before end_time")
	}
	return s.repo.Statistics(ctx, q)
}

// FindDuplicates lists the leads that look like the given one.
func (s *Service) FindDuplicates(ctx context.Context, id uuid.UUID) ([]Duplicate, error) {
	return s.repo.FindDuplicates(ctx, id)
}

// ListDuplicateGroups pages through groups of leads sharing a duplicate
// key; rule "" means every rule.
func (s *Service) ListDuplicateGroups(ctx context.Context, rule domain.DuplicateRule, pageSize int, pageToken string) ([]DuplicateGroup, string, error) {
	return s.repo.ListDuplicateGroups(ctx, rule, pageSize, pageToken)
}

// AssignLead hands a lead to owner, who must be an active user of the
// directory (checkAssignee).
func (s *Service) AssignLead(ctx context.Context, id uuid.UUID, owner, ifMatch, requestID string) (*domain.Lead, error) {
	if err := s.checkAssignee(ctx, owner); err != nil {
		return nil, err
	}
	return s.mutate(ctx, id, ifMatch, requestID, nil, func(l *domain.Lead) ([]domain.Event, error) {
		return l.Assign(owner, auth.Actor(ctx), s.now())
	})
}

func (s *Service) DisqualifyLead(ctx context.Context, id uuid.UUID, reason domain.DisqualificationReason, note, ifMatch, requestID string, ov Override) (*domain.Lead, error) {
	gate, err := s.checkProcess(ctx, id, func(*domain.Lead) domain.Status { return domain.StatusDisqualified }, ov, requestID)
	if err != nil {
		return nil, err
	}
	return s.mutate(ctx, id, ifMatch, requestID, gate, func(l *domain.Lead) ([]domain.Event, error) {
		return l.Disqualify(reason, note, auth.Actor(ctx), s.now())
	})
}

func (s *Service) ReactivateLead(ctx context.Context, id uuid.UUID, ifMatch, requestID string, ov Override) (*domain.Lead, error) {
	gate, err := s.checkProcess(ctx, id, reactivatedTo, ov, requestID)
	if err != nil {
		return nil, err
	}
	return s.mutate(ctx, id, ifMatch, requestID, gate, func(l *domain.Lead) ([]domain.Event, error) {
		return l.Reactivate(auth.Actor(ctx), s.now())
	})
}

// DeleteLead removes a lead; LeadDeleted carries its last state.
func (s *Service) DeleteLead(ctx context.Context, id uuid.UUID, ifMatch string) error {
	_, err := s.change(ctx, id, func(l *domain.Lead) (Change, error) {
		if err := etag.Check(ifMatch, l.Version); err != nil {
			return Change{}, err
		}
		if err := l.CheckDelete(); err != nil {
			return Change{}, err
		}
		return Change{Events: []domain.Event{domain.Deleted{}}, Delete: true}, nil
	})
	return err
}

func (s *Service) mutate(ctx context.Context, id uuid.UUID, ifMatch, requestID string, gate *audit.Entry, fn func(l *domain.Lead) ([]domain.Event, error)) (*domain.Lead, error) {
	return s.change(ctx, id, func(l *domain.Lead) (Change, error) {
		if err := etag.Check(ifMatch, l.Version); err != nil {
			return Change{}, err
		}
		evs, err := fn(l)
		return Change{Events: evs, RequestID: requestID, Audit: gate}, err
	})
}

// ListAuditEntries lists the audit trail of lead id, or of every lead when
// q.All(); the caller's access is audit.Authorize's, through GetLead.
//
// Web forms' trails (collection "webForms"), like the forms, are admins'.
func (s *Service) ListAuditEntries(ctx context.Context, collection string, id uuid.UUID, q audit.Query) ([]audit.Entry, string, error) {
	if collection == "webForms" {
		if !authz.ScopeOf(ctx).Admin() {
			return nil, "", authz.Denied()
		}
		return s.repo.ListAudit(ctx, q)
	}
	err := audit.Authorize(ctx, q, func(ctx context.Context) error {
		_, err := s.GetLead(ctx, id)
		return err
	})
	if err != nil {
		return nil, "", err
	}
	return s.repo.ListAudit(ctx, q)
}

// RecordsMerged re-points the conversions into merged accounts or
// contacts at the survivor (AccountsMerged, ContactsMerged), in the
// inbox's transaction. Applying it twice changes nothing more.
func (s *Service) RecordsMerged(ctx context.Context, m recordmerge.Merge) error {
	_, err := s.repo.Repoint(ctx, m)
	return err
}
