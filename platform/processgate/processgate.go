// Package processgate lets a service that owns records (leads,
// opportunities, orders) enforce the workflow service's process
// definitions on its own transitions, whichever way they are called.
//
// The service keeps which definitions gate which of its record types in
// process_gates (this package's migrations), fed by ProcessDefinitionChanged
// through Consumer. A transition of a record type no active definition
// gates costs one indexed read and no call. Otherwise Gate.Check asks the
// workflow service (CheckTransition, with a deadline): missing required
// steps of a BLOCK definition are FAILED_PRECONDITION PROCESS_STEPS_MISSING
// listing each; a workflow service that does not answer makes a BLOCK
// transition UNAVAILABLE (retryable) and lets a WARN one through, which the
// service's audit trail records, as it does a manager's override.
package processgate

import (
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	eventsv1 "github.com/crmsuite/crm/gen/go/crm/events/v1"
	workflowv1 "github.com/crmsuite/crm/gen/go/crm/workflow/v1"
	"github.com/crmsuite/crm/platform/apperr"
	"github.com/crmsuite/crm/platform/audit"
	"github.com/crmsuite/crm/platform/auth"
	"github.com/crmsuite/crm/platform/authz"
	"github.com/crmsuite/crm/platform/events"
	"github.com/crmsuite/crm/platform/inbox"
	"github.com/crmsuite/crm/platform/pg"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrations create process_gates in the service's schema.
func Migrations() pg.MigrationSet {
	sub, _ := fs.Sub(migrations, "migrations")
	return pg.MigrationSet{Name: "processgate", FS: sub}
}

var checks = promauto.NewCounterVec(prometheus.CounterOpts{
	Name: "crm_process_gate_checks_total",
	Help: "Transitions checked against a process definition, by outcome: allowed, refused, warned, overridden, unchecked (WARN while the workflow service did not answer), unavailable (BLOCK while it did not).",
}, []string{"record_type", "outcome"})

// Checker is what a service's use cases need of a Gate (an interface, so
// they can run without one).
type Checker interface {
	Gated(ctx context.Context, recordType string) (Gates, error)
	Check(ctx context.Context, gates Gates, t Transition) (*Passed, error)
}

var _ Checker = (*Gate)(nil)

// Gate checks the transitions of one service's records.
type Gate struct {
	Pool    *pgxpool.Pool
	Client  workflowv1.ProcessServiceClient
	Timeout time.Duration
	Log     *slog.Logger
}

// New returns a gate asking the workflow service over conn.
func New(pool *pgxpool.Pool, conn grpc.ClientConnInterface, timeout time.Duration, log *slog.Logger) *Gate {
	return &Gate{Pool: pool, Client: workflowv1.NewProcessServiceClient(conn), Timeout: timeout, Log: log}
}

// Override is a manager's (or admin's) decision to move a record past the
// missing steps of its process, with the reason (required with it).
type Override struct {
	Override bool
	Reason   string
}

// Transition is a record about to enter a stage.
type Transition struct {
	// Record is its name (`opportunities/{id}`), RecordType LEAD,
	// OPPORTUNITY, ORDER or CONTRACT.
	Record, RecordType string
	// Pipeline is an opportunity's (`pipelines/{id}`).
	Pipeline string
	ToStage  string
	// Snapshot is the record's API message as it is now.
	Snapshot  proto.Message
	Override  Override
	RequestID string
}

// Passed is a transition the gate let through; Audit records it when it
// went past missing steps or unchecked.
type Passed struct {
	pool    *pgxpool.Pool
	t       Transition
	kind    string // "", OVERRIDE, WARN, UNCHECKED
	missing []string
	actor   string
}

// Gates are the active definitions gating one record type: enforcement
// (BLOCK, WARN) by pipeline ("" for types without pipelines).
type Gates map[string]string

// Gated reads the gates of recordType, one indexed read: a service skips
// reading the record for Check when there are none.
func (g *Gate) Gated(ctx context.Context, recordType string) (Gates, error) {
	rows, err := pg.Q(ctx, g.Pool).Query(ctx, `SELECT pipeline, enforcement FROM process_gates WHERE record_type = $1 AND active`, recordType)
	if err != nil {
		return nil, fmt.Errorf("process gate: %w", err)
	}
	defer rows.Close()
	gates := Gates{}
	for rows.Next() {
		var pipeline, enforcement string
		if err := rows.Scan(&pipeline, &enforcement); err != nil {
			return nil, fmt.Errorf("process gate: %w", err)
		}
		gates[pipeline] = enforcement
	}
	return gates, rows.Err()
}

// Check asks whether t may happen, under gates (Gated). A nil error means
// it may; Audit the returned Passed in the transition's transaction.
func (g *Gate) Check(ctx context.Context, gates Gates, t Transition) (*Passed, error) {
	if t.Override.Override && strings.TrimSpace(t.Override.Reason) == "" {
		return nil, apperr.InvalidField("process_override_reason", "REASON_REQUIRED", "an override of the process needs a reason")
	}
	if t.Override.Override {
		if s := authz.ScopeOf(ctx); !s.Admin() && !s.Has(authz.Manager) {
			return nil, apperr.PermissionDenied("OVERRIDE_NOT_ALLOWED", "only managers and admins override a process")
		}
	}
	p := &Passed{pool: g.Pool, t: t, actor: auth.Actor(ctx)}
	enforcement, gated := gates[t.Pipeline]
	if !gated {
		return p, nil
	}
	snap, err := anypb.New(t.Snapshot)
	if err != nil {
		return nil, err
	}
	cctx, cancel := context.WithTimeout(ctx, g.Timeout)
	defer cancel()
	resp, err := g.Client.CheckTransition(cctx, &workflowv1.CheckTransitionRequest{
		Record: t.Record, ToStage: t.ToStage, Snapshot: snap, Pipeline: t.Pipeline, Actor: p.actor,
		Override: t.Override.Override, OverrideReason: t.Override.Reason, RequestId: t.RequestID,
	})
	if err != nil {
		switch status.Code(err) {
		case codes.Unavailable, codes.DeadlineExceeded, codes.Canceled, codes.ResourceExhausted:
		default:
			return nil, fmt.Errorf("process check of %s: %w", t.Record, err)
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if enforcement == "WARN" {
			g.Log.WarnContext(ctx, "process check skipped: the workflow service did not answer", "record", t.Record, "to_stage", t.ToStage, "error", err)
			checks.WithLabelValues(t.RecordType, "unchecked").Inc()
			p.kind = "UNCHECKED"
			return p, nil
		}
		checks.WithLabelValues(t.RecordType, "unavailable").Inc()
		return nil, apperr.Unavailable("PROCESS_CHECK_UNAVAILABLE", "the workflow service did not answer whether %s may enter %s; try again", t.Record, t.ToStage)
	}
	for _, m := range resp.GetMissing() {
		p.missing = append(p.missing, m.GetStage()+"/"+m.GetStepId())
	}
	switch {
	case !resp.GetAllowed():
		checks.WithLabelValues(t.RecordType, "refused").Inc()
		return nil, stepsMissing(t, resp)
	case len(p.missing) > 0 && t.Override.Override:
		checks.WithLabelValues(t.RecordType, "overridden").Inc()
		p.kind = "OVERRIDE"
	case len(p.missing) > 0:
		checks.WithLabelValues(t.RecordType, "warned").Inc()
		p.kind = "WARN"
	default:
		checks.WithLabelValues(t.RecordType, "allowed").Inc()
	}
	return p, nil
}

func stepsMissing(t Transition, resp *workflowv1.CheckTransitionResponse) error {
	var titles []string
	e := apperr.FailedPrecondition("PROCESS_STEPS_MISSING", "")
	for _, m := range resp.GetMissing() {
		title := m.GetTitle()
		if title == "" {
			title = m.GetStepId()
		}
		titles = append(titles, title)
		e.Preconditions = append(e.Preconditions, apperr.PreconditionViolation{
			Type: "PROCESS_STEP_MISSING", Subject: t.Record,
			Description: fmt.Sprintf("%s (step %s of stage %s)", title, m.GetStepId(), m.GetStage()),
		})
	}
	e.Message = fmt.Sprintf("%s cannot enter %s before these steps of %s are done: %s", t.Record, t.ToStage, resp.GetDefinition(), strings.Join(titles, "; "))
	return e.WithMeta("record", t.Record).WithMeta("to_stage", t.ToStage).WithMeta("definition", resp.GetDefinition())
}

// Entry is the audit entry of a transition that went past missing steps
// (a WARN definition's, an override) or unchecked, nil for one that met
// its process: the owning service writes it with the transition.
func (p *Passed) Entry(ctx context.Context) (*audit.Entry, error) {
	if p == nil || p.kind == "" {
		return nil, nil
	}
	v, err := json.Marshal(map[string]any{
		"kind": p.kind, "to_stage": p.t.ToStage, "missing": p.missing, "reason": strings.TrimSpace(p.t.Override.Reason),
	})
	if err != nil {
		return nil, err
	}
	method, _ := grpc.Method(ctx)
	return &audit.Entry{
		Record: p.t.Record, RecordType: string(p.t.Snapshot.ProtoReflect().Descriptor().FullName()), Action: audit.Update,
		Actor: p.actor, OnBehalfOf: auth.OnBehalfOf(ctx), Method: method, RequestID: p.t.RequestID,
		Changes: []audit.Change{{Field: "process_gate", New: v}},
	}, nil
}

// Audit writes Entry in the transition's transaction (ctx carries it).
func (p *Passed) Audit(ctx context.Context) error {
	e, err := p.Entry(ctx)
	if err != nil || e == nil {
		return err
	}
	return audit.Append(ctx, pg.Q(ctx, p.pool), e)
}

// Consumer keeps process_gates from the workflow service's
// ProcessDefinitionChanged; name is the durable consumer's (one per
// service).
func Consumer(ns, name string, pool *pgxpool.Pool) *inbox.Consumer {
	return &inbox.Consumer{
		Name:     name,
		Stream:   events.StreamName(ns, "workflow"),
		Subjects: []string{events.Subject(ns, "workflow", &eventsv1.ProcessDefinitionChanged{})},
		Handler: func(ctx context.Context, m inbox.Message) error {
			return apply(ctx, pg.Q(ctx, pool), m)
		},
	}
}

func apply(ctx context.Context, q pg.Querier, m inbox.Message) error {
	var ev eventsv1.ProcessDefinitionChanged
	if err := proto.Unmarshal(m.Data, &ev); err != nil {
		return inbox.Permanent(fmt.Errorf("MALFORMED_EVENT: %w", err))
	}
	_, err := q.Exec(ctx, `INSERT INTO process_gates (definition, record_type, pipeline, enforcement, active, version)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (definition) DO UPDATE SET enforcement = excluded.enforcement, active = excluded.active, version = excluded.version
		WHERE process_gates.version < excluded.version`,
		ev.GetDefinition(), ev.GetRecordType(), ev.GetPipeline(), ev.GetEnforcement(), ev.GetActive(), ev.GetVersion())
	return err
}
