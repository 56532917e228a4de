package wire_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	leadv1 "github.com/crmsuite/crm/gen/go/crm/lead/v1"
	"github.com/crmsuite/crm/platform/testkit"
)

// duplicatesOf returns "TYPE subject" for each precondition violation of a
// DUPLICATE_LEAD refusal.
func duplicatesOf(t *testing.T, err error) []string {
	t.Helper()
	if reason, _ := testkit.RequireCode(t, err, codes.FailedPrecondition); reason != "DUPLICATE_LEAD" {
		t.Fatalf("reason %s, want DUPLICATE_LEAD", reason)
	}
	var out []string
	for _, d := range status.Convert(err).Details() {
		if pf, ok := d.(*errdetails.PreconditionFailure); ok {
			for _, v := range pf.Violations {
				out = append(out, v.Type+" "+v.Subject)
			}
		}
	}
	return out
}

func TestDuplicateDetectionOnCreateAndUpdate(t *testing.T) {
	t.Parallel()
	s := start(t)
	ctx := testkit.As("alice")
	create := func(l *leadv1.Lead, allow bool) (*leadv1.Lead, error) {
		return s.client.CreateLead(ctx, &leadv1.CreateLeadRequest{Lead: l, AllowDuplicate: allow})
	}
	ada, err := create(&leadv1.Lead{
		FirstName: "Ada", LastName: "Lovelace", Company: "Analytical Engines",
		Email: "Ada+CRM@Example.com", Phone: "030 1234567", Address: &leadv1.PostalAddress{RegionCode: "DE"},
	}, false)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		lead *leadv1.Lead
		want string
	}{
		{"same email, other case", &leadv1.Lead{LastName: "X", Email: "ADA+crm@example.COM"}, "DUPLICATE_EMAIL " + ada.Name},
		{"same phone, international format", &leadv1.Lead{LastName: "Y", Phone: "+49 (30) 123-4567"}, "DUPLICATE_PHONE " + ada.Name},
		{"same phone, local format in the same country", &leadv1.Lead{LastName: "Y", Phone: "(030) 123 45 67", Address: &leadv1.PostalAddress{RegionCode: "DE"}}, "DUPLICATE_PHONE " + ada.Name},
		{"same company and name, other case and spacing", &leadv1.Lead{FirstName: "ADA", LastName: " lovelace", Company: "analytical   engines"}, "DUPLICATE_COMPANY_AND_NAME " + ada.Name},
	}
	for _, c := range cases {
		_, err := create(c.lead, false)
		if got := duplicatesOf(t, err); !slices.Equal(got, []string{c.want}) {
			t.Fatalf("%s: duplicates %v, want [%s]", c.name, got, c.want)
		}
	}
	// Plus-addressing is part of the address; other people are not duplicates.
	plain, err := create(&leadv1.Lead{LastName: "Plain", Email: "ada@example.com"}, false)
	if err != nil {
		t.Fatalf("ada@example.com refused as duplicate of ada+crm@example.com: %v", err)
	}
	if _, err := create(&leadv1.Lead{FirstName: "Ada", LastName: "Lovelace", Company: "Other Co"}, false); err != nil {
		t.Fatalf("same name at another company refused: %v", err)
	}
	// allow_duplicate saves it anyway, and then both are duplicates.
	twin, err := create(&leadv1.Lead{FirstName: "A.", LastName: "L.", Email: "ADA+crm@example.com", Phone: "+49 30 1234567"}, true)
	if err != nil {
		t.Fatal(err)
	}
	found, err := s.client.FindDuplicates(ctx, &leadv1.FindDuplicatesRequest{Name: ada.Name})
	if err != nil || len(found.Matches) != 1 || found.Matches[0].Lead.Name != twin.Name ||
		!slices.Equal(found.Matches[0].Rules, []leadv1.DuplicateRule{leadv1.DuplicateRule_DUPLICATE_RULE_EMAIL, leadv1.DuplicateRule_DUPLICATE_RULE_PHONE}) {
		t.Fatalf("FindDuplicates = %v, %v", found, err)
	}
	// Update: a change that makes a lead a duplicate is refused...
	upd := func(name string, l *leadv1.Lead, allow bool, paths ...string) error {
		l.Name = name
		_, err := s.client.UpdateLead(ctx, &leadv1.UpdateLeadRequest{Lead: l, AllowDuplicate: allow, UpdateMask: &fieldmaskpb.FieldMask{Paths: paths}})
		return err
	}
	err = upd(plain.Name, &leadv1.Lead{Email: "ada+crm@EXAMPLE.com"}, false, "email")
	if got := duplicatesOf(t, err); len(got) != 2 {
		t.Fatalf("update to a taken email: %v, want both leads with it", got)
	}
	// ...unless allowed; and edits that do not touch a key pass even when
	// the lead already is a duplicate.
	if err := upd(plain.Name, &leadv1.Lead{Email: "ada+crm@EXAMPLE.com"}, true, "email"); err != nil {
		t.Fatal(err)
	}
	if err := upd(plain.Name, &leadv1.Lead{Title: "Countess"}, false, "title"); err != nil {
		t.Fatalf("unrelated edit of an allowed duplicate refused: %v", err)
	}

	// Groups: one per shared key, paged.
	var groups []string
	token := ""
	for {
		resp, err := s.client.ListDuplicateGroups(ctx, &leadv1.ListDuplicateGroupsRequest{PageSize: 1, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range resp.Groups {
			groups = append(groups, fmt.Sprintf("%s %s %d", g.Rule, g.Key, len(g.Leads)))
		}
		if token = resp.NextPageToken; token == "" {
			break
		}
	}
	want := []string{"DUPLICATE_RULE_EMAIL ada+crm@example.com 3", "DUPLICATE_RULE_PHONE +49301234567 2"}
	if !slices.Equal(groups, want) {
		t.Fatalf("groups = %v, want %v", groups, want)
	}
	phones, err := s.client.ListDuplicateGroups(ctx, &leadv1.ListDuplicateGroupsRequest{Rule: leadv1.DuplicateRule_DUPLICATE_RULE_PHONE})
	if err != nil || len(phones.Groups) != 1 || phones.Groups[0].Rule != leadv1.DuplicateRule_DUPLICATE_RULE_PHONE {
		t.Fatalf("phone groups = %v, %v", phones, err)
	}
	// Merging the twin away shrinks the email group and ends the phone one.
	if _, err := s.client.MergeLeads(ctx, &leadv1.MergeLeadsRequest{Primary: ada.Name, Duplicates: []string{twin.Name}}); err != nil {
		t.Fatal(err)
	}
	all, err := s.client.ListDuplicateGroups(ctx, &leadv1.ListDuplicateGroupsRequest{})
	if err != nil || len(all.Groups) != 1 || all.Groups[0].Key != "ada+crm@example.com" || len(all.Groups[0].Leads) != 2 {
		t.Fatalf("groups after merge = %v, %v", all, err)
	}
}

func TestConcurrentCreatesOfOnePersonLetExactlyOneIn(t *testing.T) {
	t.Parallel()
	s := start(t)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var ok, refused int
	for i := range 12 {
		wg.Go(func() {
			_, err := s.client.CreateLead(testkit.As("alice"), &leadv1.CreateLeadRequest{Lead: &leadv1.Lead{
				LastName: fmt.Sprintf("Racer %d", i), Email: "same@example.com",
			}})
			mu.Lock()
			defer mu.Unlock()
			switch status.Code(err) {
			case codes.OK:
				ok++
			case codes.FailedPrecondition:
				refused++
			default:
				t.Errorf("create: %v", err)
			}
		})
	}
	wg.Wait()
	if ok != 1 || refused != 11 {
		t.Fatalf("%d created, %d refused; want 1 and 11", ok, refused)
	}
	// Refused creates left no events behind.
	if evs := s.published(t, 1); len(evs) != 1 {
		t.Fatalf("%d events, want 1", len(evs))
	}
}
