package domain

import (
	"fmt"
	"net/mail"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/crmsuite/crm/platform/apperr"
)

// Timer purposes of assignment.
const (
	// TimerAssignmentApply hands a decided assignment to the record's
	// owning service; key: the record's name.
	TimerAssignmentApply = "assignment.apply"
)

// MeAlias names the caller in `users/me`.
const MeAlias = "me"

// User is a user of the suite as the directory keeps it, by its token
// subject.
type User struct {
	ID           string
	DisplayName  string
	Email        string
	TimeZone     string
	WorkingHours []WorkingInterval
	Active       bool
	OutOfOffice  []OutOfOffice
	// Teams the user belongs to: teams are names users carry, not
	// resources of their own.
	Teams       []string
	Territories []string
	// Capacity weighs load balancing (0 counts as 1).
	Capacity  int
	Deleted   bool
	CreatedAt time.Time
	CreatedBy string
	UpdatedAt time.Time
	UpdatedBy string
	Version   int64
}

// OutOfOffice is a time the user is away, [Start, End).
type OutOfOffice struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	Note  string    `json:"note,omitempty"`
}

// UserFields are the fields UpdateUser may set.
var UserFields = []string{"display_name", "email", "time_zone", "working_hours", "active", "out_of_office", "teams", "territories", "capacity"}

var (
	userIDPattern    = regexp.MustCompile(`^[^/\s]{1,128}$`)
	teamPattern      = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)
	territoryPattern = regexp.MustCompile(`^[A-Z]{2}(:[A-Z0-9]{1,12})?$`)
)

// CheckUserID refuses an id that cannot be a user's subject (or is one
// the suite's services and rules use).
func CheckUserID(field, id string) error {
	switch {
	case !userIDPattern.MatchString(id):
		return apperr.InvalidField(field, "INVALID_USER_ID", "a user id is the user's token subject: 1 to 128 characters, no slash or space")
	case id == MeAlias:
		return apperr.InvalidField(field, "INVALID_USER_ID", "%q stands for the caller in users/me and cannot be an id", id)
	case strings.HasPrefix(id, "service:") || strings.HasPrefix(id, "rule:") || strings.HasPrefix(id, "webform:"):
		return apperr.InvalidField(field, "INVALID_USER_ID", "%q is a service's, rule's or web form's identity, not a user", id)
	}
	return nil
}

// NormalizeTerritory is a territory as stored: upper case, no spaces
// ("de:80 3" is "DE:803").
func NormalizeTerritory(t string) string {
	return strings.ToUpper(strings.Join(strings.Fields(t), ""))
}

// Normalize trims and canonicalizes what a user is given.
func (u *User) Normalize() {
	u.DisplayName, u.Email, u.TimeZone = strings.TrimSpace(u.DisplayName), strings.TrimSpace(u.Email), strings.TrimSpace(u.TimeZone)
	if u.TimeZone == "" {
		u.TimeZone = "UTC"
	}
	for i, t := range u.Teams {
		u.Teams[i] = strings.ToLower(strings.TrimSpace(t))
	}
	for i, t := range u.Territories {
		u.Territories[i] = NormalizeTerritory(t)
	}
	for i := range u.OutOfOffice {
		u.OutOfOffice[i].Note = strings.TrimSpace(u.OutOfOffice[i].Note)
	}
	slices.SortFunc(u.OutOfOffice, func(a, b OutOfOffice) int { return a.Start.Compare(b.Start) })
}

// Check validates a user; fields are named as in the API's User.
func (u *User) Check() error {
	var vs apperr.Violations
	if u.DisplayName == "" {
		vs.Add("display_name", "DISPLAY_NAME_REQUIRED", "a user has a display name")
	}
	if u.Email != "" {
		if a, err := mail.ParseAddress(u.Email); err != nil || a.Address != u.Email {
			vs.Add("email", "INVALID_EMAIL", "%q is not an email address", u.Email)
		}
	}
	if _, err := LoadZone(u.TimeZone); err != nil {
		vs.Add("time_zone", "INVALID_TIME_ZONE", "%q is not an IANA time zone name (e.g. Europe/Berlin)", u.TimeZone)
	}
	CheckIntervals("working_hours", u.WorkingHours, &vs)
	CheckOutOfOffice("out_of_office", u.OutOfOffice, &vs)
	for i, t := range u.Teams {
		if !teamPattern.MatchString(t) {
			vs.Add(fmt.Sprintf("teams[%d]", i), "INVALID_TEAM", "%q: a team name is lower-case letters, digits, '.', '_' and '-', up to 63", t)
		} else if slices.Index(u.Teams, t) < i {
			vs.Add(fmt.Sprintf("teams[%d]", i), "DUPLICATE_TEAM", "%q is listed twice", t)
		}
	}
	for i, t := range u.Territories {
		if !territoryPattern.MatchString(t) {
			vs.Add(fmt.Sprintf("territories[%d]", i), "INVALID_TERRITORY", "%q: a territory is a region code (DE) or a region code and a postal code prefix (DE:80)", t)
		}
	}
	if u.Capacity < 0 || u.Capacity > 10000 {
		vs.Add("capacity", "INVALID_CAPACITY", "capacity is 0 to 10000")
	}
	return vs.Err()
}

// CheckOutOfOffice refuses ranges that end before they start (or lack a
// time), as violations of field[i].
func CheckOutOfOffice(field string, rs []OutOfOffice, vs *apperr.Violations) {
	for i, r := range rs {
		f := fmt.Sprintf("%s[%d]", field, i)
		switch {
		case r.Start.IsZero():
			vs.Add(f+".start_time", "START_REQUIRED", "an out-of-office range has a start time")
		case r.End.IsZero():
			vs.Add(f+".end_time", "END_REQUIRED", "an out-of-office range has an end time")
		case !r.End.After(r.Start):
			vs.Add(f+".end_time", "END_BEFORE_START", "the range ends (%s) before it starts (%s)", r.End.Format(time.RFC3339), r.Start.Format(time.RFC3339))
		}
	}
}

// Hours are the user's working hours (any time if it has none).
func (u *User) Hours() WorkingHours {
	zone, err := LoadZone(u.TimeZone)
	if err != nil {
		zone = time.UTC
	}
	return WorkingHours{Zone: zone, Intervals: u.WorkingHours}
}

// AwayAt is the out-of-office range t falls in, if any.
func (u *User) AwayAt(t time.Time) (OutOfOffice, bool) {
	for _, r := range u.OutOfOffice {
		if !t.Before(r.Start) && t.Before(r.End) {
			return r, true
		}
	}
	return OutOfOffice{}, false
}

// Weight is the user's capacity for load balancing.
func (u *User) Weight() int {
	if u.Capacity <= 0 {
		return 1
	}
	return u.Capacity
}

// ErrUserNotFound is a user the directory does not have.
func ErrUserNotFound(id string) error {
	return apperr.NotFound("USER_NOT_FOUND", "users/%s is not in the directory", id)
}

// ---- assignment rules ----

// Assignment strategies.
type Strategy string

const (
	StrategyRoundRobin   Strategy = "ROUND_ROBIN"
	StrategyLoadBalanced Strategy = "LOAD_BALANCED"
	StrategyByField      Strategy = "BY_FIELD"
)

// LoadMeasure is what load balancing counts.
type LoadMeasure string

const (
	LoadOpenRecords LoadMeasure = "OPEN_RECORDS"
	LoadOpenTasks   LoadMeasure = "OPEN_TASKS"
)

// RoutingField is what BY_FIELD routes on.
type RoutingField string

const (
	FieldTerritory RoutingField = "TERRITORY"
	FieldSource    RoutingField = "SOURCE"
)

// Candidates are users and teams a rule (or route) considers.
type Candidates struct {
	Users []string `json:"users,omitempty"`
	Teams []string `json:"teams,omitempty"`
}

// Empty reports no user and no team.
func (c Candidates) Empty() bool { return len(c.Users) == 0 && len(c.Teams) == 0 }

// FieldRouting is BY_FIELD's settings.
type FieldRouting struct {
	Field  RoutingField `json:"field"`
	Routes []FieldRoute `json:"routes,omitempty"`
}

// FieldRoute sends records whose field has one of Values to Candidates.
type FieldRoute struct {
	Values     []string   `json:"values"`
	Candidates Candidates `json:"candidates"`
}

// AssignmentRule assigns new records of a type.
type AssignmentRule struct {
	ID            uuid.UUID
	DisplayName   string
	RecordType    RecordType
	Condition     string
	Priority      int
	Strategy      Strategy
	Candidates    Candidates
	LoadMeasure   LoadMeasure
	ByField       *FieldRouting
	AnyTime       bool
	FallbackOwner string
	Enabled       bool
	Deleted       bool
	CreatedAt     time.Time
	CreatedBy     string
	UpdatedAt     time.Time
	UpdatedBy     string
	Version       int64
}

// AssignmentRuleFields are the fields UpdateAssignmentRule may set.
var AssignmentRuleFields = []string{"display_name", "condition", "priority", "strategy", "candidates", "load_measure", "by_field", "any_time", "fallback_owner", "enabled"}

// AssignableTypes are the record types assignment rules assign.
var AssignableTypes = []RecordType{RecordLead, RecordOpportunity, RecordOrder}

// LeadSources are the lead source names SOURCE routes may list.
var LeadSources = []string{"WEB_FORM", "IMPORT", "REFERRAL", "CAMPAIGN", "TRADE_SHOW", "ADVERTISEMENT", "INTEGRATION", "MANUAL", "OTHER"}

// Normalize trims what a rule is given and fills defaults.
func (r *AssignmentRule) Normalize() {
	r.DisplayName, r.Condition, r.FallbackOwner = strings.TrimSpace(r.DisplayName), strings.TrimSpace(r.Condition), strings.TrimSpace(r.FallbackOwner)
	norm := func(c *Candidates) {
		for i := range c.Users {
			c.Users[i] = strings.TrimSpace(c.Users[i])
		}
		for i := range c.Teams {
			c.Teams[i] = strings.ToLower(strings.TrimSpace(c.Teams[i]))
		}
	}
	norm(&r.Candidates)
	if r.Strategy == StrategyLoadBalanced && r.LoadMeasure == "" {
		r.LoadMeasure = LoadOpenRecords
	}
	if r.ByField != nil {
		for i := range r.ByField.Routes {
			rt := &r.ByField.Routes[i]
			norm(&rt.Candidates)
			for j := range rt.Values {
				rt.Values[j] = strings.ToUpper(strings.TrimSpace(rt.Values[j]))
			}
		}
	}
}

// Check validates a rule's shape (not whether its users exist, nor its
// condition: the use case checks those); fields are named as in the API.
func (r *AssignmentRule) Check() error {
	var vs apperr.Violations
	if r.DisplayName == "" {
		vs.Add("display_name", "DISPLAY_NAME_REQUIRED", "a rule has a display name")
	}
	if !slices.Contains(AssignableTypes, r.RecordType) {
		vs.Add("record_type", "INVALID_RECORD_TYPE", "assignment rules assign LEAD, OPPORTUNITY or ORDER records")
	}
	switch r.Strategy {
	case StrategyRoundRobin, StrategyLoadBalanced:
		if r.ByField != nil {
			vs.Add("by_field", "BY_FIELD_NOT_ALLOWED", "by_field is for the BY_FIELD strategy")
		}
	case StrategyByField:
		r.checkRouting(&vs)
	default:
		vs.Add("strategy", "STRATEGY_REQUIRED", "a rule has a strategy: ROUND_ROBIN, LOAD_BALANCED or BY_FIELD")
	}
	if r.LoadMeasure != "" && r.Strategy != StrategyLoadBalanced {
		vs.Add("load_measure", "LOAD_MEASURE_NOT_ALLOWED", "load_measure is for the LOAD_BALANCED strategy")
	}
	if r.AllCandidates().Empty() {
		vs.Add("candidates", "NO_CANDIDATES", "a rule considers at least one user or team")
	}
	for i, u := range r.Candidates.Users {
		if slices.Index(r.Candidates.Users, u) < i {
			vs.Add(fmt.Sprintf("candidates.users[%d]", i), "DUPLICATE_CANDIDATE", "%q is listed twice", u)
		}
	}
	if r.Priority < 0 {
		vs.Add("priority", "INVALID_PRIORITY", "priority is 0 or more")
	}
	return vs.Err()
}

func (r *AssignmentRule) checkRouting(vs *apperr.Violations) {
	f := r.ByField
	switch {
	case f == nil || f.Field == "":
		vs.Add("by_field.field", "FIELD_REQUIRED", "a BY_FIELD rule routes on TERRITORY or SOURCE")
		return
	case r.RecordType != RecordLead:
		vs.Add("by_field.field", "FIELD_NOT_ALLOWED", "BY_FIELD routes leads only (their address and source)")
	case f.Field == FieldTerritory && len(f.Routes) > 0:
		vs.Add("by_field.routes", "ROUTES_NOT_ALLOWED", "territory routing matches the candidates' own territories; routes are for SOURCE")
	case f.Field == FieldSource && len(f.Routes) == 0:
		vs.Add("by_field.routes", "ROUTES_REQUIRED", "SOURCE routing lists which candidates take which sources")
	}
	seen := map[string]bool{}
	for i, rt := range f.Routes {
		p := fmt.Sprintf("by_field.routes[%d]", i)
		if len(rt.Values) == 0 {
			vs.Add(p+".values", "VALUES_REQUIRED", "a route lists the sources it takes")
		}
		for j, v := range rt.Values {
			switch {
			case !slices.Contains(LeadSources, v):
				vs.Add(fmt.Sprintf("%s.values[%d]", p, j), "INVALID_SOURCE", "%q is not a lead source (%s)", v, strings.Join(LeadSources, ", "))
			case seen[v]:
				vs.Add(fmt.Sprintf("%s.values[%d]", p, j), "DUPLICATE_SOURCE", "%s is routed twice", v)
			}
			seen[v] = true
		}
		if rt.Candidates.Empty() {
			vs.Add(p+".candidates", "NO_CANDIDATES", "a route considers at least one user or team")
		}
	}
}

// AllCandidates are the users and teams the rule names anywhere (its own
// and its routes').
func (r *AssignmentRule) AllCandidates() Candidates {
	out := Candidates{Users: slices.Clone(r.Candidates.Users), Teams: slices.Clone(r.Candidates.Teams)}
	if r.ByField != nil {
		for _, rt := range r.ByField.Routes {
			out.Users = append(out.Users, rt.Candidates.Users...)
			out.Teams = append(out.Teams, rt.Candidates.Teams...)
		}
	}
	return out
}

// CandidatesFor are the candidates the rule considers for a record: a
// SOURCE rule's route for the record's source (the rule's own when no
// route lists it), else the rule's own; routedBy names the route taken.
func (r *AssignmentRule) CandidatesFor(f RoutingFacts) (c Candidates, routedBy string) {
	if r.Strategy == StrategyByField && r.ByField != nil && r.ByField.Field == FieldSource {
		for _, rt := range r.ByField.Routes {
			if slices.Contains(rt.Values, f.Source) {
				return rt.Candidates, "source " + f.Source
			}
		}
		return r.Candidates, "source " + f.Source + " (no route: the rule's candidates)"
	}
	return r.Candidates, ""
}

// ErrAssignmentRuleNotFound is a rule that does not exist.
func ErrAssignmentRuleNotFound(id uuid.UUID) error {
	return apperr.NotFound("ASSIGNMENT_RULE_NOT_FOUND", "assignmentRules/%s not found", id)
}

// AssignmentRuleName is the resource name of a rule.
func AssignmentRuleName(id uuid.UUID) string { return "assignmentRules/" + id.String() }

// ---- assignments ----

// AssignmentState is where an assignment is.
type AssignmentState string

const (
	AssignmentPending AssignmentState = "PENDING"
	AssignmentApplied AssignmentState = "APPLIED"
	AssignmentKept    AssignmentState = "KEPT"
	AssignmentFailed  AssignmentState = "FAILED"
)

// SkipReason says why a candidate was not picked.
type SkipReason string

const (
	SkipUnknownUser    SkipReason = "UNKNOWN_USER"
	SkipInactive       SkipReason = "INACTIVE"
	SkipOutOfOffice    SkipReason = "OUT_OF_OFFICE"
	SkipOutsideHours   SkipReason = "OUTSIDE_WORKING_HOURS"
	SkipNotInTerritory SkipReason = "NOT_IN_TERRITORY"
	SkipNotChosen      SkipReason = "NOT_CHOSEN"
)

// CandidateDecision is one candidate a rule considered, and what came of
// it.
type CandidateDecision struct {
	User     string     `json:"user"`
	Team     string     `json:"team,omitempty"`
	Eligible bool       `json:"eligible,omitempty"`
	Chosen   bool       `json:"chosen,omitempty"`
	Skip     SkipReason `json:"skip,omitempty"`
	Detail   string     `json:"detail,omitempty"`
	Load     int64      `json:"load,omitempty"`
	Capacity int        `json:"capacity,omitempty"`
}

// Assignment is how a record was assigned, and why.
type Assignment struct {
	Record          string
	RecordType      RecordType
	Rule            uuid.UUID
	RuleVersion     int64
	RuleDisplayName string
	Strategy        Strategy
	PreviousOwner   string
	Owner           string
	Flagged         bool
	Candidates      []CandidateDecision
	// RulesSkipped are the rules tried first whose condition did not hold
	// (or failed: "assignmentRules/…: error").
	RulesSkipped []string
	Reason       string
	RoutedBy     string
	State        AssignmentState
	Error        string
	// EventID is the event of the record's creation it was decided on.
	EventID   uuid.UUID
	DecidedAt time.Time
	AppliedAt time.Time
	Attempts  int
}

// ErrAssignmentNotFound is a record no rule assigned.
func ErrAssignmentNotFound(record string) error {
	return apperr.NotFound("ASSIGNMENT_NOT_FOUND", "no assignment rule assigned %s", record)
}

// RoutingFacts are what BY_FIELD reads of a record: a lead's address
// region and postal code (normalized as territories are) and its source.
type RoutingFacts struct {
	Region, Postal, Source string
}

// TerritoryMatch is how specifically territory t covers f: 0 not at all,
// 1 the region, 2 and more a postal prefix (longer, more specific).
func TerritoryMatch(t string, f RoutingFacts) int {
	region, prefix, _ := strings.Cut(t, ":")
	if f.Region == "" || region != f.Region {
		return 0
	}
	if prefix == "" {
		return 1
	}
	if strings.HasPrefix(f.Postal, prefix) {
		return 1 + len(prefix)
	}
	return 0
}

// Considered is a candidate as the decision sees it: its directory entry
// (nil: not in it) and the team it came in by.
type Considered struct {
	ID   string
	Team string
	User *User
}

// Eligibility decides which candidates may take a record at now under
// rule r: active, not out of office, in working hours unless the rule
// says any time, and for territory routing in the record's most specific
// territory. It returns every candidate's decision (by id) and the
// eligible ones' indexes; bucket is the cursor the rule turns for the
// record (its territory, or route).
func Eligibility(r *AssignmentRule, cs []Considered, f RoutingFacts, now time.Time) (ds []CandidateDecision, eligible []int, bucket string) {
	slices.SortFunc(cs, func(a, b Considered) int { return strings.Compare(a.ID, b.ID) })
	ds = make([]CandidateDecision, len(cs))
	best := map[int]int{}
	for i, c := range cs {
		d := CandidateDecision{User: c.ID, Team: c.Team}
		u := c.User
		switch {
		case u == nil || u.Deleted:
			d.Skip, d.Detail = SkipUnknownUser, "not in the directory"
		case !u.Active:
			d.Skip, d.Detail = SkipInactive, "not active"
		default:
			d.Capacity = u.Weight()
			if away, ok := u.AwayAt(now); ok {
				d.Skip, d.Detail = SkipOutOfOffice, fmt.Sprintf("out of office %s to %s", away.Start.UTC().Format(time.RFC3339), away.End.UTC().Format(time.RFC3339))
				if away.Note != "" {
					d.Detail += ": " + away.Note
				}
			} else if !r.AnyTime && !u.Hours().Within(now) {
				d.Skip, d.Detail = SkipOutsideHours, "outside working hours ("+u.TimeZone+")"
			}
		}
		if d.Skip == "" && r.Strategy == StrategyByField && r.ByField != nil && r.ByField.Field == FieldTerritory {
			m := 0
			for _, t := range u.Territories {
				m = max(m, TerritoryMatch(t, f))
			}
			best[i] = m
		}
		ds[i] = d
	}
	top := 0
	for _, m := range best {
		top = max(top, m)
	}
	for i := range ds {
		if ds[i].Skip != "" {
			continue
		}
		if m, routed := best[i]; routed {
			switch {
			case m == 0:
				ds[i].Skip, ds[i].Detail = SkipNotInTerritory, "no territory of the user covers "+territoryOf(f)
				continue
			case m < top:
				ds[i].Skip, ds[i].Detail = SkipNotInTerritory, "another candidate's territory covers "+territoryOf(f)+" more specifically"
				continue
			}
		}
		ds[i].Eligible = true
		eligible = append(eligible, i)
	}
	if r.Strategy == StrategyByField && r.ByField != nil {
		switch r.ByField.Field {
		case FieldTerritory:
			bucket = "territory:" + territoryOf(f)
			if top == 0 {
				bucket = "territory:"
			}
		case FieldSource:
			bucket = "source:" + f.Source
		}
	}
	return ds, eligible, bucket
}

func territoryOf(f RoutingFacts) string {
	if f.Region == "" {
		return "(no address region)"
	}
	if f.Postal == "" {
		return f.Region
	}
	return f.Region + ":" + f.Postal
}

// NextAfter is round robin: the first of the eligible ids (sorted) after
// last, wrapping around.
func NextAfter(ids []string, last string) string {
	if len(ids) == 0 {
		return ""
	}
	for _, id := range ids {
		if id > last {
			return id
		}
	}
	return ids[0]
}

// LeastLoaded is load balancing: the eligible id with the lowest load per
// unit of weight; ties go round robin after last.
func LeastLoaded(ids []string, load map[string]int64, weight map[string]int, last string) string {
	var tied []string
	for _, id := range ids {
		if len(tied) == 0 {
			tied = []string{id}
			continue
		}
		// a/wa < b/wb without division: a*wb < b*wa.
		cur, best := load[id]*int64(weight[tied[0]]), load[tied[0]]*int64(weight[id])
		switch {
		case cur < best:
			tied = []string{id}
		case cur == best:
			tied = append(tied, id)
		}
	}
	return NextAfter(tied, last)
}
