package wire_test

import (
	"math"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	auditv1 "github.com/crmsuite/crm/gen/go/crm/audit/v1"
	eventsv1 "github.com/crmsuite/crm/gen/go/crm/events/v1"
	leadv1 "github.com/crmsuite/crm/gen/go/crm/lead/v1"
	"github.com/crmsuite/crm/platform/testkit"
)

const (
	mql = leadv1.LifecycleStage_LIFECYCLE_STAGE_MQL
	sql = leadv1.LifecycleStage_LIFECYCLE_STAGE_SQL
)

func setStage(s *suite, t *testing.T, who []string, name string, stage leadv1.LifecycleStage) (*leadv1.Lead, error) {
	t.Helper()
	return s.client.UpdateLead(testkit.As(who[0], who[1:]...), &leadv1.UpdateLeadRequest{
		Lead: &leadv1.Lead{Name: name, LifecycleStage: stage}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"lifecycle_stage"}},
	})
}

// The lifecycle stage is set on create and by UpdateLead, records who
// moved it and when, is announced by LeadLifecycleStageChanged and can be
// listed by; only a manager may move it back, and the audit trail shows it.
func TestLifecycleStage(t *testing.T) {
	t.Parallel()
	s := start(t)
	sam, mia := []string{"sam", "sales"}, []string{"mia", "manager"}
	before := time.Now().Add(-time.Second)

	_, err := s.client.CreateLead(testkit.As("sam", "sales"), &leadv1.CreateLeadRequest{Lead: &leadv1.Lead{LastName: "Odd", LifecycleStage: 7}})
	if _, fields := testkit.RequireCode(t, err, codes.InvalidArgument); !slices.Contains(fields, "lead.lifecycle_stage") {
		t.Fatalf("unknown stage on create: fields %v", fields)
	}
	l, err := s.client.CreateLead(testkit.As("sam", "sales"), &leadv1.CreateLeadRequest{Lead: &leadv1.Lead{LastName: "Turing", LifecycleStage: mql}})
	if err != nil {
		t.Fatal(err)
	}
	if l.LifecycleStage != mql || l.LifecycleStageChangedBy != "sam" || l.MqlTime == nil || l.SqlTime != nil ||
		l.LifecycleStageTime.AsTime().Before(before) {
		t.Fatalf("created = %v", l)
	}
	other, err := s.client.CreateLead(testkit.As("sam", "sales"), &leadv1.CreateLeadRequest{Lead: &leadv1.Lead{LastName: "Hopper"}})
	if err != nil {
		t.Fatal(err)
	}
	if other.LifecycleStage != 0 || other.MqlTime != nil || other.LifecycleStageTime != nil {
		t.Fatalf("lead without a stage = %v", other)
	}

	_, err = setStage(s, t, sam, l.Name, 9)
	if _, fields := testkit.RequireCode(t, err, codes.InvalidArgument); !slices.Contains(fields, "lead.lifecycle_stage") {
		t.Fatalf("unknown stage on update: fields %v", fields)
	}
	// Sales accepts it: SQL.
	l, err = setStage(s, t, sam, l.Name, sql)
	if err != nil {
		t.Fatal(err)
	}
	mqlAt := l.MqlTime.AsTime()
	if l.LifecycleStage != sql || l.SqlTime == nil || l.LifecycleStageChangedBy != "sam" {
		t.Fatalf("SQL = %v", l)
	}
	// Backwards, by the salesperson: refused, whether to MQL or cleared,
	// and nothing changes.
	for _, back := range []leadv1.LifecycleStage{mql, leadv1.LifecycleStage_LIFECYCLE_STAGE_UNSPECIFIED} {
		_, err = setStage(s, t, sam, l.Name, back)
		if r, _ := testkit.RequireCode(t, err, codes.PermissionDenied); r != "LIFECYCLE_STAGE_BACKWARDS" {
			t.Fatalf("sales moving back to %v: reason %s", back, r)
		}
	}
	got, err := s.client.GetLead(testkit.As("sam", "sales"), &leadv1.GetLeadRequest{Name: l.Name})
	if err != nil || got.LifecycleStage != sql || got.Etag != l.Etag {
		t.Fatalf("after refused moves = %v, %v", got, err)
	}
	// By a manager: allowed; the SQL time goes, the MQL time stays.
	back, err := setStage(s, t, mia, l.Name, mql)
	if err != nil {
		t.Fatal(err)
	}
	if back.LifecycleStage != mql || back.SqlTime != nil || !back.MqlTime.AsTime().Equal(mqlAt) || back.LifecycleStageChangedBy != "mia" {
		t.Fatalf("moved back = %v", back)
	}
	entries := s.audit(t, testkit.As("mia", "manager"), &leadv1.ListAuditEntriesRequest{Parent: l.Name, Filter: `actor = "mia"`})
	if len(entries) != 1 || entries[0].Action != auditv1.AuditEntry_ACTION_UPDATE || entries[0].Method != leadMethod+"UpdateLead" ||
		changes(entries[0])["lifecycle_stage"] != [2]string{`"LIFECYCLE_STAGE_SQL"`, `"LIFECYCLE_STAGE_MQL"`} {
		t.Fatalf("audit of the move back = %v", entries)
	}

	// Lists filter by stage.
	for filter, want := range map[string][]string{
		"lifecycle_stage = MQL":                 {l.Name},
		"lifecycle_stage = LIFECYCLE_STAGE_SQL": nil,
		"lifecycle_stage != MQL":                {other.Name},
		// No stage is the enum's zero value, stored as ''.
		"lifecycle_stage = LIFECYCLE_STAGE_UNSPECIFIED":  {other.Name},
		"lifecycle_stage != LIFECYCLE_STAGE_UNSPECIFIED": {l.Name},
	} {
		list, err := s.client.ListLeads(testkit.As("mia", "manager"), &leadv1.ListLeadsRequest{Filter: filter})
		if err != nil {
			t.Fatalf("%s: %v", filter, err)
		}
		var names []string
		for _, x := range list.Leads {
			names = append(names, x.Name)
		}
		if !slices.Equal(names, want) {
			t.Fatalf("%s: %v, want %v", filter, names, want)
		}
	}
	_, err = s.client.ListLeads(testkit.As("mia", "manager"), &leadv1.ListLeadsRequest{Filter: "lifecycle_stage = LEAD"})
	testkit.RequireCode(t, err, codes.InvalidArgument)

	// The events: MQL on create, then SQL, then back to MQL (backwards).
	var moves []*eventsv1.LeadLifecycleStageChanged
	for _, e := range s.published(t, 7) {
		if m, ok := e.(*eventsv1.LeadLifecycleStageChanged); ok {
			moves = append(moves, m)
		}
	}
	if len(moves) != 3 || moves[0].PreviousStage != 0 || moves[0].Stage != mql || moves[0].Backwards ||
		moves[1].PreviousStage != mql || moves[1].Stage != sql || moves[1].Backwards ||
		moves[2].PreviousStage != sql || moves[2].Stage != mql || !moves[2].Backwards || moves[2].Meta.GetActor() != "mia" ||
		moves[2].Lead.GetLifecycleStageChangedBy() != "mia" {
		t.Fatalf("stage events = %v", moves)
	}
}

// The funnel MQL -> SQL -> qualified, in all and by source, campaign and
// owner, from a known set of leads.
func TestLifecycleFunnelStatistics(t *testing.T) {
	t.Parallel()
	s := startNoAccounts(t)
	alice, bob, mia := []string{"alice", "sales"}, []string{"bob", "sales"}, []string{"mia", "manager"}
	from := timestamppb.New(time.Now().Add(-time.Minute))
	create := func(who []string, last string, src leadv1.Source, campaign string) string {
		t.Helper()
		l, err := s.client.CreateLead(testkit.As(who[0], who[1:]...), &leadv1.CreateLeadRequest{Lead: &leadv1.Lead{
			LastName: last, Source: src, Campaign: campaign}})
		if err != nil {
			t.Fatal(err)
		}
		return l.Name
	}
	move := func(who []string, name string, stages ...leadv1.LifecycleStage) {
		t.Helper()
		for _, st := range stages {
			if _, err := setStage(s, t, who, name, st); err != nil {
				t.Fatal(err)
			}
		}
	}
	convert := func(who []string, name string) {
		t.Helper()
		if _, err := s.client.QualifyLead(testkit.As(who[0], who[1:]...), &leadv1.QualifyLeadRequest{Name: name, AccountTarget: newAccount()}); err != nil {
			t.Fatal(err)
		}
	}
	web, ref := leadv1.Source_SOURCE_WEB_FORM, leadv1.Source_SOURCE_REFERRAL
	// alice, web form, campaign spring: A1 MQL; A2 MQL then SQL; A3
	// straight to SQL and converted; A4 converted without a stage (not in
	// the funnel).
	a1, a2, a3, a4 := create(alice, "A1", web, "spring"), create(alice, "A2", web, "spring"), create(alice, "A3", web, "spring"), create(alice, "A4", web, "spring")
	move(alice, a1, mql)
	move(alice, a2, mql, sql)
	move(alice, a3, sql)
	convert(alice, a3)
	convert(alice, a4)
	// bob, referrals: B1 MQL, SQL, converted; B2 MQL, SQL, moved back to
	// MQL by a manager (no longer counted at SQL).
	b1, b2 := create(bob, "B1", ref, ""), create(bob, "B2", ref, "")
	move(bob, b1, mql, sql)
	convert(bob, b1)
	move(bob, b2, mql, sql)
	move(mia, b2, mql)

	st, err := s.client.GetLeadStatistics(testkit.As("mia", "manager"), &leadv1.GetLeadStatisticsRequest{StartTime: from})
	if err != nil {
		t.Fatal(err)
	}
	check := func(what string, f *leadv1.LifecycleFunnel, m, q, c int64) {
		t.Helper()
		if f.GetMql() != m || f.GetSql() != q || f.GetQualified() != c ||
			math.Abs(f.GetMqlToSqlRate()-float64(q)/float64(m)) > 1e-9 || math.Abs(f.GetSqlToQualifiedRate()-float64(c)/float64(q)) > 1e-9 {
			t.Errorf("%s funnel = %v, want %d MQL, %d SQL, %d qualified", what, f, m, q, c)
		}
	}
	byKey := func(fs []*leadv1.LifecycleFunnel) map[string]*leadv1.LifecycleFunnel {
		out := map[string]*leadv1.LifecycleFunnel{}
		for _, f := range fs {
			out[f.Key] = f
		}
		return out
	}
	check("overall", st.LifecycleFunnel, 5, 3, 2)
	src, camp, own := byKey(st.LifecycleFunnelBySource), byKey(st.LifecycleFunnelByCampaign), byKey(st.LifecycleFunnelByOwner)
	check("web form", src["WEB_FORM"], 3, 2, 1)
	check("referral", src["REFERRAL"], 2, 1, 1)
	check("spring", camp["spring"], 3, 2, 1)
	check("no campaign", camp[""], 2, 1, 1)
	check("alice", own["alice"], 3, 2, 1)
	check("bob", own["bob"], 2, 1, 1)
	if len(src) != 2 || len(camp) != 2 || len(own) != 2 {
		t.Errorf("funnel keys: %v, %v, %v", src, camp, own)
	}
	// A salesperson sees its own funnel only.
	mine, err := s.client.GetLeadStatistics(testkit.As("bob", "sales"), &leadv1.GetLeadStatisticsRequest{StartTime: from})
	if err != nil {
		t.Fatal(err)
	}
	check("bob's own", mine.LifecycleFunnel, 2, 1, 1)
}

// Import rows set the stage too: on new leads, and forwards on existing
// ones; a salesperson's row moving a lead back is rejected alone.
func TestImportedLifecycleStage(t *testing.T) {
	t.Parallel()
	s := start(t)
	sam := testkit.As("sam", "sales")
	ahead, err := s.client.CreateLead(sam, &leadv1.CreateLeadRequest{Lead: &leadv1.Lead{LastName: "Ahead", Email: "ahead@example.com", LifecycleStage: sql}})
	if err != nil {
		t.Fatal(err)
	}
	behind, err := s.client.CreateLead(sam, &leadv1.CreateLeadRequest{Lead: &leadv1.Lead{LastName: "Behind", Email: "behind@example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	r := runImportAs(t, s, sam, &leadv1.ImportOptions{Mode: leadv1.ImportMode_IMPORT_MODE_UPSERT_BY_EMAIL},
		rows(&leadv1.Lead{LastName: "Ahead", Email: "ahead@example.com", LifecycleStage: mql},
			&leadv1.Lead{LastName: "Behind", Email: "behind@example.com", LifecycleStage: mql},
			&leadv1.Lead{LastName: "New", Email: "new@example.com", LifecycleStage: sql}))
	if r.job.Counts.Updated != 1 || r.job.Counts.Created != 1 || len(r.rejections) != 1 || r.rejections[0].Reason != "LIFECYCLE_STAGE_BACKWARDS" {
		t.Fatalf("import: %v, rejections %v", r.job.Counts, r.rejections)
	}
	for name, want := range map[string]leadv1.LifecycleStage{ahead.Name: sql, behind.Name: mql} {
		if got, _ := s.client.GetLead(sam, &leadv1.GetLeadRequest{Name: name}); got.GetLifecycleStage() != want {
			t.Fatalf("%s: stage %v, want %v", name, got.GetLifecycleStage(), want)
		}
	}
	list, err := s.client.ListLeads(sam, &leadv1.ListLeadsRequest{Filter: `email = "new@example.com"`})
	if err != nil || len(list.Leads) != 1 || list.Leads[0].LifecycleStage != sql || list.Leads[0].SqlTime == nil || list.Leads[0].MqlTime == nil {
		t.Fatalf("imported lead = %v, %v", list.GetLeads(), err)
	}
}
