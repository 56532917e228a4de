package wire_test

import (
	"slices"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	moneypb "google.golang.org/genproto/googleapis/type/money"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/crmsuite/crm/gen/go/crm/events/v1"
	leadv1 "github.com/crmsuite/crm/gen/go/crm/lead/v1"
	"github.com/crmsuite/crm/platform/testkit"
)

func money(currency string, units int64) *moneypb.Money {
	return &moneypb.Money{CurrencyCode: currency, Units: units}
}

// Products of interest: checked on create and update, kept, taken from
// web forms, and turned into the opportunity's line items by a conversion
// (LeadQualified carries them).
func TestProductsOfInterest(t *testing.T) {
	t.Parallel()
	s := startNoAccounts(t)
	ctx := testkit.As("alice")
	pi := func(product, qty string, p *moneypb.Money) *leadv1.ProductInterest {
		return &leadv1.ProductInterest{Product: product, Quantity: qty, UnitPrice: p}
	}
	for name, c := range map[string]struct {
		products []*leadv1.ProductInterest
		field    string
		reason   string
	}{
		"no product":          {[]*leadv1.ProductInterest{pi("", "1", nil)}, "lead.products_of_interest[0].product", ""},
		"blank product":       {[]*leadv1.ProductInterest{pi("   ", "1", nil)}, "lead.products_of_interest[0].product", ""},
		"twice":               {[]*leadv1.ProductInterest{pi("Widget", "1", nil), pi(" widget ", "2", nil)}, "lead.products_of_interest[1].product", "DUPLICATE_PRODUCT"},
		"zero quantity":       {[]*leadv1.ProductInterest{pi("Widget", "0", nil)}, "lead.products_of_interest[0].quantity", "INVALID_QUANTITY"},
		"not a quantity":      {[]*leadv1.ProductInterest{pi("Widget", "3e2", nil)}, "lead.products_of_interest[0].quantity", ""},
		"negative price":      {[]*leadv1.ProductInterest{pi("Widget", "1", money("EUR", -5))}, "lead.products_of_interest[0].unit_price", "INVALID_PRICE"},
		"unknown currency":    {[]*leadv1.ProductInterest{pi("Widget", "1", money("QQQ", 5))}, "lead.products_of_interest[0].unit_price.currency_code", "UNKNOWN_CURRENCY"},
		"two currencies":      {[]*leadv1.ProductInterest{pi("A", "1", money("EUR", 5)), pi("B", "1", money("USD", 5))}, "lead.products_of_interest[1].unit_price.currency_code", "CURRENCY_MISMATCH"},
		"amount out of range": {[]*leadv1.ProductInterest{pi("A", "999999999999", money("EUR", 9_000_000_000_000_000))}, "lead.products_of_interest[0]", "AMOUNT_OUT_OF_RANGE"},
	} {
		_, err := s.client.CreateLead(ctx, &leadv1.CreateLeadRequest{Lead: &leadv1.Lead{LastName: "Bad", ProductsOfInterest: c.products}})
		testkit.RequireCode(t, err, codes.InvalidArgument)
		got := violations(err)
		if r, ok := got[c.field]; !ok || c.reason != "" && r != c.reason {
			t.Errorf("%s: violations %v; want %s on %s", name, got, c.reason, c.field)
		}
	}

	l, err := s.client.CreateLead(ctx, &leadv1.CreateLeadRequest{Lead: &leadv1.Lead{LastName: "Buyer", Company: "Acme",
		ProductsOfInterest: []*leadv1.ProductInterest{pi(" WIDGET-1 ", "3", money("EUR", 100)), pi("Support plan", "", nil)}}})
	if err != nil {
		t.Fatal(err)
	}
	want := []*leadv1.ProductInterest{pi("WIDGET-1", "3", money("EUR", 100)), pi("Support plan", "1", nil)}
	if !equalProducts(l.ProductsOfInterest, want) {
		t.Fatalf("products = %v", l.ProductsOfInterest)
	}
	// An update replaces them; a bad one changes nothing.
	_, err = s.client.UpdateLead(ctx, &leadv1.UpdateLeadRequest{Lead: &leadv1.Lead{Name: l.Name,
		ProductsOfInterest: []*leadv1.ProductInterest{pi("A", "1", nil), pi("a", "1", nil)}}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"products_of_interest"}}})
	testkit.RequireCode(t, err, codes.InvalidArgument)
	want = append(want, pi("Gadget", "2.5", nil))
	l, err = s.client.UpdateLead(ctx, &leadv1.UpdateLeadRequest{Lead: &leadv1.Lead{Name: l.Name, ProductsOfInterest: want},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"products_of_interest"}}})
	if err != nil || !equalProducts(l.ProductsOfInterest, want) {
		t.Fatalf("updated products = %v, %v", l.GetProductsOfInterest(), err)
	}

	// Conversion: an amount besides the products is refused, so is a
	// currency other than the products' prices; the opportunity gets the
	// products as lines, the unpriced at zero in the products' currency.
	_, err = s.client.QualifyLead(ctx, &leadv1.QualifyLeadRequest{Name: l.Name, AccountTarget: newAccount(),
		Opportunity: &leadv1.NewOpportunity{Amount: money("EUR", 500)}})
	testkit.RequireCode(t, err, codes.InvalidArgument)
	if v := violations(err); len(v) != 1 || v["opportunity.amount"] != "AMOUNT_WITH_PRODUCTS" {
		t.Fatalf("amount with products: %v", v)
	}
	_, err = s.client.QualifyLead(ctx, &leadv1.QualifyLeadRequest{Name: l.Name, AccountTarget: newAccount(),
		Opportunity: &leadv1.NewOpportunity{CurrencyCode: "USD"}})
	testkit.RequireCode(t, err, codes.InvalidArgument)
	if v := violations(err); v["opportunity.currency_code"] != "CURRENCY_MISMATCH" {
		t.Fatalf("currency mismatch: %v", v)
	}
	if got, _ := s.client.GetLead(ctx, &leadv1.GetLeadRequest{Name: l.Name}); got.GetStatus() != leadv1.Status_STATUS_NEW {
		t.Fatalf("a refused conversion changed the lead: %v", got)
	}
	if _, err := s.client.QualifyLead(ctx, &leadv1.QualifyLeadRequest{Name: l.Name, AccountTarget: newAccount(), Opportunity: &leadv1.NewOpportunity{}}); err != nil {
		t.Fatal(err)
	}
	// Unpriced products and no currency anywhere: refused, naming it; the
	// account's or the opportunity's currency settles it, and
	// without_products leaves them out.
	u, err := s.client.CreateLead(ctx, &leadv1.CreateLeadRequest{Lead: &leadv1.Lead{LastName: "Unpriced", ProductsOfInterest: []*leadv1.ProductInterest{pi("Gizmo", "2", nil)}}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.client.QualifyLead(ctx, &leadv1.QualifyLeadRequest{Name: u.Name, AccountTarget: newAccount(), Opportunity: &leadv1.NewOpportunity{}})
	testkit.RequireCode(t, err, codes.InvalidArgument)
	if v := violations(err); len(v) != 1 || v["opportunity.currency_code"] != "CURRENCY_REQUIRED" {
		t.Fatalf("no currency: %v", v)
	}
	if _, err := s.client.QualifyLead(ctx, &leadv1.QualifyLeadRequest{Name: u.Name,
		AccountTarget: &leadv1.QualifyLeadRequest_NewAccount{NewAccount: &leadv1.NewAccount{CurrencyCode: "CHF"}}, Opportunity: &leadv1.NewOpportunity{}}); err != nil {
		t.Fatal(err)
	}
	w, err := s.client.CreateLead(ctx, &leadv1.CreateLeadRequest{Lead: &leadv1.Lead{LastName: "Without", ProductsOfInterest: []*leadv1.ProductInterest{pi("Gizmo", "2", nil)}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.client.QualifyLead(ctx, &leadv1.QualifyLeadRequest{Name: w.Name, AccountTarget: newAccount(),
		Opportunity: &leadv1.NewOpportunity{Amount: money("EUR", 700), WithoutProducts: true}}); err != nil {
		t.Fatal(err)
	}

	var qs []*eventsv1.LeadQualified
	for _, e := range s.published(t, 7) {
		if q, ok := e.(*eventsv1.LeadQualified); ok {
			qs = append(qs, q)
		}
	}
	if len(qs) != 3 {
		t.Fatalf("LeadQualified events = %v", qs)
	}
	lines := qs[0].GetOpportunity().GetLineItems()
	if qs[0].Opportunity.Amount != nil || len(lines) != 3 ||
		lines[0].Product != "WIDGET-1" || lines[0].Quantity != "3" || !proto.Equal(lines[0].UnitPrice, money("EUR", 100)) ||
		lines[1].Product != "Support plan" || lines[1].Quantity != "1" || !proto.Equal(lines[1].UnitPrice, money("EUR", 0)) ||
		lines[2].Product != "Gadget" || lines[2].Quantity != "2.5" || !proto.Equal(lines[2].UnitPrice, money("EUR", 0)) {
		t.Fatalf("opportunity of the first conversion = %v", qs[0].Opportunity)
	}
	if l := qs[1].GetOpportunity().GetLineItems(); len(l) != 1 || !proto.Equal(l[0].UnitPrice, money("CHF", 0)) {
		t.Fatalf("opportunity in the new account's currency = %v", qs[1].Opportunity)
	}
	if o := qs[2].GetOpportunity(); len(o.GetLineItems()) != 0 || !proto.Equal(o.GetAmount(), money("EUR", 700)) {
		t.Fatalf("opportunity without products = %v", o)
	}

	// A web form's visitor ticks products: quantity 1, no price.
	form, key := s.newForm(t, &leadv1.WebForm{DisplayName: "Products"})
	if _, err := s.forms().SubmitWebForm(visitor, &leadv1.SubmitWebFormRequest{Name: form.Name, Key: key, LastName: "Visitor",
		ProductsOfInterest: []string{"WIDGET-1", "Gadget"}}); err != nil {
		t.Fatal(err)
	}
	_, err = s.forms().SubmitWebForm(visitor, &leadv1.SubmitWebFormRequest{Name: form.Name, Key: key, LastName: "Twice",
		ProductsOfInterest: []string{"Gadget", "GADGET"}})
	testkit.RequireCode(t, err, codes.InvalidArgument)
	list, err := s.client.ListLeads(ctx, &leadv1.ListLeadsRequest{Filter: `source = WEB_FORM`})
	if err != nil || len(list.Leads) != 1 || !equalProducts(list.Leads[0].ProductsOfInterest, []*leadv1.ProductInterest{pi("WIDGET-1", "1", nil), pi("Gadget", "1", nil)}) {
		t.Fatalf("web form lead = %v, %v", list.GetLeads(), err)
	}
}

// Statistics per product of interest: how many leads want each (case
// ignored), and how many of those closed were converted.
func TestProductStatistics(t *testing.T) {
	t.Parallel()
	s := startNoAccounts(t)
	ctx := testkit.As("alice")
	from := timestamppb.New(time.Now().Add(-time.Minute))
	create := func(last string, products ...string) string {
		t.Helper()
		l := &leadv1.Lead{LastName: last}
		for _, p := range products {
			l.ProductsOfInterest = append(l.ProductsOfInterest, &leadv1.ProductInterest{Product: p})
		}
		got, err := s.client.CreateLead(ctx, &leadv1.CreateLeadRequest{Lead: l})
		if err != nil {
			t.Fatal(err)
		}
		return got.Name
	}
	l1, _, l3 := create("L1", "Alpha", "Beta"), create("L2", "alpha", "Gamma"), create("L3", "Beta")
	create("L4")
	if _, err := s.client.QualifyLead(ctx, &leadv1.QualifyLeadRequest{Name: l1, AccountTarget: newAccount()}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.client.DisqualifyLead(ctx, &leadv1.DisqualifyLeadRequest{Name: l3, Reason: leadv1.DisqualificationReason_DISQUALIFICATION_REASON_NO_BUDGET}); err != nil {
		t.Fatal(err)
	}
	st, err := s.client.GetLeadStatistics(ctx, &leadv1.GetLeadStatisticsRequest{StartTime: from})
	if err != nil {
		t.Fatal(err)
	}
	var counts []string
	for _, c := range st.ByProduct {
		counts = append(counts, c.Key+"="+string(rune('0'+c.Count)))
	}
	if !slices.Equal(counts, []string{"Alpha=2", "Beta=2", "Gamma=1"}) {
		t.Fatalf("by product = %v", st.ByProduct)
	}
	for _, r := range st.ConversionByProduct {
		want := map[string][2]int64{"Alpha": {1, 1}, "Beta": {1, 2}, "Gamma": {0, 0}}[r.Key]
		if r.Qualified != want[0] || r.Closed != want[1] {
			t.Fatalf("conversion of %s = %v, want %v", r.Key, r, want)
		}
	}
	if len(st.ConversionByProduct) != 3 {
		t.Fatalf("conversion by product = %v", st.ConversionByProduct)
	}
}

// violations maps the field violations of err to their reasons.
func violations(err error) map[string]string {
	out := map[string]string{}
	st, _ := status.FromError(err)
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.FieldViolations {
				out[v.Field] = v.Reason
			}
		}
	}
	return out
}

func equalProducts(a, b []*leadv1.ProductInterest) bool {
	return slices.EqualFunc(a, b, func(x, y *leadv1.ProductInterest) bool { return proto.Equal(x, y) })
}

// Imports carry products of interest: a row creates a lead with them, a
// row updating a lead replaces them, a row with bad ones is rejected
// alone.
func TestImportedProductsOfInterest(t *testing.T) {
	t.Parallel()
	s := start(t)
	ctx := testkit.As("alice")
	base, err := s.client.CreateLead(ctx, &leadv1.CreateLeadRequest{Lead: &leadv1.Lead{LastName: "Base", Email: "base@example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	widget := []*leadv1.ProductInterest{{Product: "WIDGET-1", Quantity: "2", UnitPrice: money("EUR", 10)}}
	r := runImport(t, s, &leadv1.ImportOptions{Mode: leadv1.ImportMode_IMPORT_MODE_UPSERT_BY_EMAIL},
		rows(&leadv1.Lead{LastName: "Base", Email: "base@example.com", ProductsOfInterest: widget},
			&leadv1.Lead{LastName: "Fresh", Email: "fresh@example.com", ProductsOfInterest: []*leadv1.ProductInterest{{Product: "Gadget"}}},
			&leadv1.Lead{LastName: "Broken", Email: "broken@example.com", ProductsOfInterest: []*leadv1.ProductInterest{{Product: "Gadget", Quantity: "-1"}}}))
	if r.job.Counts.Updated != 1 || r.job.Counts.Created != 1 || r.job.Counts.Rejected != 1 || len(r.rejections) != 1 ||
		!testkit.HasField(r.rejections[0].Fields, "products_of_interest[0].quantity") {
		t.Fatalf("import: %v, rejections %v", r.job.Counts, r.rejections)
	}
	got, _ := s.client.GetLead(ctx, &leadv1.GetLeadRequest{Name: base.Name})
	if !equalProducts(got.ProductsOfInterest, widget) {
		t.Fatalf("updated lead's products = %v", got.ProductsOfInterest)
	}
	list, err := s.client.ListLeads(ctx, &leadv1.ListLeadsRequest{Filter: `email = "fresh@example.com"`})
	if err != nil || len(list.Leads) != 1 || !equalProducts(list.Leads[0].ProductsOfInterest, []*leadv1.ProductInterest{{Product: "Gadget", Quantity: "1"}}) {
		t.Fatalf("imported lead = %v, %v", list.GetLeads(), err)
	}
}
