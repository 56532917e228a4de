package wire_test

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	leadv1 "github.com/crmsuite/crm/gen/go/crm/lead/v1"
	"github.com/crmsuite/crm/platform/testkit"
)

func TestLeadStatistics(t *testing.T) {
	t.Parallel()
	s := start(t)
	ctx := testkit.As("alice")
	start := time.Now()
	var names []string
	// 6 web-form leads of campaign spring (owners alice, bob), 3 referrals
	// without campaign (owner carol).
	for i := range 9 {
		l := &leadv1.Lead{LastName: fmt.Sprintf("S%d", i), Source: leadv1.Source_SOURCE_WEB_FORM, Campaign: "spring", Owner: []string{"alice", "bob"}[i%2]}
		if i >= 6 {
			l.Source, l.Campaign, l.Owner = leadv1.Source_SOURCE_REFERRAL, "", "carol"
		}
		got, err := s.client.CreateLead(ctx, &leadv1.CreateLeadRequest{Lead: l})
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, got.Name)
	}
	// Close some: web forms 0,1 qualified (2 and 4 days to qualify), 2
	// disqualified (no budget); referral 6 disqualified (junk).
	for _, d := range []struct {
		i      int
		reason leadv1.DisqualificationReason
	}{{2, leadv1.DisqualificationReason_DISQUALIFICATION_REASON_NO_BUDGET}, {6, leadv1.DisqualificationReason_DISQUALIFICATION_REASON_JUNK}} {
		if _, err := s.client.DisqualifyLead(ctx, &leadv1.DisqualifyLeadRequest{Name: names[d.i], Reason: d.reason}); err != nil {
			t.Fatal(err)
		}
	}
	qualify(t, s, names[0], 2*24*time.Hour)
	qualify(t, s, names[1], 4*24*time.Hour)
	// A merged lead is not counted.
	if _, err := s.client.MergeLeads(ctx, &leadv1.MergeLeadsRequest{Primary: names[3], Duplicates: []string{names[4]}}); err != nil {
		t.Fatal(err)
	}

	st, err := s.client.GetLeadStatistics(ctx, &leadv1.GetLeadStatisticsRequest{StartTime: timestamppb.New(start.Add(-time.Minute))})
	if err != nil {
		t.Fatal(err)
	}
	counts := func(cs []*leadv1.Count) map[string]int64 {
		m := map[string]int64{}
		for _, c := range cs {
			m[c.Key] = c.Count
		}
		return m
	}
	if st.Total != 8 {
		t.Fatalf("total = %d, want 8 (9 created, 1 merged away)", st.Total)
	}
	if got := counts(st.ByStatus); got["QUALIFIED"] != 2 || got["DISQUALIFIED"] != 2 || got["NEW"] != 4 || got["MERGED"] != 0 {
		t.Fatalf("by status = %v", got)
	}
	if got := counts(st.BySource); got["WEB_FORM"] != 5 || got["REFERRAL"] != 3 {
		t.Fatalf("by source = %v", got)
	}
	if got := counts(st.ByCampaign); got["spring"] != 5 || got[""] != 3 {
		t.Fatalf("by campaign = %v", got)
	}
	if got := counts(st.ByOwner); got["alice"] != 2 || got["bob"] != 3 || got["carol"] != 3 {
		t.Fatalf("by owner = %v", got)
	}
	if got := counts(st.DisqualificationReasons); got["NO_BUDGET"] != 1 || got["JUNK"] != 1 || len(got) != 2 {
		t.Fatalf("reasons = %v", got)
	}
	for _, r := range st.ConversionBySource {
		want := map[string][3]float64{"WEB_FORM": {2, 3, 2.0 / 3}, "REFERRAL": {0, 1, 0}}[r.Key]
		if float64(r.Qualified) != want[0] || float64(r.Closed) != want[1] || math.Abs(r.Rate-want[2]) > 1e-9 {
			t.Fatalf("conversion for %s = %v, want %v", r.Key, r, want)
		}
	}
	// Per owner (seed 002, the sales team's effectiveness): alice
	// qualified 1 of 2 closed, bob 1 of 1, carol 0 of 1.
	if len(st.ConversionByOwner) != 3 {
		t.Fatalf("conversion by owner = %v", st.ConversionByOwner)
	}
	for _, r := range st.ConversionByOwner {
		want := map[string][3]float64{"alice": {1, 2, 0.5}, "bob": {1, 1, 1}, "carol": {0, 1, 0}}[r.Key]
		if float64(r.Qualified) != want[0] || float64(r.Closed) != want[1] || math.Abs(r.Rate-want[2]) > 1e-9 {
			t.Fatalf("conversion for owner %s = %v, want %v", r.Key, r, want)
		}
	}
	if math.Abs(st.MedianDaysToQualify-3) > 0.01 {
		t.Fatalf("median days to qualify = %v, want 3", st.MedianDaysToQualify)
	}
	// Scoped to an owner, and to a range with nothing in it.
	if mine, err := s.client.GetLeadStatistics(ctx, &leadv1.GetLeadStatisticsRequest{Owner: "carol"}); err != nil || mine.Total != 3 {
		t.Fatalf("carol's statistics = %v, %v", mine, err)
	}
	past := timestamppb.New(start.Add(-48 * time.Hour))
	if none, err := s.client.GetLeadStatistics(ctx, &leadv1.GetLeadStatisticsRequest{StartTime: past, EndTime: timestamppb.New(start.Add(-24 * time.Hour))}); err != nil || none.Total != 0 {
		t.Fatalf("empty range = %v, %v", none, err)
	}
	_, err = s.client.GetLeadStatistics(ctx, &leadv1.GetLeadStatisticsRequest{StartTime: timestamppb.New(start), EndTime: past})
	testkit.RequireCode(t, err, codes.InvalidArgument)
}

// qualify marks a lead converted, as conversion (a later release) will,
// after it took the given time.
func qualify(t *testing.T, s *suite, name string, after time.Duration) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, s.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `UPDATE lead.leads SET status = 'QUALIFIED', qualified_at = created_at + $2::interval
		WHERE id = $1`, name[len("leads/"):], fmt.Sprintf("%d seconds", int(after.Seconds()))); err != nil {
		t.Fatal(err)
	}
}
