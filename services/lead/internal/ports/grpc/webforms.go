package grpc

import (
	"context"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"google.golang.org/grpc/metadata"

	leadv1 "github.com/crmsuite/crm/gen/go/crm/lead/v1"
	"github.com/crmsuite/crm/platform/apperr"
	"github.com/crmsuite/crm/platform/idempotency"
	"github.com/crmsuite/crm/platform/paging"
	"github.com/crmsuite/crm/platform/resname"
	"github.com/crmsuite/crm/services/lead/internal/app"
	"github.com/crmsuite/crm/services/lead/internal/protomap"
)

// OriginHeader is the metadata carrying a browser's Origin (the gateway
// forwards the HTTP header under this name).
const OriginHeader = "origin"

var webFormSubmissions = promauto.NewCounterVec(prometheus.CounterOpts{
	Name: "crm_lead_web_form_submissions_total",
	Help: "Web-form submissions by outcome: created, honeypot (dropped as spam), refused (bad key or origin), invalid (bad input).",
}, []string{"outcome"})

// WebFormServer implements leadv1.WebFormServiceServer.
type WebFormServer struct {
	leadv1.UnimplementedWebFormServiceServer
	forms     *app.WebForms
	idem      *idempotency.Store
	published func()
	log       *slog.Logger
}

// NewWebForms returns the web-form API; published wakes the outbox relay
// after a submission created a lead.
func NewWebForms(forms *app.WebForms, idem *idempotency.Store, published func(), log *slog.Logger) *WebFormServer {
	return &WebFormServer{forms: forms, idem: idem, published: published, log: log}
}

func (s *WebFormServer) CreateWebForm(ctx context.Context, req *leadv1.CreateWebFormRequest) (*leadv1.CreateWebFormResponse, error) {
	f, key, err := s.forms.Create(ctx, protomap.WebFormFromProto(req.GetWebForm()))
	if err != nil {
		return nil, apperr.PrefixFields(err, "web_form.")
	}
	return &leadv1.CreateWebFormResponse{WebForm: protomap.WebForm(f), Key: key}, nil
}

func (s *WebFormServer) GetWebForm(ctx context.Context, req *leadv1.GetWebFormRequest) (*leadv1.WebForm, error) {
	id, err := resname.ParseField(req.GetName(), "webForms", "name")
	if err != nil {
		return nil, err
	}
	f, err := s.forms.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	return protomap.WebForm(f), nil
}

func (s *WebFormServer) ListWebForms(ctx context.Context, req *leadv1.ListWebFormsRequest) (*leadv1.ListWebFormsResponse, error) {
	forms, next, err := s.forms.List(ctx, req.GetShowRevoked(), paging.Size(req.GetPageSize()), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	resp := &leadv1.ListWebFormsResponse{WebForms: make([]*leadv1.WebForm, len(forms)), NextPageToken: next}
	for i, f := range forms {
		resp.WebForms[i] = protomap.WebForm(f)
	}
	return resp, nil
}

func (s *WebFormServer) RevokeWebForm(ctx context.Context, req *leadv1.RevokeWebFormRequest) (*leadv1.WebForm, error) {
	id, err := resname.ParseField(req.GetName(), "webForms", "name")
	if err != nil {
		return nil, err
	}
	f, err := s.forms.Revoke(ctx, id)
	if err != nil {
		return nil, err
	}
	return protomap.WebForm(f), nil
}

// SubmitWebForm is called without a token (its rule is authz.Public): the
// form's key is checked first, then the entry, then the honeypot, so that
// a filled honeypot gets exactly the answer the same entry would get
// without it.
func (s *WebFormServer) SubmitWebForm(ctx context.Context, req *leadv1.SubmitWebFormRequest) (_ *leadv1.SubmitWebFormResponse, err error) {
	id, err := resname.ParseField(req.GetName(), "webForms", "name")
	if err != nil {
		return nil, err
	}
	origin := ""
	if v := metadata.ValueFromIncomingContext(ctx, OriginHeader); len(v) > 0 {
		origin = v[0]
	}
	f, err := s.forms.Authenticate(ctx, id, req.GetKey(), origin)
	if err != nil {
		if e, ok := apperr.As(err); ok && (e.Kind == apperr.KindUnauthenticated || e.Kind == apperr.KindPermissionDenied) {
			webFormSubmissions.WithLabelValues("refused").Inc()
			s.log.InfoContext(ctx, "web form submission refused", "form", id.String(), "reason", e.Reason, "origin", origin)
		}
		return nil, err
	}
	l, evs, err := s.forms.EntryLead(f, protomap.WebFormEntry(req))
	if err != nil {
		webFormSubmissions.WithLabelValues("invalid").Inc()
		return nil, err
	}
	resp := &leadv1.SubmitWebFormResponse{RedirectUri: f.RedirectURI}
	if req.GetHomepage() != "" {
		webFormSubmissions.WithLabelValues("honeypot").Inc()
		s.log.InfoContext(ctx, "web form submission dropped: honeypot filled", "form", id.String(), "origin", origin)
		return resp, nil
	}
	resp, err = idempotency.Do(ctx, s.idem, req.GetRequestId(), "SubmitWebForm", req, func(ctx context.Context) (*leadv1.SubmitWebFormResponse, error) {
		if err := s.forms.Submit(ctx, f, l, evs, req.GetRequestId()); err != nil {
			return nil, err
		}
		return resp, nil
	})
	if err != nil {
		return nil, err
	}
	webFormSubmissions.WithLabelValues("created").Inc()
	if s.published != nil {
		s.published()
	}
	return resp, nil
}
