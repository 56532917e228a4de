package grpc

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"buf.build/go/protovalidate"
	"google.golang.org/genproto/googleapis/type/date"
	moneypb "google.golang.org/genproto/googleapis/type/money"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	leadv1 "github.com/crmsuite/crm/gen/go/crm/lead/v1"
	orderv1 "github.com/crmsuite/crm/gen/go/crm/order/v1"
	"github.com/crmsuite/crm/platform/apperr"
	"github.com/crmsuite/crm/platform/grpcx"
	"github.com/crmsuite/crm/platform/money"
	"github.com/crmsuite/crm/services/lead/internal/domain"
	"github.com/crmsuite/crm/services/lead/internal/protomap"
)

var validator, _ = protovalidate.New()

// invalidOrNil fails the fuzz case unless err is nil or an InvalidArgument
// with at least one field violation.
func invalidOrNil(t *testing.T, what string, err error) bool {
	t.Helper()
	if err == nil {
		return true
	}
	ae, ok := apperr.As(err)
	if !ok || ae.Kind != apperr.KindInvalidArgument || len(ae.Violations) == 0 {
		t.Fatalf("%s: %v is not an InvalidArgument with field violations", what, err)
	}
	return false
}

func seedLeads(f *testing.F) {
	for _, l := range []*leadv1.Lead{
		{FirstName: "Ada", Company: "Acme", Email: "ada@acme.example", Phone: "+1 555 0100", Website: "acme.example"},
		{LastName: "x", Rating: 99, Status: leadv1.Status_STATUS_QUALIFIED, CustomFields: map[string]string{"Bad": "v"}},
		{Company: "A", Address: &leadv1.PostalAddress{RegionCode: "de", AddressLines: []string{"a", "b", "c", "d", "e"}}},
		{},
	} {
		b, _ := proto.Marshal(&leadv1.CreateLeadRequest{Lead: l, RequestId: "not-a-uuid"})
		f.Add(b)
	}
}

// Any byte string decoded as a CreateLeadRequest is either rejected with
// field violations or becomes a lead that satisfies the domain's rules.
func FuzzCreateLeadRequest(f *testing.F) {
	seedLeads(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		var req leadv1.CreateLeadRequest
		if proto.Unmarshal(data, &req) != nil {
			return
		}
		if !invalidOrNil(t, "validate", grpcx.Validate(validator, &req)) {
			return
		}
		l, _, err := domain.New(protomap.LeadFromProto(req.GetLead()), "fuzzer", time.Now())
		if !invalidOrNil(t, "domain", err) {
			return
		}
		if l.FirstName == "" && l.LastName == "" && l.Company == "" {
			t.Fatalf("lead without name or company accepted: %+v", l)
		}
		if l.Status != domain.StatusNew && l.Status != domain.StatusContacted && l.Status != domain.StatusNurturing {
			t.Fatalf("lead created with status %q", l.Status)
		}
		// What we accept survives the round trip to the API form.
		if back := protomap.LeadFromProto(protomap.Lead(l)); back.Email != l.Email || back.Status != l.Status {
			t.Fatalf("round trip changed the lead: %+v -> %+v", l, back)
		}
	})
}

// Any UpdateLeadRequest, with any mask, applied to a lead, is either
// rejected with field violations or leaves a lead that satisfies the rules.
func FuzzUpdateLeadRequest(f *testing.F) {
	for _, paths := range [][]string{{"rating"}, {"owner"}, {"address.locality", "custom_fields.tier"}, {"*"}, {"status"}, {"first_name", "company"}, {"nope"}, {}} {
		b, _ := proto.Marshal(&leadv1.UpdateLeadRequest{
			Lead:       &leadv1.Lead{Name: "leads/0199aaaa-0000-7000-8000-000000000000", Status: leadv1.Status_STATUS_DISQUALIFIED, Owner: "x"},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: paths},
		})
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var req leadv1.UpdateLeadRequest
		if proto.Unmarshal(data, &req) != nil {
			return
		}
		if !invalidOrNil(t, "validate", grpcx.Validate(validator, &req)) {
			return
		}
		mask, err := updateMask(&req)
		if !invalidOrNil(t, "mask", err) {
			return
		}
		l, _, err := domain.New(domain.Lead{FirstName: "Ada", Company: "Acme", Rating: domain.RatingWarm}, "owner", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		before := *l
		_, err = l.Update(protomap.LeadFromProto(req.GetLead()), mask, "fuzzer", time.Now())
		if err != nil {
			if ae, ok := apperr.As(err); !ok || (ae.Kind != apperr.KindInvalidArgument && ae.Kind != apperr.KindFailedPrecondition) {
				t.Fatalf("update: unexpected error %v", err)
			}
			if l.Version != before.Version || l.Owner != before.Owner || l.Status != before.Status {
				t.Fatal("a refused update changed the lead")
			}
			return
		}
		if l.Owner != before.Owner {
			t.Fatal("owner changed by update")
		}
		if !l.Status.Open() {
			t.Fatalf("update moved the lead to %s", l.Status)
		}
		if l.FirstName == "" && l.LastName == "" && l.Company == "" {
			t.Fatal("update left a lead without name or company")
		}
	})
}

// Any byte string decoded as a SubmitWebFormRequest is either rejected
// with field violations or becomes a WEB_FORM lead with the form's
// campaign and owner, whatever the entry says.
func FuzzSubmitWebFormRequest(f *testing.F) {
	for _, r := range []*leadv1.SubmitWebFormRequest{
		{Name: "webForms/0199aaaa-0000-7000-8000-000000000000", Key: "wfk_x", FirstName: "Ada", Email: "ada@acme.example", Message: "hi"},
		{Name: "forms/1", Key: "", Phone: "call me", CustomFields: map[string]string{"Bad": "v"}, RequestId: "no"},
		{Name: "webForms/0199aaaa-0000-7000-8000-000000000000", Key: "k", Company: "A", Address: &leadv1.PostalAddress{RegionCode: "de"}, Homepage: "x"},
	} {
		b, _ := proto.Marshal(r)
		f.Add(b)
	}
	form, _, err := domain.NewWebForm(domain.WebForm{DisplayName: "Contact", Campaign: "spring", DefaultOwner: "sue"}, "root", time.Now())
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var req leadv1.SubmitWebFormRequest
		if proto.Unmarshal(data, &req) != nil {
			return
		}
		if !invalidOrNil(t, "validate", grpcx.Validate(validator, &req)) {
			return
		}
		l, _, err := domain.New(form.Lead(protomap.WebFormEntry(&req)), form.Actor(), time.Now())
		if !invalidOrNil(t, "domain", err) {
			return
		}
		if l.Source != domain.SourceWebForm || l.Campaign != "spring" || l.Owner != "sue" || l.Status != domain.StatusNew || l.CreatedBy != form.Actor() {
			t.Fatalf("lead from a form: %+v", l)
		}
	})
}

// Any QualifyLeadRequest is either rejected with field violations or
// converts a lead, and an order it asks for is one the order service
// takes as it is: a currency, every line in it, a name that fits.
func FuzzQualifyLeadRequest(f *testing.F) {
	line := func(currency, qty string) *orderv1.OrderLine {
		return &orderv1.OrderLine{ProductCode: "P", Quantity: qty, UnitPrice: &moneypb.Money{CurrencyCode: currency, Units: 5}}
	}
	for _, r := range []*leadv1.QualifyLeadRequest{
		{Name: "leads/0199aaaa-0000-7000-8000-000000000000", AccountTarget: &leadv1.QualifyLeadRequest_NewAccount{NewAccount: &leadv1.NewAccount{CurrencyCode: "GBP"}},
			Order: &leadv1.NewOrder{Lines: []*orderv1.OrderLine{line("GBP", "2.5"), line("EUR", "1")}}},
		{Name: "leads/0199aaaa-0000-7000-8000-000000000000", AccountTarget: &leadv1.QualifyLeadRequest_ExistingAccount{ExistingAccount: "accounts/0199aaaa-0000-7000-8000-000000000000"},
			Order: &leadv1.NewOrder{CurrencyCode: "JPY", Lines: []*orderv1.OrderLine{line("JPY", "-1")}, ExpectedFulfillmentDate: &date.Date{Year: 2027, Month: 2, Day: 30}}},
		{Name: "leads/0199aaaa-0000-7000-8000-000000000000", AccountTarget: &leadv1.QualifyLeadRequest_ExistingAccount{ExistingAccount: "accounts/" + strings.Repeat("-", 36)},
			ContactTarget: &leadv1.QualifyLeadRequest_ExistingContact{ExistingContact: "contacts/" + strings.Repeat("a", 36)}},
		{Name: "leads/x", Order: &leadv1.NewOrder{DisplayName: strings.Repeat("é", 150), Lines: []*orderv1.OrderLine{{Quantity: "1e9", DiscountPercent: "101", TaxRate: "-0"}}}},
	} {
		b, _ := proto.Marshal(r)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var req leadv1.QualifyLeadRequest
		if proto.Unmarshal(data, &req) != nil {
			return
		}
		if !invalidOrNil(t, "validate", grpcx.Validate(validator, &req)) {
			return
		}
		conv, err := protomap.ConversionRequest(&req)
		if !invalidOrNil(t, "map", err) || !invalidOrNil(t, "check", conv.Check()) {
			return
		}
		l, _, err := domain.New(domain.Lead{FirstName: "Ada", Company: "Acme", Campaign: strings.Repeat("ü", 200)}, "owner", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.Qualify(conv, "fuzzer", time.Now()); !invalidOrNil(t, "qualify", err) {
			return
		}
		o := l.Conversion.Order
		if o == nil {
			return
		}
		if !money.ValidCurrency(o.CurrencyCode) || len(o.Lines) == 0 || len(o.DisplayName) > 200 || !utf8.ValidString(o.DisplayName) || o.Owner == "" {
			t.Fatalf("order accepted: %+v", o)
		}
		for _, line := range o.Lines {
			if line.UnitPrice.Currency != o.CurrencyCode {
				t.Fatalf("line in %s of an order in %s accepted", line.UnitPrice.Currency, o.CurrencyCode)
			}
		}
	})
}
