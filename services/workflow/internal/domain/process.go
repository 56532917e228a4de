package domain

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/crmsuite/crm/platform/apperr"
)

// Enforcement is what a transition with required steps missing does.
type Enforcement string

const (
	EnforceBlock Enforcement = "BLOCK"
	EnforceWarn  Enforcement = "WARN"
)

// ProcessDefinition is a guided process for one type of record (and, for
// opportunities, one pipeline), at one version.
type ProcessDefinition struct {
	ID          uuid.UUID
	RecordType  RecordType
	Pipeline    string
	DisplayName string
	Enforcement Enforcement
	Active      bool
	Stages      []ProcessStage
	Version     int64
	CreatedAt   time.Time
	CreatedBy   string
	UpdatedAt   time.Time
	UpdatedBy   string
}

// ProcessStage is a stage of a process and the steps entering it needs.
type ProcessStage struct {
	Stage string        `json:"stage"`
	Steps []ProcessStep `json:"steps,omitempty"`
	// EntryActions run when a record on this version enters the stage.
	EntryActions []Action `json:"entry_actions,omitempty"`
}

// ProcessStep is one step: a condition on the record, a completed activity
// of a type, or a checklist item, exactly one of them.
type ProcessStep struct {
	ID        string `json:"id"`
	Title     string `json:"title,omitempty"`
	Required  bool   `json:"required,omitempty"`
	Condition string `json:"condition,omitempty"`
	// Activity is an activity type (MEETING).
	Activity  string `json:"activity,omitempty"`
	Checklist bool   `json:"checklist,omitempty"`
}

// ProcessFields are the fields UpdateProcessDefinition may change.
var ProcessFields = []string{"display_name", "enforcement", "active", "stages"}

const (
	maxProcessStages = 30
	maxStageSteps    = 20
)

// ProcessRecordTypes are the record types a process can guide.
var ProcessRecordTypes = []RecordType{RecordLead, RecordOpportunity, RecordOrder, RecordContract}

// Check validates a definition on its own: the stages' names against
// validStage (the record type's statuses or the pipeline's stages), the
// steps' shape. Conditions are compiled by the caller.
func (d *ProcessDefinition) Check(validStage func(string) bool, stageKind string) error {
	var vs apperr.Violations
	if strings.TrimSpace(d.DisplayName) == "" {
		vs.Add("display_name", "REQUIRED", "a process needs a display name")
	}
	if !slices.Contains(ProcessRecordTypes, d.RecordType) {
		vs.Add("record_type", "REQUIRED", "a process guides leads, opportunities, orders or contracts")
	}
	if d.Enforcement != EnforceBlock && d.Enforcement != EnforceWarn {
		vs.Add("enforcement", "REQUIRED", "say what missing steps do: ENFORCEMENT_BLOCK or ENFORCEMENT_WARN")
	}
	if len(d.Stages) == 0 || len(d.Stages) > maxProcessStages {
		vs.Add("stages", "STAGE_COUNT", "a process has 1 to %d stages", maxProcessStages)
	}
	stages, steps := map[string]bool{}, map[string]bool{}
	for i, st := range d.Stages {
		f := fmt.Sprintf("stages[%d]", i)
		switch {
		case st.Stage == "":
			vs.Add(f+".stage", "REQUIRED", "name the stage")
		case stages[st.Stage]:
			vs.Add(f+".stage", "DUPLICATE_STAGE", "%q is listed twice", st.Stage)
		case validStage != nil && !validStage(st.Stage):
			vs.Add(f+".stage", "UNKNOWN_STAGE", "%q is not %s", st.Stage, stageKind)
		}
		stages[st.Stage] = true
		if len(st.Steps) > maxStageSteps {
			vs.Add(f+".steps", "STEP_COUNT", "a stage has at most %d steps", maxStageSteps)
		}
		for j, step := range st.Steps {
			sf := fmt.Sprintf("%s.steps[%d]", f, j)
			if step.ID == "" {
				vs.Add(sf+".id", "REQUIRED", "give the step an id (lower_snake_case)")
			} else if steps[step.ID] {
				vs.Add(sf+".id", "DUPLICATE_STEP", "step id %q is used twice in the process", step.ID)
			}
			steps[step.ID] = true
			kinds := 0
			for _, set := range []bool{step.Condition != "", step.Activity != "", step.Checklist} {
				if set {
					kinds++
				}
			}
			if kinds != 1 {
				vs.Add(sf, "STEP_KIND", "a step is exactly one of a condition, an activity or a checklist item")
			}
			if step.Activity != "" && !ActivityType(step.Activity).Valid() {
				vs.Add(sf+".activity", "UNKNOWN_ACTIVITY_TYPE", "%q is not an activity type", step.Activity)
			}
		}
	}
	return vs.Err()
}

// StageIndex is the position of stage in the process, -1 when it is not
// one of its stages.
func (d *ProcessDefinition) StageIndex(stage string) int {
	return slices.IndexFunc(d.Stages, func(s ProcessStage) bool { return s.Stage == stage })
}

// Needed are the steps a record at stage `from` needs done to enter `to`:
// every step of the stages up to and including `to`, when `to` is a later
// stage of the process than `from`; none when it is earlier, the same, or
// not a stage of the process.
func (d *ProcessDefinition) Needed(from, to string) []StageStep {
	ti := d.StageIndex(to)
	if ti < 0 || ti <= d.StageIndex(from) {
		return nil
	}
	var out []StageStep
	for _, st := range d.Stages[:ti+1] {
		for _, step := range st.Steps {
			out = append(out, StageStep{Stage: st.Stage, Step: step})
		}
	}
	return out
}

// StageStep is a step with the stage it belongs to.
type StageStep struct {
	Stage string
	Step  ProcessStep
}

// ProcessInstance is a record's process: the definition version it
// follows and the checklist items ticked.
type ProcessInstance struct {
	Record     string
	Definition uuid.UUID
	Version    int64
	Ticked     []string
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// ProcessException is a transition that went through with required steps
// missing.
type ProcessException struct {
	Record     string
	Definition uuid.UUID
	Version    int64
	ToStage    string
	Kind       string // WARN, OVERRIDE
	Actor      string
	Reason     string
	Missing    []StageStep
	RequestID  string
	At         time.Time
}

// ProcessDefinitionName is `processDefinitions/{id}`.
func ProcessDefinitionName(id uuid.UUID) string { return "processDefinitions/" + id.String() }

// ErrProcessDefinitionNotFound is NotFound for a definition (or version).
func ErrProcessDefinitionNotFound(id uuid.UUID, version int64) error {
	if version > 0 {
		return apperr.NotFound("PROCESS_DEFINITION_NOT_FOUND", "%s has no version %d", ProcessDefinitionName(id), version)
	}
	return apperr.NotFound("PROCESS_DEFINITION_NOT_FOUND", "%s does not exist", ProcessDefinitionName(id))
}

// ErrRuleOwnedByProcess refuses changing a rule a process definition
// made for a stage's entry actions.
func ErrRuleOwnedByProcess(r *Rule) error {
	return apperr.FailedPrecondition("RULE_OWNED_BY_PROCESS", "the rule runs the entry actions of a stage of %s: change the definition instead", ProcessDefinitionName(r.Process))
}

// ErrNoProcess is NotFound for a record no active process applies to.
func ErrNoProcess(record string) error {
	return apperr.NotFound("NO_PROCESS", "no active process definition applies to %s", record).WithMeta("record", record)
}
