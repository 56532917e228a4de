package wire_test

import (
	"context"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	auditv1 "github.com/crmsuite/crm/gen/go/crm/audit/v1"
	eventsv1 "github.com/crmsuite/crm/gen/go/crm/events/v1"
	leadv1 "github.com/crmsuite/crm/gen/go/crm/lead/v1"
	"github.com/crmsuite/crm/platform/testkit"
)

// visitor is a website visitor's call: no token at all.
var visitor = context.Background()

func (s *suite) forms() leadv1.WebFormServiceClient { return leadv1.NewWebFormServiceClient(s.conn) }

// newForm creates a web form as an admin and returns it with its key.
func (s *suite) newForm(t *testing.T, f *leadv1.WebForm) (*leadv1.WebForm, string) {
	t.Helper()
	resp, err := s.forms().CreateWebForm(testkit.As("root"), &leadv1.CreateWebFormRequest{WebForm: f})
	if err != nil {
		t.Fatalf("create web form: %v", err)
	}
	if resp.Key == "" || resp.WebForm.KeyPrefix == "" || !strings.HasPrefix(resp.Key, resp.WebForm.KeyPrefix) {
		t.Fatalf("create web form: key %q, prefix %q", resp.Key, resp.WebForm.KeyPrefix)
	}
	return resp.WebForm, resp.Key
}

func (s *suite) leads(t *testing.T) []*leadv1.Lead {
	t.Helper()
	resp, err := s.client.ListLeads(testkit.As("root"), &leadv1.ListLeadsRequest{PageSize: 500})
	if err != nil {
		t.Fatal(err)
	}
	return resp.Leads
}

func TestWebFormSubmissionCreatesAWebFormLead(t *testing.T) {
	t.Parallel()
	s := start(t)
	form, key := s.newForm(t, &leadv1.WebForm{
		DisplayName: "Contact us", Campaign: "spring-2027", DefaultOwner: "sue", DefaultRating: leadv1.Rating_RATING_HOT,
		RedirectUri: "https://www.example.com/thanks",
	})
	if form.DefaultRating != leadv1.Rating_RATING_HOT {
		t.Fatalf("form %v: want default rating HOT", form)
	}
	resp, err := s.forms().SubmitWebForm(visitor, &leadv1.SubmitWebFormRequest{
		Name: form.Name, Key: key, FirstName: "Ada", LastName: "Lovelace", Company: "Analytical Engines",
		Email: "ada@example.com", Message: "  Please call me about pricing.  ",
		CustomFields: map[string]string{"product": "engine"},
	})
	if err != nil {
		t.Fatalf("submit: %v", err)
	}
	// The answer says nothing about the lead.
	if want := (&leadv1.SubmitWebFormResponse{RedirectUri: "https://www.example.com/thanks"}); !proto.Equal(resp, want) {
		t.Fatalf("submit answered %v, want %v", resp, want)
	}
	leads := s.leads(t)
	if len(leads) != 1 {
		t.Fatalf("%d leads, want 1", len(leads))
	}
	l, actor := leads[0], "webform:"+strings.TrimPrefix(form.Name, "webForms/")
	if l.Source != leadv1.Source_SOURCE_WEB_FORM || l.Campaign != "spring-2027" || l.Owner != "sue" ||
		l.CreatedBy != actor || l.Status != leadv1.Status_STATUS_NEW || l.Description != "Please call me about pricing." ||
		l.Email != "ada@example.com" || l.CustomFields["product"] != "engine" || l.Rating != leadv1.Rating_RATING_HOT {
		t.Fatalf("lead from the form: %v", l)
	}
	evs := s.published(t, 1)
	created, ok := evs[0].(*eventsv1.LeadCreated)
	if !ok || created.Meta.Actor != actor || created.Lead.Source != leadv1.Source_SOURCE_WEB_FORM {
		t.Fatalf("event %T %v, want LeadCreated by %s", evs[0], evs[0], actor)
	}
}

// Without a default owner, the form's leads belong to the admin who made
// it, not to the form.
func TestWebFormLeadsDefaultToTheCreatorsOwnership(t *testing.T) {
	t.Parallel()
	s := start(t)
	form, key := s.newForm(t, &leadv1.WebForm{DisplayName: "Newsletter"})
	if form.DefaultOwner != "root" || form.CreatedBy != "root" {
		t.Fatalf("form %v: want default owner and creator root", form)
	}
	if _, err := s.forms().SubmitWebForm(visitor, &leadv1.SubmitWebFormRequest{Name: form.Name, Key: key, Company: "Acme"}); err != nil {
		t.Fatal(err)
	}
	if l := s.leads(t); len(l) != 1 || l[0].Owner != "root" {
		t.Fatalf("leads %v, want one owned by root", l)
	}
}

func TestRevokedWebFormKeyIsRefused(t *testing.T) {
	t.Parallel()
	s := start(t)
	form, key := s.newForm(t, &leadv1.WebForm{DisplayName: "Contact us"})
	other, _ := s.newForm(t, &leadv1.WebForm{DisplayName: "Other"})
	entry := func() *leadv1.SubmitWebFormRequest {
		return &leadv1.SubmitWebFormRequest{Name: form.Name, Key: key, LastName: "Lovelace", RequestId: uuid.NewString()}
	}
	if _, err := s.forms().SubmitWebForm(visitor, entry()); err != nil {
		t.Fatalf("before revoking: %v", err)
	}
	revoked, err := s.forms().RevokeWebForm(testkit.As("root"), &leadv1.RevokeWebFormRequest{Name: form.Name})
	if err != nil || revoked.RevokeTime == nil || revoked.RevokedBy != "root" {
		t.Fatalf("revoke: %v, %v", revoked, err)
	}
	_, err = s.forms().SubmitWebForm(visitor, entry())
	if reason, _ := testkit.RequireCode(t, err, codes.Unauthenticated); reason != "INVALID_FORM_KEY" {
		t.Fatalf("revoked key: reason %s", reason)
	}
	if n := len(s.leads(t)); n != 1 {
		t.Fatalf("%d leads after a refused submission, want 1", n)
	}
	// Revoking again changes nothing.
	again, err := s.forms().RevokeWebForm(testkit.As("root"), &leadv1.RevokeWebFormRequest{Name: form.Name})
	if err != nil || !proto.Equal(again, revoked) {
		t.Fatalf("revoke again: %v, %v; want %v", again, err, revoked)
	}
	// Revoked forms are listed only when asked for.
	list, err := s.forms().ListWebForms(testkit.As("root"), &leadv1.ListWebFormsRequest{})
	if err != nil || len(list.WebForms) != 1 || list.WebForms[0].Name != other.Name {
		t.Fatalf("list: %v, %v; want only %s", list, err, other.Name)
	}
	list, err = s.forms().ListWebForms(testkit.As("root"), &leadv1.ListWebFormsRequest{ShowRevoked: true})
	if err != nil || len(list.WebForms) != 2 || !proto.Equal(list.WebForms[1], revoked) {
		t.Fatalf("list with revoked: %v, %v", list, err)
	}
}

// An unknown form, a wrong key and another form's key are refused with the
// same error, which does not say which it was.
func TestUnknownFormsAndWrongKeysAreRefusedAlike(t *testing.T) {
	t.Parallel()
	s := start(t)
	form, key := s.newForm(t, &leadv1.WebForm{DisplayName: "A"})
	_, otherKey := s.newForm(t, &leadv1.WebForm{DisplayName: "B"})
	var first *status.Status
	for name, req := range map[string]*leadv1.SubmitWebFormRequest{
		"unknown form":     {Name: "webForms/" + uuid.NewString(), Key: key, Company: "Acme"},
		"wrong key":        {Name: form.Name, Key: key[:len(key)-1] + "x", Company: "Acme"},
		"other form's key": {Name: form.Name, Key: otherKey, Company: "Acme"},
		"the key's prefix": {Name: form.Name, Key: form.KeyPrefix, Company: "Acme"},
	} {
		_, err := s.forms().SubmitWebForm(visitor, req)
		if reason, _ := testkit.RequireCode(t, err, codes.Unauthenticated); reason != "INVALID_FORM_KEY" {
			t.Errorf("%s: reason %s", name, reason)
		}
		st, _ := status.FromError(err)
		if first == nil {
			first = st
		} else if !proto.Equal(st.Proto(), first.Proto()) {
			t.Errorf("%s: %v differs from %v", name, st.Proto(), first.Proto())
		}
	}
	// An admin's token is no key either.
	_, err := s.forms().SubmitWebForm(testkit.As("root"), &leadv1.SubmitWebFormRequest{Name: form.Name, Key: "-", Company: "Acme"})
	testkit.RequireCode(t, err, codes.Unauthenticated)
	if n := len(s.leads(t)); n != 0 {
		t.Fatalf("%d leads, want none", n)
	}
}

// A filled honeypot is answered exactly as the same entry without it, and
// nothing is created; bad input is refused alike with or without it.
func TestWebFormHoneypotAnswersLikeSuccessAndCreatesNothing(t *testing.T) {
	t.Parallel()
	s := start(t)
	form, key := s.newForm(t, &leadv1.WebForm{DisplayName: "Contact", RedirectUri: "https://example.com/thanks"})
	bot := &leadv1.SubmitWebFormRequest{Name: form.Name, Key: key, FirstName: "Cheap", LastName: "Pills", Homepage: "http://spam.example"}
	trap, err := s.forms().SubmitWebForm(visitor, bot)
	if err != nil {
		t.Fatalf("honeypot: %v", err)
	}
	human := proto.Clone(bot).(*leadv1.SubmitWebFormRequest)
	human.Homepage, human.LastName = "", "Person"
	real, err := s.forms().SubmitWebForm(visitor, human)
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(trap, real) {
		t.Fatalf("honeypot answered %v, a real entry %v", trap, real)
	}
	// Only the real entry's lead and event: the relay publishes in commit
	// order, so a lead the trap had made would have come first.
	evs := s.published(t, 1)
	if leads := s.leads(t); len(leads) != 1 || leads[0].LastName != "Person" || len(evs) != 1 {
		t.Fatalf("after a honeypot and a real entry: leads %v, events %v", leads, testkit.EventTypes(evs))
	}
	for _, homepage := range []string{"", "http://spam.example"} {
		_, err := s.forms().SubmitWebForm(visitor, &leadv1.SubmitWebFormRequest{Name: form.Name, Key: key, Email: "x@example.com", Homepage: homepage})
		if _, fields := testkit.RequireCode(t, err, codes.InvalidArgument); !testkit.HasField(fields, "last_name") {
			t.Errorf("no name, honeypot %q: fields %v", homepage, fields)
		}
	}
}

// The same person sending the form twice is not refused (a visitor is not
// told about other leads): both leads exist and show as duplicates.
func TestWebFormDuplicatesAreCreatedAndListedAsDuplicates(t *testing.T) {
	t.Parallel()
	s := start(t)
	form, key := s.newForm(t, &leadv1.WebForm{DisplayName: "Contact"})
	if _, err := s.client.CreateLead(testkit.As("alice", "sales"), &leadv1.CreateLeadRequest{Lead: &leadv1.Lead{LastName: "Lovelace", Email: "ada@example.com"}}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := s.forms().SubmitWebForm(visitor, &leadv1.SubmitWebFormRequest{Name: form.Name, Key: key, LastName: "Lovelace", Email: "ADA@example.com"}); err != nil {
			t.Fatalf("duplicate entry: %v", err)
		}
	}
	groups, err := s.client.ListDuplicateGroups(testkit.As("mia", "manager"), &leadv1.ListDuplicateGroupsRequest{Rule: leadv1.DuplicateRule_DUPLICATE_RULE_EMAIL})
	if err != nil || len(groups.Groups) != 1 || len(groups.Groups[0].Leads) != 3 {
		t.Fatalf("duplicate groups: %v, %v; want one of 3 leads", groups, err)
	}
}

// A retry with the same request_id creates one lead.
func TestWebFormRetriesCreateOneLead(t *testing.T) {
	t.Parallel()
	s := start(t)
	form, key := s.newForm(t, &leadv1.WebForm{DisplayName: "Contact"})
	req := &leadv1.SubmitWebFormRequest{Name: form.Name, Key: key, Company: "Acme", RequestId: uuid.NewString()}
	for range 3 {
		if _, err := s.forms().SubmitWebForm(visitor, req); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(s.leads(t)); n != 1 {
		t.Fatalf("%d leads after three tries of one entry, want 1", n)
	}
}

func TestWebFormOriginsAreChecked(t *testing.T) {
	t.Parallel()
	s := start(t)
	form, key := s.newForm(t, &leadv1.WebForm{DisplayName: "Contact", AllowedOrigins: []string{"https://www.Example.com"}})
	from := func(origin string) context.Context {
		return metadata.AppendToOutgoingContext(context.Background(), "origin", origin)
	}
	req := &leadv1.SubmitWebFormRequest{Name: form.Name, Key: key, Company: "Acme"}
	_, err := s.forms().SubmitWebForm(from("https://evil.example"), req)
	if reason, _ := testkit.RequireCode(t, err, codes.PermissionDenied); reason != "ORIGIN_NOT_ALLOWED" {
		t.Fatalf("other origin: reason %s", reason)
	}
	for _, ctx := range []context.Context{from("https://www.example.com"), visitor} {
		if _, err := s.forms().SubmitWebForm(ctx, req); err != nil {
			t.Fatalf("allowed origin or none: %v", err)
		}
	}
	if n := len(s.leads(t)); n != 2 {
		t.Fatalf("%d leads, want 2", n)
	}
}

// Keys are managed by admins only; the key is shown once and stored only
// as a hash.
func TestWebFormKeysAreAdminOnlyAndNeverShownAgain(t *testing.T) {
	t.Parallel()
	s := start(t)
	form, key := s.newForm(t, &leadv1.WebForm{DisplayName: "Contact"})
	for _, role := range []string{"manager", "sales", "ops"} {
		ctx := testkit.As("u", role)
		_, err := s.forms().CreateWebForm(ctx, &leadv1.CreateWebFormRequest{WebForm: &leadv1.WebForm{DisplayName: "x"}})
		testkit.RequireDenied(t, role+" creates", err)
		_, err = s.forms().ListWebForms(ctx, &leadv1.ListWebFormsRequest{})
		testkit.RequireDenied(t, role+" lists", err)
		_, err = s.forms().GetWebForm(ctx, &leadv1.GetWebFormRequest{Name: form.Name})
		testkit.RequireDenied(t, role+" reads", err)
		_, err = s.forms().RevokeWebForm(ctx, &leadv1.RevokeWebFormRequest{Name: form.Name})
		testkit.RequireDenied(t, role+" revokes", err)
	}
	// Being public, SubmitWebForm opens no other method to callers without
	// a token.
	_, err := s.forms().ListWebForms(visitor, &leadv1.ListWebFormsRequest{})
	testkit.RequireCode(t, err, codes.Unauthenticated)
	_, err = s.client.CreateLead(visitor, &leadv1.CreateLeadRequest{Lead: &leadv1.Lead{Company: "Acme"}})
	testkit.RequireCode(t, err, codes.Unauthenticated)

	got, err := s.forms().GetWebForm(testkit.As("root"), &leadv1.GetWebFormRequest{Name: form.Name})
	if err != nil || !proto.Equal(got, form) {
		t.Fatalf("get: %v, %v; want %v", got, err, form)
	}
	list, err := s.forms().ListWebForms(testkit.As("root"), &leadv1.ListWebFormsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := protojson.Marshal(list); strings.Contains(string(b), key) {
		t.Fatalf("list shows the key: %s", b)
	}
	conn, err := pgx.Connect(t.Context(), s.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var stored int
	if err := conn.QueryRow(t.Context(), `SELECT count(*) FROM lead.web_forms w WHERE strpos(w::text, $1) > 0 OR strpos(encode(w.key_hash, 'escape'), $1) > 0`, key).Scan(&stored); err != nil || stored != 0 {
		t.Fatalf("rows holding the key: %d, %v", stored, err)
	}
	_, err = s.forms().GetWebForm(testkit.As("root"), &leadv1.GetWebFormRequest{Name: "webForms/" + uuid.NewString()})
	if reason, _ := testkit.RequireCode(t, err, codes.NotFound); reason != "WEB_FORM_NOT_FOUND" {
		t.Fatalf("unknown form: reason %s", reason)
	}
}

func TestWebFormBadInputGetsFieldViolationsAndCreatesNothing(t *testing.T) {
	t.Parallel()
	s := start(t)
	form, key := s.newForm(t, &leadv1.WebForm{DisplayName: "Contact"})
	submit := func(r *leadv1.SubmitWebFormRequest) error {
		if r.Name == "" {
			r.Name = form.Name
		}
		if r.Key == "" {
			r.Key = key
		}
		_, err := s.forms().SubmitWebForm(visitor, r)
		return err
	}
	cases := []struct {
		name, field string
		err         error
	}{
		{"no name or company", "last_name", submit(&leadv1.SubmitWebFormRequest{Email: "a@example.com"})},
		{"malformed email", "email", submit(&leadv1.SubmitWebFormRequest{Company: "A", Email: "not-an-email"})},
		{"malformed phone", "phone", submit(&leadv1.SubmitWebFormRequest{Company: "A", Phone: "call me"})},
		{"over-long message", "message", submit(&leadv1.SubmitWebFormRequest{Company: "A", Message: strings.Repeat("x", 10001)})},
		{"bad custom field key", "custom_fields", submit(&leadv1.SubmitWebFormRequest{Company: "A", CustomFields: map[string]string{"Bad Key": "v"}})},
		{"bad country", "address.region_code", submit(&leadv1.SubmitWebFormRequest{Company: "A", Address: &leadv1.PostalAddress{RegionCode: "germany"}})},
		{"malformed form name", "name", submit(&leadv1.SubmitWebFormRequest{Name: "forms/1", Company: "A"})},
		{"malformed request id", "request_id", submit(&leadv1.SubmitWebFormRequest{Company: "A", RequestId: "again"})},
		{"over-long key", "key", submit(&leadv1.SubmitWebFormRequest{Company: "A", Key: strings.Repeat("k", 129)})},
	}
	for _, tc := range cases {
		if _, fields := testkit.RequireCode(t, tc.err, codes.InvalidArgument); !testkit.HasField(fields, tc.field) {
			t.Errorf("%s: fields %v, want %s", tc.name, fields, tc.field)
		}
	}
	// Admins get field violations too.
	for name, f := range map[string]*leadv1.WebForm{
		"no display name":    {DisplayName: " "},
		"origin with a path": {DisplayName: "x", AllowedOrigins: []string{"https://example.com/form"}},
		"redirect not http":  {DisplayName: "x", RedirectUri: "javascript:alert(1)"},
	} {
		_, err := s.forms().CreateWebForm(testkit.As("root"), &leadv1.CreateWebFormRequest{WebForm: f})
		if _, fields := testkit.RequireCode(t, err, codes.InvalidArgument); len(fields) == 0 || !strings.HasPrefix(fields[0], "web_form.") {
			t.Errorf("create, %s: fields %v", name, fields)
		}
	}
	if n := len(s.leads(t)); n != 0 {
		t.Fatalf("%d leads, want none", n)
	}
}

func TestWebFormsAreListedNewestFirstByPage(t *testing.T) {
	t.Parallel()
	s := start(t)
	var names []string
	for _, n := range []string{"a", "b", "c"} {
		f, _ := s.newForm(t, &leadv1.WebForm{DisplayName: n})
		names = append([]string{f.Name}, names...)
	}
	ctx := testkit.As("root")
	var got []string
	token := ""
	for range 3 {
		page, err := s.forms().ListWebForms(ctx, &leadv1.ListWebFormsRequest{PageSize: 2, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range page.WebForms {
			got = append(got, f.Name)
		}
		if token = page.NextPageToken; token == "" {
			break
		}
	}
	if strings.Join(got, " ") != strings.Join(names, " ") {
		t.Fatalf("listed %v, want %v", got, names)
	}
	// A token belongs to its query.
	page, err := s.forms().ListWebForms(ctx, &leadv1.ListWebFormsRequest{PageSize: 2})
	if err != nil || page.NextPageToken == "" {
		t.Fatalf("first page: %v, %v", page, err)
	}
	_, err = s.forms().ListWebForms(ctx, &leadv1.ListWebFormsRequest{PageSize: 2, PageToken: page.NextPageToken, ShowRevoked: true})
	if _, fields := testkit.RequireCode(t, err, codes.InvalidArgument); !testkit.HasField(fields, "page_token") {
		t.Fatalf("token of another query: fields %v", fields)
	}
}

// Creating and revoking a form are in its audit trail, which only admins
// read; the key is in no entry.
func TestWebFormChangesAreAudited(t *testing.T) {
	t.Parallel()
	s := start(t)
	form, key := s.newForm(t, &leadv1.WebForm{DisplayName: "Contact", Campaign: "spring"})
	if _, err := s.forms().RevokeWebForm(testkit.As("root"), &leadv1.RevokeWebFormRequest{Name: form.Name}); err != nil {
		t.Fatal(err)
	}
	trail, err := s.client.ListAuditEntries(testkit.As("root"), &leadv1.ListAuditEntriesRequest{Parent: form.Name})
	if err != nil || len(trail.AuditEntries) != 2 {
		t.Fatalf("trail = %v, %v", trail, err)
	}
	revoke, create := trail.AuditEntries[0], trail.AuditEntries[1]
	changed := func(e *auditv1.AuditEntry) map[string]bool {
		out := map[string]bool{}
		for _, c := range e.Changes {
			out[c.Field] = true
			if strings.Contains(c.String(), key) {
				t.Errorf("entry %s holds the key", e.Name)
			}
		}
		return out
	}
	if create.Action != auditv1.AuditEntry_ACTION_CREATE || create.Actor != "root" || !changed(create)["display_name"] || !changed(create)["campaign"] ||
		create.Method != "/crm.lead.v1.WebFormService/CreateWebForm" {
		t.Errorf("create entry = %v", create)
	}
	if c := changed(revoke); revoke.Action != auditv1.AuditEntry_ACTION_UPDATE || !c["revoke_time"] || !c["revoked_by"] || len(c) != 2 {
		t.Errorf("revoke entry = %v", revoke)
	}
	all, err := s.client.ListAuditEntries(testkit.As("root"), &leadv1.ListAuditEntriesRequest{Parent: "webForms/-"})
	if err != nil || len(all.AuditEntries) != 2 {
		t.Fatalf("all forms' trail = %v, %v", all, err)
	}
	for _, who := range []context.Context{testkit.As("mia", "manager"), testkit.As("sam", "sales")} {
		_, err := s.client.ListAuditEntries(who, &leadv1.ListAuditEntriesRequest{Parent: form.Name})
		testkit.RequireCode(t, err, codes.PermissionDenied)
	}
}
