package wire_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"testing"
	"time"

	leadv1 "github.com/crmsuite/crm/gen/go/crm/lead/v1"
	"github.com/crmsuite/crm/platform/testkit"
	"github.com/crmsuite/crm/services/lead/internal/wire"
)

// importRun sends options and rows (messages of rows) and collects what
// comes back.
type importRun struct {
	progress   []*leadv1.ImportProgress
	rejections []*leadv1.ImportRejection
	job        *leadv1.ImportJob
}

func runImport(t *testing.T, s *suite, opts *leadv1.ImportOptions, messages ...[]*leadv1.ImportRow) importRun {
	t.Helper()
	return runImportAs(t, s, testkit.As("importer"), opts, messages...)
}

func runImportAs(t *testing.T, s *suite, ctx context.Context, opts *leadv1.ImportOptions, messages ...[]*leadv1.ImportRow) importRun {
	t.Helper()
	stream, err := s.client.ImportLeads(ctx)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan importRun, 1)
	errc := make(chan error, 1)
	go func() {
		var r importRun
		for {
			resp, err := stream.Recv()
			if errors.Is(err, io.EOF) {
				done <- r
				return
			}
			if err != nil {
				errc <- err
				return
			}
			if p := resp.GetProgress(); p != nil {
				r.progress = append(r.progress, p)
				r.rejections = append(r.rejections, p.Rejections...)
			}
			if j := resp.GetJob(); j != nil {
				r.job = j
			}
		}
	}()
	if err := stream.Send(&leadv1.ImportLeadsRequest{Kind: &leadv1.ImportLeadsRequest_Options{Options: opts}}); err != nil {
		t.Fatal(err)
	}
	for _, rows := range messages {
		if err := stream.Send(&leadv1.ImportLeadsRequest{Kind: &leadv1.ImportLeadsRequest_Rows{Rows: &leadv1.ImportRows{Rows: rows}}}); err != nil {
			break // the server ended the import (limit); its answer says why
		}
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-done:
		if r.job == nil {
			t.Fatal("import ended without a job")
		}
		return r
	case err := <-errc:
		t.Fatalf("import: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("import did not finish")
	}
	return importRun{}
}

func rows(leads ...*leadv1.Lead) []*leadv1.ImportRow {
	out := make([]*leadv1.ImportRow, len(leads))
	for i, l := range leads {
		out[i] = &leadv1.ImportRow{Lead: l}
	}
	return out
}

func countLeads(t *testing.T, s *suite, filter string) int {
	t.Helper()
	n, token := 0, ""
	for {
		resp, err := s.client.ListLeads(testkit.As("x"), &leadv1.ListLeadsRequest{Filter: filter, PageSize: 500, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		n += len(resp.Leads)
		if token = resp.NextPageToken; token == "" {
			return n
		}
	}
}

func TestImportReportsEveryRejectedRowAndImportsTheRest(t *testing.T) {
	t.Parallel()
	s := start(t, options{wire: []wire.Option{wire.WithImportLimits(4, 1000)}})
	existing, err := s.client.CreateLead(testkit.As("alice"), &leadv1.CreateLeadRequest{Lead: &leadv1.Lead{LastName: "Existing", Email: "taken@example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	r := runImport(t, s, &leadv1.ImportOptions{DisplayName: "expo.csv", DefaultOwner: "bob"},
		rows(
			&leadv1.Lead{FirstName: "Ann", Company: "Acme", Email: "ann@acme.example"}, // line 1
			&leadv1.Lead{Email: "nobody@example.com"},                                  // 2: no name or company
			&leadv1.Lead{LastName: "Bad", Email: "not-an-email"},                       // 3: invalid email
		),
		rows(
			&leadv1.Lead{LastName: "Dup", Email: "TAKEN@example.com"},                                  // 4: duplicate of an existing lead
			&leadv1.Lead{LastName: "Ann again", Email: "ann@acme.example"},                             // 5: duplicate of line 1 (batch 1, stored)
			&leadv1.Lead{LastName: "Zed", Rating: leadv1.Rating_RATING_HOT, Phone: "+44 20 7946 0018"}, // 6
			&leadv1.Lead{LastName: "Zed too", Phone: "+44 (0)20 7946 0018"},                            // 7: duplicate of line 6 (same batch)
		),
	)
	c := r.job.Counts
	if r.job.State != leadv1.ImportJob_STATE_SUCCEEDED || c.Received != 7 || c.Created != 2 || c.Rejected != 2 || c.Skipped != 3 || c.Updated != 0 {
		t.Fatalf("job = %v\nrejections %v", r.job, r.rejections)
	}
	if len(r.progress) != 2 { // batches of 4: lines 1-4, 5-7
		t.Fatalf("%d progress messages, want 2", len(r.progress))
	}
	got := map[int64]string{}
	for _, rj := range r.rejections {
		got[rj.Line] = rj.Reason
	}
	want := map[int64]string{2: "INVALID_ROW", 3: "INVALID_ROW", 4: "DUPLICATE_SKIPPED", 5: "DUPLICATE_SKIPPED", 7: "DUPLICATE_SKIPPED"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("rejections = %v, want %v", got, want)
	}
	for _, rj := range r.rejections {
		switch rj.Line {
		case 3:
			if !slices.Contains(rj.Fields, "email") {
				t.Fatalf("line 3 rejection = %v", rj)
			}
		case 4:
			if !slices.Equal(rj.Duplicates, []string{existing.Name}) {
				t.Fatalf("line 4 rejection = %v", rj)
			}
		case 5:
			if len(rj.Duplicates) != 1 || rj.Duplicates[0] == existing.Name {
				t.Fatalf("line 5 rejection = %v, want the lead line 1 created", rj)
			}
		case 7:
			if !slices.Equal(rj.Duplicates, []string{"line:6"}) {
				t.Fatalf("line 7 rejection = %v", rj)
			}
		}
	}
	if n := countLeads(t, s, `owner = "bob" AND source = SOURCE_IMPORT`); n != 2 {
		t.Fatalf("%d imported leads owned by bob, want 2", n)
	}
	// The job and its rejections can be read afterwards.
	job, err := s.client.GetImportJob(testkit.As("x"), &leadv1.GetImportJobRequest{Name: r.job.Name})
	if err != nil || job.DisplayName != "expo.csv" || job.Counts.Created != 2 || job.FinishTime == nil {
		t.Fatalf("job = %v, %v", job, err)
	}
	page, err := s.client.ListImportRejections(testkit.As("x"), &leadv1.ListImportRejectionsRequest{Parent: r.job.Name, PageSize: 3})
	if err != nil || len(page.Rejections) != 3 || page.NextPageToken == "" {
		t.Fatalf("rejections page 1 = %v, %v", page, err)
	}
	rest, err := s.client.ListImportRejections(testkit.As("x"), &leadv1.ListImportRejectionsRequest{Parent: r.job.Name, PageSize: 3, PageToken: page.NextPageToken})
	if err != nil || len(rest.Rejections) != 2 || rest.Rejections[1].Line != 7 {
		t.Fatalf("rejections page 2 = %v, %v", rest, err)
	}
	// Imported leads are announced in LeadsImported events (1 create + 2
	// batches that created something).
	if got := testkit.EventTypes(s.published(t, 3)); !slices.Equal(got, []string{"LeadCreated", "LeadsImported", "LeadsImported"}) {
		t.Fatalf("events = %v", got)
	}
}

func TestImportPoliciesAndUpsert(t *testing.T) {
	t.Parallel()
	s := start(t)
	ctx := testkit.As("alice")
	base, err := s.client.CreateLead(ctx, &leadv1.CreateLeadRequest{Lead: &leadv1.Lead{LastName: "Base", Email: "base@example.com", Company: "Base Co"}})
	if err != nil {
		t.Fatal(err)
	}
	// CREATE_ANYWAY: the duplicate is created too.
	r := runImport(t, s, &leadv1.ImportOptions{DuplicatePolicy: leadv1.DuplicatePolicy_DUPLICATE_POLICY_CREATE_ANYWAY},
		rows(&leadv1.Lead{LastName: "Twin", Email: "base@example.com"}))
	if r.job.Counts.Created != 1 {
		t.Fatalf("create anyway: %v", r.job.Counts)
	}
	// ...and listed as a duplicate group.
	groups, err := s.client.ListDuplicateGroups(ctx, &leadv1.ListDuplicateGroupsRequest{})
	if err != nil || len(groups.Groups) != 1 || groups.Groups[0].Key != "base@example.com" || len(groups.Groups[0].Leads) != 2 {
		t.Fatalf("groups after create anyway = %v, %v", groups, err)
	}
	// UPDATE: the row's non-empty fields go onto the lead it duplicates
	// (the oldest), the rest of it stays.
	r = runImport(t, s, &leadv1.ImportOptions{DuplicatePolicy: leadv1.DuplicatePolicy_DUPLICATE_POLICY_UPDATE},
		rows(&leadv1.Lead{LastName: "Base", Company: "Base Co", Title: "CEO", CustomFields: map[string]string{"tier": "gold"}}))
	if r.job.Counts.Updated != 1 || r.job.Counts.Created != 0 {
		t.Fatalf("update policy: %v", r.job.Counts)
	}
	got, _ := s.client.GetLead(ctx, &leadv1.GetLeadRequest{Name: base.Name})
	if got.Title != "CEO" || got.Email != "base@example.com" || got.CustomFields["tier"] != "gold" {
		t.Fatalf("updated lead = %v", got)
	}
	// UPSERT_BY_EMAIL: matching emails update, others are created.
	r = runImport(t, s, &leadv1.ImportOptions{Mode: leadv1.ImportMode_IMPORT_MODE_UPSERT_BY_EMAIL},
		rows(&leadv1.Lead{LastName: "Base", Email: "BASE@example.com", Rating: leadv1.Rating_RATING_HOT},
			&leadv1.Lead{LastName: "Fresh", Email: "fresh@example.com"}))
	if r.job.Counts.Updated != 1 || r.job.Counts.Created != 1 {
		t.Fatalf("upsert: %v", r.job.Counts)
	}
	got, _ = s.client.GetLead(ctx, &leadv1.GetLeadRequest{Name: base.Name})
	if got.Rating != leadv1.Rating_RATING_HOT || got.Title != "CEO" {
		t.Fatalf("upserted lead = %v", got)
	}
}

func TestImportResentWithSameRequestIDCreatesNothingTwice(t *testing.T) {
	t.Parallel()
	s := start(t, options{wire: []wire.Option{wire.WithImportLimits(4, 1000)}})
	var all []*leadv1.Lead
	for i := range 10 {
		all = append(all, &leadv1.Lead{LastName: fmt.Sprintf("Row %d", i), Email: fmt.Sprintf("row%d@example.com", i)})
	}
	opts := &leadv1.ImportOptions{RequestId: "8c1f2b9a-3d4e-4f5a-9b6c-7d8e9f0a1b2c"}

	// First attempt breaks off after the first batch was committed.
	ctx, cancel := context.WithCancel(testkit.As("importer"))
	stream, err := s.client.ImportLeads(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_ = stream.Send(&leadv1.ImportLeadsRequest{Kind: &leadv1.ImportLeadsRequest_Options{Options: opts}})
	_ = stream.Send(&leadv1.ImportLeadsRequest{Kind: &leadv1.ImportLeadsRequest_Rows{Rows: &leadv1.ImportRows{Rows: rows(all[:6]...)}}})
	if resp, err := stream.Recv(); err != nil || resp.GetProgress().GetCounts().GetCreated() != 4 {
		t.Fatalf("first batch: %v, %v", resp, err)
	}
	cancel()
	waitFor(t, func() bool {
		job, err := s.client.GetImportJob(testkit.As("x"), &leadv1.GetImportJobRequest{Name: "importJobs/" + opts.RequestId})
		return err == nil && job.State == leadv1.ImportJob_STATE_FAILED
	})

	// Sent again, whole: the committed rows are recognised.
	r := runImport(t, s, opts, rows(all...))
	if c := r.job.Counts; r.job.State != leadv1.ImportJob_STATE_SUCCEEDED || c.Created != 6 || c.Skipped != 4 {
		t.Fatalf("resumed import = %v", r.job)
	}
	// And once more, after it succeeded: nothing happens.
	r = runImport(t, s, opts, rows(all...))
	if r.job.Counts.Created != 6 || len(r.progress) != 0 {
		t.Fatalf("re-sent finished import = %v, %d progress", r.job, len(r.progress))
	}
	if n := countLeads(t, s, ""); n != 10 {
		t.Fatalf("%d leads, want 10", n)
	}
}

func TestImportStopsAtTheRowLimit(t *testing.T) {
	t.Parallel()
	s := start(t, options{wire: []wire.Option{wire.WithImportLimits(2, 5)}})
	var all []*leadv1.Lead
	for i := range 7 {
		all = append(all, &leadv1.Lead{LastName: fmt.Sprintf("Row %d", i)})
	}
	r := runImport(t, s, &leadv1.ImportOptions{}, rows(all...))
	if r.job.State != leadv1.ImportJob_STATE_FAILED || r.job.Counts.Created != 5 {
		t.Fatalf("job = %v", r.job)
	}
	last := r.rejections[len(r.rejections)-1]
	if last.Reason != "ROW_LIMIT_EXCEEDED" || last.Line != 6 {
		t.Fatalf("last rejection = %v", last)
	}
	if n := countLeads(t, s, ""); n != 5 {
		t.Fatalf("%d leads, want 5", n)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
