package e2e

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	accountv1 "github.com/crmsuite/crm/gen/go/crm/account/v1"
	"github.com/crmsuite/crm/platform/testkit"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
)

// preconditions returns the "type subject" pairs and the descriptions of
// an error reply's google.rpc.PreconditionFailure, and its ErrorInfo
// metadata.
func (r response) preconditions() (violations []string, descriptions string, meta map[string]any) {
	details, _ := r.body["details"].([]any)
	for _, d := range details {
		m, _ := d.(map[string]any)
		switch m["@type"] {
		case "type.googleapis.com/google.rpc.PreconditionFailure":
			vs, _ := m["violations"].([]any)
			for _, v := range vs {
				f, _ := v.(map[string]any)
				violations = append(violations, fmt.Sprint(f["type"], " ", f["subject"]))
				descriptions += fmt.Sprint(f["description"], "\n")
			}
		case "type.googleapis.com/google.rpc.ErrorInfo":
			meta, _ = m["metadata"].(map[string]any)
		}
	}
	return violations, descriptions, meta
}

// A customer made in the account service is known to the lead service
// through its events: a new lead with the contact's email, in other case
// and with spaces around it, is refused naming the contact (and its
// account) and suggesting the conversion into it, which then works; with
// allowDuplicate the lead is saved.
func TestRESTLeadLikeAnExistingContactIsRefusedNamingIt(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	acc := s.do(t, "POST", "/v1/accounts", map[string]any{"displayName": "Analytical Engines", "website": "https://engines.example"}).want(t, 200)
	ada := s.do(t, "POST", "/v1/contacts", map[string]any{"firstName": "Ada", "lastName": "Lovelace", "account": acc.str("name"),
		"emails": []any{map[string]any{"address": "ada@engines.example"}}}).want(t, 200)
	testkit.Eventually(t, 30*time.Second, func() bool {
		return s.query(t, `SELECT count(*)::text FROM lead.customer_keys WHERE rule = 'EMAIL' AND key = 'ada@engines.example'`) == "1"
	}, "the contact's email reached the lead service")

	lead := map[string]any{"firstName": "Ada", "lastName": "L.", "email": "  ADA@Engines.EXAMPLE "}
	dup := s.do(t, "POST", "/v1/leads", lead).want(t, 400)
	violations, descriptions, meta := dup.preconditions()
	if reason, _ := dup.violations(); reason != "DUPLICATE_LEAD" ||
		len(violations) != 1 || violations[0] != "DUPLICATE_EMAIL "+ada.str("name") ||
		!strings.Contains(descriptions, "Ada Lovelace") || !strings.Contains(descriptions, ":qualify") ||
		meta["existing_contact"] != ada.str("name") || meta["existing_account"] != acc.str("name") {
		t.Fatalf("lead like a contact = %s", dup.raw)
	}
	if leads := s.do(t, "GET", "/v1/leads", nil).want(t, 200); strings.Contains(string(leads.raw), "leads/") {
		t.Fatalf("the refused lead was saved: %s", leads.raw)
	}
	saved := s.do(t, "POST", "/v1/leads?allowDuplicate=true", lead).want(t, 200)
	if saved.str("email") != "ADA@Engines.EXAMPLE" {
		t.Fatalf("saved = %s", saved.raw)
	}
	// The account service refuses a second "Analytical Engines" the same
	// way; saved anyway, the two show up as a duplicate group (managers).
	again := s.do(t, "POST", "/v1/accounts", map[string]any{"displayName": " analytical ENGINES"}).want(t, 400)
	if reason, _ := again.violations(); reason != "DUPLICATE_ACCOUNT" || !strings.Contains(string(again.raw), acc.str("name")) {
		t.Fatalf("account like an account = %s", again.raw)
	}
	twin := s.do(t, "POST", "/v1/accounts?allowDuplicate=true", map[string]any{"displayName": " analytical ENGINES"}).want(t, 200)
	manager := testkit.Bearer("mia", "manager")
	groups := s.do(t, "GET", "/v1/accounts:listDuplicateGroups?rule=MATCH_RULE_COMPANY_NAME", nil, "Authorization", manager).want(t, 200)
	if !strings.Contains(string(groups.raw), `"key":"analytical engines"`) || !strings.Contains(string(groups.raw), twin.str("name")) {
		t.Fatalf("account duplicate groups = %s", groups.raw)
	}
	found := s.do(t, "GET", "/v1/"+acc.str("name")+":findDuplicates", nil, "Authorization", manager).want(t, 200)
	if !strings.Contains(string(found.raw), twin.str("name")) || !strings.Contains(string(found.raw), "MATCH_RULE_COMPANY_NAME") {
		t.Fatalf("account duplicates = %s", found.raw)
	}
	s.do(t, "GET", "/v1/contacts:listDuplicateGroups", nil, "Authorization", testkit.Bearer("sam", "sales")).want(t, 403)
	s.do(t, "POST", "/v1/contacts", map[string]any{"lastName": "Ada", "emails": []any{map[string]any{"address": "ADA@engines.example"}}}).want(t, 400)

	// Converting into the records the refusal named works.
	s.do(t, "POST", "/v1/"+saved.str("name")+":qualify", map[string]any{
		"existingAccount": meta["existing_account"], "existingContact": meta["existing_contact"],
	}).want(t, 200)
	s.waitConversion(t, saved.str("name"), "CONVERSION_STATE_COMPLETE")
}

// The lead service is killed (SIGKILL) while it takes in the account
// service's contact events, once while they are created and once while
// they are updated; after its restart every event is applied once and
// every contact's key is in the projection once, at its latest value
// (nothing lost, nothing doubled, no stale key left).
func TestCustomerKeysSurviveALeadServiceCrash(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	ctx := testkit.As("alice")
	const n = 150
	names := make([]string, n)
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	work := func(do func(i int) error) {
		next := make(chan int)
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range next {
					if err := do(i); err != nil {
						errs <- err
					}
				}
			}()
		}
		for i := 0; i < n; i++ {
			if i == n/2 {
				s.lead.Kill()
			}
			next <- i
		}
		close(next)
		wg.Wait()
	}
	work(func(i int) error {
		c, err := s.accounts.CreateContact(ctx, &accountv1.CreateContactRequest{Contact: &accountv1.Contact{
			LastName: fmt.Sprintf("Person %d", i), Emails: []*accountv1.ContactEmail{{Address: fmt.Sprintf("p%d@old.example", i)}}}})
		if err == nil {
			names[i] = c.Name
		}
		return err
	})
	s.lead.Restart()
	work(func(i int) error {
		_, err := s.accounts.UpdateContact(ctx, &accountv1.UpdateContactRequest{
			Contact:    &accountv1.Contact{Name: names[i], Emails: []*accountv1.ContactEmail{{Address: fmt.Sprintf("p%d@new.example", i)}}},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"emails"}},
		})
		return err
	})
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	s.lead.Restart()
	// Events the killed process had fetched come again after their ack
	// wait, possibly after the contact's later update: the version keeps
	// them from undoing it.
	testkit.Eventually(t, 90*time.Second, func() bool {
		return s.query(t, `SELECT count(*)::text FROM lead.inbox WHERE consumer = 'lead-customer-keys'`) == fmt.Sprint(2*n)
	}, "every contact event applied once")
	if got := s.query(t, `SELECT count(*)::text FROM lead.customer_keys WHERE key LIKE '%@new.example'`); got != fmt.Sprint(n) {
		t.Fatalf("%s contacts' new emails in the projection, want %d", got, n)
	}
	if got := s.query(t, `SELECT count(*)::text FROM lead.customer_keys`); got != fmt.Sprint(n) {
		t.Fatalf("%s keys, want %d (one per contact)", got, n)
	}
	if got := s.query(t, `SELECT count(DISTINCT record_id)::text FROM lead.customer_keys`); got != fmt.Sprint(n) {
		t.Fatalf("keys of %s contacts, want %d", got, n)
	}
}
