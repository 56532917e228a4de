package wire_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/genproto/googleapis/type/dayofweek"
	"google.golang.org/genproto/googleapis/type/timeofday"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/crmsuite/crm/gen/go/crm/events/v1"
	leadv1 "github.com/crmsuite/crm/gen/go/crm/lead/v1"
	opportunityv1 "github.com/crmsuite/crm/gen/go/crm/opportunity/v1"
	orderv1 "github.com/crmsuite/crm/gen/go/crm/order/v1"
	workflowv1 "github.com/crmsuite/crm/gen/go/crm/workflow/v1"
	"github.com/crmsuite/crm/platform/testkit"
	"github.com/crmsuite/crm/services/workflow/internal/adapters/postgres"
)

// directory is the directory API of the running workflow service (in
// process, or the process startProc started).
func (s *suite) directory(t *testing.T) workflowv1.DirectoryServiceClient {
	if s.svc != nil {
		return workflowv1.NewDirectoryServiceClient(s.svc.Conn)
	}
	return workflowv1.NewDirectoryServiceClient(testkit.Dial(t, s.addrs["workflow"]))
}

// addUser adds a directory user (active unless edit says otherwise).
func (s *suite) addUser(t *testing.T, id string, edit func(u *workflowv1.User)) *workflowv1.User {
	t.Helper()
	u := &workflowv1.User{DisplayName: "User " + id, Email: id + "@example.com", Active: true}
	if edit != nil {
		edit(u)
	}
	got, err := s.directory(t).CreateUser(admin, &workflowv1.CreateUserRequest{UserId: id, User: u})
	if err != nil {
		t.Fatalf("create user %s: %v", id, err)
	}
	return got
}

// leadDirectorySynced waits until the lead service's copy of the
// directory has n users (AssignLead checks owners against it).
func (s *suite) leadDirectorySynced(t *testing.T, n int) {
	t.Helper()
	testkit.Eventually(t, 30*time.Second, func() bool {
		return s.query(t, `SELECT count(*)::text FROM lead.directory_users`) == fmt.Sprint(n)
	}, "the lead service knowing %d directory users", n)
}

// counts runs a query returning (text, count) rows.
func (s *suite) counts(t *testing.T, q string, args ...any) map[string]int {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, s.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	out := map[string]int{}
	for rows.Next() {
		var k string
		var n int
		if err := rows.Scan(&k, &n); err != nil {
			t.Fatal(err)
		}
		out[k] = n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

var awayNow = []*workflowv1.OutOfOfficeRange{{StartTime: timestamppb.New(time.Now().Add(-time.Hour)), EndTime: timestamppb.New(time.Now().Add(24 * time.Hour)), Note: "on leave"}}

func leadRule(name string, edit func(r *workflowv1.AssignmentRule)) *workflowv1.AssignmentRule {
	r := &workflowv1.AssignmentRule{DisplayName: name, RecordType: workflowv1.AssignmentRecordType_ASSIGNMENT_RECORD_TYPE_LEAD,
		Strategy: workflowv1.AssignmentStrategy_ASSIGNMENT_STRATEGY_ROUND_ROBIN, Enabled: true}
	if edit != nil {
		edit(r)
	}
	return r
}

// Bad users, rules and out-of-office ranges are INVALID_ARGUMENT naming
// the field: a rule with no candidates, a condition that does not
// compile, a candidate or team the directory does not have, a time zone
// that does not exist, a range that ends before it starts. A user added
// twice is ALREADY_EXISTS; a stale etag ABORTED.
func TestDirectoryRefusesBadInput(t *testing.T) {
	t.Parallel()
	s := start(t, "lead")
	dir := s.directory(t)
	s.addUser(t, "sam", func(u *workflowv1.User) { u.Teams = []string{"inbound"} })
	bad := func(what string, err error, field, reason string) {
		t.Helper()
		if err == nil {
			t.Fatalf("%s: accepted", what)
		}
		_, fields := testkit.RequireCode(t, err, codes.InvalidArgument)
		if !testkit.HasField(fields, field) {
			t.Fatalf("%s: violations %v, want %s", what, fields, field)
		}
		if reason != "" && !hasReason(err, field, reason) {
			t.Fatalf("%s: %v, want %s on %s", what, err, reason, field)
		}
	}
	rule := func(edit func(r *workflowv1.AssignmentRule)) error {
		_, err := dir.CreateAssignmentRule(admin, &workflowv1.CreateAssignmentRuleRequest{AssignmentRule: leadRule("r", edit)})
		return err
	}
	bad("no candidates", rule(nil), "assignment_rule.candidates", "NO_CANDIDATES")
	bad("a SOURCE route without candidates", rule(func(r *workflowv1.AssignmentRule) {
		r.Strategy = workflowv1.AssignmentStrategy_ASSIGNMENT_STRATEGY_BY_FIELD
		r.ByField = &workflowv1.FieldRouting{Field: workflowv1.AssignmentField_ASSIGNMENT_FIELD_SOURCE, Routes: []*workflowv1.FieldRoute{{Values: []string{"WEB_FORM"}}}}
	}), "assignment_rule.by_field.routes[0].candidates", "NO_CANDIDATES")
	bad("a condition that does not compile", rule(func(r *workflowv1.AssignmentRule) {
		r.Candidates = &workflowv1.AssignmentCandidates{Users: []string{"sam"}}
		r.Condition = `record.no_such_field == "x"`
	}), "assignment_rule.condition", "INVALID_CONDITION")
	bad("an unknown user", rule(func(r *workflowv1.AssignmentRule) {
		r.Candidates = &workflowv1.AssignmentCandidates{Users: []string{"sam", "ghost"}}
	}), "assignment_rule.candidates.users[1]", "UNKNOWN_USER")
	bad("an unknown team", rule(func(r *workflowv1.AssignmentRule) {
		r.Candidates = &workflowv1.AssignmentCandidates{Teams: []string{"inbound", "nobody"}}
	}), "assignment_rule.candidates.teams[1]", "UNKNOWN_TEAM")
	bad("an unknown fallback owner", rule(func(r *workflowv1.AssignmentRule) {
		r.Candidates = &workflowv1.AssignmentCandidates{Teams: []string{"inbound"}}
		r.FallbackOwner = "ghost"
	}), "assignment_rule.fallback_owner", "UNKNOWN_USER")
	bad("territory routing of opportunities", func() error {
		_, err := dir.CreateAssignmentRule(admin, &workflowv1.CreateAssignmentRuleRequest{AssignmentRule: leadRule("r", func(r *workflowv1.AssignmentRule) {
			r.RecordType = workflowv1.AssignmentRecordType_ASSIGNMENT_RECORD_TYPE_OPPORTUNITY
			r.Strategy = workflowv1.AssignmentStrategy_ASSIGNMENT_STRATEGY_BY_FIELD
			r.ByField = &workflowv1.FieldRouting{Field: workflowv1.AssignmentField_ASSIGNMENT_FIELD_TERRITORY}
			r.Candidates = &workflowv1.AssignmentCandidates{Users: []string{"sam"}}
		})})
		return err
	}(), "assignment_rule.by_field.field", "FIELD_NOT_ALLOWED")

	user := func(id string, u *workflowv1.User) error {
		_, err := dir.CreateUser(admin, &workflowv1.CreateUserRequest{UserId: id, User: u})
		return err
	}
	bad("a time zone that does not exist", user("tz", &workflowv1.User{DisplayName: "Tz", TimeZone: "Europe/Atlantis"}), "user.time_zone", "INVALID_TIME_ZONE")
	start := time.Now().Add(48 * time.Hour)
	bad("out of office ending before it starts", user("ooo", &workflowv1.User{DisplayName: "Ooo",
		OutOfOffice: []*workflowv1.OutOfOfficeRange{{StartTime: timestamppb.New(start), EndTime: timestamppb.New(start.Add(-time.Hour))}}}),
		"user.out_of_office[0].end_time", "END_BEFORE_START")
	bad("overlapping working hours", user("wh", &workflowv1.User{DisplayName: "Wh", WorkingHours: []*workflowv1.WorkingInterval{
		{Day: dayofweek.DayOfWeek_MONDAY, StartTime: &timeofday.TimeOfDay{Hours: 9}, EndTime: &timeofday.TimeOfDay{Hours: 12}},
		{Day: dayofweek.DayOfWeek_MONDAY, StartTime: &timeofday.TimeOfDay{Hours: 11}, EndTime: &timeofday.TimeOfDay{Hours: 17}},
	}}), "user.working_hours[1]", "OVERLAPPING_INTERVALS")
	bad("a user id with a slash", user("a/b", &workflowv1.User{DisplayName: "A"}), "user_id", "INVALID_USER_ID")
	bad("a bad territory", user("terr", &workflowv1.User{DisplayName: "T", Territories: []string{"Bavaria"}}), "user.territories[0]", "INVALID_TERRITORY")
	_, err := dir.SetOutOfOffice(sam, &workflowv1.SetOutOfOfficeRequest{Name: "users/me",
		OutOfOffice: []*workflowv1.OutOfOfficeRange{{StartTime: timestamppb.New(start), EndTime: timestamppb.New(start)}}})
	bad("self-service out of office ending as it starts", err, "out_of_office[0].end_time", "END_BEFORE_START")

	if err := user("sam", &workflowv1.User{DisplayName: "Sam again"}); err == nil {
		t.Fatal("a user added twice")
	} else {
		testkit.RequireCode(t, err, codes.AlreadyExists)
	}
	u, err := dir.GetUser(admin, &workflowv1.GetUserRequest{Name: "users/sam"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dir.UpdateUser(admin, &workflowv1.UpdateUserRequest{User: &workflowv1.User{Name: u.Name, Capacity: 3, Etag: u.Etag},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"capacity"}}}); err != nil {
		t.Fatal(err)
	}
	_, err = dir.UpdateUser(admin, &workflowv1.UpdateUserRequest{User: &workflowv1.User{Name: u.Name, Capacity: 4, Etag: u.Etag},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"capacity"}}})
	testkit.RequireCode(t, err, codes.Aborted)
}

// hasReason reports whether err has a field violation on field with
// reason.
func hasReason(err error, field, reason string) bool {
	st, _ := status.FromError(err)
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.FieldViolations {
				if v.Field == field && v.Reason == reason {
					return true
				}
			}
		}
	}
	return false
}

// Each user sets its own out-of-office and nobody else's: not even an
// admin through the self-service method (admins use UpdateUser).
func TestOutOfOfficeIsSelfService(t *testing.T) {
	t.Parallel()
	s := start(t, "lead")
	dir := s.directory(t)
	s.addUser(t, "sam", nil)
	s.addUser(t, "sue", nil)
	me, err := dir.SetOutOfOffice(sam, &workflowv1.SetOutOfOfficeRequest{Name: "users/me", OutOfOffice: awayNow})
	if err != nil {
		t.Fatalf("sam sets its own out of office: %v", err)
	}
	if me.Name != "users/sam" || len(me.OutOfOffice) != 1 || me.OutOfOffice[0].Note != "on leave" {
		t.Fatalf("sam after: %v", me)
	}
	if _, err := dir.SetOutOfOffice(sam, &workflowv1.SetOutOfOfficeRequest{Name: "users/sam", Etag: me.Etag}); err != nil {
		t.Fatalf("sam clears its out of office by id: %v", err)
	}
	for who, ctx := range map[string]context.Context{"sam": sam, "an admin": admin, "a manager": manager} {
		_, err := dir.SetOutOfOffice(ctx, &workflowv1.SetOutOfOfficeRequest{Name: "users/sue", OutOfOffice: awayNow})
		testkit.RequireDenied(t, who+" sets sue's out of office", err)
	}
	_, err = dir.UpdateUser(sam, &workflowv1.UpdateUserRequest{User: &workflowv1.User{Name: "users/sue", OutOfOffice: awayNow},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"out_of_office"}}})
	testkit.RequireDenied(t, "sam updates sue", err)
	updated, err := dir.UpdateUser(admin, &workflowv1.UpdateUserRequest{User: &workflowv1.User{Name: "users/sue", OutOfOffice: awayNow},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"out_of_office"}}})
	if err != nil || len(updated.OutOfOffice) != 1 {
		t.Fatalf("an admin updates sue's out of office: %v %v", updated, err)
	}
	got, err := dir.GetUser(sue, &workflowv1.GetUserRequest{Name: "users/me"})
	if err != nil || got.Name != "users/sue" {
		t.Fatalf("sue reads users/me: %v %v", got, err)
	}
}

// 1,000 new leads created at once, with no owner named, are spread round
// robin over the 7 eligible reps of the rule's team: no rep's count
// differs from another's by more than one, the rep out of office and the
// inactive one get none, each lead is handed over once, and each says
// why it went to whom.
func TestConcurrentNewLeadsAreSpreadEvenlyOverEligibleReps(t *testing.T) {
	t.Parallel()
	s := start(t, "lead")
	dir := s.directory(t)
	var reps []string
	for i := 1; i <= 7; i++ {
		reps = append(reps, fmt.Sprintf("rep%d", i))
	}
	for _, id := range reps {
		s.addUser(t, id, func(u *workflowv1.User) { u.Teams = []string{"inbound"} })
	}
	s.addUser(t, "away", func(u *workflowv1.User) { u.Teams, u.OutOfOffice = []string{"inbound"}, awayNow })
	s.addUser(t, "gone", func(u *workflowv1.User) { u.Teams, u.Active = []string{"inbound"}, false })
	rule, err := dir.CreateAssignmentRule(admin, &workflowv1.CreateAssignmentRuleRequest{AssignmentRule: leadRule("Inbound round robin", func(r *workflowv1.AssignmentRule) {
		r.Candidates = &workflowv1.AssignmentCandidates{Teams: []string{"inbound"}}
	})})
	if err != nil {
		t.Fatal(err)
	}
	s.leadDirectorySynced(t, 9)

	const total = 1000
	intake := testkit.As("intake", "sales")
	names := make([]string, total)
	var wg sync.WaitGroup
	errs := make(chan error, total)
	for i := range total {
		wg.Go(func() {
			l, err := s.leads.CreateLead(intake, &leadv1.CreateLeadRequest{Lead: &leadv1.Lead{LastName: fmt.Sprintf("Lead %d", i), Company: fmt.Sprintf("Co %d", i)}})
			if err != nil {
				errs <- err
				return
			}
			names[i] = l.Name
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	testkit.Eventually(t, 180*time.Second, func() bool {
		return s.query(t, `SELECT count(*)::text FROM assignments WHERE state = 'APPLIED'`) == fmt.Sprint(total)
	}, "every lead handed over")
	testkit.Eventually(t, 60*time.Second, func() bool {
		return s.query(t, `SELECT count(*)::text FROM lead.leads WHERE owner LIKE 'rep%'`) == fmt.Sprint(total)
	}, "every lead owned by a rep")
	owners := s.counts(t, `SELECT owner, count(*) FROM lead.leads GROUP BY owner`)
	lo, hi := total, 0
	for _, id := range reps {
		lo, hi = min(lo, owners[id]), max(hi, owners[id])
	}
	t.Logf("leads per rep: %v", owners)
	if hi-lo > 1 || len(owners) != len(reps) {
		t.Fatalf("leads per owner %v: want 7 reps within one of each other and nobody else", owners)
	}
	if n := s.query(t, `SELECT count(*)::text FROM assignments WHERE rule_id = $1 AND reason <> '' AND jsonb_array_length(candidates) = 9 AND NOT flagged`,
		rule.Name[len("assignmentRules/"):]); n != fmt.Sprint(total) {
		t.Fatalf("%s assignments say why with all 9 candidates", n)
	}
	assigned := map[string]int{}
	for _, e := range s.nats.Published(t, s.js, "lead", 2*total) {
		if ev, ok := e.(*eventsv1.LeadAssigned); ok {
			assigned[ev.LeadId]++
			if ev.Meta.Actor != "service:workflow" || ev.PreviousOwner != "intake" {
				t.Fatalf("LeadAssigned %v", ev)
			}
		}
	}
	if len(assigned) != total {
		t.Fatalf("%d leads assigned, want %d", len(assigned), total)
	}
	for id, n := range assigned {
		if n != 1 {
			t.Fatalf("lead %s assigned %d times", id, n)
		}
	}

	// Why, on the record: over gRPC for a manager, and for the rep that
	// owns it; not for another rep.
	l, err := s.leads.GetLead(admin, &leadv1.GetLeadRequest{Name: names[0]})
	if err != nil {
		t.Fatal(err)
	}
	s.known(t, l.Name)
	testkit.Eventually(t, 20*time.Second, func() bool {
		return s.query(t, `SELECT owner FROM records WHERE name = $1`, l.Name) == l.Owner
	}, "the projection showing the new owner")
	a, err := dir.GetAssignment(manager, &workflowv1.GetAssignmentRequest{Name: l.Name + "/assignment"})
	if err != nil {
		t.Fatal(err)
	}
	if a.Owner != l.Owner || a.PreviousOwner != "intake" || a.Rule != rule.Name || a.Strategy != workflowv1.AssignmentStrategy_ASSIGNMENT_STRATEGY_ROUND_ROBIN ||
		a.State != workflowv1.AssignmentState_ASSIGNMENT_STATE_APPLIED || a.Flagged || a.Reason == "" || len(a.Candidates) != 9 {
		t.Fatalf("assignment: %v", a)
	}
	skip := map[string]workflowv1.SkipReason{}
	for _, c := range a.Candidates {
		skip[c.User] = c.SkipReason
		if c.Chosen != (c.User == l.Owner) || c.Team != "inbound" {
			t.Fatalf("candidate %v", c)
		}
	}
	if skip["away"] != workflowv1.SkipReason_SKIP_REASON_OUT_OF_OFFICE || skip["gone"] != workflowv1.SkipReason_SKIP_REASON_INACTIVE ||
		skip[l.Owner] != workflowv1.SkipReason_SKIP_REASON_UNSPECIFIED {
		t.Fatalf("skip reasons %v", skip)
	}
	if _, err := dir.GetAssignment(testkit.As(l.Owner, "sales"), &workflowv1.GetAssignmentRequest{Name: l.Name + "/assignment"}); err != nil {
		t.Fatalf("the owner reads why: %v", err)
	}
	other := reps[(slices.Index(reps, l.Owner)+1)%len(reps)]
	_, err = dir.GetAssignment(testkit.As(other, "sales"), &workflowv1.GetAssignmentRequest{Name: l.Name + "/assignment"})
	testkit.RequireDenied(t, "another rep reads why", err)
}

// notNow are working hours on a weekday that is neither today nor
// tomorrow (UTC): whoever has them is outside working hours now.
func notNow() []*workflowv1.WorkingInterval {
	d := (time.Now().UTC().Weekday() + 3) % 7
	day := dayofweek.DayOfWeek(d)
	if d == time.Sunday {
		day = dayofweek.DayOfWeek_SUNDAY
	}
	return []*workflowv1.WorkingInterval{{Day: day, StartTime: &timeofday.TimeOfDay{Hours: 9}, EndTime: &timeofday.TimeOfDay{Hours: 17}}}
}

// When no candidate is eligible (out of office, outside working hours)
// the rule's fallback owner takes the lead and the assignment is
// flagged; with no fallback the lead keeps its owner, flagged too. Rules
// are tried by priority, and a lead whose creator named its owner, or
// that no rule's condition matches, is not assigned. AssignLead refuses
// an owner who is not an active user, as the lead service's copy of the
// directory says.
func TestNobodyEligibleGoesToTheFallbackOwnerFlagged(t *testing.T) {
	t.Parallel()
	s := start(t, "lead")
	dir := s.directory(t)
	s.addUser(t, "night", func(u *workflowv1.User) { u.WorkingHours, u.TimeZone = notNow(), "UTC" })
	s.addUser(t, "away", func(u *workflowv1.User) { u.OutOfOffice = awayNow })
	s.addUser(t, "queue", nil)
	s.addUser(t, "sue", nil)
	s.addUser(t, "ina", func(u *workflowv1.User) { u.Active = false })
	fallback, err := dir.CreateAssignmentRule(admin, &workflowv1.CreateAssignmentRuleRequest{AssignmentRule: leadRule("Fallback", func(r *workflowv1.AssignmentRule) {
		r.Priority, r.Condition, r.FallbackOwner = 10, `record.company == "Fallback Co"`, "queue"
		r.Candidates = &workflowv1.AssignmentCandidates{Users: []string{"night", "away"}}
	})})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dir.CreateAssignmentRule(admin, &workflowv1.CreateAssignmentRuleRequest{AssignmentRule: leadRule("Keep", func(r *workflowv1.AssignmentRule) {
		r.Priority, r.Condition = 20, `record.company.startsWith("Fallback") || record.company.startsWith("Kept")`
		r.Strategy = workflowv1.AssignmentStrategy_ASSIGNMENT_STRATEGY_LOAD_BALANCED
		r.Candidates = &workflowv1.AssignmentCandidates{Users: []string{"night"}}
	})}); err != nil {
		t.Fatal(err)
	}
	s.leadDirectorySynced(t, 5)
	intake := testkit.As("intake", "sales")
	create := func(ctx context.Context, l *leadv1.Lead) string {
		t.Helper()
		got, err := s.leads.CreateLead(ctx, &leadv1.CreateLeadRequest{Lead: l})
		if err != nil {
			t.Fatal(err)
		}
		return got.Name
	}
	toQueue := create(intake, &leadv1.Lead{LastName: "A", Company: "Fallback Co"})
	kept := create(intake, &leadv1.Lead{LastName: "B", Company: "Kept Co"})
	unmatched := create(intake, &leadv1.Lead{LastName: "C", Company: "Other Co"})
	named := create(manager, &leadv1.Lead{LastName: "D", Company: "Fallback Co", Owner: "sue"})

	assignment := func(lead string, state workflowv1.AssignmentState) *workflowv1.Assignment {
		t.Helper()
		var a *workflowv1.Assignment
		testkit.Eventually(t, 30*time.Second, func() bool {
			var err error
			a, err = dir.GetAssignment(manager, &workflowv1.GetAssignmentRequest{Name: lead + "/assignment"})
			return err == nil && a.State == state
		}, "%s's assignment %s", lead, state)
		return a
	}
	a := assignment(toQueue, workflowv1.AssignmentState_ASSIGNMENT_STATE_APPLIED)
	if a.Owner != "queue" || !a.Flagged || a.Rule != fallback.Name || len(a.RulesSkipped) != 0 || !strings.Contains(a.Reason, "fallback owner queue") {
		t.Fatalf("to the queue: %v", a)
	}
	skip := map[string]workflowv1.SkipReason{}
	for _, c := range a.Candidates {
		skip[c.User] = c.SkipReason
	}
	if skip["night"] != workflowv1.SkipReason_SKIP_REASON_OUTSIDE_WORKING_HOURS || skip["away"] != workflowv1.SkipReason_SKIP_REASON_OUT_OF_OFFICE {
		t.Fatalf("skips: %v", skip)
	}
	testkit.Eventually(t, 20*time.Second, func() bool {
		l, err := s.leads.GetLead(admin, &leadv1.GetLeadRequest{Name: toQueue})
		return err == nil && l.Owner == "queue"
	}, "the queue owning the lead")
	b := assignment(kept, workflowv1.AssignmentState_ASSIGNMENT_STATE_KEPT)
	if b.Owner != "intake" || !b.Flagged || len(b.RulesSkipped) != 1 || b.RulesSkipped[0] != fallback.Name ||
		b.Strategy != workflowv1.AssignmentStrategy_ASSIGNMENT_STRATEGY_LOAD_BALANCED {
		t.Fatalf("kept: %v", b)
	}
	for _, lead := range []string{unmatched, named} {
		s.known(t, lead)
		_, err := dir.GetAssignment(manager, &workflowv1.GetAssignmentRequest{Name: lead + "/assignment"})
		testkit.RequireCode(t, err, codes.NotFound)
	}
	flagged, err := dir.ListAssignments(manager, &workflowv1.ListAssignmentsRequest{Filter: "flagged"})
	if err != nil || len(flagged.Assignments) != 2 {
		t.Fatalf("flagged assignments: %v %v", flagged, err)
	}
	_, err = dir.ListAssignments(sam, &workflowv1.ListAssignmentsRequest{})
	testkit.RequireDenied(t, "a salesperson lists assignments", err)

	// AssignLead: only active users.
	assign := func(owner string) error {
		_, err := s.leads.AssignLead(manager, &leadv1.AssignLeadRequest{Name: unmatched, Owner: owner})
		return err
	}
	for _, owner := range []string{"ina", "nobody"} {
		if reason, _ := testkit.RequireCode(t, assign(owner), codes.FailedPrecondition); reason != "OWNER_NOT_ACTIVE_USER" {
			t.Fatalf("assign to %s: %s", owner, reason)
		}
	}
	if err := assign("sue"); err != nil {
		t.Fatalf("assign to an active user: %v", err)
	}
	if _, err := dir.UpdateUser(admin, &workflowv1.UpdateUserRequest{User: &workflowv1.User{Name: "users/sue", Active: false},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"active"}}}); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 20*time.Second, func() bool {
		return s.query(t, `SELECT count(*)::text FROM lead.directory_users WHERE id = 'sue' AND NOT active`) == "1"
	}, "the lead service knowing sue is inactive")
	if _, err := s.leads.AssignLead(manager, &leadv1.AssignLeadRequest{Name: toQueue, Owner: "sue"}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("assign to a deactivated user: %v", err)
	}
}

// A kill -9 of the workflow service while it assigns imported leads
// (decisions made, some handed over, some not) loses none and doubles
// none: after a restart every lead is assigned once (one LeadAssigned
// each), still evenly.
func TestAssignmentSurvivesAKillOfTheWorkflowService(t *testing.T) {
	t.Parallel()
	s := startServices(t, "lead")
	wf := s.startProc(t)
	dir := s.directory(t)
	var reps []string
	for i := 1; i <= 7; i++ {
		id := fmt.Sprintf("rep%d", i)
		reps = append(reps, id)
		s.addUser(t, id, func(u *workflowv1.User) { u.Teams = []string{"inbound"} })
	}
	if _, err := dir.CreateAssignmentRule(admin, &workflowv1.CreateAssignmentRuleRequest{AssignmentRule: leadRule("Inbound", func(r *workflowv1.AssignmentRule) {
		r.Candidates = &workflowv1.AssignmentCandidates{Teams: []string{"inbound"}}
	})}); err != nil {
		t.Fatal(err)
	}
	s.leadDirectorySynced(t, 7)
	const total = 600
	leads := make([]*leadv1.Lead, total)
	for i := range leads {
		leads[i] = &leadv1.Lead{LastName: fmt.Sprintf("Imported %d", i), Company: fmt.Sprintf("Co %d", i)}
	}
	s.importLeads(t, "sam", leads...)
	// Kill it while it hands leads over: the lead service has assigned
	// some, in calls whose timer transaction has not committed yet.
	testkit.Eventually(t, 60*time.Second, func() bool {
		return atoi(s.query(t, `SELECT count(*)::text FROM lead.leads WHERE owner LIKE 'rep%'`)) > 0
	}, "leads being handed over")
	wf.Kill()
	<-wf.Done()
	t.Logf("killed with %s of %d leads decided, %s handed over as the workflow service knows, %s as the lead service does",
		s.query(t, `SELECT count(*)::text FROM assignments`), total, s.query(t, `SELECT count(*)::text FROM assignments WHERE state = 'APPLIED'`),
		s.query(t, `SELECT count(*)::text FROM lead.leads WHERE owner LIKE 'rep%'`))
	wf.Restart()
	testkit.Eventually(t, 120*time.Second, func() bool {
		return s.query(t, `SELECT count(*)::text FROM assignments WHERE state = 'APPLIED'`) == fmt.Sprint(total)
	}, "every lead handed over")
	testkit.Eventually(t, 30*time.Second, func() bool {
		return s.query(t, `SELECT count(*)::text FROM lead.leads WHERE owner LIKE 'rep%'`) == fmt.Sprint(total)
	}, "every lead owned by a rep")
	time.Sleep(time.Second) // anything doubled would show by now
	if n := s.query(t, `SELECT count(*)::text FROM assignments`); n != fmt.Sprint(total) {
		t.Fatalf("%s assignments, want %d", n, total)
	}
	owners := s.counts(t, `SELECT owner, count(*) FROM lead.leads GROUP BY owner`)
	lo, hi := total, 0
	for _, id := range reps {
		lo, hi = min(lo, owners[id]), max(hi, owners[id])
	}
	if hi-lo > 1 || len(owners) != len(reps) {
		t.Fatalf("leads per owner %v", owners)
	}
	assigned := map[string]int{}
	for _, e := range s.nats.Published(t, s.js, "lead", total) {
		if ev, ok := e.(*eventsv1.LeadAssigned); ok {
			assigned[ev.LeadId]++
		}
	}
	if len(assigned) != total {
		t.Fatalf("%d leads assigned, want %d", len(assigned), total)
	}
	for id, n := range assigned {
		if n != 1 {
			t.Fatalf("lead %s assigned %d times", id, n)
		}
	}
}

// Rules for opportunities and orders assign every new one their
// condition matches, through the owning services' update of the owner:
// load balancing weighs open opportunities by capacity (the rep of
// capacity 2 carries twice the other's), and each says why with the
// loads it saw.
func TestNewOpportunitiesAndOrdersAreAssignedByLoad(t *testing.T) {
	t.Parallel()
	s := start(t, "account", "opportunity", "order")
	dir := s.directory(t)
	s.addUser(t, "one", nil)
	s.addUser(t, "two", func(u *workflowv1.User) { u.Capacity = 2 })
	for _, rt := range []workflowv1.AssignmentRecordType{workflowv1.AssignmentRecordType_ASSIGNMENT_RECORD_TYPE_OPPORTUNITY, workflowv1.AssignmentRecordType_ASSIGNMENT_RECORD_TYPE_ORDER} {
		if _, err := dir.CreateAssignmentRule(admin, &workflowv1.CreateAssignmentRuleRequest{AssignmentRule: leadRule("By load", func(r *workflowv1.AssignmentRule) {
			r.RecordType, r.Strategy = rt, workflowv1.AssignmentStrategy_ASSIGNMENT_STRATEGY_LOAD_BALANCED
			r.Candidates = &workflowv1.AssignmentCandidates{Users: []string{"one", "two"}}
		})}); err != nil {
			t.Fatal(err)
		}
	}
	acct, _ := s.account(t, "sam", "Acme")
	var opps []string
	for i := range 6 {
		o, err := s.opps.CreateOpportunity(sam, &opportunityv1.CreateOpportunityRequest{Opportunity: &opportunityv1.Opportunity{
			DisplayName: fmt.Sprintf("Deal %d", i), Account: acct.Name}})
		if err != nil {
			t.Fatal(err)
		}
		opps = append(opps, o.Name)
	}
	order, err := s.orders.CreateOrder(ops, &orderv1.CreateOrderRequest{Order: &orderv1.Order{DisplayName: "First order", Account: acct.Name, CurrencyCode: "EUR"}})
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(60 * time.Second); s.query(t, `SELECT count(*)::text FROM assignments WHERE state = 'APPLIED'`) != "7"; {
		if time.Now().After(deadline) {
			t.Fatalf("the opportunities and the order not handed over: %s; timers: %s",
				s.query(t, `SELECT coalesce(string_agg(record || ' ' || state || ' ' || error, '; '), '') FROM assignments WHERE state <> 'APPLIED'`),
				s.query(t, `SELECT coalesce(string_agg(key || ' ' || attempts || ' ' || coalesce(last_error, ''), '; '), '') FROM timers WHERE purpose = 'assignment.apply'`))
		}
		time.Sleep(100 * time.Millisecond)
	}
	owners := map[string]int{}
	for _, name := range opps {
		o, err := s.opps.GetOpportunity(admin, &opportunityv1.GetOpportunityRequest{Name: name})
		if err != nil {
			t.Fatal(err)
		}
		owners[o.Owner]++
	}
	if owners["one"] != 2 || owners["two"] != 4 {
		t.Fatalf("opportunities per owner %v: want one 2, two 4 (capacity 1 and 2)", owners)
	}
	a, err := dir.GetAssignment(manager, &workflowv1.GetAssignmentRequest{Name: opps[5] + "/assignment"})
	if err != nil {
		t.Fatal(err)
	}
	if a.Strategy != workflowv1.AssignmentStrategy_ASSIGNMENT_STRATEGY_LOAD_BALANCED || a.PreviousOwner != "sam" || len(a.Candidates) != 2 {
		t.Fatalf("assignment: %v", a)
	}
	for _, c := range a.Candidates {
		if c.Capacity == 0 || c.User == "two" && c.Capacity != 2 {
			t.Fatalf("candidate %v: capacity", c)
		}
	}
	o, err := s.orders.GetOrder(admin, &orderv1.GetOrderRequest{Name: order.Name})
	if err != nil {
		t.Fatal(err)
	}
	if o.Owner != "one" && o.Owner != "two" {
		t.Fatalf("order owner %q", o.Owner)
	}
}

// SQL metacharacters in the directory's list filters are data; the
// fields the filters document work.
func TestDirectoryFiltersTreatHostileValuesAsData(t *testing.T) {
	t.Parallel()
	s := start(t, "lead")
	dir := s.directory(t)
	s.addUser(t, "sam", func(u *workflowv1.User) { u.Teams, u.Territories = []string{"inbound"}, []string{"DE:80"} })
	s.addUser(t, "ina", func(u *workflowv1.User) { u.Active = false })
	filters := postgres.DirectoryListFilters()
	lists := map[string]func(filter string) (int, error){
		"ListUsers": func(f string) (int, error) {
			resp, err := dir.ListUsers(manager, &workflowv1.ListUsersRequest{Filter: f})
			return len(resp.GetUsers()), err
		},
		"ListAssignments": func(f string) (int, error) {
			resp, err := dir.ListAssignments(manager, &workflowv1.ListAssignmentsRequest{Filter: f})
			return len(resp.GetAssignments()), err
		},
	}
	for rpc, list := range lists {
		for _, f := range testkit.HostileFilters(filters[rpc]) {
			n, err := list(f.Filter)
			if !f.Valid {
				if _, fields := testkit.RequireCode(t, err, codes.InvalidArgument); !testkit.HasField(fields, "filter") {
					t.Fatalf("%s %s: fields %v", rpc, f.Filter, fields)
				}
				continue
			}
			if err != nil || n != 0 {
				t.Fatalf("%s %s: %d, %v", rpc, f.Filter, n, err)
			}
		}
	}
	for filter, want := range map[string]int{"": 2, "active": 1, `teams = "inbound"`: 1, `territories = "DE:80" AND active`: 1, "NOT active": 1} {
		if n, err := lists["ListUsers"](filter); err != nil || n != want {
			t.Fatalf("ListUsers %q: %d, %v; want %d", filter, n, err, want)
		}
	}
	if _, err := lists["ListAssignments"]("flagged AND state = ASSIGNMENT_STATE_APPLIED"); err != nil {
		t.Fatal(err)
	}
}
