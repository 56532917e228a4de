package server

import (
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/grpc-ecosystem/grpc-gateway/v2/utilities"

	leadv1 "github.com/crmsuite/crm/gen/go/crm/lead/v1"
)

// WebFormConfig bounds public web-form submissions
// (POST /v1/webForms/{form}:submit), which carry no token.
type WebFormConfig struct {
	// MaxBodyBytes bounds a submission (WEBFORM_MAX_BODY_BYTES, default
	// 64 KiB); larger ones get 413.
	MaxBodyBytes int64
	// RateLimit applies per form and client address
	// (WEBFORM_RATE_LIMIT_RPS, default 0.1, i.e. 6 a minute;
	// WEBFORM_RATE_LIMIT_BURST, default 5), instead of the API's per-caller
	// limit: a visitor sends a form now and then, a script sends it all the
	// time. TrustedProxies come from the API's RateLimit. RPS 0 disables it.
	RateLimit RateLimitConfig
	// FormRateLimit applies per form, whatever the client address
	// (WEBFORM_FORM_RATE_LIMIT_RPS, default 1, i.e. 60 a minute;
	// WEBFORM_FORM_RATE_LIMIT_BURST, default 30): a looser bound than
	// RateLimit's, against entries spread over many addresses (a botnet).
	// RPS 0 disables it.
	FormRateLimit RateLimitConfig
}

const submitSuffix = ":submit"

func webFormHandler(cfg Config, api http.Handler, mux *runtime.ServeMux, client leadv1.WebFormServiceClient) *webForms {
	wf := cfg.WebForm
	if wf.MaxBodyBytes <= 0 {
		wf.MaxBodyBytes = 64 << 10
	}
	if wf.RateLimit.TrustedProxies == nil {
		wf.RateLimit.TrustedProxies = cfg.RateLimit.TrustedProxies
	}
	return &webForms{
		api: api, mux: mux, client: client, limiter: newRateLimiter(wf.RateLimit), formLimiter: newRateLimiter(wf.FormRateLimit),
		maxBody: wf.MaxBodyBytes, timeout: cfg.UpstreamTimeout,
	}
}

// webForms serves POST and OPTIONS /v1/webForms/{form}: submissions
// (`{form}:submit`) here, every other custom method of a form (`:revoke`)
// by the API like any call.
type webForms struct {
	api     http.Handler
	mux     *runtime.ServeMux
	client  leadv1.WebFormServiceClient
	limiter *rateLimiter
	// formLimiter bounds each form across all client addresses.
	formLimiter *rateLimiter
	maxBody     int64
	timeout     time.Duration
}

func (h *webForms) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id, ok := strings.CutSuffix(r.PathValue("form"), submitSuffix)
	if !ok {
		h.api.ServeHTTP(w, r)
		return
	}
	// Any site may send its visitors' entries: the form's allowed origins
	// are checked by the lead service (the Origin header goes along), and
	// the answer tells nothing worth hiding from a page's script.
	if origin := r.Header.Get("Origin"); origin != "" {
		w.Header().Set("Access-Control-Allow-Origin", origin)
		w.Header().Add("Vary", "Origin")
	}
	if r.Method == http.MethodOptions {
		w.Header().Set("Access-Control-Allow-Methods", "POST")
		w.Header().Set("Access-Control-Allow-Headers", "Content-Type, X-Request-Id")
		w.Header().Set("Access-Control-Max-Age", "600")
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if h.limiter != nil {
		key := "wf:" + id + "\x00" + h.limiter.clientIP(r)
		if wait, ok := h.limiter.allow(key); !ok {
			rateLimitedTotal.WithLabelValues("webform").Inc()
			writeRateLimited(w, wait)
			return
		}
	}
	// Checked after the client's own bucket, so one client over its limit
	// takes nothing from the form's.
	if h.formLimiter != nil {
		if wait, ok := h.formLimiter.allow("form:" + id); !ok {
			rateLimitedTotal.WithLabelValues("webform_all").Inc()
			writeRateLimited(w, wait)
			return
		}
	}
	submit := http.Handler(h.mux)
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct == "application/x-www-form-urlencoded" {
		submit = http.HandlerFunc(h.htmlForm)
	}
	limitBody(h.maxBody, withTimeout(h.timeout, submit)).ServeHTTP(w, r)
}

// htmlForm takes a plain HTML form's post: fields named like the JSON
// request's (or in snake_case; `address.locality`, `custom_fields[key]`),
// others (a submit button's) ignored. The browser is sent on to the form's
// redirect_uri, or shown a short thank-you page.
func (h *webForms) htmlForm(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	_, marshaler := runtime.MarshalerForRequest(h.mux, r)
	fail := func(err error) { runtime.HTTPError(ctx, h.mux, marshaler, w, r, err) }
	if err := r.ParseForm(); err != nil {
		fail(malformedRequest(err.Error()).Err())
		return
	}
	req := &leadv1.SubmitWebFormRequest{}
	if err := runtime.PopulateQueryParameters(req, r.PostForm, utilities.NewDoubleArray(nil)); err != nil {
		fail(malformedRequest(err.Error()).Err())
		return
	}
	// The path names the form, whatever a field called "name" says.
	req.Name = "webForms/" + strings.TrimSuffix(r.PathValue("form"), submitSuffix)
	ctx, err := runtime.AnnotateContext(ctx, h.mux, r, leadv1.WebFormService_SubmitWebForm_FullMethodName,
		runtime.WithHTTPPathPattern("/v1/{name=webForms/*}:submit"))
	if err != nil {
		fail(err)
		return
	}
	resp, err := h.client.SubmitWebForm(ctx, req)
	if err != nil {
		fail(err)
		return
	}
	if resp.GetRedirectUri() != "" {
		http.Redirect(w, r, resp.GetRedirectUri(), http.StatusSeeOther)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte("<!doctype html><meta charset=utf-8><title>Thank you</title><p>Thank you, we have received your message.</p>\n"))
}
