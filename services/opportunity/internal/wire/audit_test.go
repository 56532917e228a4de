package wire_test

import (
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"

	auditv1 "github.com/crmsuite/crm/gen/go/crm/audit/v1"
	opportunityv1 "github.com/crmsuite/crm/gen/go/crm/opportunity/v1"
	"github.com/crmsuite/crm/platform/testkit"
)

func fieldSet(e *auditv1.AuditEntry) map[string]bool {
	out := map[string]bool{}
	for _, c := range e.Changes {
		out[c.Field] = true
	}
	return out
}

// The opportunity comes from a conversion (no account service needed),
// is moved and won by its owner and deleted by an admin.
func TestAuditTrailOfAnOpportunity(t *testing.T) {
	t.Parallel()
	s := start(t)
	oppID, eventID := uuid.NewString(), uuid.NewString()
	name := "opportunities/" + oppID
	s.qualify(t, eventID, conversion(oppID))
	seller, other := testkit.As("seller", "sales"), testkit.As("other", "sales")
	carol, olga := testkit.As("carol", "manager"), testkit.As("olga", "ops")
	var entries []*auditv1.AuditEntry
	testkit.Eventually(t, 20*time.Second, func() bool {
		resp, err := s.client.ListAuditEntries(seller, &opportunityv1.ListAuditEntriesRequest{Parent: name})
		entries = resp.GetAuditEntries()
		return err == nil && len(entries) == 1
	}, "conversion recorded")
	if e := entries[0]; e.Action != auditv1.AuditEntry_ACTION_CREATE || e.Actor != "seller" || e.Method != "event:crm.events.v1.LeadQualified" ||
		e.RequestId != eventID || !fieldSet(e)["amount"] || !fieldSet(e)["stage"] {
		t.Errorf("conversion entry = %v", e)
	}
	if _, err := s.client.MoveOpportunity(seller, &opportunityv1.MoveOpportunityRequest{Name: name, Stage: "proposal"}); err != nil {
		t.Fatal(err)
	}
	// ops reads won opportunities, and so their trails only.
	_, err := s.client.ListAuditEntries(olga, &opportunityv1.ListAuditEntriesRequest{Parent: name})
	testkit.RequireCode(t, err, codes.PermissionDenied)
	if _, err := s.client.WinOpportunity(seller, &opportunityv1.WinOpportunityRequest{Name: name}); err != nil {
		t.Fatal(err)
	}
	resp, err := s.client.ListAuditEntries(seller, &opportunityv1.ListAuditEntriesRequest{Parent: name, PageSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	won, moved := resp.AuditEntries[0], resp.AuditEntries[1]
	if resp.NextPageToken == "" || won.Method != "/crm.opportunity.v1.OpportunityService/WinOpportunity" || !fieldSet(won)["state"] ||
		moved.Method != "/crm.opportunity.v1.OpportunityService/MoveOpportunity" || !fieldSet(moved)["stage"] || fieldSet(moved)["update_time"] {
		t.Errorf("entries = %v", resp.AuditEntries)
	}
	for _, c := range moved.Changes {
		if c.Field == "stage" && (c.OldValue.GetStringValue() != "qualification" || c.NewValue.GetStringValue() != "proposal") {
			t.Errorf("stage change = %v", c)
		}
	}
	resp, err = s.client.ListAuditEntries(seller, &opportunityv1.ListAuditEntriesRequest{Parent: name, PageSize: 2, PageToken: resp.NextPageToken})
	if err != nil || len(resp.AuditEntries) != 1 || resp.NextPageToken != "" || resp.AuditEntries[0].Action != auditv1.AuditEntry_ACTION_CREATE {
		t.Fatalf("second page = %v, %v", resp, err)
	}

	_, err = s.client.ListAuditEntries(other, &opportunityv1.ListAuditEntriesRequest{Parent: name})
	testkit.RequireCode(t, err, codes.PermissionDenied)
	_, err = s.client.ListAuditEntries(olga, &opportunityv1.ListAuditEntriesRequest{Parent: "opportunities/-"})
	testkit.RequireCode(t, err, codes.PermissionDenied)
	if r, err := s.client.ListAuditEntries(olga, &opportunityv1.ListAuditEntriesRequest{Parent: name}); err != nil || len(r.AuditEntries) != 3 {
		t.Errorf("ops: %v, %v", r, err)
	}
	_, err = s.client.ListAuditEntries(carol, &opportunityv1.ListAuditEntriesRequest{Parent: name, Filter: `time > 5`})
	testkit.RequireCode(t, err, codes.InvalidArgument)

	if _, err := s.client.DeleteOpportunity(testkit.As("root", "admin"), &opportunityv1.DeleteOpportunityRequest{Name: name}); err != nil {
		t.Fatal(err)
	}
	r, err := s.client.ListAuditEntries(carol, &opportunityv1.ListAuditEntriesRequest{Parent: "opportunities/-", Filter: `record = "` + name + `"`})
	if err != nil || len(r.AuditEntries) != 4 {
		t.Fatalf("after delete: %v, %v", r, err)
	}
	if del := r.AuditEntries[0]; del.Action != auditv1.AuditEntry_ACTION_DELETE || del.Actor != "root" || !fieldSet(del)["amount"] {
		t.Errorf("delete entry = %v", del)
	}
	// Its owner gets PermissionDenied, as from GetOpportunity.
	_, err = s.client.ListAuditEntries(seller, &opportunityv1.ListAuditEntriesRequest{Parent: name})
	testkit.RequireCode(t, err, codes.PermissionDenied)
}
