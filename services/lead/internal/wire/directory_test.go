package wire_test

import (
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"

	eventsv1 "github.com/crmsuite/crm/gen/go/crm/events/v1"
	leadv1 "github.com/crmsuite/crm/gen/go/crm/lead/v1"
	workflowv1 "github.com/crmsuite/crm/gen/go/crm/workflow/v1"
	"github.com/crmsuite/crm/platform/testkit"
)

// AssignLead accepts any owner while the workflow service keeps no
// directory; once it does (UserChanged events, consumer lead-directory),
// only active users: an inactive, deleted or unknown one is
// FAILED_PRECONDITION OWNER_NOT_ACTIVE_USER. An older UserChanged than the
// one applied changes nothing.
func TestAssignLeadAcceptsOnlyActiveDirectoryUsers(t *testing.T) {
	t.Parallel()
	s := start(t)
	wf := s.serviceStream(t, "workflow")
	mia := testkit.As("mia", "manager")
	l := s.create(t, &leadv1.Lead{LastName: "Lovelace", Company: "Engines"})
	assign := func(owner string) error {
		_, err := s.client.AssignLead(mia, &leadv1.AssignLeadRequest{Name: l.Name, Owner: owner})
		return err
	}
	if err := assign("ghost"); err != nil {
		t.Fatalf("no directory yet: assigning to anyone is as before, got %v", err)
	}

	user := func(id string, version int64, active, deleted bool) {
		t.Helper()
		ev := &eventsv1.UserChanged{Meta: meta(time.Now()), UserId: id, Version: version, Deleted: deleted,
			User: &workflowv1.User{Name: "users/" + id, DisplayName: id, Active: active}}
		wf.publish(t, ev)
		testkit.Eventually(t, 20*time.Second, func() bool { return s.applied(t, "lead-directory", ev.Meta.EventId) }, "UserChanged %s v%d taken", id, version)
	}
	user("sam", 1, true, false)
	user("ina", 1, false, false)
	user("gone", 1, true, false)
	user("gone", 2, true, true)
	for _, owner := range []string{"ina", "gone", "ghost"} {
		reason, _ := testkit.RequireCode(t, assign(owner), codes.FailedPrecondition)
		if reason != "OWNER_NOT_ACTIVE_USER" {
			t.Fatalf("assign to %s: reason %s", owner, reason)
		}
	}
	if err := assign("sam"); err != nil {
		t.Fatalf("assign to an active user: %v", err)
	}
	// Out of order: sam's deactivation (v3) applies, then an older
	// version (v2, active) arrives and is ignored.
	user("sam", 3, false, false)
	user("sam", 2, true, false)
	reason, _ := testkit.RequireCode(t, assign("sam"), codes.FailedPrecondition)
	if reason != "OWNER_NOT_ACTIVE_USER" {
		t.Fatalf("assign to a deactivated user: %s", reason)
	}
	user("ina", 2, true, false)
	if err := assign("ina"); err != nil {
		t.Fatalf("assign to a reactivated user: %v", err)
	}
}

// Whether a new lead's owner was named or defaulted is on its creation
// event: CreateLead without an owner and web-form leads are defaulted,
// CreateLead naming one is not; an import lists the defaulted rows' leads.
func TestCreationEventsSayWhetherTheOwnerWasDefaulted(t *testing.T) {
	t.Parallel()
	s := start(t)
	s.create(t, &leadv1.Lead{LastName: "Defaulted", Company: "One"})
	_, err := s.client.CreateLead(testkit.As("mia", "manager"), &leadv1.CreateLeadRequest{Lead: &leadv1.Lead{LastName: "Named", Company: "Two", Owner: "sue"}})
	if err != nil {
		t.Fatal(err)
	}
	form, key := s.newForm(t, &leadv1.WebForm{DisplayName: "Contact us", DefaultOwner: "sue"})
	if _, err := s.forms().SubmitWebForm(visitor, &leadv1.SubmitWebFormRequest{Name: form.Name, Key: key, LastName: "Visitor", Company: "Three"}); err != nil {
		t.Fatal(err)
	}
	run := runImport(t, s, &leadv1.ImportOptions{DisplayName: "x.csv", DefaultOwner: "sue"},
		[]*leadv1.ImportRow{{Line: 1, Lead: &leadv1.Lead{LastName: "Row", Company: "Four"}}, {Line: 2, Lead: &leadv1.Lead{LastName: "Row", Company: "Five", Owner: "sam"}}})
	if run.job.GetCounts().GetCreated() != 2 {
		t.Fatalf("import: %v", run.job)
	}
	defaulted := map[string]bool{}
	var imported *eventsv1.LeadsImported
	for _, e := range s.published(t, 4) {
		switch ev := e.(type) {
		case *eventsv1.LeadCreated:
			defaulted[ev.Lead.GetLastName()] = ev.OwnerDefaulted
		case *eventsv1.LeadsImported:
			imported = ev
		}
	}
	if !defaulted["Defaulted"] || defaulted["Named"] || !defaulted["Visitor"] {
		t.Fatalf("LeadCreated owner_defaulted by lead: %v", defaulted)
	}
	if imported == nil || len(imported.Leads) != 2 || len(imported.OwnerDefaultedLeadIds) != 1 {
		t.Fatalf("LeadsImported: %v", imported)
	}
	for _, l := range imported.Leads {
		if want := l.Company == "Four"; (imported.OwnerDefaultedLeadIds[0] == id(l.Name)) != want {
			t.Fatalf("lead %s (%s) listed as defaulted: %v", l.Name, l.Company, !want)
		}
	}
	if _, err := uuid.Parse(imported.OwnerDefaultedLeadIds[0]); err != nil {
		t.Fatal(err)
	}
}
