package app

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"

	"github.com/crmsuite/crm/platform/apperr"
	"github.com/crmsuite/crm/platform/auth"
	"github.com/crmsuite/crm/platform/etag"
	"github.com/crmsuite/crm/services/workflow/internal/domain"
	"github.com/crmsuite/crm/services/workflow/internal/rules"
)

// ProcessStore stores process definitions (every version), instances and
// exceptions. Methods run in the transaction ctx carries, if any.
type ProcessStore interface {
	// InsertProcessDefinition stores a new definition at version 1 and
	// publishes ProcessDefinitionChanged.
	InsertProcessDefinition(ctx context.Context, d *domain.ProcessDefinition, requestID string) error
	// SaveProcessDefinition stores d as a new version and publishes
	// ProcessDefinitionChanged.
	SaveProcessDefinition(ctx context.Context, before, d *domain.ProcessDefinition) error
	LockProcessDefinition(ctx context.Context, id uuid.UUID) (*domain.ProcessDefinition, error)
	// GetProcessDefinition reads a version (0: the latest).
	GetProcessDefinition(ctx context.Context, id uuid.UUID, version int64) (*domain.ProcessDefinition, error)
	ListProcessDefinitions(ctx context.Context, pageSize int, pageToken string) ([]*domain.ProcessDefinition, string, error)
	// ActiveProcessDefinition is the active definition of a record type
	// (and pipeline) at its latest version; nil when there is none.
	ActiveProcessDefinition(ctx context.Context, t domain.RecordType, pipeline string) (*domain.ProcessDefinition, error)
	// GetProcessInstance is a record's instance (nil if none) and whether
	// its definition is active.
	GetProcessInstance(ctx context.Context, record string, lock bool) (*domain.ProcessInstance, bool, error)
	// ProcessState is GetProcessInstance and the types of the record's
	// completed activities, in one read (a transition's check).
	ProcessState(ctx context.Context, record string) (*domain.ProcessInstance, bool, []string, error)
	// StartProcessInstance gives the record an instance on in's version
	// unless it has one on an active definition; it returns the one the
	// record has after.
	StartProcessInstance(ctx context.Context, in *domain.ProcessInstance) (*domain.ProcessInstance, error)
	SaveProcessInstance(ctx context.Context, in *domain.ProcessInstance) error
	// DoneActivityTypes are the types of the record's completed activities.
	DoneActivityTypes(ctx context.Context, record string) ([]string, error)
	InsertProcessException(ctx context.Context, e *domain.ProcessException) error
	// SetProcessRulesEnabled enables or disables the rules a definition
	// made for its stages' entry actions.
	SetProcessRulesEnabled(ctx context.Context, process uuid.UUID, enabled bool) error
	// ProcessInstanceVersions are the instances of records (those that
	// have one), by record.
	ProcessInstanceVersions(ctx context.Context, records []string) (map[string]domain.ProcessInstance, error)
	ListProcessExceptions(ctx context.Context, record string, pageSize int, pageToken string) ([]*domain.ProcessException, string, error)
}

// Pipelines reads the stage ids of an opportunity pipeline from the
// opportunity service; NotFound when it does not exist.
type Pipelines interface {
	PipelineStages(ctx context.Context, pipeline string) ([]string, error)
}

// ProcessConfig is what processes need besides the repository.
type ProcessConfig struct {
	Store     ProcessStore
	Pipelines Pipelines
	Engine    *rules.Engine
	// versions caches definition versions, which never change.
	versions sync.Map // versionKey -> *domain.ProcessDefinition
}

type versionKey struct {
	id      uuid.UUID
	version int64
}

// WithProcesses gives the service its processes.
func (s *Service) WithProcesses(c *ProcessConfig) *Service {
	s.processes = c
	return s
}

// ---- definitions ----

func (s *Service) checkProcess(ctx context.Context, d *domain.ProcessDefinition) error {
	valid, kind := func(string) bool { return true }, ""
	var vs apperr.Violations
	switch {
	case d.RecordType == domain.RecordOpportunity:
		if _, id, ok := strings.Cut(d.Pipeline, "pipelines/"); !ok || uuid.Validate(id) != nil {
			return apperr.InvalidField("pipeline", "PIPELINE_REQUIRED", "an opportunity process names its pipeline: pipelines/{id}")
		}
		stages, err := s.processes.Pipelines.PipelineStages(ctx, d.Pipeline)
		if apperr.IsKind(err, apperr.KindNotFound) {
			return apperr.InvalidField("pipeline", "UNKNOWN_PIPELINE", "%s does not exist", d.Pipeline)
		}
		if err != nil {
			return err
		}
		valid, kind = func(st string) bool { return slices.Contains(stages, st) }, "a stage of "+d.Pipeline+" ("+strings.Join(stages, ", ")+")"
	case d.Pipeline != "":
		vs.Add("pipeline", "PIPELINE_NOT_ALLOWED", "only opportunity processes name a pipeline")
	default:
		stages := rules.StatusStages(d.RecordType)
		valid, kind = func(st string) bool { return slices.Contains(stages, st) }, "a status of "+strings.ToLower(string(d.RecordType))+"s ("+strings.Join(stages, ", ")+")"
	}
	if err := d.Check(valid, kind); err != nil {
		return err
	}
	for i, st := range d.Stages {
		for j, step := range st.Steps {
			if step.Condition == "" {
				continue
			}
			if err := s.processes.Engine.Compile(step.Condition, d.RecordType, nil); err != nil {
				vs.Add(fmt.Sprintf("stages[%d].steps[%d].condition", i, j), "INVALID_CONDITION", "%v", err)
			}
		}
	}
	return vs.Err()
}

func (s *Service) CreateProcessDefinition(ctx context.Context, in domain.ProcessDefinition, requestID string) (*domain.ProcessDefinition, error) {
	actor, now := auth.Actor(ctx), s.now()
	d := in
	d.ID, d.Version = uuid.Must(uuid.NewV7()), 1
	d.CreatedAt, d.CreatedBy, d.UpdatedAt, d.UpdatedBy = now, actor, now, actor
	if err := s.checkProcess(ctx, &d); err != nil {
		return nil, err
	}
	err := s.repo.InTx(ctx, func(ctx context.Context) error {
		if err := s.oneActive(ctx, &d); err != nil {
			return err
		}
		if err := s.processes.Store.InsertProcessDefinition(ctx, &d, requestID); err != nil {
			return err
		}
		return s.entryRules(ctx, &d)
	})
	return &d, err
}

// entryRules makes the rules that run the entry actions of d's stages
// for records on d's version, and enables or disables every rule of the
// definition with it.
func (s *Service) entryRules(ctx context.Context, d *domain.ProcessDefinition) error {
	for i, st := range d.Stages {
		if len(st.EntryActions) == 0 {
			continue
		}
		field := fmt.Sprintf("stages[%d].entry_actions", i)
		event, cond, ok := rules.StageEntry(d.RecordType, st.Stage, d.Pipeline)
		if !ok {
			return apperr.InvalidField(field, "NO_ENTRY_EVENT", "no event says a record entered %s, so it cannot have entry actions", st.Stage)
		}
		r := domain.Rule{
			ID:          uuid.NewSHA1(d.ID, fmt.Appendf(nil, "%d/%s", d.Version, st.Stage)),
			DisplayName: truncate(fmt.Sprintf("%s v%d: entering %s", d.DisplayName, d.Version, st.Stage), 200),
			Description: "The entry actions of a stage of " + domain.ProcessDefinitionName(d.ID) + ".",
			Enabled:     d.Active, EventTypes: []string{event}, Condition: cond, Actions: st.EntryActions,
			Process: d.ID, ProcessVersion: d.Version, Version: 1,
			CreatedAt: d.UpdatedAt, CreatedBy: d.UpdatedBy, UpdatedAt: d.UpdatedAt, UpdatedBy: d.UpdatedBy,
		}
		if _, err := s.checkRule(ctx, &r); err != nil {
			return apperr.PrefixFields(err, fmt.Sprintf("stages[%d].entry_", i))
		}
		if err := s.rules.Store.InsertRule(ctx, &r, ""); err != nil {
			return err
		}
	}
	return s.processes.Store.SetProcessRulesEnabled(ctx, d.ID, d.Active)
}

// onProcessVersion keeps the trials of process-owned rules whose record
// is on the rule's definition version (starting the instance of a record
// that has none, as entering a stage is part of its process).
func (s *Service) onProcessVersion(ctx context.Context, trials []trial) ([]trial, error) {
	var records []string
	for _, tr := range trials {
		if tr.rule.Process != uuid.Nil {
			records = append(records, tr.rec.Name)
		}
	}
	if len(records) == 0 || s.processes == nil {
		return trials, nil
	}
	ins, err := s.processes.Store.ProcessInstanceVersions(ctx, records)
	if err != nil {
		return nil, err
	}
	out := trials[:0]
	for _, tr := range trials {
		if tr.rule.Process != uuid.Nil {
			in, ok := ins[tr.rec.Name]
			if !ok {
				started, _, err := s.instance(ctx, tr.rec.Name, tr.rec.Type, rules.PipelineOf(tr.record))
				if err != nil {
					return nil, err
				}
				if started != nil {
					in = *started
					ins[tr.rec.Name] = in
				}
			}
			if in.Definition != tr.rule.Process || in.Version != tr.rule.ProcessVersion {
				continue
			}
		}
		out = append(out, tr)
	}
	return out, nil
}

// oneActive refuses to activate d while another definition of its record
// type (and pipeline) is active.
func (s *Service) oneActive(ctx context.Context, d *domain.ProcessDefinition) error {
	if !d.Active {
		return nil
	}
	other, err := s.processes.Store.ActiveProcessDefinition(ctx, d.RecordType, d.Pipeline)
	if err != nil || other == nil || other.ID == d.ID {
		return err
	}
	return apperr.FailedPrecondition("ACTIVE_PROCESS_EXISTS", "%s is the active process of %s records%s: deactivate it first",
		domain.ProcessDefinitionName(other.ID), strings.ToLower(string(d.RecordType)), map[bool]string{true: " of " + d.Pipeline}[d.Pipeline != ""]).
		WithMeta("active", domain.ProcessDefinitionName(other.ID))
}

func (s *Service) GetProcessDefinition(ctx context.Context, id uuid.UUID, version int64) (*domain.ProcessDefinition, error) {
	return s.processes.Store.GetProcessDefinition(ctx, id, version)
}

func (s *Service) ListProcessDefinitions(ctx context.Context, pageSize int, pageToken string) ([]*domain.ProcessDefinition, string, error) {
	return s.processes.Store.ListProcessDefinitions(ctx, pageSize, pageToken)
}

// UpdateProcessDefinition makes a new version; instances keep theirs.
func (s *Service) UpdateProcessDefinition(ctx context.Context, id uuid.UUID, patch domain.ProcessDefinition, mask []string, ifMatch string) (*domain.ProcessDefinition, error) {
	var out *domain.ProcessDefinition
	err := s.repo.InTx(ctx, func(ctx context.Context) error {
		d, err := s.processes.Store.LockProcessDefinition(ctx, id)
		if err != nil {
			return err
		}
		if err := etag.Check(ifMatch, d.Version); err != nil {
			return err
		}
		before := *d
		for _, f := range mask {
			switch f {
			case "display_name":
				d.DisplayName = patch.DisplayName
			case "enforcement":
				d.Enforcement = patch.Enforcement
			case "active":
				d.Active = patch.Active
			case "stages":
				d.Stages = patch.Stages
			default:
				return apperr.InvalidField("update_mask", "FIELD_NOT_UPDATABLE", "%s cannot be updated: record_type and pipeline are set on create", f)
			}
		}
		if err := s.checkProcess(ctx, d); err != nil {
			return err
		}
		if err := s.oneActive(ctx, d); err != nil {
			return err
		}
		d.Version++
		d.UpdatedAt, d.UpdatedBy = s.now(), auth.Actor(ctx)
		out = d
		if err := s.processes.Store.SaveProcessDefinition(ctx, &before, d); err != nil {
			return err
		}
		return s.entryRules(ctx, d)
	})
	return out, err
}

// processVersion reads a definition version through the cache.
func (s *Service) processVersion(ctx context.Context, id uuid.UUID, version int64) (*domain.ProcessDefinition, error) {
	k := versionKey{id, version}
	if d, ok := s.processes.versions.Load(k); ok {
		return d.(*domain.ProcessDefinition), nil
	}
	d, err := s.processes.Store.GetProcessDefinition(ctx, id, version)
	if err != nil {
		return nil, err
	}
	s.processes.versions.Store(k, d)
	return d, nil
}

// ---- instances ----

// instance is the record's process instance and its definition version,
// started on the active definition's latest version when the record has
// none (or only one of a definition since deactivated); nil when no
// active definition applies.
func (s *Service) instance(ctx context.Context, record string, t domain.RecordType, pipeline string) (*domain.ProcessInstance, *domain.ProcessDefinition, error) {
	in, active, err := s.processes.Store.GetProcessInstance(ctx, record, false)
	if err != nil {
		return nil, nil, err
	}
	return s.startInstance(ctx, in, active, record, t, pipeline)
}

// startInstance is in, or, when the record has none on an active
// definition, a new one on the active definition's latest version.
func (s *Service) startInstance(ctx context.Context, in *domain.ProcessInstance, active bool, record string, t domain.RecordType, pipeline string) (*domain.ProcessInstance, *domain.ProcessDefinition, error) {
	var err error
	if in == nil || !active {
		def, err := s.processes.Store.ActiveProcessDefinition(ctx, t, pipeline)
		if err != nil || def == nil {
			return nil, nil, err
		}
		now := s.now()
		if in, err = s.processes.Store.StartProcessInstance(ctx, &domain.ProcessInstance{
			Record: record, Definition: def.ID, Version: def.Version, CreatedAt: now, UpdatedAt: now,
		}); err != nil {
			return nil, nil, err
		}
	}
	def, err := s.processVersion(ctx, in.Definition, in.Version)
	return in, def, err
}

// stepsDone evaluates which of steps the record has done; activities are
// the types of its completed activities, nil to read them if needed.
func (s *Service) stepsDone(ctx context.Context, t domain.RecordType, record string, snapshot proto.Message, in *domain.ProcessInstance, steps []domain.StageStep, activities []string) (map[string]bool, error) {
	done := make(map[string]bool, len(steps))
	activitiesRead := activities != nil
	for _, ss := range steps {
		st := ss.Step
		switch {
		case st.Condition != "":
			ok, err := s.processes.Engine.Eval(st.Condition, t, snapshot, nil)
			// A condition that cannot be evaluated on this record (a
			// field it lacks) is a step not done, not a failed call.
			done[st.ID] = err == nil && ok
		case st.Activity != "":
			if !activitiesRead {
				var err error
				if activities, err = s.processes.Store.DoneActivityTypes(ctx, record); err != nil {
					return nil, err
				}
				activitiesRead = true
			}
			done[st.ID] = slices.Contains(activities, st.Activity)
		case st.Checklist:
			done[st.ID] = slices.Contains(in.Ticked, st.ID)
		}
	}
	return done, nil
}

// TransitionCheck is a record about to enter a stage, as its owning
// service asks.
type TransitionCheck struct {
	Record   string
	ToStage  string
	Snapshot proto.Message
	Pipeline string
	Actor    string
	// Override lets the transition through whatever is missing (the
	// owning service allows it to managers), with Reason.
	Override  bool
	Reason    string
	RequestID string
}

// TransitionResult answers a TransitionCheck.
type TransitionResult struct {
	Allowed    bool
	Missing    []domain.StageStep
	Definition *domain.ProcessDefinition
}

// CheckTransition says whether a record may enter a stage: every required
// step up to that stage done, or a WARN definition, or an override (both
// recorded as exceptions).
func (s *Service) CheckTransition(ctx context.Context, c TransitionCheck) (*TransitionResult, error) {
	t, _, ok := domain.ParseRecordName(c.Record)
	if !ok || !slices.Contains(domain.ProcessRecordTypes, t) {
		return nil, apperr.InvalidField("record", "INVALID_RECORD", "%q is not a lead, opportunity, order or contract", c.Record)
	}
	if c.Snapshot == nil {
		return nil, apperr.InvalidField("snapshot", "REQUIRED", "send the record as its service has it")
	}
	if st, ok := rules.RecordTypeOf(c.Snapshot.ProtoReflect().Descriptor()); !ok || st != t {
		return nil, apperr.InvalidField("snapshot", "SNAPSHOT_TYPE", "the snapshot of %s must be its API message", c.Record)
	}
	if c.Override && strings.TrimSpace(c.Reason) == "" {
		return nil, apperr.InvalidField("override_reason", "REASON_REQUIRED", "an override needs a reason")
	}
	// One read in the common case (an instance on an active definition):
	// the instance and the record's completed activity types together.
	in, active, activities, err := s.processes.Store.ProcessState(ctx, c.Record)
	if err != nil {
		return nil, err
	}
	if activities == nil {
		activities = []string{}
	}
	var res *TransitionResult
	err = func() error {
		in, def, err := s.startInstance(ctx, in, active, c.Record, t, c.Pipeline)
		if err != nil || def == nil {
			res = &TransitionResult{Allowed: true}
			return err
		}
		res = &TransitionResult{Allowed: true, Definition: def}
		needed := def.Needed(rules.StageOf(t, c.Snapshot), c.ToStage)
		needed = slices.DeleteFunc(needed, func(ss domain.StageStep) bool { return !ss.Step.Required })
		if len(needed) == 0 {
			return nil
		}
		done, err := s.stepsDone(ctx, t, c.Record, c.Snapshot, in, needed, activities)
		if err != nil {
			return err
		}
		for _, ss := range needed {
			if !done[ss.Step.ID] {
				res.Missing = append(res.Missing, ss)
			}
		}
		if len(res.Missing) == 0 {
			return nil
		}
		kind := "OVERRIDE"
		switch {
		case c.Override:
		case def.Enforcement == domain.EnforceWarn:
			kind = "WARN"
		default:
			res.Allowed = false
			return nil
		}
		return s.processes.Store.InsertProcessException(ctx, &domain.ProcessException{
			Record: c.Record, Definition: def.ID, Version: def.Version, ToStage: c.ToStage, Kind: kind,
			Actor: c.Actor, Reason: strings.TrimSpace(c.Reason), Missing: res.Missing, RequestID: c.RequestID, At: s.now(),
		})
	}()
	return res, err
}

// InstanceView is where a record is in its process.
type InstanceView struct {
	Instance      *domain.ProcessInstance
	Definition    *domain.ProcessDefinition
	LatestVersion int64
	Stage         string
	Steps         []domain.StageStep
	Done          map[string]bool
	AllowedNext   []string
}

// processRecord is a record the caller may read, with its API message,
// for its process.
func (s *Service) processRecord(ctx context.Context, name string) (*domain.Record, proto.Message, error) {
	r, err := s.readable(ctx, name)
	if err != nil {
		return nil, nil, err
	}
	if !slices.Contains(domain.ProcessRecordTypes, r.Type) {
		return nil, nil, apperr.InvalidField("name", "INVALID_RECORD", "%s is not a lead, opportunity, order or contract", name)
	}
	m := rules.NewRecordMessage(r.Type)
	if err := proto.Unmarshal(r.Message, m); err != nil {
		return nil, nil, fmt.Errorf("record %s: %w", name, err)
	}
	return r, m, nil
}

// GetProcessInstance is where a record is in its process (started if it
// has none yet): NotFound when no active definition applies.
func (s *Service) GetProcessInstance(ctx context.Context, record string) (*InstanceView, error) {
	var v *InstanceView
	err := s.repo.InTx(ctx, func(ctx context.Context) error {
		var err error
		v, err = s.instanceView(ctx, record)
		return err
	})
	return v, err
}

func (s *Service) instanceView(ctx context.Context, record string) (*InstanceView, error) {
	r, m, err := s.processRecord(ctx, record)
	if err != nil {
		return nil, err
	}
	in, def, err := s.instance(ctx, record, r.Type, rules.PipelineOf(m))
	if err != nil {
		return nil, err
	}
	if def == nil {
		return nil, domain.ErrNoProcess(record)
	}
	latest, err := s.processes.Store.GetProcessDefinition(ctx, def.ID, 0)
	if err != nil {
		return nil, err
	}
	v := &InstanceView{Instance: in, Definition: def, LatestVersion: latest.Version, Stage: rules.StageOf(r.Type, m)}
	for _, st := range def.Stages {
		for _, step := range st.Steps {
			v.Steps = append(v.Steps, domain.StageStep{Stage: st.Stage, Step: step})
		}
	}
	if v.Done, err = s.stepsDone(ctx, r.Type, record, m, in, v.Steps, nil); err != nil {
		return nil, err
	}
	for _, st := range def.Stages {
		if st.Stage == v.Stage {
			continue
		}
		ok := true
		for _, ss := range def.Needed(v.Stage, st.Stage) {
			ok = ok && (!ss.Step.Required || v.Done[ss.Step.ID])
		}
		if ok {
			v.AllowedNext = append(v.AllowedNext, st.Stage)
		}
	}
	return v, nil
}

// TickChecklistItem ticks (or unticks) a checklist step of the record's
// process.
func (s *Service) TickChecklistItem(ctx context.Context, record, stepID string, done bool) (*InstanceView, error) {
	var v *InstanceView
	err := s.repo.InTx(ctx, func(ctx context.Context) error {
		r, m, err := s.processRecord(ctx, record)
		if err != nil {
			return err
		}
		if _, def, err := s.instance(ctx, record, r.Type, rules.PipelineOf(m)); err != nil || def == nil {
			return cmp.Or(err, domain.ErrNoProcess(record))
		}
		in, _, err := s.processes.Store.GetProcessInstance(ctx, record, true)
		if err != nil {
			return err
		}
		def, err := s.processVersion(ctx, in.Definition, in.Version)
		if err != nil {
			return err
		}
		isItem := false
		for _, st := range def.Stages {
			for _, step := range st.Steps {
				isItem = isItem || step.ID == stepID && step.Checklist
			}
		}
		if !isItem {
			return apperr.InvalidField("step_id", "NOT_A_CHECKLIST_ITEM", "%q is not a checklist step of version %d of %s", stepID, def.Version, domain.ProcessDefinitionName(def.ID))
		}
		if has := slices.Contains(in.Ticked, stepID); has != done {
			if done {
				in.Ticked = append(in.Ticked, stepID)
			} else {
				in.Ticked = slices.DeleteFunc(in.Ticked, func(id string) bool { return id == stepID })
			}
			in.UpdatedAt = s.now()
			if err := s.processes.Store.SaveProcessInstance(ctx, in); err != nil {
				return err
			}
		}
		v, err = s.instanceView(ctx, record)
		return err
	})
	return v, err
}

// MigrateProcessInstance moves a record's instance to another version of
// its definition (0: the latest); refused when the record's stage is a
// stage of its version but not of the other.
func (s *Service) MigrateProcessInstance(ctx context.Context, record string, version int64) (*InstanceView, error) {
	var v *InstanceView
	err := s.repo.InTx(ctx, func(ctx context.Context) error {
		cur, err := s.instanceView(ctx, record)
		if err != nil {
			return err
		}
		to, err := s.processes.Store.GetProcessDefinition(ctx, cur.Definition.ID, version)
		if err != nil {
			return err
		}
		if cur.Definition.StageIndex(cur.Stage) >= 0 && to.StageIndex(cur.Stage) < 0 {
			return apperr.FailedPrecondition("STAGE_NOT_IN_VERSION", "%s is at %s, which version %d of %s does not have", record, cur.Stage, to.Version, domain.ProcessDefinitionName(to.ID))
		}
		in, _, err := s.processes.Store.GetProcessInstance(ctx, record, true)
		if err != nil {
			return err
		}
		in.Version, in.UpdatedAt = to.Version, s.now()
		if err := s.processes.Store.SaveProcessInstance(ctx, in); err != nil {
			return err
		}
		v, err = s.instanceView(ctx, record)
		return err
	})
	return v, err
}

// ListProcessExceptions lists a record's process exceptions, newest first.
func (s *Service) ListProcessExceptions(ctx context.Context, record string, pageSize int, pageToken string) ([]*domain.ProcessException, string, error) {
	if _, _, err := s.processRecord(ctx, record); err != nil {
		return nil, "", err
	}
	return s.processes.Store.ListProcessExceptions(ctx, record, pageSize, pageToken)
}

// truncate cuts s to at most n runes.
func truncate(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n])
	}
	return s
}
