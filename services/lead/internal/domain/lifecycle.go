package domain

import "time"

// LifecycleStage is how far marketing and sales have taken a lead (seed
// 004): an MQL (marketing qualified lead) once marketing judges it worth
// sales' time, an SQL (sales qualified lead) once sales accepts it. It is
// independent of Status, which tracks the work on the lead; "qualified",
// the funnel's last step, is not a stage of its own but the lead's
// conversion (Status QUALIFIED), so the two can never disagree.
type LifecycleStage string

const (
	StageNone LifecycleStage = ""
	StageMQL  LifecycleStage = "MQL"
	StageSQL  LifecycleStage = "SQL"
)

// rank orders the stages: moving to a lower rank is going backwards.
func (s LifecycleStage) rank() int {
	switch s {
	case StageMQL:
		return 1
	case StageSQL:
		return 2
	}
	return 0
}

// Valid reports a known stage (StageNone included).
func (s LifecycleStage) Valid() bool {
	return s == StageNone || s == StageMQL || s == StageSQL
}

// Backwards reports whether moving from s to next goes back (SQL to MQL,
// or clearing the stage).
func (s LifecycleStage) Backwards(next LifecycleStage) bool {
	return next.rank() < s.rank()
}

// Lifecycle is the lead's stage and when it got there, for statistics.
type Lifecycle struct {
	Stage LifecycleStage
	// ChangedAt and ChangedBy are the last change of Stage; nil and ""
	// while it never changed.
	ChangedAt *time.Time
	ChangedBy string
	// MQLAt and SQLAt are when the lead first reached MQL (or went
	// straight to SQL) and SQL. Going back below a stage clears its time:
	// the stage was given by mistake, and the funnel counts leads that are
	// at or past a stage.
	MQLAt, SQLAt *time.Time
}

// setStage moves the lifecycle to stage, as actor at now; it reports
// whether anything changed.
func (c *Lifecycle) setStage(stage LifecycleStage, actor string, now time.Time) bool {
	if stage == c.Stage {
		return false
	}
	c.Stage, c.ChangedAt, c.ChangedBy = stage, &now, actor
	r := stage.rank()
	if r >= StageMQL.rank() && c.MQLAt == nil {
		c.MQLAt = &now
	}
	if r >= StageSQL.rank() && c.SQLAt == nil {
		c.SQLAt = &now
	}
	if r < StageSQL.rank() {
		c.SQLAt = nil
	}
	if r < StageMQL.rank() {
		c.MQLAt = nil
	}
	return true
}
