// Package domain holds pipelines, opportunities and loss reasons, their
// rules and the events their changes raise. It knows nothing of gRPC or
// Postgres.
package domain

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/crmsuite/crm/platform/apperr"
)

// StageKind says what an opportunity in a stage is: still open, or closed
// one way or another.
type StageKind string

const (
	KindOpen         StageKind = "OPEN"
	KindWon          StageKind = "WON"
	KindLost         StageKind = "LOST"
	KindDisqualified StageKind = "DISQUALIFIED"
)

// ForecastCategory is where an opportunity counts in the forecast.
type ForecastCategory string

const (
	ForecastPipeline ForecastCategory = "PIPELINE"
	ForecastBestCase ForecastCategory = "BEST_CASE"
	ForecastCommit   ForecastCategory = "COMMIT"
	ForecastClosed   ForecastCategory = "CLOSED"
	ForecastOmitted  ForecastCategory = "OMITTED"
)

// ValidForecast reports whether c is a forecast category.
func ValidForecast(c ForecastCategory) bool {
	switch c {
	case ForecastPipeline, ForecastBestCase, ForecastCommit, ForecastClosed, ForecastOmitted:
		return true
	}
	return false
}

// Stage is a step of a pipeline.
type Stage struct {
	// ID is stable: opportunities and their history refer to it.
	ID               string
	DisplayName      string
	Kind             StageKind
	Probability      int
	ForecastCategory ForecastCategory
	// Retired stages take no new opportunities.
	Retired bool
}

// Pipeline is the ordered stages opportunities move through.
type Pipeline struct {
	ID          uuid.UUID
	DisplayName string
	Default     bool
	Stages      []Stage
	CreatedAt   time.Time
	CreatedBy   string
	UpdatedAt   time.Time
	UpdatedBy   string
	Version     int64
}

// PipelineField names an updatable pipeline field, as in the API.
type PipelineField string

const (
	PipelineDisplayName PipelineField = "display_name"
	PipelineDefault     PipelineField = "default"
	PipelineStages      PipelineField = "stages"
)

// PipelineFields can change through UpdatePipeline.
var PipelineFields = []PipelineField{PipelineDisplayName, PipelineDefault, PipelineStages}

// NewPipeline checks and completes a new pipeline.
func NewPipeline(in Pipeline, actor string, now time.Time) (*Pipeline, error) {
	p := in
	p.ID = uuid.Must(uuid.NewV7())
	p.DisplayName = strings.TrimSpace(p.DisplayName)
	p.Stages = slices.Clone(p.Stages)
	var vs apperr.Violations
	if p.DisplayName == "" {
		vs.Add(string(PipelineDisplayName), "DISPLAY_NAME_REQUIRED", "a pipeline needs a display name")
	}
	vs = append(vs, normalizeStages(p.Stages, nil)...)
	if err := vs.Err(); err != nil {
		return nil, err
	}
	p.CreatedAt, p.CreatedBy, p.UpdatedAt, p.UpdatedBy = now, actor, now, actor
	p.Version = 1
	return &p, nil
}

// normalizeStages completes stages in place (ids from names, forecast
// categories from kinds, closed probabilities) and checks the pipeline
// rules. prev are the stages before an update: a kept stage keeps its kind.
func normalizeStages(stages []Stage, prev []Stage) apperr.Violations {
	var vs apperr.Violations
	f := func(i int, sub string) string { return fmt.Sprintf("%s[%d].%s", PipelineStages, i, sub) }
	taken := map[string]bool{}
	for _, s := range stages {
		if s.ID != "" {
			taken[s.ID] = true
		}
	}
	seen := map[string]bool{}
	won, lost, open := 0, 0, 0
	for i := range stages {
		s := &stages[i]
		s.DisplayName = strings.TrimSpace(s.DisplayName)
		if s.DisplayName == "" {
			vs.Add(f(i, "display_name"), "DISPLAY_NAME_REQUIRED", "a stage needs a display name")
		}
		if s.ID == "" {
			s.ID = uniqueID(StageID(s.DisplayName), taken)
			taken[s.ID] = true
		}
		if !validID(s.ID) {
			vs.Add(f(i, "id"), "INVALID_STAGE_ID", "stage id %q must be lower_snake_case", s.ID)
		}
		if seen[s.ID] {
			vs.Add(f(i, "id"), "DUPLICATE_STAGE_ID", "stage id %q appears twice", s.ID)
		}
		seen[s.ID] = true
		switch s.Kind {
		case KindOpen:
			if !s.Retired {
				open++
			}
			if s.ForecastCategory == "" {
				s.ForecastCategory = ForecastPipeline
			}
		case KindWon:
			won++
			s.Probability = 100
			if s.ForecastCategory == "" {
				s.ForecastCategory = ForecastClosed
			}
		case KindLost, KindDisqualified:
			if s.Kind == KindLost {
				lost++
			}
			s.Probability = 0
			if s.ForecastCategory == "" {
				s.ForecastCategory = ForecastOmitted
			}
		default:
			vs.Add(f(i, "kind"), "STAGE_KIND_REQUIRED", "a stage is OPEN, WON, LOST or DISQUALIFIED")
		}
		if s.Probability < 0 || s.Probability > 100 {
			vs.Add(f(i, "probability"), "INVALID_PROBABILITY", "probability is 0 to 100")
		}
		if !ValidForecast(s.ForecastCategory) {
			vs.Add(f(i, "forecast_category"), "INVALID_FORECAST_CATEGORY", "unknown forecast category %q", s.ForecastCategory)
		}
		for _, p := range prev {
			if p.ID == s.ID && p.Kind != s.Kind && s.Kind != "" {
				vs.Add(f(i, "kind"), "STAGE_KIND_CHANGED", "stage %q is %s and stays so; add a new stage instead", s.ID, p.Kind)
			}
		}
	}
	if won != 1 {
		vs.Add(string(PipelineStages), "ONE_WON_STAGE", "a pipeline needs exactly one WON stage, not %d", won)
	}
	if lost < 1 {
		vs.Add(string(PipelineStages), "LOST_STAGE_REQUIRED", "a pipeline needs at least one LOST stage")
	}
	if open < 1 {
		vs.Add(string(PipelineStages), "OPEN_STAGE_REQUIRED", "a pipeline needs at least one open stage that is not retired")
	}
	if len(stages) > 50 {
		vs.Add(string(PipelineStages), "TOO_MANY_STAGES", "at most 50 stages")
	}
	return vs
}

func validID(id string) bool {
	if id == "" || len(id) > 63 || id[0] < 'a' || id[0] > 'z' {
		return false
	}
	for _, r := range id {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '_' {
			return false
		}
	}
	return true
}

// StageID derives a stage id from a display name: "Needs Analysis" ->
// "needs_analysis".
func StageID(name string) string {
	var b strings.Builder
	underscore := false
	for _, r := range strings.ToLower(name) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			if underscore && b.Len() > 0 {
				b.WriteByte('_')
			}
			underscore = false
			b.WriteRune(r)
			continue
		}
		underscore = true
	}
	id := b.String()
	if id == "" || id[0] < 'a' || id[0] > 'z' {
		id = "stage_" + id
	}
	id = strings.TrimSuffix(id, "_")
	if len(id) > 56 {
		id = strings.TrimRight(id[:56], "_")
	}
	return id
}

func uniqueID(base string, taken map[string]bool) string {
	id := base
	for n := 2; taken[id]; n++ {
		id = base + "_" + strconv.Itoa(n)
	}
	return id
}

// Stage returns the stage with id.
func (p *Pipeline) Stage(id string) (Stage, bool) {
	for _, s := range p.Stages {
		if s.ID == id {
			return s, true
		}
	}
	return Stage{}, false
}

// FirstOpen is where new opportunities start: the first open stage that
// is not retired.
func (p *Pipeline) FirstOpen() Stage {
	for _, s := range p.Stages {
		if s.Kind == KindOpen && !s.Retired {
			return s
		}
	}
	return Stage{}
}

// FirstOfKind returns the first stage of kind (retired ones only when
// there is no other).
func (p *Pipeline) FirstOfKind(k StageKind) (Stage, bool) {
	var retired *Stage
	for i, s := range p.Stages {
		if s.Kind != k {
			continue
		}
		if !s.Retired {
			return s, true
		}
		if retired == nil {
			retired = &p.Stages[i]
		}
	}
	if retired != nil {
		return *retired, true
	}
	return Stage{}, false
}

// PipelineUpdate is what an update changed beyond the fields.
type PipelineUpdate struct {
	Changed []string
	// Removed are the ids of stages no longer in the pipeline.
	Removed []string
	// WasDefault says the pipeline was the default before.
	WasDefault bool
}

// Update sets the fields in mask to their values in patch.
func (p *Pipeline) Update(patch Pipeline, mask []PipelineField, actor string, now time.Time) (PipelineUpdate, error) {
	next := *p
	next.Stages = slices.Clone(p.Stages)
	var vs apperr.Violations
	for _, f := range mask {
		switch f {
		case PipelineDisplayName:
			next.DisplayName = strings.TrimSpace(patch.DisplayName)
			if next.DisplayName == "" {
				vs.Add(string(f), "DISPLAY_NAME_REQUIRED", "a pipeline needs a display name")
			}
		case PipelineDefault:
			if p.Default && !patch.Default {
				vs.Add(string(f), "DEFAULT_PIPELINE_REQUIRED", "make another pipeline the default instead")
			}
			next.Default = patch.Default
		case PipelineStages:
			next.Stages = slices.Clone(patch.Stages)
			vs = append(vs, normalizeStages(next.Stages, p.Stages)...)
		default:
			vs.Add("update_mask", "FIELD_NOT_UPDATABLE", "%s cannot be updated", f)
		}
	}
	if err := vs.Err(); err != nil {
		return PipelineUpdate{}, err
	}
	u := PipelineUpdate{WasDefault: p.Default}
	if next.DisplayName != p.DisplayName {
		u.Changed = append(u.Changed, string(PipelineDisplayName))
	}
	if next.Default != p.Default {
		u.Changed = append(u.Changed, string(PipelineDefault))
	}
	if !slices.Equal(next.Stages, p.Stages) {
		u.Changed = append(u.Changed, string(PipelineStages))
	}
	for _, s := range p.Stages {
		if _, ok := next.Stage(s.ID); !ok {
			u.Removed = append(u.Removed, s.ID)
		}
	}
	if len(u.Changed) == 0 {
		return u, nil
	}
	*p = next
	p.UpdatedAt, p.UpdatedBy = now, actor
	p.Version++
	return u, nil
}

// CheckStageMoves checks the moves given for removed stages: each key a
// removed stage, each target a stage of the pipeline of the same kind
// (open targets not retired). counts are the opportunities per removed
// stage; a removed stage with opportunities and no move is
// FAILED_PRECONDITION STAGE_HAS_OPPORTUNITIES.
func (p *Pipeline) CheckStageMoves(removed []string, moves map[string]string, prev []Stage, counts map[string]int) error {
	var vs apperr.Violations
	keys := slices.Sorted(maps.Keys(moves))
	for _, from := range keys {
		to := moves[from]
		f := "stage_moves[" + from + "]"
		if !slices.Contains(removed, from) {
			vs.Add(f, "STAGE_NOT_REMOVED", "stage %q is not being removed", from)
			continue
		}
		var fromKind StageKind
		for _, s := range prev {
			if s.ID == from {
				fromKind = s.Kind
			}
		}
		target, ok := p.Stage(to)
		switch {
		case !ok:
			vs.Add(f, "UNKNOWN_STAGE", "stage %q is not in the pipeline", to)
		case target.Kind != fromKind:
			vs.Add(f, "STAGE_KIND_MISMATCH", "opportunities of %s stage %q can only move to a %s stage, not %q (%s)", fromKind, from, fromKind, to, target.Kind)
		case target.Kind == KindOpen && target.Retired:
			vs.Add(f, "STAGE_RETIRED", "stage %q is retired", to)
		}
	}
	if err := vs.Err(); err != nil {
		return err
	}
	for _, id := range removed {
		if counts[id] > 0 && moves[id] == "" {
			e := apperr.FailedPrecondition("STAGE_HAS_OPPORTUNITIES",
				"stage %q still has %d opportunities: say where they go in stage_moves", id, counts[id])
			e.Preconditions = []apperr.PreconditionViolation{{
				Type: "STAGE_HAS_OPPORTUNITIES", Subject: "pipelines/" + p.ID.String() + "/stages/" + id,
				Description: "removing a stage with opportunities needs a stage_moves entry for it",
			}}
			return e.WithMeta("stage", id)
		}
	}
	return nil
}

// ErrPipelineNotFound is returned for a pipeline that does not exist.
func ErrPipelineNotFound(id uuid.UUID) error {
	return apperr.NotFound("PIPELINE_NOT_FOUND", "pipeline %s not found", id)
}

// Reason is an entry of a configurable list of reasons: why an
// opportunity was lost (LossReason) or won (WinReason).
type Reason struct {
	ID          string
	DisplayName string
	Retired     bool
}

// LossReason is why an opportunity was lost.
type LossReason = Reason

// WinReason is why an opportunity was won.
type WinReason = Reason

// NormalizeLossReasons checks a replacement list of loss reasons.
func NormalizeLossReasons(rs []LossReason) ([]LossReason, error) {
	return normalizeReasons("loss_reasons", "loss reason", rs)
}

// NormalizeWinReasons checks a replacement list of win reasons.
func NormalizeWinReasons(rs []WinReason) ([]WinReason, error) {
	return normalizeReasons("win_reasons", "win reason", rs)
}

func normalizeReasons(field, what string, rs []Reason) ([]Reason, error) {
	var vs apperr.Violations
	seen := map[string]bool{}
	out := make([]Reason, len(rs))
	for i, r := range rs {
		r.DisplayName = strings.TrimSpace(r.DisplayName)
		r.ID = strings.TrimSpace(r.ID)
		if r.ID == "" {
			r.ID = StageID(r.DisplayName)
		}
		f := fmt.Sprintf("%s[%d]", field, i)
		if !validID(r.ID) {
			vs.Add(f+".id", "INVALID_ID", "id %q must be lower_snake_case", r.ID)
		}
		if r.DisplayName == "" {
			vs.Add(f+".display_name", "DISPLAY_NAME_REQUIRED", "a %s needs a display name", what)
		}
		if seen[r.ID] {
			vs.Add(f+".id", "DUPLICATE_ID", "id %q appears twice", r.ID)
		}
		seen[r.ID] = true
		r.Retired = false
		out[i] = r
	}
	return out, vs.Err()
}
