package e2e

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/crmsuite/crm/gateway/restclient"
	"github.com/crmsuite/crm/platform/testkit"
)

// client is the Go REST client generated from the served OpenAPI document
// (gateway/restclient), calling as user with roles.
func (s *stack) client(t *testing.T, user string, roles ...string) *restclient.ClientWithResponses {
	t.Helper()
	bearer := testkit.Bearer(user, roles...)
	c, err := restclient.NewClientWithResponses(s.base, restclient.WithHTTPClient(s.http),
		restclient.WithRequestEditorFn(func(_ context.Context, r *http.Request) error {
			r.Header.Set("Authorization", bearer)
			return nil
		}))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func ptr[T any](v T) *T { return &v }

// fieldViolations reads the google.rpc.BadRequest details of an error
// body through the generated types.
func fieldViolations(t *testing.T, st *restclient.GoogleRpcStatus) []string {
	t.Helper()
	var fields []string
	for _, d := range *st.Details {
		anyDetail, err := d.AsGoogleProtobufAny()
		if err != nil || anyDetail.Type != "type.googleapis.com/google.rpc.BadRequest" {
			continue
		}
		br, err := d.AsGoogleRpcBadRequest()
		if err != nil {
			t.Fatal(err)
		}
		for _, fv := range *br.FieldViolations {
			fields = append(fields, *fv.Field)
		}
	}
	return fields
}

// The Go client that oapi-codegen generates from the document works
// against the suite: the document's paths, parameters and schemas are
// what the gateway takes and answers.
func TestGoClientGeneratedFromTheOpenAPIDocument(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	ctx := t.Context()
	c := s.client(t, "alice", "sales")

	created, err := c.LeadServiceCreateLeadWithResponse(ctx, nil, restclient.CrmLeadV1Lead{
		FirstName: ptr("Ada"), LastName: ptr("Lovelace"), Company: ptr("Analytical Engines"),
		Email: ptr("ada@example.com"), Rating: ptr(restclient.RATINGWARM),
	})
	if err != nil || created.JSON200 == nil {
		t.Fatalf("create: %v %d %s", err, created.StatusCode(), created.Body)
	}
	name := *created.JSON200.Name
	id, ok := strings.CutPrefix(name, "leads/")
	if !ok || *created.JSON200.Status != restclient.STATUSNEW || *created.JSON200.Owner != "alice" {
		t.Fatalf("created = %s", created.Body)
	}

	got, err := c.LeadServiceGetLeadWithResponse(ctx, id)
	if err != nil || got.JSON200 == nil || *got.JSON200.Email != "ada@example.com" {
		t.Fatalf("get: %v %s", err, got.Body)
	}

	// Update with the etag; the same etag again is stale: 409 ABORTED.
	etag := *created.JSON200.Etag
	updated, err := c.LeadServiceUpdateLeadWithResponse(ctx, id, nil, restclient.CrmLeadV1Lead{
		Etag: &etag, Rating: ptr(restclient.RATINGHOT), Status: ptr(restclient.STATUSCONTACTED),
	})
	if err != nil || updated.JSON200 == nil || *updated.JSON200.Rating != restclient.RATINGHOT || *updated.JSON200.Etag == etag {
		t.Fatalf("update: %v %d %s", err, updated.StatusCode(), updated.Body)
	}
	stale, err := c.LeadServiceUpdateLeadWithResponse(ctx, id, nil, restclient.CrmLeadV1Lead{Etag: &etag, Title: ptr("Countess")})
	if err != nil || stale.JSON409 == nil || stale.JSON409.Code != 10 {
		t.Fatalf("stale etag: %v %d %s", err, stale.StatusCode(), stale.Body)
	}

	// Qualify into a new account with an opportunity, then read the
	// conversion as the other services complete it.
	qualified, err := c.LeadServiceQualifyLeadWithResponse(ctx, id, restclient.LeadServiceQualifyLeadJSONRequestBody{
		Etag:        updated.JSON200.Etag,
		NewAccount:  &restclient.CrmLeadV1NewAccount{CurrencyCode: ptr("GBP")},
		Opportunity: &restclient.CrmLeadV1NewOpportunity{Amount: &restclient.GoogleTypeMoney{CurrencyCode: ptr("GBP"), Units: ptr("25000")}},
	})
	if err != nil || qualified.JSON200 == nil || *qualified.JSON200.Status != restclient.STATUSQUALIFIED || qualified.JSON200.Conversion == nil {
		t.Fatalf("qualify: %v %d %s", err, qualified.StatusCode(), qualified.Body)
	}
	var conv *restclient.CrmLeadV1Conversion
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		r, err := c.LeadServiceGetLeadWithResponse(ctx, id)
		if err != nil || r.JSON200 == nil {
			t.Fatalf("get: %v %s", err, r.Body)
		}
		conv = r.JSON200.Conversion
		if *conv.State == restclient.CONVERSIONSTATECOMPLETE {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("conversion not complete: %s", r.Body)
		}
	}
	account, err := c.AccountServiceGetAccountWithResponse(ctx, strings.TrimPrefix(*conv.Account, "accounts/"))
	if err != nil || account.JSON200 == nil || account.JSON200.DisplayName != "Analytical Engines" {
		t.Fatalf("converted account: %v %s", err, account.Body)
	}
	opp, err := c.OpportunityServiceGetOpportunityWithResponse(ctx, strings.TrimPrefix(*conv.Opportunity, "opportunities/"))
	if err != nil || opp.JSON200 == nil || *opp.JSON200.Amount.Units != "25000" {
		t.Fatalf("converted opportunity: %v %s", err, opp.Body)
	}

	// Bad input: 400 with field violations, in the documented shape.
	bad, err := c.LeadServiceCreateLeadWithResponse(ctx, nil, restclient.CrmLeadV1Lead{Company: ptr("X"), Email: ptr("not an email")})
	if err != nil || bad.JSON400 == nil || bad.JSON400.Code != 3 || !slices.Contains(fieldViolations(t, bad.JSON400), "lead.email") {
		t.Fatalf("bad email: %v %d %s", err, bad.StatusCode(), bad.Body)
	}
	malformed, err := c.LeadServiceGetLeadWithResponse(ctx, "not-a-uuid")
	if err != nil || malformed.JSON400 == nil || !slices.Contains(fieldViolations(t, malformed.JSON400), "name") {
		t.Fatalf("malformed lead id: %v %d %s", err, malformed.StatusCode(), malformed.Body)
	}
	// (A salesperson is told 403 for a lead that is not theirs, existing
	// or not; an admin learns it does not exist.)
	missing, err := s.client(t, "root", "admin").LeadServiceGetLeadWithResponse(ctx, "00000000-0000-4000-8000-000000000000")
	if err != nil || missing.JSON404 == nil || missing.JSON404.Code != 5 {
		t.Fatalf("missing lead: %v %d %s", err, missing.StatusCode(), missing.Body)
	}
}
