package wire_test

import (
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	leadv1 "github.com/crmsuite/crm/gen/go/crm/lead/v1"
	"github.com/crmsuite/crm/platform/authz"
	"github.com/crmsuite/crm/platform/testkit"
)

// A salesperson reads, changes, qualifies and reports on its own leads
// only; another's lead answers PermissionDenied (as a missing one does)
// and stays exactly as it was.
func TestSalesReachesOnlyItsOwnLeads(t *testing.T) {
	t.Parallel()
	s := start(t)
	sam, bob := testkit.As("sam", "sales"), testkit.As("bob", "sales")
	mine, err := s.client.CreateLead(sam, &leadv1.CreateLeadRequest{Lead: &leadv1.Lead{LastName: "Own", Company: "Sam Co", Email: "own@sam.example"}})
	if err != nil || mine.Owner != "sam" {
		t.Fatalf("sales creates its own lead: %v, %v", mine, err)
	}
	theirs, err := s.client.CreateLead(bob, &leadv1.CreateLeadRequest{Lead: &leadv1.Lead{LastName: "Other", Company: "Bob Co", Email: "other@bob.example"}})
	if err != nil {
		t.Fatal(err)
	}

	_, err = s.client.CreateLead(sam, &leadv1.CreateLeadRequest{Lead: &leadv1.Lead{LastName: "Gift", Company: "G", Owner: "bob"}})
	testkit.RequireDenied(t, "sales creates a lead for another owner", err)
	_, err = s.client.GetLead(sam, &leadv1.GetLeadRequest{Name: theirs.Name})
	testkit.RequireDenied(t, "sales reads another's lead", err)
	const missing = "leads/00000000-0000-4000-8000-000000000099"
	_, err = s.client.GetLead(sam, &leadv1.GetLeadRequest{Name: missing})
	testkit.RequireDenied(t, "sales reads a missing lead", err)
	_, err = s.client.GetLead(testkit.As("mia", "manager"), &leadv1.GetLeadRequest{Name: missing})
	testkit.RequireCode(t, err, codes.NotFound)

	changes := map[string]func() error{
		"update": func() error {
			_, err := s.client.UpdateLead(sam, &leadv1.UpdateLeadRequest{
				Lead: &leadv1.Lead{Name: theirs.Name, Title: "Mine now"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"title"}},
			})
			return err
		},
		"qualify": func() error {
			_, err := s.client.QualifyLead(sam, &leadv1.QualifyLeadRequest{Name: theirs.Name, AccountTarget: newAccount()})
			return err
		},
		"disqualify": func() error {
			_, err := s.client.DisqualifyLead(sam, &leadv1.DisqualifyLeadRequest{
				Name: theirs.Name, Reason: leadv1.DisqualificationReason_DISQUALIFICATION_REASON_NO_BUDGET,
			})
			return err
		},
		"conversion candidates": func() error {
			_, err := s.client.FindConversionCandidates(sam, &leadv1.FindConversionCandidatesRequest{Name: theirs.Name})
			return err
		},
		"statistics of another owner": func() error {
			_, err := s.client.GetLeadStatistics(sam, &leadv1.GetLeadStatisticsRequest{Owner: "bob"})
			return err
		},
		"find duplicates": func() error {
			_, err := s.client.FindDuplicates(sam, &leadv1.FindDuplicatesRequest{Name: mine.Name})
			return err
		},
		"merge": func() error {
			_, err := s.client.MergeLeads(sam, &leadv1.MergeLeadsRequest{Primary: mine.Name, Duplicates: []string{theirs.Name}})
			return err
		},
	}
	for what, call := range changes {
		testkit.RequireDenied(t, "sales: "+what, call())
	}
	got, err := s.client.GetLead(testkit.As("root"), &leadv1.GetLeadRequest{Name: theirs.Name})
	if err != nil || !proto.Equal(got, theirs) {
		t.Fatalf("another's lead after refused changes = %v, %v; want %v", got, err, theirs)
	}

	// Lists and statistics hold the caller's own leads only, whatever the
	// filter asks for.
	for filter, want := range map[string]int{"": 1, `owner = "bob"`: 0, `owner = "bob" OR owner = "sam"`: 1, `text:"other"`: 0, `text:"own"`: 1} {
		list, err := s.client.ListLeads(sam, &leadv1.ListLeadsRequest{Filter: filter})
		if err != nil || len(list.Leads) != want || want == 1 && list.Leads[0].Name != mine.Name {
			t.Fatalf("sales lists %q: %v, %v; want %d", filter, list, err, want)
		}
	}
	stats, err := s.client.GetLeadStatistics(sam, &leadv1.GetLeadStatisticsRequest{})
	if err != nil || stats.Total != 1 {
		t.Fatalf("sales statistics: %v, %v", stats, err)
	}
	stats, err = s.client.GetLeadStatistics(testkit.As("mia", "manager"), &leadv1.GetLeadStatisticsRequest{})
	if err != nil || stats.Total != 2 {
		t.Fatalf("manager statistics: %v, %v", stats, err)
	}

	// Its own lead a salesperson changes; a manager changes anyone's.
	if _, err := s.client.UpdateLead(sam, &leadv1.UpdateLeadRequest{
		Lead: &leadv1.Lead{Name: mine.Name, Title: "CTO"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"title"}},
	}); err != nil {
		t.Fatalf("sales updates its own lead: %v", err)
	}
	if _, err := s.client.DisqualifyLead(testkit.As("mia", "manager"), &leadv1.DisqualifyLeadRequest{
		Name: theirs.Name, Reason: leadv1.DisqualificationReason_DISQUALIFICATION_REASON_NO_BUDGET,
	}); err != nil {
		t.Fatalf("manager disqualifies another's lead: %v", err)
	}
}

// An import by a salesperson creates leads it owns: rows naming another
// owner, and rows that would update another's lead, are rejected; the rest
// is imported. Its import jobs are its own too.
func TestSalesImportsOnlyItsOwnLeads(t *testing.T) {
	t.Parallel()
	s := start(t)
	sam := testkit.As("sam", "sales")
	theirs, err := s.client.CreateLead(testkit.As("bob", "sales"), &leadv1.CreateLeadRequest{Lead: &leadv1.Lead{LastName: "Other", Email: "other@bob.example"}})
	if err != nil {
		t.Fatal(err)
	}
	r := runImportAs(t, s, sam, &leadv1.ImportOptions{Mode: leadv1.ImportMode_IMPORT_MODE_UPSERT_BY_EMAIL}, rows(
		&leadv1.Lead{LastName: "Fine", Email: "fine@sam.example"},
		&leadv1.Lead{LastName: "Gift", Email: "gift@sam.example", Owner: "bob"},
		&leadv1.Lead{LastName: "Other", Email: "other@bob.example", Title: "Taken over"},
	))
	if c := r.job.Counts; c.Created != 1 || c.Rejected != 2 || c.Updated != 0 {
		t.Fatalf("counts = %v; rejections %v", c, r.rejections)
	}
	reasons := map[int64]string{}
	for _, rej := range r.rejections {
		reasons[rej.Line] = rej.Reason
	}
	if reasons[2] != "INVALID_ROW" || reasons[3] != authz.ReasonDenied {
		t.Fatalf("rejections = %v", r.rejections)
	}
	got, err := s.client.GetLead(testkit.As("root"), &leadv1.GetLeadRequest{Name: theirs.Name})
	if err != nil || !proto.Equal(got, theirs) {
		t.Fatalf("another's lead after the import = %v, %v", got, err)
	}
	if n := countLeads(t, s, `owner = "sam"`); n != 1 {
		t.Fatalf("sam owns %d leads", n)
	}
	// The job is sam's to read, not bob's.
	job := &leadv1.GetImportJobRequest{Name: r.job.Name}
	if _, err := s.client.GetImportJob(sam, job); err != nil {
		t.Fatalf("sam reads its import job: %v", err)
	}
	_, err = s.client.GetImportJob(testkit.As("bob", "sales"), job)
	testkit.RequireCode(t, err, codes.PermissionDenied)

	// Nor may an import name another owner as the default.
	stream, err := s.client.ImportLeads(sam)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&leadv1.ImportLeadsRequest{Kind: &leadv1.ImportLeadsRequest_Options{Options: &leadv1.ImportOptions{DefaultOwner: "bob"}}}); err != nil {
		t.Fatal(err)
	}
	_, err = stream.Recv()
	testkit.RequireCode(t, err, codes.PermissionDenied)
}
