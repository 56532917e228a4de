package app

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/google/uuid"

	"github.com/crmsuite/crm/platform/apperr"
	"github.com/crmsuite/crm/platform/auth"
	"github.com/crmsuite/crm/platform/authz"
	"github.com/crmsuite/crm/services/lead/internal/domain"
)

// ImportStore keeps import jobs and applies import batches.
type ImportStore interface {
	// StartImport records a new job, or, for a request id seen before,
	// returns that job: finished as it is, otherwise restarted (its
	// attempt incremented, its counts reset).
	StartImport(ctx context.Context, job *domain.ImportJob) (*domain.ImportJob, error)
	// ImportBatch runs fn in one transaction, which commits only if the
	// job's attempt is still the current one (else ErrImportSuperseded).
	ImportBatch(ctx context.Context, job *domain.ImportJob, fn func(ctx context.Context, tx ImportTx) error) error
	FinishImport(ctx context.Context, job *domain.ImportJob) error
	GetImportJob(ctx context.Context, id uuid.UUID) (*domain.ImportJob, error)
	ListImportRejections(ctx context.Context, id uuid.UUID, pageSize int, pageToken string) ([]domain.ImportRejection, string, error)
}

// ImportTx is what a batch can do inside its transaction.
type ImportTx interface {
	// Existing looks up which row ids are already leads and which leads
	// hold the rows' keys.
	Existing(ids []uuid.UUID, keys []domain.DuplicateKeys) (domain.ExistingLeads, error)
	// LockLeads loads leads for update.
	LockLeads(ids []uuid.UUID) (map[uuid.UUID]*domain.Lead, error)
	// Create inserts leads, with their duplicate keys (those whose id
	// exists are left alone) and reports which it inserted; the store
	// announces them in LeadsImported events.
	Create(leads []*domain.Lead, keys []domain.DuplicateKeys) (inserted []*domain.Lead, err error)
	// Save writes a changed lead and its events.
	Save(l *domain.Lead, events []domain.Event) error
	// Finish records the batch's rejections and counts on the job.
	Finish(counts domain.ImportCounts, rejections []domain.ImportRejection) error
}

// ErrImportSuperseded: the import was started again elsewhere with the
// same request id; this attempt stops.
var ErrImportSuperseded = apperr.Aborted("IMPORT_SUPERSEDED", "the import was restarted with the same request_id; this attempt stopped")

// Importer runs imports.
type Importer struct {
	store       ImportStore
	phoneRegion string
	svc         *Service
}

// NewImporter returns imports over store; phoneRegion as for duplicates.
func NewImporter(store ImportStore, svc *Service, phoneRegion string) *Importer {
	return &Importer{store: store, svc: svc, phoneRegion: phoneRegion}
}

// Start begins (or resumes) an import. A job already finished is returned
// as it is: the caller reports it without importing anything.
func (im *Importer) Start(ctx context.Context, opts domain.ImportOptions) (*domain.ImportJob, error) {
	if opts.Mode == "" {
		opts.Mode = domain.ImportCreateOnly
	}
	if opts.Policy == "" {
		opts.Policy = domain.DuplicatesSkip
	}
	if opts.DefaultSource == "" {
		opts.DefaultSource = domain.SourceImport
	}
	if opts.DefaultOwner == "" {
		opts.DefaultOwner = auth.Actor(ctx)
	}
	if err := authz.ScopeOf(ctx).CheckOwner(opts.DefaultOwner); err != nil {
		return nil, err
	}
	job := &domain.ImportJob{
		ID: uuid.Must(uuid.NewV7()), Options: opts, State: domain.ImportRunning, Attempt: 1,
		CreatedBy: auth.Actor(ctx), CreatedAt: im.svc.now(),
	}
	if opts.RequestID != uuid.Nil {
		job.ID = opts.RequestID
		// A request id is no way into a colleague's job.
		if earlier, err := im.store.GetImportJob(ctx, job.ID); err == nil && !authz.ScopeOf(ctx).Owns(earlier.CreatedBy) {
			return nil, authz.Denied()
		}
	}
	return im.store.StartImport(ctx, job)
}

// Prepare computes a valid row's duplicate keys; call it on every row
// before Batch (it is the costly part of a row, and can run while the
// previous batch commits).
func (im *Importer) Prepare(row *domain.ImportRow) {
	if row.Invalid == nil {
		row.Keys = row.Lead.DuplicateKeys(im.phoneRegion)
	}
}

// Batch imports rows (in order) in one transaction and returns what it
// did with them; the job's counts include them afterwards. A salesperson's
// rows that name another owner, or would update another's lead, are
// rejected.
func (im *Importer) Batch(ctx context.Context, job *domain.ImportJob, rows []domain.ImportRow) (domain.ImportCounts, []domain.ImportRejection, error) {
	actor, now, scope := auth.Actor(ctx), im.svc.now(), authz.ScopeOf(ctx)
	for i, r := range rows {
		if r.Invalid == nil && r.Lead.Owner != "" && !scope.Owns(r.Lead.Owner) {
			rows[i].Invalid = apperr.InvalidField("owner", "OWNER_NOT_ALLOWED", "a salesperson imports leads it owns only")
		}
	}
	var counts domain.ImportCounts
	var rejections []domain.ImportRejection
	err := im.store.ImportBatch(ctx, job, func(ctx context.Context, tx ImportTx) error {
		ids := make([]uuid.UUID, len(rows))
		keys := make([]domain.DuplicateKeys, 0, len(rows))
		for i, r := range rows {
			ids[i] = job.RowID(r.Line)
			if r.Invalid == nil {
				keys = append(keys, r.Keys)
			}
		}
		existing, err := tx.Existing(ids, keys)
		if err != nil {
			return err
		}
		plan := job.PlanImport(rows, existing, actor, now)
		counts, rejections = plan.Counts, plan.Rejections
		inserted, err := tx.Create(plan.Creates, plan.CreateKeys)
		if err != nil {
			return err
		}
		counts.Created += int64(len(inserted))
		counts.Skipped += int64(len(plan.Creates) - len(inserted)) // created meanwhile by an earlier attempt

		if len(plan.Updates) > 0 {
			var targets []uuid.UUID
			for _, u := range plan.Updates {
				targets = append(targets, u.LeadID)
			}
			leads, err := tx.LockLeads(targets)
			if err != nil {
				return err
			}
			for _, u := range plan.Updates {
				l := leads[u.LeadID]
				if l == nil {
					continue // gone since the lookup; the row is skipped
				}
				if !scope.Owns(l.Owner) {
					counts.Rejected++
					rejections = append(rejections, domain.ImportRejection{
						Line: u.Line, Reason: authz.ReasonDenied, Message: "the row would update a lead another salesperson owns",
						Duplicates: []string{"leads/" + l.ID.String()},
					})
					continue
				}
				mask := updateMask(u)
				var err error
				if slices.Contains(mask, domain.FieldLifecycleStage) {
					err = checkStageMove(ctx, l.ID, l.Lifecycle.Stage, u.Patch.Lifecycle.Stage)
				}
				var evs []domain.Event
				if err == nil {
					evs, err = l.Update(u.Patch, mask, actor, now)
				}
				if err != nil {
					var ae *apperr.Error
					if !errors.As(err, &ae) {
						return err
					}
					counts.Rejected++
					rejections = append(rejections, domain.ImportRejection{
						Line: u.Line, Reason: ae.Reason, Message: ae.Error(), Duplicates: []string{"leads/" + l.ID.String()},
					})
					continue
				}
				counts.Updated++
				if len(evs) > 0 {
					if err := tx.Save(l, evs); err != nil {
						return err
					}
				}
			}
		}
		slices.SortFunc(rejections, func(a, b domain.ImportRejection) int { return int(a.Line - b.Line) })
		return tx.Finish(counts, rejections)
	})
	if err != nil {
		return domain.ImportCounts{}, nil, err
	}
	job.Counts = job.Counts.Add(counts)
	return counts, rejections, nil
}

// updateMask is what an import row changes on an existing lead: the fields
// it gave, its custom fields one by one (added, not replaced), never the
// owner (reassigning is AssignLead's).
func updateMask(u domain.ImportUpdate) []domain.Field {
	var mask []domain.Field
	for _, f := range u.Mask {
		switch f {
		case domain.FieldOwner:
		case domain.FieldCustomFields:
			for k := range u.Patch.CustomFields {
				mask = append(mask, domain.Field(string(domain.FieldCustomFields)+"."+k))
			}
		default:
			mask = append(mask, f)
		}
	}
	return mask
}

// Finish ends the job: SUCCEEDED, or FAILED with the reason.
func (im *Importer) Finish(ctx context.Context, job *domain.ImportJob, failure error) error {
	now := im.svc.now()
	job.FinishedAt = &now
	job.State = domain.ImportSucceeded
	if failure != nil {
		job.State, job.Error = domain.ImportFailed, strings.TrimSpace(failure.Error())
	}
	return im.store.FinishImport(ctx, job)
}

// Job returns an import job; a salesperson reads the jobs it started.
func (im *Importer) Job(ctx context.Context, id uuid.UUID) (*domain.ImportJob, error) {
	scope := authz.ScopeOf(ctx)
	job, err := im.store.GetImportJob(ctx, id)
	if err != nil {
		return nil, scope.Hide(err)
	}
	if err := scope.CheckOwner(job.CreatedBy); err != nil {
		return nil, err
	}
	return job, nil
}

// Rejections pages through the rows a job rejected.
func (im *Importer) Rejections(ctx context.Context, id uuid.UUID, pageSize int, pageToken string) ([]domain.ImportRejection, string, error) {
	if _, err := im.Job(ctx, id); err != nil {
		return nil, "", err
	}
	return im.store.ListImportRejections(ctx, id, pageSize, pageToken)
}
