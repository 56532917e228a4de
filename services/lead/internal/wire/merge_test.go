package wire_test

import (
	"slices"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	eventsv1 "github.com/crmsuite/crm/gen/go/crm/events/v1"
	leadv1 "github.com/crmsuite/crm/gen/go/crm/lead/v1"
	"github.com/crmsuite/crm/platform/testkit"
)

func TestMergeLeadsDryRunThenForReal(t *testing.T) {
	t.Parallel()
	s := start(t)
	ctx := testkit.As("alice")
	mk := func(l *leadv1.Lead) *leadv1.Lead {
		t.Helper()
		got, err := s.client.CreateLead(ctx, &leadv1.CreateLeadRequest{Lead: l, AllowDuplicate: true})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	primary := mk(&leadv1.Lead{FirstName: "Ada", Company: "Analytical Engines", Phone: "+49 30 1234567"})
	d1 := mk(&leadv1.Lead{LastName: "Lovelace", Email: "ada@example.com", CustomFields: map[string]string{"tier": "gold"}})
	d2 := mk(&leadv1.Lead{FirstName: "Augusta", Company: "AE", Title: "Countess", CustomFields: map[string]string{"tier": "silver", "region": "eu"}})

	req := &leadv1.MergeLeadsRequest{
		Primary: primary.Name, Duplicates: []string{d1.Name, d2.Name},
		FieldSources: map[string]string{"first_name": d2.Name},
		DryRun:       true,
	}
	dry, err := s.client.MergeLeads(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	l := dry.Lead
	if l.Name != primary.Name || l.FirstName != "Augusta" || l.LastName != "Lovelace" || l.Company != "Analytical Engines" ||
		l.Email != "ada@example.com" || l.Title != "Countess" || l.Phone != primary.Phone ||
		l.CustomFields["tier"] != "gold" || l.CustomFields["region"] != "eu" || !dry.DryRun {
		t.Fatalf("dry run = %v", dry)
	}
	if len(dry.MergedLeads) != 2 || dry.MergedLeads[0].Status != leadv1.Status_STATUS_MERGED || dry.MergedLeads[0].MergedInto != primary.Name {
		t.Fatalf("dry run merged leads = %v", dry.MergedLeads)
	}
	// A dry run changes nothing.
	for _, before := range []*leadv1.Lead{primary, d1, d2} {
		after, err := s.client.GetLead(ctx, &leadv1.GetLeadRequest{Name: before.Name})
		if err != nil || !proto.Equal(after, before) {
			t.Fatalf("dry run changed %s: %v", before.Name, after)
		}
	}

	req.DryRun = false
	req.Etag = primary.Etag
	req.RequestId = "5d0c7d3e-6a43-4a8e-9d2f-0c9b8e7a6f51"
	done, err := s.client.MergeLeads(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	// Activities are the workflow service's: it moves them when it sees
	// LeadsMerged, so the lead service moves none.
	if !proto.Equal(withoutVolatile(done.Lead), withoutVolatile(dry.Lead)) || done.DryRun || done.MovedActivities != 0 {
		t.Fatalf("merge differs from its dry run:\n%v\n%v", done.Lead, dry.Lead)
	}
	again, err := s.client.MergeLeads(ctx, req)
	if err != nil || !proto.Equal(again, done) {
		t.Fatalf("retried merge = %v, %v", again, err)
	}
	got, _ := s.client.GetLead(ctx, &leadv1.GetLeadRequest{Name: primary.Name})
	if !proto.Equal(got, done.Lead) {
		t.Fatalf("stored primary %v\nreturned %v", got, done.Lead)
	}
	merged, _ := s.client.GetLead(ctx, &leadv1.GetLeadRequest{Name: d1.Name})
	if merged.Status != leadv1.Status_STATUS_MERGED || merged.MergedInto != primary.Name {
		t.Fatalf("duplicate after merge = %v", merged)
	}
	// Merged leads are kept read-only.
	_, err = s.client.UpdateLead(ctx, &leadv1.UpdateLeadRequest{Lead: &leadv1.Lead{Name: d1.Name, Title: "x"},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"title"}}})
	if reason, _ := testkit.RequireCode(t, err, codes.FailedPrecondition); reason != "LEAD_MERGED" {
		t.Fatalf("update of a merged lead: %s", reason)
	}
	// They no longer count as duplicates: the email now belongs to the
	// primary alone.
	found, err := s.client.FindDuplicates(ctx, &leadv1.FindDuplicatesRequest{Name: primary.Name})
	if err != nil || len(found.Matches) != 0 {
		t.Fatalf("duplicates after merge = %v, %v", found, err)
	}

	evs := s.published(t, 4) // 3 created, 1 merge
	var lm *eventsv1.LeadsMerged
	for _, e := range evs {
		if m, ok := e.(*eventsv1.LeadsMerged); ok {
			if lm != nil {
				t.Fatal("two LeadsMerged events for one merge")
			}
			lm = m
		}
	}
	if lm == nil || lm.Lead.GetName() != primary.Name || len(lm.MergedLeadIds) != 2 || lm.MovedActivities != 0 ||
		!slices.Contains(lm.ChangedFields, "email") {
		t.Fatalf("LeadsMerged = %v", lm)
	}
}

func TestMergeRefusals(t *testing.T) {
	t.Parallel()
	s := start(t)
	ctx := testkit.As("alice")
	var leads []*leadv1.Lead
	for _, name := range []string{"A", "B", "C"} {
		l, err := s.client.CreateLead(ctx, &leadv1.CreateLeadRequest{Lead: &leadv1.Lead{LastName: name}})
		if err != nil {
			t.Fatal(err)
		}
		leads = append(leads, l)
	}
	a, b, c := leads[0].Name, leads[1].Name, leads[2].Name
	merge := func(primary string, dups []string, sources map[string]string) error {
		_, err := s.client.MergeLeads(ctx, &leadv1.MergeLeadsRequest{Primary: primary, Duplicates: dups, FieldSources: sources})
		return err
	}
	if _, fields := testkit.RequireCode(t, merge(a, []string{b, a}, nil), codes.InvalidArgument); !slices.Contains(fields, "duplicates") {
		t.Fatalf("primary among duplicates: %v", fields)
	}
	if _, fields := testkit.RequireCode(t, merge(a, []string{b}, map[string]string{"status": b}), codes.InvalidArgument); !slices.Contains(fields, "field_sources[status]") {
		t.Fatalf("unmergeable field: %v", fields)
	}
	if _, fields := testkit.RequireCode(t, merge(a, []string{b}, map[string]string{"email": c}), codes.InvalidArgument); !slices.Contains(fields, "field_sources[email]") {
		t.Fatalf("source outside the merge: %v", fields)
	}
	testkit.RequireCode(t, merge(a, []string{"leads/00000000-0000-7000-8000-000000000000"}, nil), codes.NotFound)
	testkit.RequireCode(t, merge(a, nil, nil), codes.InvalidArgument)
	if err := merge(a, []string{b}, nil); err != nil {
		t.Fatal(err)
	}
	// Merging across an already merged lead, either way round, is refused.
	for _, try := range [][2]string{{c, b}, {b, c}} {
		if reason, _ := testkit.RequireCode(t, merge(try[0], []string{try[1]}, nil), codes.FailedPrecondition); reason != "LEAD_ALREADY_MERGED" {
			t.Fatalf("merge %s <- %s: %s", try[0], try[1], reason)
		}
	}
}

// withoutVolatile drops what a real run sets differently from its dry run.
func withoutVolatile(l *leadv1.Lead) *leadv1.Lead {
	c := proto.Clone(l).(*leadv1.Lead)
	c.UpdateTime, c.Etag = nil, ""
	return c
}
