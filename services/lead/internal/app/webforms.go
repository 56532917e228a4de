package app

import (
	"context"

	"github.com/google/uuid"

	"github.com/crmsuite/crm/platform/apperr"
	"github.com/crmsuite/crm/platform/auth"
	"github.com/crmsuite/crm/services/lead/internal/domain"
)

// WebFormStore stores web forms.
type WebFormStore interface {
	CreateWebForm(ctx context.Context, f *domain.WebForm) error
	// GetWebForm returns a form, revoked or not; unknown ids are NotFound.
	GetWebForm(ctx context.Context, id uuid.UUID) (*domain.WebForm, error)
	ListWebForms(ctx context.Context, showRevoked bool, pageSize int, pageToken string) ([]*domain.WebForm, string, error)
	// MutateWebForm locks the form and saves it if fn reports a change.
	MutateWebForm(ctx context.Context, id uuid.UUID, fn func(f *domain.WebForm) bool) (*domain.WebForm, error)
}

// Reasons of refused submissions.
const (
	ReasonInvalidFormKey   = "INVALID_FORM_KEY"
	ReasonOriginNotAllowed = "ORIGIN_NOT_ALLOWED"
)

// WebForms are the web-form use cases: admins manage forms, visitors'
// entries become leads.
type WebForms struct {
	store WebFormStore
	leads *Service
}

// NewWebForms returns the web-form use cases; entries become leads through
// leads' repository.
func NewWebForms(store WebFormStore, leads *Service) *WebForms {
	return &WebForms{store: store, leads: leads}
}

// Create makes a form and returns it with its key, which exists nowhere
// else afterwards.
func (w *WebForms) Create(ctx context.Context, in domain.WebForm) (*domain.WebForm, string, error) {
	f, key, err := domain.NewWebForm(in, auth.Actor(ctx), w.leads.now())
	if err != nil {
		return nil, "", err
	}
	if err := w.store.CreateWebForm(ctx, f); err != nil {
		return nil, "", err
	}
	return f, key, nil
}

func (w *WebForms) Get(ctx context.Context, id uuid.UUID) (*domain.WebForm, error) {
	return w.store.GetWebForm(ctx, id)
}

func (w *WebForms) List(ctx context.Context, showRevoked bool, pageSize int, pageToken string) ([]*domain.WebForm, string, error) {
	return w.store.ListWebForms(ctx, showRevoked, pageSize, pageToken)
}

// Revoke revokes a form's key; a revoked form is returned as it is.
func (w *WebForms) Revoke(ctx context.Context, id uuid.UUID) (*domain.WebForm, error) {
	actor, now := auth.Actor(ctx), w.leads.now()
	return w.store.MutateWebForm(ctx, id, func(f *domain.WebForm) bool { return f.Revoke(actor, now) })
}

// Authenticate returns the form id names if key is its key, it is not
// revoked and a browser's origin is allowed. An unknown form, a wrong key
// and a revoked key get the same Unauthenticated error, so a caller
// learns nothing about which it was.
func (w *WebForms) Authenticate(ctx context.Context, id uuid.UUID, key, origin string) (*domain.WebForm, error) {
	f, err := w.store.GetWebForm(ctx, id)
	if apperr.IsKind(err, apperr.KindNotFound) {
		return nil, errInvalidFormKey()
	}
	if err != nil {
		return nil, err
	}
	if !f.Accepts(key) {
		return nil, errInvalidFormKey()
	}
	if !f.AllowsOrigin(origin) {
		return nil, apperr.PermissionDenied(ReasonOriginNotAllowed, "this form does not accept submissions from %s", origin)
	}
	return f, nil
}

func errInvalidFormKey() error {
	return apperr.Unauthenticated(ReasonInvalidFormKey, "the web form key is not valid")
}

// EntryLead checks an entry to form f and returns the lead it makes,
// without saving it: bad input is refused alike whether or not the entry
// is then dropped as spam.
func (w *WebForms) EntryLead(f *domain.WebForm, e domain.WebFormEntry) (*domain.Lead, []domain.Event, error) {
	return domain.New(f.Lead(e), f.Actor(), w.leads.now())
}

// Submit saves a lead EntryLead made, acting as the form. It is created
// even if it looks like an existing lead: a visitor is not told about
// other leads, and sales see the duplicate in ListDuplicateGroups.
func (w *WebForms) Submit(ctx context.Context, f *domain.WebForm, l *domain.Lead, evs []domain.Event, requestID string) error {
	ctx = auth.WithPrincipal(ctx, auth.Principal{Subject: f.Actor()})
	return w.leads.repo.Create(ctx, l, Change{Events: evs, RequestID: requestID, AllowDuplicate: true})
}
