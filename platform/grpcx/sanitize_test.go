package grpcx_test

import (
	"testing"

	leadv1 "github.com/crmsuite/crm/gen/go/crm/lead/v1"
	"github.com/crmsuite/crm/platform/apperr"
	"github.com/crmsuite/crm/platform/grpcx"
)

func TestSanitizeTrimsAndRefusesNilIDs(t *testing.T) {
	req := &leadv1.CreateLeadRequest{Lead: &leadv1.Lead{
		Email: "  ADA@EXAMPLE.COM ", LastName: "\tLovelace\n", Description: "  indented\n",
		Address:      &leadv1.PostalAddress{AddressLines: []string{" 1 Lane "}, PostalCode: " 10115"},
		CustomFields: map[string]string{"k": "  spaced  "},
	}, RequestId: " 0192f5a0-0000-7000-8000-000000000001 "}
	if err := grpcx.Sanitize(req); err != nil {
		t.Fatal(err)
	}
	l := req.GetLead()
	if l.Email != "ADA@EXAMPLE.COM" || l.LastName != "Lovelace" || l.Address.AddressLines[0] != "1 Lane" || l.Address.PostalCode != "10115" ||
		req.RequestId != "0192f5a0-0000-7000-8000-000000000001" {
		t.Fatalf("not trimmed: %v", req)
	}
	if l.Description != "  indented\n" || l.CustomFields["k"] != "  spaced  " {
		t.Fatalf("free text or custom fields changed: %v", req)
	}

	const nilID = "00000000-0000-0000-0000-000000000000"
	q := &leadv1.QualifyLeadRequest{Name: "leads/" + nilID, AccountTarget: &leadv1.QualifyLeadRequest_ExistingAccount{ExistingAccount: " accounts/" + nilID},
		RequestId: nilID}
	err := grpcx.Sanitize(q)
	e, ok := apperr.As(err)
	if !ok || e.Kind != apperr.KindInvalidArgument || len(e.Violations) != 3 {
		t.Fatalf("nil ids: %v", err)
	}
	fields := map[string]string{}
	for _, v := range e.Violations {
		fields[v.Field] = v.Reason
	}
	if fields["name"] != "NIL_ID" || fields["existing_account"] != "NIL_ID" || fields["request_id"] != "NIL_ID" {
		t.Fatalf("violations %v", e.Violations)
	}
	// A filter that mentions the nil id is a filter, matching nothing.
	if err := grpcx.Sanitize(&leadv1.ListLeadsRequest{Filter: `owner = "` + nilID + `"`}); err != nil {
		t.Fatalf("filter: %v", err)
	}
}
