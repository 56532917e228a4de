package wire_test

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"

	"google.golang.org/grpc/reflection/grpc_reflection_v1"

	leadv1 "github.com/crmsuite/crm/gen/go/crm/lead/v1"
	"github.com/crmsuite/crm/platform/testkit"
)

func TestListLeadsFiltersOrdersAndPagesWithoutGapsOrRepeats(t *testing.T) {
	t.Parallel()
	s := start(t)
	ratings := []leadv1.Rating{leadv1.Rating_RATING_COLD, leadv1.Rating_RATING_WARM, leadv1.Rating_RATING_HOT}
	byName := map[string]*leadv1.Lead{}
	for i := range 30 {
		l, err := s.client.CreateLead(testkit.As(fmt.Sprintf("owner%d", i%3)), &leadv1.CreateLeadRequest{Lead: &leadv1.Lead{
			FirstName: fmt.Sprintf("Person%02d", i),
			// Repeated last names make ordering by last_name lean on the id
			// tie-breaker across page boundaries.
			LastName: fmt.Sprintf("Family%d", i%4),
			Company:  []string{"Acme Corp", "Globex", "Initech"}[i%3],
			Email:    fmt.Sprintf("p%02d@%s.example", i, []string{"acme", "globex", "initech"}[i%3]),
			Rating:   ratings[i%3],
			Campaign: []string{"", "spring"}[i%2],
		}})
		if err != nil {
			t.Fatal(err)
		}
		byName[l.Name] = l
	}

	all := func(filter, order string, pageSize int32) []*leadv1.Lead {
		t.Helper()
		var out []*leadv1.Lead
		token := ""
		for pages := 0; ; pages++ {
			resp, err := s.client.ListLeads(testkit.As("x"), &leadv1.ListLeadsRequest{Filter: filter, OrderBy: order, PageSize: pageSize, PageToken: token})
			if err != nil {
				t.Fatalf("filter %q order %q: %v", filter, order, err)
			}
			if len(resp.Leads) > int(pageSize) {
				t.Fatalf("page of %d leads, asked for %d", len(resp.Leads), pageSize)
			}
			out = append(out, resp.Leads...)
			if resp.NextPageToken == "" {
				return out
			}
			if pages > 100 {
				t.Fatal("pagination does not end")
			}
			token = resp.NextPageToken
		}
	}
	names := func(ls []*leadv1.Lead) []string {
		out := make([]string, len(ls))
		for i, l := range ls {
			out[i] = l.Name
		}
		return out
	}
	expect := func(pred func(*leadv1.Lead) bool) []string {
		var out []string
		for n, l := range byName {
			if pred(l) {
				out = append(out, n)
			}
		}
		sort.Strings(out)
		return out
	}
	sorted := func(xs []string) []string { xs = slices.Clone(xs); sort.Strings(xs); return xs }

	// Default order is newest first; pages of 7 cover everything once.
	got := all("", "", 7)
	if len(got) != 30 || !slices.Equal(sorted(names(got)), expect(func(*leadv1.Lead) bool { return true })) {
		t.Fatalf("unfiltered listing returned %d leads", len(got))
	}
	for i := 1; i < len(got); i++ {
		if got[i-1].CreateTime.AsTime().Before(got[i].CreateTime.AsTime()) {
			t.Fatal("default order is not newest first")
		}
	}
	for _, order := range []string{"last_name", "last_name desc", "company", "company desc", "create_time", "update_time desc"} {
		got := all("", order, 4)
		if len(got) != 30 || len(slices.Compact(sorted(names(got)))) != 30 {
			t.Fatalf("order %q: %d leads, with repeats or gaps", order, len(got))
		}
		key := func(l *leadv1.Lead) string {
			switch strings.Fields(order)[0] {
			case "last_name":
				return l.LastName
			case "company":
				return l.Company
			case "update_time":
				return l.UpdateTime.AsTime().UTC().Format(sortableTime)
			default:
				return l.CreateTime.AsTime().UTC().Format(sortableTime)
			}
		}
		desc := strings.HasSuffix(order, "desc")
		for i := 1; i < len(got); i++ {
			a, b := key(got[i-1]), key(got[i])
			if (!desc && a > b) || (desc && a < b) {
				t.Fatalf("order %q broken at %d: %q then %q", order, i, a, b)
			}
		}
	}

	cases := []struct {
		filter string
		pred   func(*leadv1.Lead) bool
	}{
		{`rating = RATING_HOT`, func(l *leadv1.Lead) bool { return l.Rating == leadv1.Rating_RATING_HOT }},
		{`owner = "owner1" AND rating != RATING_COLD`, func(l *leadv1.Lead) bool {
			return l.Owner == "owner1" && l.Rating != leadv1.Rating_RATING_COLD
		}},
		{`text:"acme"`, func(l *leadv1.Lead) bool { return l.Company == "Acme Corp" }},
		{`text:"PERSON0"`, func(l *leadv1.Lead) bool { return strings.HasPrefix(l.FirstName, "Person0") }},
		{`text:"family3" OR campaign = "spring"`, func(l *leadv1.Lead) bool { return l.LastName == "Family3" || l.Campaign == "spring" }},
		{`NOT company = "Globex" AND text:"@initech"`, func(l *leadv1.Lead) bool { return l.Company == "Initech" }},
		{`email = "P07@GLOBEX.EXAMPLE"`, func(l *leadv1.Lead) bool { return l.Email == "p07@globex.example" }},
		{`status = STATUS_NEW AND create_time > "2000-01-01T00:00:00Z"`, func(*leadv1.Lead) bool { return true }},
		{`create_time < "2000-01-01T00:00:00Z"`, func(*leadv1.Lead) bool { return false }},
		{`text:"50%_"`, func(*leadv1.Lead) bool { return false }},
	}
	for _, c := range cases {
		got := all(c.filter, "", 5)
		if want := expect(c.pred); !slices.Equal(sorted(names(got)), want) {
			t.Fatalf("filter %q: got %d leads, want %d", c.filter, len(got), len(want))
		}
	}
}

func TestReflectionListsTheLeadService(t *testing.T) {
	t.Parallel()
	s := start(t)
	stream, err := grpc_reflection_v1.NewServerReflectionClient(s.conn).ServerReflectionInfo(testkit.As("x"))
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&grpc_reflection_v1.ServerReflectionRequest{
		MessageRequest: &grpc_reflection_v1.ServerReflectionRequest_ListServices{},
	}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var services []string
	for _, svc := range resp.GetListServicesResponse().GetService() {
		services = append(services, svc.GetName())
	}
	if !slices.Contains(services, "crm.lead.v1.LeadService") || !slices.Contains(services, "grpc.health.v1.Health") {
		t.Fatalf("reflection lists %v", services)
	}
}

// sortableTime formats times so that string order is time order.
const sortableTime = "2006-01-02T15:04:05.000000000"
