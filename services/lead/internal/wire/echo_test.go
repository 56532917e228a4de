package wire_test

import (
	"slices"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	leadv1 "github.com/crmsuite/crm/gen/go/crm/lead/v1"
	"github.com/crmsuite/crm/platform/testkit"
)

// A PATCH without a mask that echoes a whole lead, output-only fields
// included (as a client that read it sends it back), updates what the
// client changed and ignores the rest (AIP-134, AIP-203): every
// OUTPUT_ONLY field of Lead, read from the proto.
func TestUpdateEchoingOutputOnlyFieldsIgnoresThem(t *testing.T) {
	t.Parallel()
	s := start(t)
	ctx := testkit.As("alice")
	l, err := s.client.CreateLead(ctx, &leadv1.CreateLeadRequest{Lead: &leadv1.Lead{LastName: "Hopper", Company: "Navy"}})
	if err != nil {
		t.Fatal(err)
	}
	echo := l
	echo.Title = "Rear Admiral"
	echo.MergedInto = "leads/01a24e19-0e57-771f-9959-739dff1e29e8"
	echo.QualifyTime = timestamppb.Now()
	echo.Conversion = &leadv1.Conversion{Account: "accounts/01a24e19-0e57-771f-9959-739dff1e29e8"}
	echo.MqlTime = timestamppb.Now()
	got, err := s.client.UpdateLead(ctx, &leadv1.UpdateLeadRequest{Lead: echo})
	if err != nil {
		t.Fatalf("echoed lead refused: %v", err)
	}
	if got.Title != "Rear Admiral" || got.MergedInto != "" || got.QualifyTime != nil || got.Conversion != nil || got.MqlTime != nil {
		t.Fatalf("updated lead = %v", got)
	}
	// The owner echoed unchanged is fine; a new one still goes through
	// AssignLead.
	got.Owner = "bob"
	_, err = s.client.UpdateLead(ctx, &leadv1.UpdateLeadRequest{Lead: got})
	if _, fields := testkit.RequireCode(t, err, codes.InvalidArgument); !slices.Contains(fields, "lead.owner") {
		t.Fatalf("owner change: fields %v", fields)
	}
}
