package wire_test

import (
	"testing"
	"time"

	"github.com/google/uuid"
	moneypb "google.golang.org/genproto/googleapis/type/money"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/crmsuite/crm/gen/go/crm/events/v1"
	leadv1 "github.com/crmsuite/crm/gen/go/crm/lead/v1"
	"github.com/crmsuite/crm/platform/testkit"
	"github.com/crmsuite/crm/services/lead/internal/wire"
)

// startNoAccounts runs the lead service with the account service away:
// nothing listens where it expects it.
func startNoAccounts(t *testing.T) *suite {
	return start(t, options{wire: []wire.Option{wire.WithAccountService(testkit.FreeAddr(t), 300*time.Millisecond)}})
}

func newAccount() *leadv1.QualifyLeadRequest_NewAccount {
	return &leadv1.QualifyLeadRequest_NewAccount{NewAccount: &leadv1.NewAccount{}}
}

func TestQualifyIntoNewRecordsAllocatesIdsAndPublishesLeadQualified(t *testing.T) {
	t.Parallel()
	s := startNoAccounts(t)
	ctx := testkit.As("alice")
	lead, err := s.client.CreateLead(ctx, &leadv1.CreateLeadRequest{Lead: &leadv1.Lead{
		FirstName: "Ada", LastName: "Lovelace", Company: "Analytical Engines", Title: "CTO",
		Email: "ada@engines.example", Phone: "+44 20 7946 0000", Website: "engines.example",
		Campaign: "Autumn", Address: &leadv1.PostalAddress{AddressLines: []string{"1 Lane"}, Locality: "London", RegionCode: "GB"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	req := &leadv1.QualifyLeadRequest{
		Name: lead.Name, Etag: lead.Etag, RequestId: uuid.NewString(), AccountTarget: newAccount(),
		Opportunity: &leadv1.NewOpportunity{Amount: &moneypb.Money{CurrencyCode: "GBP", Units: 12000, Nanos: 500_000_000}},
	}
	// The account service is down: a conversion into new records does not
	// need it.
	q, err := s.client.QualifyLead(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	c := q.GetConversion()
	if q.Status != leadv1.Status_STATUS_QUALIFIED || q.QualifyTime == nil || c.GetState() != leadv1.ConversionState_CONVERSION_STATE_PENDING ||
		!c.CreateAccount || !c.CreateContact || c.Account == "" || c.Contact == "" || c.Opportunity == "" || c.QualifiedBy != "alice" {
		t.Fatalf("qualified lead = %v", q)
	}
	// A retry with the request id, and a second conversion without one,
	// both answer with the same records.
	again, err := s.client.QualifyLead(ctx, req)
	if err != nil || !proto.Equal(again, q) {
		t.Fatalf("retry = %v, %v", again, err)
	}
	req.RequestId = ""
	again, err = s.client.QualifyLead(ctx, req)
	if err != nil || again.GetConversion().GetAccount() != c.Account || again.GetConversion().GetContact() != c.Contact {
		t.Fatalf("second conversion = %v, %v", again, err)
	}
	evs := s.published(t, 2)
	if got := testkit.EventTypes(evs); len(got) != 2 || got[1] != "LeadQualified" {
		t.Fatalf("events = %v", got)
	}
	ev := evs[1].(*eventsv1.LeadQualified)
	a, p, o := ev.GetAccount(), ev.GetContact(), ev.GetOpportunity()
	if "accounts/"+a.GetAccountId() != c.Account || !a.Create || a.DisplayName != "Analytical Engines" ||
		a.GetType().String() != "ACCOUNT_TYPE_COMPANY" || a.Owner != "alice" || a.Website != "engines.example" ||
		a.GetAddress().GetLocality() != "London" {
		t.Errorf("account part = %v", a)
	}
	if "contacts/"+p.GetContactId() != c.Contact || !p.Create || p.FirstName != "Ada" || p.LastName != "Lovelace" ||
		p.Title != "CTO" || p.Email != "ada@engines.example" || p.Phone != "+44 20 7946 0000" {
		t.Errorf("contact part = %v", p)
	}
	if "opportunities/"+o.GetOpportunityId() != c.Opportunity || o.GetAmount().GetUnits() != 12000 ||
		o.GetAmount().GetNanos() != 500_000_000 || o.DisplayName != "Analytical Engines – Autumn" ||
		o.AccountId != a.AccountId || o.ContactId != p.ContactId {
		t.Errorf("opportunity part = %v", o)
	}
	if ev.GetMeta().GetActor() != "alice" || ev.GetLead().GetStatus() != leadv1.Status_STATUS_QUALIFIED {
		t.Errorf("meta/lead = %v / %v", ev.GetMeta(), ev.GetLead())
	}
	// A converted lead is read-only.
	_, err = s.client.UpdateLead(ctx, &leadv1.UpdateLeadRequest{Lead: &leadv1.Lead{Name: lead.Name, Title: "CEO"}})
	testkit.RequireCode(t, err, codes.FailedPrecondition)
}

func TestQualifyBadInputChangesNothing(t *testing.T) {
	t.Parallel()
	s := startNoAccounts(t)
	ctx := testkit.As("alice")
	create := func(l *leadv1.Lead) *leadv1.Lead {
		t.Helper()
		out, err := s.client.CreateLead(ctx, &leadv1.CreateLeadRequest{Lead: l, AllowDuplicate: true})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	open := create(&leadv1.Lead{FirstName: "Grace", LastName: "Hopper", Company: "Navy"})
	companyOnly := create(&leadv1.Lead{Company: "Nobody Inc"})
	disq := create(&leadv1.Lead{LastName: "Gone"})
	if _, err := s.client.DisqualifyLead(ctx, &leadv1.DisqualifyLeadRequest{Name: disq.Name, Reason: leadv1.DisqualificationReason_DISQUALIFICATION_REASON_JUNK}); err != nil {
		t.Fatal(err)
	}
	primary, dup := create(&leadv1.Lead{LastName: "Twin", Email: "twin@x.example"}), create(&leadv1.Lead{LastName: "Twin", Email: "twin@x.example"})
	if _, err := s.client.MergeLeads(ctx, &leadv1.MergeLeadsRequest{Primary: primary.Name, Duplicates: []string{dup.Name}}); err != nil {
		t.Fatal(err)
	}
	// The relay publishes after the commits; wait for the seven events
	// (five creates, the disqualification, the merge) so that the
	// snapshot does not race it.
	s.published(t, 7)
	before := snapshot(t, s)
	qualify := func(r *leadv1.QualifyLeadRequest) error {
		_, err := s.client.QualifyLead(ctx, r)
		return err
	}
	existing := &leadv1.QualifyLeadRequest_ExistingAccount{ExistingAccount: "accounts/" + uuid.NewString()}
	cases := []struct {
		name   string
		err    error
		code   codes.Code
		field  string
		reason string
	}{
		{"neither new nor existing account", qualify(&leadv1.QualifyLeadRequest{Name: open.Name}), codes.InvalidArgument, "account_target", ""},
		{"malformed existing account", qualify(&leadv1.QualifyLeadRequest{Name: open.Name, AccountTarget: &leadv1.QualifyLeadRequest_ExistingAccount{ExistingAccount: "accounts/42"}}), codes.InvalidArgument, "existing_account", ""},
		{"invalid currency", qualify(&leadv1.QualifyLeadRequest{Name: open.Name, AccountTarget: &leadv1.QualifyLeadRequest_NewAccount{NewAccount: &leadv1.NewAccount{CurrencyCode: "XYZ"}}}), codes.InvalidArgument, "new_account.currency_code", ""},
		{"negative amount", qualify(&leadv1.QualifyLeadRequest{Name: open.Name, AccountTarget: newAccount(), Opportunity: &leadv1.NewOpportunity{Amount: &moneypb.Money{CurrencyCode: "EUR", Units: -5}}}), codes.InvalidArgument, "opportunity.amount", ""},
		{"amount in unknown currency", qualify(&leadv1.QualifyLeadRequest{Name: open.Name, AccountTarget: newAccount(), Opportunity: &leadv1.NewOpportunity{Amount: &moneypb.Money{CurrencyCode: "EURO", Units: 5}}}), codes.InvalidArgument, "opportunity.amount.currency_code", ""},
		{"no person to make a contact of", qualify(&leadv1.QualifyLeadRequest{Name: companyOnly.Name, AccountTarget: newAccount()}), codes.InvalidArgument, "new_contact.last_name", ""},
		{"stale etag", qualify(&leadv1.QualifyLeadRequest{Name: open.Name, Etag: `W/"99"`, AccountTarget: newAccount()}), codes.Aborted, "", ""},
		{"disqualified lead", qualify(&leadv1.QualifyLeadRequest{Name: disq.Name, AccountTarget: newAccount()}), codes.FailedPrecondition, "", "LEAD_DISQUALIFIED"},
		{"merged lead", qualify(&leadv1.QualifyLeadRequest{Name: dup.Name, AccountTarget: newAccount()}), codes.FailedPrecondition, "", "LEAD_MERGED"},
		{"unknown lead", qualify(&leadv1.QualifyLeadRequest{Name: "leads/" + uuid.NewString(), AccountTarget: newAccount()}), codes.NotFound, "", ""},
		// The account service is down: a conversion into existing records
		// cannot be checked, so it fails fast and changes nothing.
		{"existing account, account service down", qualify(&leadv1.QualifyLeadRequest{Name: open.Name, AccountTarget: existing}), codes.Unavailable, "", "ACCOUNT_SERVICE_UNAVAILABLE"},
	}
	for _, c := range cases {
		reason, fields := testkit.RequireCode(t, c.err, c.code)
		if c.field != "" && !testkit.HasField(fields, c.field) {
			t.Errorf("%s: violations %v, want one on %s", c.name, fields, c.field)
		}
		if c.reason != "" && reason != c.reason {
			t.Errorf("%s: reason %s, want %s", c.name, reason, c.reason)
		}
	}
	if after := snapshot(t, s); after != before {
		t.Fatalf("bad conversions changed data:\nbefore %s\nafter  %s", before, after)
	}
}

func TestConversionSettlesFromAccountEvents(t *testing.T) {
	t.Parallel()
	s := startNoAccounts(t)
	ctx := testkit.As("alice")
	qualify := func(last string) *leadv1.Lead {
		t.Helper()
		l, err := s.client.CreateLead(ctx, &leadv1.CreateLeadRequest{Lead: &leadv1.Lead{LastName: last}})
		if err != nil {
			t.Fatal(err)
		}
		q, err := s.client.QualifyLead(ctx, &leadv1.QualifyLeadRequest{Name: l.Name, AccountTarget: newAccount()})
		if err != nil {
			t.Fatal(err)
		}
		return q
	}
	done, refused := qualify("Complete"), qualify("Refused")
	evs := s.published(t, 4)
	attempt := map[string]string{} // lead id -> LeadQualified event id
	for _, e := range evs {
		if q, ok := e.(*eventsv1.LeadQualified); ok {
			attempt[q.LeadId] = q.GetMeta().GetEventId()
		}
	}
	accounts := s.accountStream(t)
	id := func(name string) string { return name[len(name)-36:] }
	at := time.Now().UTC().Truncate(time.Microsecond)
	created := &eventsv1.ContactCreated{
		Meta:      &eventsv1.EventMeta{EventId: uuid.NewString(), OccurTime: timestamppb.New(at), Actor: "alice"},
		ContactId: id(done.GetConversion().GetContact()), SourceLeadId: id(done.Name),
	}
	accounts.publish(t, created)
	accounts.publish(t, created) // a duplicate changes nothing
	// An answer about another contact or another attempt is not ours.
	accounts.publish(t, &eventsv1.ContactCreated{Meta: &eventsv1.EventMeta{EventId: uuid.NewString()}, ContactId: uuid.NewString(), SourceLeadId: id(refused.Name)})
	accounts.publish(t, &eventsv1.LeadConversionRejected{Meta: &eventsv1.EventMeta{EventId: uuid.NewString()}, LeadId: id(refused.Name), QualifiedEventId: uuid.NewString(), Reason: "OLD"})
	accounts.publish(t, &eventsv1.LeadConversionRejected{
		Meta: &eventsv1.EventMeta{EventId: uuid.NewString(), OccurTime: timestamppb.New(at)}, LeadId: id(refused.Name),
		QualifiedEventId: attempt[id(refused.Name)], Reason: "ACCOUNT_INACTIVE", Message: "ACCOUNT_INACTIVE: the account is inactive",
	})
	get := func(name string) *leadv1.Lead {
		l, err := s.client.GetLead(ctx, &leadv1.GetLeadRequest{Name: name})
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	testkit.Eventually(t, 20*time.Second, func() bool {
		return get(done.Name).GetConversion().GetState() == leadv1.ConversionState_CONVERSION_STATE_COMPLETE &&
			get(refused.Name).GetConversion().GetState() == leadv1.ConversionState_CONVERSION_STATE_FAILED
	}, "conversions settled")
	d := get(done.Name)
	if !d.GetConversion().GetAccountCompleteTime().AsTime().Equal(at) || d.Etag == done.Etag {
		t.Errorf("completed = %v", d.GetConversion())
	}
	r := get(refused.Name).GetConversion()
	if r.FailureReason != "ACCOUNT_INACTIVE" || r.FailureMessage == "" || r.FailTime == nil {
		t.Errorf("failed = %v", r)
	}
	// Each settlement is one LeadUpdated naming the conversion.
	evs = s.published(t, 6)
	for _, e := range evs[4:] {
		if u, ok := e.(*eventsv1.LeadUpdated); !ok || len(u.ChangedFields) != 1 || u.ChangedFields[0] != "conversion" {
			t.Errorf("settlement event = %v", e)
		}
	}
	// A failed conversion can be tried again: new ids, PENDING again.
	again, err := s.client.QualifyLead(ctx, &leadv1.QualifyLeadRequest{Name: refused.Name, AccountTarget: newAccount()})
	if err != nil {
		t.Fatal(err)
	}
	if c := again.GetConversion(); c.State != leadv1.ConversionState_CONVERSION_STATE_PENDING || c.Account == refused.GetConversion().GetAccount() || c.FailureReason != "" {
		t.Fatalf("retried conversion = %v", c)
	}
}

// stream is another service's event stream, on which a test publishes as
// that service would.
type stream struct {
	s       *suite
	service string
}

// accountStream creates the account service's stream, to publish its
// events as the account service would.
func (s *suite) accountStream(t *testing.T) stream { return s.serviceStream(t, "account") }

func (s *suite) serviceStream(t *testing.T, service string) stream {
	t.Helper()
	s.nats.CreateStream(t, s.js, service, 0)
	return stream{s: s, service: service}
}

func (st stream) publish(t *testing.T, ev proto.Message) {
	t.Helper()
	st.s.nats.Publish(t, st.s.js, st.service, ev)
}

func TestConversionWithAnOpportunityCompletesWhenBothServicesHaveApplied(t *testing.T) {
	t.Parallel()
	s := startNoAccounts(t)
	ctx := testkit.As("alice")
	l, err := s.client.CreateLead(ctx, &leadv1.CreateLeadRequest{Lead: &leadv1.Lead{LastName: "Deal", Company: "Deal Co"}})
	if err != nil {
		t.Fatal(err)
	}
	q, err := s.client.QualifyLead(ctx, &leadv1.QualifyLeadRequest{
		Name: l.Name, AccountTarget: newAccount(), Opportunity: &leadv1.NewOpportunity{DisplayName: "Big deal"},
	})
	if err != nil {
		t.Fatal(err)
	}
	id := func(name string) string { return name[len(name)-36:] }
	get := func() *leadv1.Conversion {
		got, err := s.client.GetLead(ctx, &leadv1.GetLeadRequest{Name: l.Name})
		if err != nil {
			t.Fatal(err)
		}
		return got.GetConversion()
	}
	s.accountStream(t).publish(t, &eventsv1.ContactCreated{
		Meta: &eventsv1.EventMeta{EventId: uuid.NewString(), OccurTime: timestamppb.Now()}, ContactId: id(q.GetConversion().GetContact()), SourceLeadId: id(l.Name),
	})
	testkit.Eventually(t, 20*time.Second, func() bool { return get().GetAccountCompleteTime() != nil }, "account part applied")
	if c := get(); c.State != leadv1.ConversionState_CONVERSION_STATE_PENDING {
		t.Fatalf("complete before the opportunity exists: %v", c)
	}
	opps := s.serviceStream(t, "opportunity")
	// Another conversion's opportunity is not ours.
	opps.publish(t, &eventsv1.OpportunityCreated{Meta: &eventsv1.EventMeta{EventId: uuid.NewString()}, OpportunityId: uuid.NewString(), SourceLeadId: id(l.Name)})
	opps.publish(t, &eventsv1.OpportunityCreated{
		Meta: &eventsv1.EventMeta{EventId: uuid.NewString(), OccurTime: timestamppb.Now()}, OpportunityId: id(q.GetConversion().GetOpportunity()), SourceLeadId: id(l.Name),
	})
	testkit.Eventually(t, 20*time.Second, func() bool {
		return get().GetState() == leadv1.ConversionState_CONVERSION_STATE_COMPLETE
	}, "conversion complete")
	if get().GetOpportunityCompleteTime() == nil {
		t.Fatal("no opportunity complete time")
	}
}
