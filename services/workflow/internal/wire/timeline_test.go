package wire_test

import (
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	leadv1 "github.com/crmsuite/crm/gen/go/crm/lead/v1"
	workflowv1 "github.com/crmsuite/crm/gen/go/crm/workflow/v1"
	"github.com/crmsuite/crm/platform/testkit"
)

// After a conversion, the account's timeline and the contact's activities
// show the lead's earlier calls; access follows the regarding record.
func TestTimelineAfterConversionShowsTheLeadsCalls(t *testing.T) {
	t.Parallel()
	s := start(t, "lead", "account", "opportunity")
	l := s.lead(t, "sam", &leadv1.Lead{FirstName: "Grace", LastName: "Hopper", Company: "Navy"})
	var calls []string
	for i, at := range []time.Duration{-72 * time.Hour, -48 * time.Hour} {
		a, err := s.wf.CreateActivity(sam, &workflowv1.CreateActivityRequest{Parent: l.Name, Activity: &workflowv1.Activity{
			Type: workflowv1.ActivityType_ACTIVITY_TYPE_CALL, Subject: []string{"first call", "second call"}[i],
			OccurTime: timestamppb.New(time.Now().Add(at))}})
		if err != nil {
			t.Fatal(err)
		}
		calls = append(calls, a.Name)
	}
	// Sue may not read sam's lead, nor its activities.
	_, err := s.wf.ListActivities(sue, &workflowv1.ListActivitiesRequest{Parent: l.Name})
	testkit.RequireDenied(t, "sue lists sam's lead's activities", err)
	_, err = s.wf.GetActivity(sue, &workflowv1.GetActivityRequest{Name: calls[0]})
	testkit.RequireDenied(t, "sue reads an activity on sam's lead", err)
	_, err = s.wf.CreateActivity(sue, &workflowv1.CreateActivityRequest{Parent: l.Name, Activity: &workflowv1.Activity{Type: workflowv1.ActivityType_ACTIVITY_TYPE_NOTE}})
	testkit.RequireDenied(t, "sue logs on sam's lead", err)
	// A record that does not exist.
	_, err = s.wf.CreateActivity(admin, &workflowv1.CreateActivityRequest{Parent: "leads/0192f5a0-0000-7000-8000-00000000dead",
		Activity: &workflowv1.Activity{Type: workflowv1.ActivityType_ACTIVITY_TYPE_NOTE}})
	if reason, _ := testkit.RequireCode(t, err, codes.FailedPrecondition); reason != "RECORD_NOT_FOUND" {
		t.Fatalf("an activity on a lead that does not exist: %s", reason)
	}
	_, err = s.wf.CreateActivity(sam, &workflowv1.CreateActivityRequest{Parent: "leads/0192f5a0-0000-7000-8000-00000000dead",
		Activity: &workflowv1.Activity{Type: workflowv1.ActivityType_ACTIVITY_TYPE_NOTE}})
	testkit.RequireDenied(t, "a salesperson's activity on a lead that does not exist", err)

	q, err := s.leads.QualifyLead(sam, &leadv1.QualifyLeadRequest{Name: l.Name,
		AccountTarget: &leadv1.QualifyLeadRequest_NewAccount{NewAccount: &leadv1.NewAccount{CurrencyCode: "EUR"}}})
	if err != nil {
		t.Fatal(err)
	}
	account, contact := q.Conversion.Account, q.Conversion.Contact
	testkit.Eventually(t, 30*time.Second, func() bool {
		tl, err := s.wf.ListActivities(sam, &workflowv1.ListActivitiesRequest{Parent: account})
		return err == nil && len(tl.Activities) == 2
	}, "the lead's calls on the account's timeline")
	tl, _ := s.wf.ListActivities(manager, &workflowv1.ListActivitiesRequest{Parent: account})
	if !equal(names(tl.Activities), []string{calls[1], calls[0]}) || tl.Activities[0].Account != account {
		t.Fatalf("timeline %v, want the lead's calls newest first", tl.Activities)
	}
	s.known(t, contact)
	cl, err := s.wf.ListActivities(sam, &workflowv1.ListActivitiesRequest{Parent: contact})
	if err != nil || !equal(names(cl.Activities), []string{calls[1], calls[0]}) {
		t.Fatalf("the contact's activities %v, %v: want the lead's calls", cl, err)
	}
	// A call on the new contact joins the timeline; paging is keyset.
	if _, err := s.wf.CreateActivity(sam, &workflowv1.CreateActivityRequest{Parent: contact, Activity: &workflowv1.Activity{
		Type: workflowv1.ActivityType_ACTIVITY_TYPE_CALL, Subject: "welcome call"}}); err != nil {
		t.Fatal(err)
	}
	page, err := s.wf.ListActivities(sam, &workflowv1.ListActivitiesRequest{Parent: account, PageSize: 2})
	if err != nil || len(page.Activities) != 2 || page.NextPageToken == "" {
		t.Fatalf("first page: %v, %v", page, err)
	}
	rest, err := s.wf.ListActivities(sam, &workflowv1.ListActivitiesRequest{Parent: account, PageSize: 2, PageToken: page.NextPageToken})
	if err != nil || !equal(names(rest.Activities), []string{calls[0]}) || rest.NextPageToken != "" {
		t.Fatalf("second page: %v, %v", rest, err)
	}
	// A filter by owner and record.
	own, err := s.wf.ListActivities(manager, &workflowv1.ListActivitiesRequest{Parent: account, Filter: `owner = "sam" AND regarding = "` + l.Name + `"`})
	if err != nil || len(own.Activities) != 2 {
		t.Fatalf("filtered timeline: %v, %v", own, err)
	}
}
