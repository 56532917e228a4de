// Package app holds the opportunity service's use cases: it loads
// pipelines and opportunities through the Repository, checks accounts and
// contacts with the account service, lets the domain decide, and has the
// changes, their stage history and their events saved in one transaction.
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
	"github.com/crmsuite/crm/platform/etag"
	"github.com/crmsuite/crm/platform/processgate"
	"github.com/crmsuite/crm/services/opportunity/internal/domain"
)

// NewRecord is one opportunity of a batch insert, with its change and
// the context of its own cause (the audit trail's actor and method).
type NewRecord struct {
	Opportunity *domain.Opportunity
	Change      Change
	Ctx         func(context.Context) context.Context
}

// Change is what a use case asks the repository to save with a record.
type Change struct {
	Events []domain.Event
	// RequestID of the request (or event) that caused the change.
	RequestID string
}

// ListQuery is a page request of a List method.
type ListQuery struct {
	Filter    string
	OrderBy   string
	PageSize  int
	PageToken string
	// Visible, when set, restricts the list to what a caller who does not
	// read every opportunity may read; its filter cannot widen that.
	Visible *Visibility
}

// Visibility is the opportunities of Owner (if set), and won ones if Won.
type Visibility struct {
	Owner string
	Won   bool
}

// Repository stores pipelines, opportunities, their history and events.
// Methods run in the transaction ctx carries, if any (InTx).
type Repository interface {
	InTx(ctx context.Context, fn func(ctx context.Context) error) error
	// Repoint moves the opportunities' references to merged accounts or
	// contacts to the survivor, in the caller's transaction.
	Repoint(ctx context.Context, m recordmerge.Merge) (int, error)

	// ListAudit pages through the audit trail.
	ListAudit(ctx context.Context, q audit.Query) ([]audit.Entry, string, error)

	InsertPipeline(ctx context.Context, p *domain.Pipeline, requestID string) error
	GetPipeline(ctx context.Context, id uuid.UUID) (*domain.Pipeline, error)
	// LockPipeline reads a pipeline FOR UPDATE: pipeline changes take
	// turns with each other and with opportunity writes.
	LockPipeline(ctx context.Context, id uuid.UUID) (*domain.Pipeline, error)
	// SharePipeline reads a pipeline FOR KEY SHARE: opportunity writes
	// share it, a pipeline change waits for them. uuid.Nil reads the
	// default pipeline.
	SharePipeline(ctx context.Context, id uuid.UUID) (*domain.Pipeline, error)
	// SharePipelineOf shares the pipeline of an opportunity; the
	// opportunity's NotFound when there is none.
	SharePipelineOf(ctx context.Context, opportunityID uuid.UUID) (*domain.Pipeline, error)
	// SavePipeline saves p and a PipelineChanged event carrying moves.
	SavePipeline(ctx context.Context, p *domain.Pipeline, moves map[string]string, requestID string) error
	// UnsetDefault takes the default flag off whichever pipeline other than
	// except has it, raising PipelineChanged for it.
	UnsetDefault(ctx context.Context, except uuid.UUID, actor string, now time.Time) error
	ListPipelines(ctx context.Context, q ListQuery) ([]*domain.Pipeline, string, error)
	// StageCounts counts the opportunities in each of stages of a pipeline.
	StageCounts(ctx context.Context, pipelineID uuid.UUID, stages []string) (map[string]int, error)
	// LockInStage returns the opportunities in a stage, locked.
	LockInStage(ctx context.Context, pipelineID uuid.UUID, stage string) ([]*domain.Opportunity, error)

	// InsertOpportunity inserts o and its events (stage changes into the
	// history); created is false (and nothing is written) when one with
	// o's id exists.
	InsertOpportunity(ctx context.Context, o *domain.Opportunity, ch Change) (created bool, err error)
	// InsertRenewal inserts a renewal opportunity as InsertOpportunity
	// does; created is false (and nothing is written) also when another
	// opportunity renews the same term of the same contract.
	InsertRenewal(ctx context.Context, o *domain.Opportunity, ch Change) (created bool, err error)
	// InsertRenewals inserts several at once, each as InsertRenewal.
	InsertRenewals(ctx context.Context, ns []NewRecord) error
	GetOpportunity(ctx context.Context, id uuid.UUID) (*domain.Opportunity, error)
	LockOpportunity(ctx context.Context, id uuid.UUID) (*domain.Opportunity, error)
	SaveOpportunity(ctx context.Context, o *domain.Opportunity, ch Change) error
	DeleteOpportunity(ctx context.Context, o *domain.Opportunity, ch Change) error
	ListOpportunities(ctx context.Context, q ListQuery) ([]*domain.Opportunity, string, error)
	ListStageChanges(ctx context.Context, id uuid.UUID, pageSize int, pageToken string) ([]domain.StageChange, string, error)

	LossReasons(ctx context.Context) ([]domain.LossReason, error)
	// ReplaceLossReasons upserts rs and retires the reasons not in rs.
	ReplaceLossReasons(ctx context.Context, rs []domain.LossReason) error
	WinReasons(ctx context.Context) ([]domain.WinReason, error)
	// ReplaceWinReasons upserts rs and retires the reasons not in rs.
	ReplaceWinReasons(ctx context.Context, rs []domain.WinReason) error

	Forecast(ctx context.Context, q ForecastQuery) ([]ForecastRow, error)
	Performance(ctx context.Context, q PerformanceQuery) ([]OwnerPerformance, error)

	ExchangeRates
}

// Accounts asks the account service (each call under a deadline). All
// return an apperr NotFound for a record that does not exist and an
// apperr Unavailable when the service does not answer.
type Accounts interface {
	AccountExists(ctx context.Context, id uuid.UUID) error
	// AccountOwner returns the user who owns an account.
	AccountOwner(ctx context.Context, id uuid.UUID) (string, error)
	// ContactAccount returns the account of a contact (uuid.Nil if none).
	ContactAccount(ctx context.Context, id uuid.UUID) (uuid.UUID, error)
	// ContactRoles returns the contact role list.
	ContactRoles(ctx context.Context) ([]domain.ContactRole, error)
}

// Service is the opportunity use cases.
type Service struct {
	repo     Repository
	accounts Accounts
	gate     processgate.Checker
	snapshot func(*domain.Opportunity) proto.Message
	now      func() time.Time
}

// New returns the use cases over repo and the account service.
func New(repo Repository, accounts Accounts) *Service {
	return &Service{repo: repo, accounts: accounts, now: func() time.Time {
		// Postgres keeps microseconds; so do we.
		return time.Now().UTC().Truncate(time.Microsecond)
	}}
}

// ---- pipelines ----

// CreatePipeline creates a pipeline; made the default, it takes over from
// the previous default in the same transaction.
func (s *Service) CreatePipeline(ctx context.Context, in domain.Pipeline, requestID string) (*domain.Pipeline, error) {
	actor, now := auth.Actor(ctx), s.now()
	p, err := domain.NewPipeline(in, actor, now)
	if err != nil {
		return nil, err
	}
	err = s.repo.InTx(ctx, func(ctx context.Context) error {
		if p.Default {
			if err := s.repo.UnsetDefault(ctx, p.ID, actor, now); err != nil {
				return err
			}
		}
		return s.repo.InsertPipeline(ctx, p, requestID)
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

func (s *Service) GetPipeline(ctx context.Context, id uuid.UUID) (*domain.Pipeline, error) {
	return s.repo.GetPipeline(ctx, id)
}

func (s *Service) ListPipelines(ctx context.Context, q ListQuery) ([]*domain.Pipeline, string, error) {
	return s.repo.ListPipelines(ctx, q)
}

// UpdatePipeline changes a pipeline. Opportunities on removed stages move
// as moves says, in the same transaction, each with a stage change.
func (s *Service) UpdatePipeline(ctx context.Context, id uuid.UUID, patch domain.Pipeline, mask []domain.PipelineField, ifMatch string, moves map[string]string) (*domain.Pipeline, error) {
	actor, now := auth.Actor(ctx), s.now()
	var out *domain.Pipeline
	err := s.repo.InTx(ctx, func(ctx context.Context) error {
		p, err := s.repo.LockPipeline(ctx, id)
		if err != nil {
			return err
		}
		if err := etag.Check(ifMatch, p.Version); err != nil {
			return err
		}
		prev := p.Stages
		u, err := p.Update(patch, mask, actor, now)
		if err != nil {
			return err
		}
		out = p
		counts, err := s.repo.StageCounts(ctx, p.ID, u.Removed)
		if err != nil {
			return err
		}
		if err := p.CheckStageMoves(u.Removed, moves, prev, counts); err != nil {
			return err
		}
		if len(u.Changed) == 0 {
			return nil
		}
		if p.Default && !u.WasDefault {
			if err := s.repo.UnsetDefault(ctx, p.ID, actor, now); err != nil {
				return err
			}
		}
		applied := map[string]string{}
		for _, from := range u.Removed {
			to, ok := moves[from]
			if !ok || counts[from] == 0 {
				continue
			}
			applied[from] = to
			st, _ := p.Stage(to)
			os, err := s.repo.LockInStage(ctx, p.ID, from)
			if err != nil {
				return err
			}
			for _, o := range os {
				if err := s.repo.SaveOpportunity(ctx, o, Change{Events: o.MoveTo(st, actor, now)}); err != nil {
					return err
				}
			}
		}
		return s.repo.SavePipeline(ctx, p, applied, "")
	})
	return out, err
}

// ---- loss reasons ----

func (s *Service) LossReasons(ctx context.Context) ([]domain.LossReason, error) {
	return s.repo.LossReasons(ctx)
}

// UpdateLossReasons replaces the offered loss reasons; reasons left out
// are retired, not deleted, so closed opportunities keep theirs.
func (s *Service) UpdateLossReasons(ctx context.Context, rs []domain.LossReason) ([]domain.LossReason, error) {
	rs, err := domain.NormalizeLossReasons(rs)
	if err != nil {
		return nil, err
	}
	var out []domain.LossReason
	err = s.repo.InTx(ctx, func(ctx context.Context) error {
		if err := s.repo.ReplaceLossReasons(ctx, rs); err != nil {
			return err
		}
		out, err = s.repo.LossReasons(ctx)
		return err
	})
	return out, err
}

// ---- win reasons ----

func (s *Service) WinReasons(ctx context.Context) ([]domain.WinReason, error) {
	return s.repo.WinReasons(ctx)
}

// UpdateWinReasons replaces the offered win reasons as UpdateLossReasons
// does the loss reasons.
func (s *Service) UpdateWinReasons(ctx context.Context, rs []domain.WinReason) ([]domain.WinReason, error) {
	rs, err := domain.NormalizeWinReasons(rs)
	if err != nil {
		return nil, err
	}
	var out []domain.WinReason
	err = s.repo.InTx(ctx, func(ctx context.Context) error {
		if err := s.repo.ReplaceWinReasons(ctx, rs); err != nil {
			return err
		}
		out, err = s.repo.WinReasons(ctx)
		return err
	})
	return out, err
}

// offeredReason is the offered (not retired) reason id of list, or a
// field violation on "reason".
func (s *Service) offeredReason(ctx context.Context, list func(context.Context) ([]domain.Reason, error), id, unknown, what, method string) (domain.Reason, error) {
	rs, err := list(ctx)
	if err != nil {
		return domain.Reason{}, err
	}
	for _, r := range rs {
		if r.ID == id && !r.Retired {
			return r, nil
		}
	}
	return domain.Reason{}, apperr.InvalidField("reason", unknown, "%q is not an offered %s (see %s)", id, what, method)
}

// RecordsMerged re-points the opportunities of merged accounts, and their
// merged contacts, at the survivor (AccountsMerged, ContactsMerged), in
// the inbox's transaction. Applying it twice changes nothing more.
func (s *Service) RecordsMerged(ctx context.Context, m recordmerge.Merge) error {
	_, err := s.repo.Repoint(ctx, m)
	return err
}
