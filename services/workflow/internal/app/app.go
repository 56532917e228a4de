// Package app holds the workflow service's use cases: activities and
// tasks regarding the records it knows from the other services' events,
// timelines and to-do lists, calendars, and rules with their runs.
package app

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/crmsuite/crm/platform/audit"
	"github.com/crmsuite/crm/platform/authz"
	"github.com/crmsuite/crm/services/workflow/internal/domain"
)

// ActivityQuery is a page of activities: of one record, of an account's
// timeline, or of all.
type ActivityQuery struct {
	// Regarding lists one record's activities; Account an account's
	// timeline; Contact a contact's (with the leads converted into it);
	// none, all.
	Regarding string
	Account   string
	Contact   string
	Filter    string
	PageSize  int
	PageToken string
	// Reader, when set, keeps only the activities regarding records that
	// caller may read.
	Reader *Reader
}

// Reader is a caller who does not read every record: a salesperson
// (Owner) reads its own leads, opportunities, orders and contracts (and
// those of accounts it owns) and every account and contact; ops read
// accounts, contacts, orders, contracts and won opportunities.
type Reader struct {
	Owner string
	Ops   bool
}

// TaskQuery is a page of one owner's open tasks by due time.
type TaskQuery struct {
	Owner               string
	DueAfter, DueBefore time.Time
	PageSize            int
	PageToken           string
}

// Repository stores the projection, activities, rules, runs and feeds.
// Methods run in the transaction ctx carries, if any (InTx).
type Repository interface {
	FeedStore
	InTx(ctx context.Context, fn func(ctx context.Context) error) error
	ListAudit(ctx context.Context, q audit.Query) ([]audit.Entry, string, error)

	GetRecord(ctx context.Context, name string) (*domain.Record, error)
	// SaveRecord stores r unless the stored one came from a later event
	// (Seq); saved says whether it did, prev is what was stored (nil: new).
	SaveRecord(ctx context.Context, r *domain.Record) (saved bool, prev *domain.Record, err error)
	// SaveRecords is SaveRecord for each of recs, at once.
	SaveRecords(ctx context.Context, recs []*domain.Record) (saved []bool, prev []*domain.Record, err error)
	// AccountOwner is the owner of an account record ("" if unknown).
	AccountOwner(ctx context.Context, account string) (string, error)
	AddUsers(ctx context.Context, ids ...string) error
	UserExists(ctx context.Context, id string) (bool, error)

	InsertActivity(ctx context.Context, a *domain.Activity, ch domain.Change, requestID string) (created bool, err error)
	GetActivity(ctx context.Context, id uuid.UUID) (*domain.Activity, error)
	LockActivity(ctx context.Context, id uuid.UUID) (*domain.Activity, error)
	// LockOpenTasks locks the open tasks of records with keys, those there
	// are (each pair is a record and a key).
	LockOpenTasks(ctx context.Context, keys [][2]string) ([]*domain.Activity, error)
	// InsertActivities inserts new activities with what goes with them
	// (audit entries, timers, events), in a few round trips.
	InsertActivities(ctx context.Context, as []NewActivity) error
	SaveActivity(ctx context.Context, before, a *domain.Activity, ch domain.Change, requestID string) error
	DeleteActivity(ctx context.Context, a *domain.Activity, requestID string) error
	ListActivities(ctx context.Context, q ActivityQuery) ([]*domain.Activity, string, error)
	ListTasks(ctx context.Context, q TaskQuery, now time.Time) ([]*domain.Activity, string, error)
	// LockActivitiesRegarding locks a record's activities (merges).
	LockActivitiesRegarding(ctx context.Context, regarding string) ([]*domain.Activity, error)
	// SetTimelineAccount puts a record's activities on an account's
	// timeline (a lead converted into it).
	SetTimelineAccount(ctx context.Context, regarding, account string) error
	// MoveTimelines re-points the timelines of merged accounts (or the
	// converted-contact links of merged contacts), by record type, at the
	// survivor: the records' and their activities'.
	MoveTimelines(ctx context.Context, typ domain.RecordType, merged []string, survivor string) error
}

// Records fetches a record the projection does not have yet from its
// owning service (an activity on a record created a moment ago); NotFound
// when it does not exist.
type Records interface {
	Fetch(ctx context.Context, name string) (*domain.Record, error)
}

// Service is the workflow use cases.
type Service struct {
	repo      Repository
	records   Records
	rules     RuleConfig
	processes *ProcessConfig
	slas      slaParts
	directory *DirectoryConfig
	now       func() time.Time
}

// New returns the use cases.
func New(repo Repository, records Records) *Service {
	return &Service{repo: repo, records: records, now: func() time.Time {
		return time.Now().UTC().Truncate(time.Microsecond)
	}}
}

// readerOf is the caller's Reader, nil when it reads every record.
func readerOf(ctx context.Context) *Reader {
	scope := authz.ScopeOf(ctx)
	if scope.All {
		return nil
	}
	return &Reader{Owner: scope.Owner, Ops: scope.Has(authz.Ops)}
}

// mayRead reports whether a reader reads record r.
func (s *Service) mayRead(ctx context.Context, rd *Reader, r *domain.Record) (bool, error) {
	if rd == nil {
		return true, nil
	}
	switch r.Type {
	case domain.RecordAccount, domain.RecordContact:
		return rd.Owner != "" || rd.Ops, nil
	case domain.RecordLead:
		return rd.Owner != "" && r.Owner == rd.Owner, nil
	case domain.RecordOpportunity:
		return rd.Owner != "" && r.Owner == rd.Owner || rd.Ops && r.Status == "WON", nil
	case domain.RecordOrder, domain.RecordContract:
		if rd.Ops || rd.Owner != "" && r.Owner == rd.Owner {
			return true, nil
		}
		if rd.Owner == "" || r.Account == "" {
			return false, nil
		}
		owner, err := s.repo.AccountOwner(ctx, r.Account)
		return owner == rd.Owner, err
	}
	return false, nil
}
