package app

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/crmsuite/crm/platform/apperr"
	"github.com/crmsuite/crm/platform/auth"
	"github.com/crmsuite/crm/platform/authz"
	"github.com/crmsuite/crm/platform/etag"
	"github.com/crmsuite/crm/services/workflow/internal/domain"
	"github.com/crmsuite/crm/services/workflow/internal/rules"
)

// DirectoryStore stores the directory, assignment rules with their
// round-robin cursors, and assignments. Methods run in the transaction
// ctx carries, if any.
type DirectoryStore interface {
	// GetUser reads a user (deleted ones too); NotFound if it never was.
	GetUser(ctx context.Context, id string, lock bool) (*domain.User, error)
	// SaveUser writes u (new when before is nil), its audit entry and
	// UserChanged; ALREADY_EXISTS for a new user that exists meanwhile.
	SaveUser(ctx context.Context, before, u *domain.User, requestID string) error
	ListUsers(ctx context.Context, filter string, pageSize int, pageToken string) ([]*domain.User, string, error)
	// DirectoryUsers are the users with ids that are in the directory
	// (deleted ones too).
	DirectoryUsers(ctx context.Context, ids []string) (map[string]*domain.User, error)
	// TeamMembers are the ids of the (not deleted) users of each team.
	TeamMembers(ctx context.Context, teams []string) (map[string][]string, error)

	// SaveAssignmentRule writes r (new when before is nil) and its audit
	// entry.
	SaveAssignmentRule(ctx context.Context, before, r *domain.AssignmentRule, requestID string) error
	GetAssignmentRule(ctx context.Context, id uuid.UUID, lock bool) (*domain.AssignmentRule, error)
	ListAssignmentRules(ctx context.Context, pageSize int, pageToken string) ([]*domain.AssignmentRule, string, error)
	// EnabledAssignmentRules are a record type's enabled rules in the
	// order they are tried.
	EnabledAssignmentRules(ctx context.Context, t domain.RecordType) ([]*domain.AssignmentRule, error)

	// AssignedRecords says which of records have an assignment.
	AssignedRecords(ctx context.Context, records []string) (map[string]bool, error)
	// LockCursors locks the cursors of keys (made if new), in key order,
	// and returns the user each picked last.
	LockCursors(ctx context.Context, keys []CursorKey) (map[CursorKey]string, error)
	SaveCursors(ctx context.Context, last map[CursorKey]string) error
	// Loads counts, for each of users, its open records of type t (with
	// its assignments not yet showing in the projection) or its open
	// tasks.
	Loads(ctx context.Context, t domain.RecordType, m domain.LoadMeasure, users []string) (map[string]int64, error)
	// InsertAssignments records assignments, with the apply timer of each
	// pending one.
	InsertAssignments(ctx context.Context, as []*domain.Assignment) error
	LockAssignment(ctx context.Context, record string) (*domain.Assignment, error)
	SaveAssignment(ctx context.Context, a *domain.Assignment, settled bool) error
	GetAssignment(ctx context.Context, record string) (*domain.Assignment, error)
	ListAssignments(ctx context.Context, filter string, pageSize int, pageToken string) ([]*domain.Assignment, string, error)
	// SettleAssignments stops counting the assignments of records (whose
	// owner the projection now shows) towards their owners' load.
	SettleAssignments(ctx context.Context, records []string) error
}

// CursorKey is one round-robin cursor: a rule's, per bucket.
type CursorKey struct {
	Rule   uuid.UUID
	Bucket string
}

// Owners hands records (as the projection has them) to their new owners
// through the owning services, as the workflow service itself,
// idempotently by requestID.
type Owners interface {
	AssignOwner(ctx context.Context, rec *domain.Record, owner, requestID string) error
}

// DirectoryConfig is what users and assignment need besides the
// repository.
type DirectoryConfig struct {
	Store  DirectoryStore
	Owners Owners
	Engine *rules.Engine
	// FallbackOwner takes records no candidate of a rule without a
	// fallback of its own is eligible for ("": they keep their owner).
	FallbackOwner string
	// Self is the workflow service's own subject.
	Self string
}

// WithDirectory gives the service its directory and assignment rules.
func (s *Service) WithDirectory(c *DirectoryConfig) *Service {
	s.directory = c
	return s
}

// ---- users ----

// CreateUser adds a user (or brings back a deleted one).
func (s *Service) CreateUser(ctx context.Context, in domain.User, requestID string) (*domain.User, error) {
	if err := domain.CheckUserID("user_id", in.ID); err != nil {
		return nil, err
	}
	u := in
	u.Normalize()
	if err := u.Check(); err != nil {
		return nil, err
	}
	actor, now := auth.Actor(ctx), s.now()
	err := s.repo.InTx(ctx, func(ctx context.Context) error {
		prev, err := s.directory.Store.GetUser(ctx, u.ID, true)
		switch {
		case apperr.IsKind(err, apperr.KindNotFound):
			prev = nil
		case err != nil:
			return err
		case !prev.Deleted:
			return apperr.AlreadyExists("USER_EXISTS", "users/%s is in the directory already", u.ID)
		}
		u.Version, u.Deleted = 1, false
		if prev != nil {
			u.Version = prev.Version + 1
		}
		u.CreatedAt, u.CreatedBy, u.UpdatedAt, u.UpdatedBy = now, actor, now, actor
		if err := s.directory.Store.SaveUser(ctx, prev, &u, requestID); err != nil {
			return err
		}
		return s.repo.AddUsers(ctx, u.ID)
	})
	return &u, err
}

// GetUser reads a directory user.
func (s *Service) GetUser(ctx context.Context, id string) (*domain.User, error) {
	u, err := s.directory.Store.GetUser(ctx, id, false)
	if err != nil {
		return nil, err
	}
	if u.Deleted {
		return nil, domain.ErrUserNotFound(id)
	}
	return u, nil
}

func (s *Service) ListUsers(ctx context.Context, filter string, pageSize int, pageToken string) ([]*domain.User, string, error) {
	return s.directory.Store.ListUsers(ctx, filter, pageSize, pageToken)
}

// UpdateUser sets the fields in mask.
func (s *Service) UpdateUser(ctx context.Context, id string, patch domain.User, mask []string, ifMatch string) (*domain.User, error) {
	return s.changeUser(ctx, id, ifMatch, func(u *domain.User) error {
		for _, f := range mask {
			switch f {
			case "display_name":
				u.DisplayName = patch.DisplayName
			case "email":
				u.Email = patch.Email
			case "time_zone":
				u.TimeZone = patch.TimeZone
			case "working_hours":
				u.WorkingHours = patch.WorkingHours
			case "active":
				u.Active = patch.Active
			case "out_of_office":
				u.OutOfOffice = patch.OutOfOffice
			case "teams":
				u.Teams = patch.Teams
			case "territories":
				u.Territories = patch.Territories
			case "capacity":
				u.Capacity = patch.Capacity
			default:
				return apperr.InvalidField("update_mask", "FIELD_NOT_UPDATABLE", "%s cannot be updated", f)
			}
		}
		u.Normalize()
		return u.Check()
	})
}

// DeleteUser takes a user out of the directory: it is assigned nothing
// more and AssignLead no longer accepts it.
func (s *Service) DeleteUser(ctx context.Context, id, ifMatch string) error {
	_, err := s.changeUser(ctx, id, ifMatch, func(u *domain.User) error {
		u.Deleted, u.Active = true, false
		return nil
	})
	return err
}

// SetOutOfOffice replaces the caller's own out-of-office ranges; anyone
// else's is refused, whoever asks.
func (s *Service) SetOutOfOffice(ctx context.Context, id string, ranges []domain.OutOfOffice, ifMatch string) (*domain.User, error) {
	if id != auth.Actor(ctx) {
		return nil, authz.Denied()
	}
	var vs apperr.Violations
	domain.CheckOutOfOffice("out_of_office", ranges, &vs)
	if err := vs.Err(); err != nil {
		return nil, err
	}
	return s.changeUser(ctx, id, ifMatch, func(u *domain.User) error {
		u.OutOfOffice = ranges
		u.Normalize()
		return nil
	})
}

func (s *Service) changeUser(ctx context.Context, id, ifMatch string, fn func(u *domain.User) error) (*domain.User, error) {
	var out *domain.User
	err := s.repo.InTx(ctx, func(ctx context.Context) error {
		u, err := s.directory.Store.GetUser(ctx, id, true)
		if err != nil {
			return err
		}
		if u.Deleted {
			return domain.ErrUserNotFound(id)
		}
		if err := etag.Check(ifMatch, u.Version); err != nil {
			return err
		}
		before := *u
		if err := fn(u); err != nil {
			return err
		}
		u.Version++
		u.UpdatedAt, u.UpdatedBy = s.now(), auth.Actor(ctx)
		out = u
		return s.directory.Store.SaveUser(ctx, &before, u, "")
	})
	return out, err
}

// ---- assignment rules ----

// checkAssignmentRule validates a rule: its shape, its condition (CEL on
// the record), that the users it names are in the directory, that its
// teams have members and that its fallback owner is an active user.
func (s *Service) checkAssignmentRule(ctx context.Context, r *domain.AssignmentRule) error {
	r.Normalize()
	if err := r.Check(); err != nil {
		return err
	}
	if err := s.directory.Engine.Compile(r.Condition, r.RecordType, nil); err != nil {
		return apperr.InvalidField("condition", "INVALID_CONDITION", "%v", err)
	}
	var vs apperr.Violations
	check := func(field string, c domain.Candidates) error {
		users, err := s.directory.Store.DirectoryUsers(ctx, c.Users)
		if err != nil {
			return err
		}
		for i, id := range c.Users {
			if u := users[id]; u == nil || u.Deleted {
				vs.Add(fmt.Sprintf("%s.users[%d]", field, i), "UNKNOWN_USER", "%q is not a user of the directory", id)
			}
		}
		members, err := s.directory.Store.TeamMembers(ctx, c.Teams)
		if err != nil {
			return err
		}
		for i, t := range c.Teams {
			if len(members[t]) == 0 {
				vs.Add(fmt.Sprintf("%s.teams[%d]", field, i), "UNKNOWN_TEAM", "no user of the directory is in team %q", t)
			}
		}
		return nil
	}
	if err := check("candidates", r.Candidates); err != nil {
		return err
	}
	if r.ByField != nil {
		for i, rt := range r.ByField.Routes {
			if err := check(fmt.Sprintf("by_field.routes[%d].candidates", i), rt.Candidates); err != nil {
				return err
			}
		}
	}
	if r.FallbackOwner != "" {
		users, err := s.directory.Store.DirectoryUsers(ctx, []string{r.FallbackOwner})
		if err != nil {
			return err
		}
		if u := users[r.FallbackOwner]; u == nil || u.Deleted || !u.Active {
			vs.Add("fallback_owner", "UNKNOWN_USER", "the fallback owner %q is not an active user of the directory", r.FallbackOwner)
		}
	}
	return vs.Err()
}

func (s *Service) CreateAssignmentRule(ctx context.Context, in domain.AssignmentRule, requestID string) (*domain.AssignmentRule, error) {
	actor, now := auth.Actor(ctx), s.now()
	r := in
	r.ID, r.Version, r.Deleted = uuid.Must(uuid.NewV7()), 1, false
	r.CreatedAt, r.CreatedBy, r.UpdatedAt, r.UpdatedBy = now, actor, now, actor
	err := s.repo.InTx(ctx, func(ctx context.Context) error {
		if err := s.checkAssignmentRule(ctx, &r); err != nil {
			return err
		}
		return s.directory.Store.SaveAssignmentRule(ctx, nil, &r, requestID)
	})
	return &r, err
}

func (s *Service) GetAssignmentRule(ctx context.Context, id uuid.UUID) (*domain.AssignmentRule, error) {
	return s.directory.Store.GetAssignmentRule(ctx, id, false)
}

func (s *Service) ListAssignmentRules(ctx context.Context, pageSize int, pageToken string) ([]*domain.AssignmentRule, string, error) {
	return s.directory.Store.ListAssignmentRules(ctx, pageSize, pageToken)
}

// UpdateAssignmentRule makes a new version of a rule; assignments made
// keep the version they were made with.
func (s *Service) UpdateAssignmentRule(ctx context.Context, id uuid.UUID, patch domain.AssignmentRule, mask []string, ifMatch string) (*domain.AssignmentRule, error) {
	return s.changeAssignmentRule(ctx, id, ifMatch, func(r *domain.AssignmentRule) error {
		for _, f := range mask {
			switch f {
			case "display_name":
				r.DisplayName = patch.DisplayName
			case "condition":
				r.Condition = patch.Condition
			case "priority":
				r.Priority = patch.Priority
			case "strategy":
				r.Strategy = patch.Strategy
			case "candidates":
				r.Candidates = patch.Candidates
			case "load_measure":
				r.LoadMeasure = patch.LoadMeasure
			case "by_field":
				r.ByField = patch.ByField
			case "any_time":
				r.AnyTime = patch.AnyTime
			case "fallback_owner":
				r.FallbackOwner = patch.FallbackOwner
			case "enabled":
				r.Enabled = patch.Enabled
			default:
				return apperr.InvalidField("update_mask", "FIELD_NOT_UPDATABLE", "%s cannot be updated", f)
			}
		}
		return s.checkAssignmentRule(ctx, r)
	})
}

// DeleteAssignmentRule deletes a rule; the assignments it made stay.
func (s *Service) DeleteAssignmentRule(ctx context.Context, id uuid.UUID, ifMatch string) error {
	_, err := s.changeAssignmentRule(ctx, id, ifMatch, func(r *domain.AssignmentRule) error {
		r.Deleted, r.Enabled = true, false
		return nil
	})
	return err
}

func (s *Service) changeAssignmentRule(ctx context.Context, id uuid.UUID, ifMatch string, fn func(r *domain.AssignmentRule) error) (*domain.AssignmentRule, error) {
	var out *domain.AssignmentRule
	err := s.repo.InTx(ctx, func(ctx context.Context) error {
		r, err := s.directory.Store.GetAssignmentRule(ctx, id, true)
		if err != nil {
			return err
		}
		if err := etag.Check(ifMatch, r.Version); err != nil {
			return err
		}
		before := *r
		if err := fn(r); err != nil {
			return err
		}
		r.Version++
		r.UpdatedAt, r.UpdatedBy = s.now(), auth.Actor(ctx)
		out = r
		return s.directory.Store.SaveAssignmentRule(ctx, &before, r, "")
	})
	return out, err
}

// ---- deciding ----

// decision is one record's assignment being decided.
type decision struct {
	a        *domain.Assignment
	rule     *domain.AssignmentRule
	eligible []string
	key      CursorKey
}

// assignNew decides the assignment of the new records an event carries
// that rules may assign (leads whose owner was defaulted, new
// opportunities and orders), in the event's transaction: the first
// enabled rule of the record's type whose condition holds picks among its
// eligible candidates, moving its cursor under a row lock. It records
// each assignment, arms the timer that hands pending ones to the owning
// service, and returns the owners picked by record, for the rules that
// run on the same event (a new lead's call-back goes to its new owner).
func (s *Service) assignNew(ctx context.Context, ev Event, records []EventRecord, now time.Time) (map[string]string, error) {
	if s.directory == nil {
		return nil, nil
	}
	eventID, err := uuid.Parse(ev.ID)
	if err != nil {
		return nil, nil // not an event of the suite's outbox
	}
	var todo []EventRecord
	var names []string
	for _, er := range records {
		if er.Assign && !er.Record.Deleted && slices.Contains(domain.AssignableTypes, er.Record.Type) {
			todo = append(todo, er)
			names = append(names, er.Record.Name)
		}
	}
	if len(todo) == 0 {
		return nil, nil
	}
	store := s.directory.Store
	done, err := store.AssignedRecords(ctx, names)
	if err != nil {
		return nil, err
	}
	ruleSets := map[domain.RecordType][]*domain.AssignmentRule{}
	considered := map[string][]domain.Considered{}
	var ds []*decision
	for _, er := range todo {
		rec := er.Record
		if done[rec.Name] {
			continue
		}
		rs, ok := ruleSets[rec.Type]
		if !ok {
			if rs, err = store.EnabledAssignmentRules(ctx, rec.Type); err != nil {
				return nil, err
			}
			ruleSets[rec.Type] = rs
		}
		a := &domain.Assignment{Record: rec.Name, RecordType: rec.Type, PreviousOwner: rec.Owner, EventID: eventID, DecidedAt: now}
		var rule *domain.AssignmentRule
		for _, r := range rs {
			holds, err := s.directory.Engine.Eval(r.Condition, rec.Type, er.Message, nil)
			if err != nil {
				a.RulesSkipped = append(a.RulesSkipped, domain.AssignmentRuleName(r.ID)+": the condition failed: "+err.Error())
				continue
			}
			if holds {
				rule = r
				break
			}
			a.RulesSkipped = append(a.RulesSkipped, domain.AssignmentRuleName(r.ID))
		}
		if rule == nil {
			continue // no rule assigns it: nothing to record
		}
		a.Rule, a.RuleVersion, a.RuleDisplayName, a.Strategy = rule.ID, rule.Version, rule.DisplayName, rule.Strategy
		facts := rules.RoutingFacts(er.Message)
		cands, routedBy := rule.CandidatesFor(facts)
		ck := rule.ID.String() + "\x00" + routedBy
		cs, ok := considered[ck]
		if !ok {
			if cs, err = s.consider(ctx, cands); err != nil {
				return nil, err
			}
			considered[ck] = cs
		}
		var idx []int
		var bucket string
		a.Candidates, idx, bucket = domain.Eligibility(rule, slices.Clone(cs), facts, now)
		a.RoutedBy = routedBy
		if bucket != "" && a.RoutedBy == "" {
			a.RoutedBy = strings.TrimPrefix(bucket, "territory:")
		}
		d := &decision{a: a, rule: rule, key: CursorKey{Rule: rule.ID, Bucket: bucket}}
		for _, i := range idx {
			d.eligible = append(d.eligible, a.Candidates[i].User)
		}
		ds = append(ds, d)
	}
	if len(ds) == 0 {
		return nil, nil
	}
	var keys []CursorKey
	for _, d := range ds {
		if len(d.eligible) > 0 && !slices.Contains(keys, d.key) {
			keys = append(keys, d.key)
		}
	}
	last, err := store.LockCursors(ctx, keys)
	if err != nil {
		return nil, err
	}
	loads := map[uuid.UUID]map[string]int64{}
	owners := map[string]string{}
	var out []*domain.Assignment
	for _, d := range ds {
		a := d.a
		if len(d.eligible) == 0 {
			if err := s.fallback(ctx, d); err != nil {
				return nil, err
			}
		} else {
			var chosen string
			if d.rule.Strategy == domain.StrategyLoadBalanced {
				load, ok := loads[d.rule.ID]
				if !ok {
					var all []string
					for _, c := range a.Candidates {
						if c.Eligible {
							all = append(all, c.User)
						}
					}
					if load, err = store.Loads(ctx, a.RecordType, d.rule.LoadMeasure, all); err != nil {
						return nil, err
					}
					loads[d.rule.ID] = load
				}
				weight := map[string]int{}
				for i := range a.Candidates {
					c := &a.Candidates[i]
					if c.Eligible {
						c.Load, weight[c.User] = load[c.User], c.Capacity
					}
				}
				chosen = domain.LeastLoaded(d.eligible, load, weight, last[d.key])
				load[chosen]++
			} else {
				chosen = domain.NextAfter(d.eligible, last[d.key])
			}
			last[d.key] = chosen
			for i := range a.Candidates {
				c := &a.Candidates[i]
				switch {
				case c.User == chosen:
					c.Chosen = true
				case c.Eligible:
					c.Skip = domain.SkipNotChosen
				}
			}
			a.Owner = chosen
			a.Reason = reasonFor(d, chosen)
		}
		a.State = domain.AssignmentPending
		if a.Owner == a.PreviousOwner {
			a.State = domain.AssignmentKept
		} else {
			owners[a.Record] = a.Owner
		}
		out = append(out, a)
	}
	picked := map[CursorKey]string{}
	for _, k := range keys {
		picked[k] = last[k]
	}
	if err := store.SaveCursors(ctx, picked); err != nil {
		return nil, err
	}
	return owners, store.InsertAssignments(ctx, out)
}

// consider lists the users a rule's candidates stand for: those it names
// and the members of its teams, each with its directory entry.
func (s *Service) consider(ctx context.Context, c domain.Candidates) ([]domain.Considered, error) {
	store := s.directory.Store
	members, err := store.TeamMembers(ctx, c.Teams)
	if err != nil {
		return nil, err
	}
	team := map[string]string{}
	var ids []string
	for _, id := range c.Users {
		if _, ok := team[id]; !ok {
			team[id] = ""
			ids = append(ids, id)
		}
	}
	for _, t := range c.Teams {
		for _, id := range members[t] {
			if _, ok := team[id]; !ok {
				team[id] = t
				ids = append(ids, id)
			}
		}
	}
	users, err := store.DirectoryUsers(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make([]domain.Considered, len(ids))
	for i, id := range ids {
		out[i] = domain.Considered{ID: id, Team: team[id], User: users[id]}
	}
	return out, nil
}

// fallback decides a record no candidate is eligible for: the rule's
// fallback owner, else the service's, if active; else the record keeps
// its owner. Either way it is flagged.
func (s *Service) fallback(ctx context.Context, d *decision) error {
	a := d.a
	a.Flagged = true
	owner, whose := d.rule.FallbackOwner, "the rule's"
	if owner == "" {
		owner, whose = s.directory.FallbackOwner, "the service's"
	}
	if owner != "" {
		users, err := s.directory.Store.DirectoryUsers(ctx, []string{owner})
		if err != nil {
			return err
		}
		if u := users[owner]; u != nil && !u.Deleted && u.Active {
			a.Owner = owner
			a.Reason = fmt.Sprintf("%s: no candidate was eligible; %s fallback owner %s takes it", d.rule.DisplayName, whose, owner)
			return nil
		}
		a.Reason = fmt.Sprintf("%s: no candidate was eligible and %s fallback owner %s is not an active user; %s keeps it", d.rule.DisplayName, whose, owner, a.PreviousOwner)
	} else {
		a.Reason = fmt.Sprintf("%s: no candidate was eligible and there is no fallback owner; %s keeps it", d.rule.DisplayName, a.PreviousOwner)
	}
	a.Owner = a.PreviousOwner
	return nil
}

func reasonFor(d *decision, chosen string) string {
	skipped := 0
	for _, c := range d.a.Candidates {
		if !c.Eligible {
			skipped++
		}
	}
	how := "round robin"
	switch d.rule.Strategy {
	case domain.StrategyLoadBalanced:
		how = "the lowest load per capacity (" + strings.ToLower(strings.ReplaceAll(string(d.rule.LoadMeasure), "_", " ")) + ")"
	case domain.StrategyByField:
		how = "round robin in " + d.a.RoutedBy
	}
	return fmt.Sprintf("%s: %s by %s among %d eligible of %d candidates (%d skipped)", d.rule.DisplayName, chosen, how, len(d.eligible), len(d.a.Candidates), skipped)
}

// ---- handing over ----

// AssignmentRequestID is the request id of a record's assignment call:
// derived from the record, so a retry (a timer firing again after a
// crash) is the same request and the owning service assigns it once.
func AssignmentRequestID(record string) string {
	return uuid.NewSHA1(assignmentNamespace, []byte(record)).String()
}

var assignmentNamespace = uuid.MustParse("6f1c2a8e-3d5b-4b7e-9a61-0c2f4d8e7b13")

// ApplyAssignment hands a pending assignment to the record's owning
// service (its timer, in the timer's transaction). A refusal fails it
// with the reason; no answer, or an owner the owning service does not know
// as an active user yet (its directory follows this one's events), is
// retried with the timer's backoff up to five attempts. A record someone
// else reassigned meanwhile is left as it is.
func (s *Service) ApplyAssignment(ctx context.Context, record string, attempt int) error {
	const maxAttempts = 5
	return s.repo.InTx(ctx, func(ctx context.Context) error {
		store := s.directory.Store
		a, err := store.LockAssignment(ctx, record)
		if apperr.IsKind(err, apperr.KindNotFound) {
			return nil
		}
		if err != nil || a.State != domain.AssignmentPending {
			return err
		}
		a.Attempts = attempt + 1
		// The projection has the record: the assignment was decided on its
		// creation event.
		rec, err := s.repo.GetRecord(ctx, record)
		if err != nil {
			return err
		}
		switch {
		case rec.Deleted:
			a.State, a.Error = domain.AssignmentFailed, "the record was deleted before it was handed over"
			return store.SaveAssignment(ctx, a, true)
		case rec.Owner != a.PreviousOwner && rec.Owner != a.Owner:
			a.State, a.Error = domain.AssignmentFailed, fmt.Sprintf("it was reassigned to %s meanwhile; left as it is", rec.Owner)
			return store.SaveAssignment(ctx, a, true)
		}
		as := auth.WithPrincipal(ctx, auth.Principal{Subject: s.directory.Self})
		err = s.directory.Owners.AssignOwner(as, rec, a.Owner, AssignmentRequestID(record))
		switch {
		case err == nil:
			a.State, a.AppliedAt, a.Error = domain.AssignmentApplied, s.now(), ""
			return store.SaveAssignment(ctx, a, rec.Owner == a.Owner)
		case (transient(err) || reasonOf(err) == ReasonOwnerNotActiveUser) && a.Attempts < maxAttempts:
			return err // the timer retries with backoff; this transaction rolls back
		}
		a.State, a.Error = domain.AssignmentFailed, err.Error()
		return store.SaveAssignment(ctx, a, true)
	})
}

// ReasonOwnerNotActiveUser is the lead service's refusal of an owner its
// copy of the directory does not have as active (yet).
const ReasonOwnerNotActiveUser = "OWNER_NOT_ACTIVE_USER"

func reasonOf(err error) string {
	if e, ok := apperr.As(err); ok {
		return e.Reason
	}
	return ""
}

// ---- reading ----

// GetAssignment reads how a record was assigned, if the caller may read
// the record.
func (s *Service) GetAssignment(ctx context.Context, record string) (*domain.Assignment, error) {
	if rd := readerOf(ctx); rd != nil {
		rec, err := s.repo.GetRecord(ctx, record)
		if err != nil {
			return nil, authz.Denied()
		}
		ok, err := s.mayRead(ctx, rd, rec)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, authz.Denied()
		}
	}
	return s.directory.Store.GetAssignment(ctx, record)
}

func (s *Service) ListAssignments(ctx context.Context, filter string, pageSize int, pageToken string) ([]*domain.Assignment, string, error) {
	return s.directory.Store.ListAssignments(ctx, filter, pageSize, pageToken)
}
