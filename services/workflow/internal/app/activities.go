package app

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/crmsuite/crm/platform/apperr"
	"github.com/crmsuite/crm/platform/audit"
	"github.com/crmsuite/crm/platform/auth"
	"github.com/crmsuite/crm/platform/authz"
	"github.com/crmsuite/crm/platform/etag"
	"github.com/crmsuite/crm/platform/modules"
	"github.com/crmsuite/crm/services/workflow/internal/domain"
)

// record returns a record of the suite: from the projection, else (just
// created, its event not here yet) from its owning service.
func (s *Service) record(ctx context.Context, name string) (*domain.Record, error) {
	r, err := s.repo.GetRecord(ctx, name)
	if apperr.IsKind(err, apperr.KindFailedPrecondition) && s.records != nil {
		r, err = s.records.Fetch(ctx, name)
		if apperr.IsKind(err, apperr.KindNotFound) {
			return nil, domain.ErrRecordNotFound(name)
		}
		if err != nil {
			return nil, err
		}
		if _, _, err := s.repo.SaveRecord(ctx, r); err != nil {
			return nil, err
		}
	}
	if err != nil {
		return nil, err
	}
	if r.Deleted {
		return nil, domain.ErrRecordNotFound(name)
	}
	return r, nil
}

// readable returns the record named if the caller may read it:
// PermissionDenied otherwise (also for one that does not exist, for a
// caller who does not read every record). A record of a module the
// installation does not run, and not in the projection, is
// MODULE_DISABLED for everyone: that says nothing about the record.
func (s *Service) readable(ctx context.Context, name string) (*domain.Record, error) {
	rd := readerOf(ctx)
	r, err := s.record(ctx, name)
	if err != nil {
		if _, off := modules.IsDisabled(err); rd != nil && apperr.IsKind(err, apperr.KindFailedPrecondition) && !off {
			return nil, authz.Denied()
		}
		return nil, err
	}
	ok, err := s.mayRead(ctx, rd, r)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, authz.Denied()
	}
	return r, nil
}

// CreateActivity logs or schedules an activity regarding a record the
// caller may read; a salesperson's are its own.
func (s *Service) CreateActivity(ctx context.Context, in domain.Activity, requestID string) (*domain.Activity, error) {
	actor, now := auth.Actor(ctx), s.now()
	if in.Owner != "" {
		if err := authz.ScopeOf(ctx).CheckOwner(in.Owner); err != nil {
			return nil, err
		}
	}
	if err := domain.CheckRecordName("regarding", in.Regarding); err != nil {
		return nil, err
	}
	// The rules first: a bad request costs no lookup.
	if _, _, err := domain.NewActivity(in, uuid.Nil, actor, now); err != nil {
		return nil, err
	}
	var out *domain.Activity
	err := s.repo.InTx(ctx, func(ctx context.Context) error {
		r, err := s.readable(ctx, in.Regarding)
		if err != nil {
			return err
		}
		in.RegardingType, in.RegardingName, in.Account = r.Type, r.DisplayName, r.Account
		a, ch, err := domain.NewActivity(in, uuid.Nil, actor, now)
		if err != nil {
			return err
		}
		out = a
		if err := s.repo.AddUsers(ctx, a.Owner); err != nil {
			return err
		}
		if _, err = s.repo.InsertActivity(ctx, a, ch, requestID); err != nil {
			return err
		}
		return s.slaResponded(ctx, a)
	})
	return out, err
}

// GetActivity returns an activity regarding a record the caller may read.
func (s *Service) GetActivity(ctx context.Context, id uuid.UUID) (*domain.Activity, error) {
	a, err := s.repo.GetActivity(ctx, id)
	if err != nil {
		if readerOf(ctx) != nil {
			return nil, authz.ScopeOf(ctx).Hide(err)
		}
		return nil, err
	}
	if _, err := s.readable(ctx, a.Regarding); err != nil {
		return nil, err
	}
	return a, nil
}

// ListActivities lists a record's activities (an account's: its
// timeline), or all, keeping those regarding records the caller may read.
func (s *Service) ListActivities(ctx context.Context, parent string, q ActivityQuery) ([]*domain.Activity, string, error) {
	if parent != "" {
		r, err := s.readable(ctx, parent)
		if err != nil {
			return nil, "", err
		}
		switch r.Type {
		case domain.RecordAccount:
			q.Account = parent
		case domain.RecordContact:
			q.Contact = parent
		default:
			q.Regarding = parent
		}
	}
	q.Reader = readerOf(ctx)
	return s.repo.ListActivities(ctx, q)
}

// mutate locks an activity, checks the caller may change it (it reads
// the regarding record, and owns the activity unless it changes every
// record) and its etag, and saves what fn changed.
func (s *Service) mutate(ctx context.Context, id uuid.UUID, ifMatch, requestID string, fn func(a *domain.Activity) (domain.Change, error)) (*domain.Activity, error) {
	var out *domain.Activity
	scope := authz.ScopeOf(ctx)
	err := s.repo.InTx(ctx, func(ctx context.Context) error {
		a, err := s.repo.LockActivity(ctx, id)
		if err != nil {
			return err
		}
		if _, err := s.readable(ctx, a.Regarding); err != nil {
			return err
		}
		if err := scope.CheckOwner(a.Owner); err != nil {
			return err
		}
		if err := etag.Check(ifMatch, a.Version); err != nil {
			return err
		}
		before := *a
		ch, err := fn(a)
		if err != nil {
			return err
		}
		out = a
		if len(ch.Events) == 0 {
			return nil
		}
		if err := s.repo.SaveActivity(ctx, &before, a, ch, requestID); err != nil {
			return err
		}
		return s.slaResponded(ctx, a)
	})
	if err != nil && readerOf(ctx) != nil {
		return nil, scope.Hide(err)
	}
	return out, err
}

// UpdateActivity changes an activity's fields; handing it to another
// owner is a manager's call.
func (s *Service) UpdateActivity(ctx context.Context, id uuid.UUID, patch domain.Activity, mask []domain.Field, ifMatch string) (*domain.Activity, error) {
	return s.mutate(ctx, id, ifMatch, "", func(a *domain.Activity) (domain.Change, error) {
		for _, f := range mask {
			if f == domain.FieldOwner && patch.Owner != a.Owner {
				if err := authz.ScopeOf(ctx).CheckOwner(patch.Owner); err != nil {
					return domain.Change{}, err
				}
			}
		}
		return a.Update(patch, mask, auth.Actor(ctx), s.now())
	})
}

func (s *Service) CompleteActivity(ctx context.Context, id uuid.UUID, outcome, ifMatch, requestID string) (*domain.Activity, error) {
	return s.mutate(ctx, id, ifMatch, requestID, func(a *domain.Activity) (domain.Change, error) {
		return a.Complete(outcome, auth.Actor(ctx), s.now())
	})
}

func (s *Service) CancelActivity(ctx context.Context, id uuid.UUID, reason, ifMatch, requestID string) (*domain.Activity, error) {
	return s.mutate(ctx, id, ifMatch, requestID, func(a *domain.Activity) (domain.Change, error) {
		return a.Cancel(reason, auth.Actor(ctx), s.now())
	})
}

func (s *Service) RescheduleActivity(ctx context.Context, id uuid.UUID, due, reminder time.Time, ifMatch, requestID string) (*domain.Activity, error) {
	return s.mutate(ctx, id, ifMatch, requestID, func(a *domain.Activity) (domain.Change, error) {
		return a.Reschedule(due, reminder, auth.Actor(ctx), s.now())
	})
}

// DeleteActivity deletes an activity (managers and admins; the rule
// table says who).
func (s *Service) DeleteActivity(ctx context.Context, id uuid.UUID, ifMatch string) error {
	return s.repo.InTx(ctx, func(ctx context.Context) error {
		a, err := s.repo.LockActivity(ctx, id)
		if err != nil {
			return err
		}
		if err := etag.Check(ifMatch, a.Version); err != nil {
			return err
		}
		a.UpdatedAt, a.UpdatedBy = s.now(), auth.Actor(ctx)
		return s.repo.DeleteActivity(ctx, a, "")
	})
}

// ListTasks lists an owner's open tasks (the caller's own; another's for
// managers and admins) by due time, overdue first.
func (s *Service) ListTasks(ctx context.Context, q TaskQuery) ([]*domain.Activity, string, error) {
	owner, err := authz.ScopeOf(ctx).OwnerFilter(q.Owner)
	switch {
	case err != nil && q.Owner == "":
		// ops and others without own records: their own tasks.
		owner, err = auth.Actor(ctx), nil
	case err != nil:
		return nil, "", err
	case owner == "":
		owner = auth.Actor(ctx)
	}
	q.Owner = owner
	if !q.DueAfter.IsZero() && !q.DueBefore.IsZero() && !q.DueBefore.After(q.DueAfter) {
		return nil, "", apperr.InvalidField("due_before", "END_BEFORE_START", "due_before must be after due_after")
	}
	return s.repo.ListTasks(ctx, q, s.now())
}

// ListAuditEntries lists the audit trail of an activity (or all); a
// record's trail follows its Get.
func (s *Service) ListAuditEntries(ctx context.Context, collection string, id uuid.UUID, q audit.Query) ([]audit.Entry, string, error) {
	err := audit.Authorize(ctx, q, func(ctx context.Context) error {
		if collection == "rules" {
			_, err := s.GetRule(ctx, id)
			return err
		}
		_, err := s.GetActivity(ctx, id)
		return err
	})
	if err != nil {
		return nil, "", err
	}
	return s.repo.ListAudit(ctx, q)
}

// ---- timers ----

// TaskDue fires a task's overdue or reminder timer, in the timer's
// transaction: TaskOverdue or TaskReminderDue once, if the task is still
// open and the timer is for its current due (reminder) time.
func (s *Service) TaskDue(ctx context.Context, purpose string, id uuid.UUID, due time.Time) error {
	return s.repo.InTx(ctx, func(ctx context.Context) error {
		a, err := s.repo.LockActivity(ctx, id)
		if apperr.IsKind(err, apperr.KindNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		at := a.DueAt
		var ev domain.Event = domain.TaskOverdue{}
		if purpose == domain.TimerReminder {
			at, ev = a.ReminderAt, domain.TaskReminderDue{}
		}
		if a.Status != domain.StatusOpen || !at.Equal(due) {
			return nil
		}
		return s.repo.SaveActivity(ctx, nil, a, domain.Change{Events: []domain.Event{ev}}, "")
	})
}
