// Package wire assembles the workflow service from its parts; main and
// the end-to-end tests both start it through Spec.
package wire

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"google.golang.org/grpc"

	workflowv1 "github.com/crmsuite/crm/gen/go/crm/workflow/v1"
	"github.com/crmsuite/crm/platform/authn"
	"github.com/crmsuite/crm/platform/authz"
	"github.com/crmsuite/crm/platform/config"
	"github.com/crmsuite/crm/platform/events"
	"github.com/crmsuite/crm/platform/idempotency"
	"github.com/crmsuite/crm/platform/inbox"
	"github.com/crmsuite/crm/platform/service"
	"github.com/crmsuite/crm/platform/timer"
	"github.com/crmsuite/crm/services/workflow/internal/adapters/grpcclient"
	"github.com/crmsuite/crm/services/workflow/internal/adapters/postgres"
	"github.com/crmsuite/crm/services/workflow/internal/app"
	"github.com/crmsuite/crm/services/workflow/internal/domain"
	eventport "github.com/crmsuite/crm/services/workflow/internal/ports/events"
	grpcport "github.com/crmsuite/crm/services/workflow/internal/ports/grpc"
	"github.com/crmsuite/crm/services/workflow/internal/rules"
	"github.com/crmsuite/crm/services/workflow/migrations"
)

// Schema is the workflow service's Postgres schema.
const Schema = "workflow"

// Self is the workflow service's own subject: the actor of the changes
// its rules make in other services.
var Self = authn.ServiceSubject("workflow")

// Option adjusts the service, for tests.
type Option func(*settings)

type settings struct {
	addrs    map[string]string
	timeout  time.Duration
	baseURL  string
	consumer func(*inbox.Consumer)
	// fallbackOwner takes records no candidate of an assignment rule
	// (without a fallback of its own) is eligible for.
	fallbackOwner string
}

// WithServices overrides where the record-owning services listen (by
// name: lead, account, opportunity, order).
func WithServices(addrs map[string]string) Option {
	return func(s *settings) {
		for k, v := range addrs {
			s.addrs[k] = v
		}
	}
}

// WithConsumerRetries sets the consumers' deliveries and backoff.
func WithConsumerRetries(maxDeliver int, backoff time.Duration, ackWait time.Duration) Option {
	return func(s *settings) {
		s.consumer = func(c *inbox.Consumer) {
			c.MaxDeliver, c.Backoff, c.AckWait = maxDeliver, []time.Duration{backoff}, ackWait
		}
	}
}

// Spec describes the workflow service to the shared runtime.
func Spec(opts ...Option) service.Spec {
	return service.Spec{
		Schema:     Schema,
		Migrations: migrations.FS,
		Rules:      Rules,
		Register: func(rt *service.Runtime) error {
			set, err := load(opts)
			if err != nil {
				return err
			}
			var conns grpcclient.Conns
			for name, c := range map[string]*grpc.ClientConnInterface{
				"lead": &conns.Lead, "account": &conns.Account, "opportunity": &conns.Opportunity, "order": &conns.Order,
			} {
				conn, err := rt.Peer(name, set.addrs[name])
				if err != nil {
					return err
				}
				*c = conn
			}
			records := grpcclient.New(conns, set.timeout)
			pages := rt.PageCodec()
			repo := postgres.New(rt.Pool, rt.Outbox, pages)
			svc := app.New(repo, records).WithRules(app.RuleConfig{Store: repo, Engine: rules.NewEngine(), Updater: records, Self: Self}).WithSla(repo, countSla)
			svc.WithProcesses(&app.ProcessConfig{Store: repo, Pipelines: records, Engine: rules.NewEngine()})
			idem := &idempotency.Store{Pool: rt.Pool}
			workflowv1.RegisterWorkflowServiceServer(rt.GRPC, grpcport.New(svc, idem, pages, rt.Relay.Kick, set.baseURL))
			workflowv1.RegisterProcessServiceServer(rt.GRPC, grpcport.NewProcessServer(svc, idem, rt.Relay.Kick))
			workflowv1.RegisterSlaServiceServer(rt.GRPC, grpcport.NewSla(svc, idem))
			svc.WithDirectory(&app.DirectoryConfig{Store: repo, Owners: records, Engine: rules.NewEngine(), FallbackOwner: set.fallbackOwner, Self: Self})
			workflowv1.RegisterDirectoryServiceServer(rt.GRPC, grpcport.NewDirectoryServer(svc, idem, rt.Relay.Kick))

			rt.Timers(TimerHandlers(svc), SlaTimerHandlers(svc))
			for _, c := range Consumers(rt.Config.EventsNamespace, svc) {
				if set.consumer != nil {
					set.consumer(c)
				}
				rt.Consume(c)
			}
			return nil
		},
		Commands: map[string]service.Command{"rebuild-projection": RebuildProjection},
	}
}

func load(opts []Option) (settings, error) {
	var env config.Env
	set := settings{
		addrs: map[string]string{
			"lead":        env.String("LEAD_GRPC_ADDR", "127.0.0.1:9101"),
			"account":     env.String("ACCOUNT_GRPC_ADDR", "127.0.0.1:9102"),
			"opportunity": env.String("OPPORTUNITY_GRPC_ADDR", "127.0.0.1:9103"),
			"order":       env.String("ORDER_GRPC_ADDR", "127.0.0.1:9104"),
		},
		timeout:       env.Duration("RECORD_CALL_TIMEOUT", 2*time.Second),
		baseURL:       env.String("PUBLIC_BASE_URL", ""),
		fallbackOwner: env.String("ASSIGNMENT_FALLBACK_OWNER", ""),
	}
	if err := env.Err(); err != nil {
		return set, err
	}
	for _, o := range opts {
		o(&set)
	}
	return set, nil
}

// Consumers are the durable consumers of the streams the workflow service
// follows: every event of each.
func Consumers(ns string, svc *app.Service) []*inbox.Consumer {
	h := &eventport.Handlers{App: svc}
	var out []*inbox.Consumer
	for _, stream := range []string{"lead", "account", "opportunity", "order"} {
		out = append(out, &inbox.Consumer{
			Name:     eventport.Streams[stream],
			Stream:   events.StreamName(ns, stream),
			Subjects: events.StreamSubjects(ns, stream),
			Handler:  h.Apply,
		})
	}
	return out
}

// TimerHandlers are the workflow service's durable timers: a task's
// overdue and reminder times (keyed by the activity id), a rule run's
// remaining actions (by the run id), time triggers (by rule and record),
// arming a new time rule (by rule id) and handing an assignment to the
// record's owning service (by record).
func TimerHandlers(svc *app.Service) map[string]timer.Handler {
	task := func(t timer.Timer) (uuid.UUID, error) {
		id, err := uuid.Parse(t.Key)
		if err != nil {
			return uuid.Nil, fmt.Errorf("timer %s: key %q is not an id", t.Purpose, t.Key)
		}
		return id, nil
	}
	return map[string]timer.Handler{
		domain.TimerOverdue: func(ctx context.Context, t timer.Timer) error {
			id, err := task(t)
			if err != nil {
				return err
			}
			return svc.TaskDue(ctx, t.Purpose, id, t.DueAt)
		},
		domain.TimerReminder: func(ctx context.Context, t timer.Timer) error {
			id, err := task(t)
			if err != nil {
				return err
			}
			return svc.TaskDue(ctx, t.Purpose, id, t.DueAt)
		},
		domain.TimerRuleRun: func(ctx context.Context, t timer.Timer) error {
			id, err := task(t)
			if err != nil {
				return err
			}
			return svc.RunPending(ctx, id, t.Attempts)
		},
		domain.TimerRuleTime: func(ctx context.Context, t timer.Timer) error {
			return svc.TimeRuleDue(ctx, t.Key, t.DueAt)
		},
		domain.TimerRuleArm: func(ctx context.Context, t timer.Timer) error {
			id, err := task(t)
			if err != nil {
				return err
			}
			return svc.ArmTimeRule(ctx, id, string(t.Payload))
		},
		domain.TimerSlaRearm: func(ctx context.Context, t timer.Timer) error {
			return svc.RearmSla(ctx, t.Key, string(t.Payload))
		},
		domain.TimerAssignmentApply: func(ctx context.Context, t timer.Timer) error {
			return svc.ApplyAssignment(ctx, t.Key, t.Attempts)
		},
	}
}

// SlaTimerHandlers fire SLA clocks' warnings and breaches (keyed by the
// clock id) a batch at a time: a minute with a hundred thousand due
// costs a few statements per batch, not per clock.
func SlaTimerHandlers(svc *app.Service) map[string]timer.BatchHandler {
	fire := func(ctx context.Context, ts []timer.Timer) error {
		due := make(map[uuid.UUID]time.Time, len(ts))
		for _, t := range ts {
			id, err := uuid.Parse(t.Key)
			if err != nil {
				return fmt.Errorf("timer %s: key %q is not a clock id", t.Purpose, t.Key)
			}
			due[id] = t.DueAt
		}
		return svc.SlaDue(ctx, ts[0].Purpose, due)
	}
	return map[string]timer.BatchHandler{domain.TimerSlaWarning: fire, domain.TimerSlaBreach: fire}
}

// Who may call each RPC of the workflow service (deny by default).
// Activities follow the read rule of the record they regard (the use
// cases check: a salesperson's own leads, opportunities, orders and
// contracts and every account and contact; ops accounts, contacts,
// orders, contracts and won opportunities). Rules are admin business;
// managers read them and their runs. Calendars are everyone's own; the
// calendar document itself is public, its secret token authenticating it.
// Business calendars and SLA policies are admin business, read by
// managers, who also read the SLA report; a record's SLA clocks follow the
// record's read rule.
var Rules = map[string]authz.Rule{
	workflowv1.WorkflowService_CreateActivity_FullMethodName:     authz.Allow(manager, sales, ops).WithReach(readReach),
	workflowv1.WorkflowService_GetActivity_FullMethodName:        authz.Allow(manager, sales, ops).WithReach(readReach),
	workflowv1.WorkflowService_ListActivities_FullMethodName:     authz.Allow(manager, sales, ops).WithReach(readReach),
	workflowv1.WorkflowService_UpdateActivity_FullMethodName:     authz.Allow(manager, sales, ops).WithReach(ownReach),
	workflowv1.WorkflowService_CompleteActivity_FullMethodName:   authz.Allow(manager, sales, ops).WithReach(ownReach),
	workflowv1.WorkflowService_CancelActivity_FullMethodName:     authz.Allow(manager, sales, ops).WithReach(ownReach),
	workflowv1.WorkflowService_RescheduleActivity_FullMethodName: authz.Allow(manager, sales, ops).WithReach(ownReach),
	workflowv1.WorkflowService_DeleteActivity_FullMethodName:     authz.Allow(manager),
	workflowv1.WorkflowService_ListTasks_FullMethodName:          authz.Allow(manager, sales, ops).WithReach("own tasks; managers: anyone's"),
	workflowv1.WorkflowService_ListAuditEntries_FullMethodName:   authz.Allow(manager, sales, ops).WithReach("as the activity's Get; rules and all: managers"),

	workflowv1.WorkflowService_CreateRule_FullMethodName:   authz.AdminOnly,
	workflowv1.WorkflowService_UpdateRule_FullMethodName:   authz.AdminOnly,
	workflowv1.WorkflowService_DeleteRule_FullMethodName:   authz.AdminOnly,
	workflowv1.WorkflowService_GetRule_FullMethodName:      authz.Allow(manager),
	workflowv1.WorkflowService_ListRules_FullMethodName:    authz.Allow(manager),
	workflowv1.WorkflowService_ListRuleRuns_FullMethodName: authz.Allow(manager),

	workflowv1.WorkflowService_CreateCalendarFeed_FullMethodName: authz.Allow(manager, sales, ops).WithReach("own"),
	workflowv1.WorkflowService_ListCalendarFeeds_FullMethodName:  authz.Allow(manager, sales, ops).WithReach("own"),
	workflowv1.WorkflowService_RevokeCalendarFeed_FullMethodName: authz.Allow(manager, sales, ops).WithReach("own; admin: anyone's"),
	workflowv1.WorkflowService_GetCalendar_FullMethodName:        authz.Public,

	workflowv1.ProcessService_CreateProcessDefinition_FullMethodName: authz.AdminOnly,
	workflowv1.ProcessService_UpdateProcessDefinition_FullMethodName: authz.AdminOnly,
	workflowv1.ProcessService_GetProcessDefinition_FullMethodName:    authz.Allow(manager, sales, ops),
	workflowv1.ProcessService_ListProcessDefinitions_FullMethodName:  authz.Allow(manager, sales, ops),
	workflowv1.ProcessService_GetProcessInstance_FullMethodName:      authz.Allow(manager, sales, ops).WithReach(readReach),
	workflowv1.ProcessService_ListProcessExceptions_FullMethodName:   authz.Allow(manager, sales, ops).WithReach(readReach),
	workflowv1.ProcessService_TickChecklistItem_FullMethodName:       authz.Allow(manager, sales, ops).WithReach(readReach),
	workflowv1.ProcessService_MigrateProcessInstance_FullMethodName:  authz.Allow(manager),
	workflowv1.ProcessService_CheckTransition_FullMethodName:         authz.Allow(authz.Service),

	workflowv1.SlaService_CreateBusinessCalendar_FullMethodName: authz.AdminOnly,
	workflowv1.SlaService_UpdateBusinessCalendar_FullMethodName: authz.AdminOnly,
	workflowv1.SlaService_DeleteBusinessCalendar_FullMethodName: authz.AdminOnly,
	workflowv1.SlaService_GetBusinessCalendar_FullMethodName:    authz.Allow(manager),
	workflowv1.SlaService_ListBusinessCalendars_FullMethodName:  authz.Allow(manager),
	workflowv1.SlaService_CreateSlaPolicy_FullMethodName:        authz.AdminOnly,
	workflowv1.SlaService_UpdateSlaPolicy_FullMethodName:        authz.AdminOnly,
	workflowv1.SlaService_DeleteSlaPolicy_FullMethodName:        authz.AdminOnly,
	workflowv1.SlaService_GetSlaPolicy_FullMethodName:           authz.Allow(manager),
	workflowv1.SlaService_ListSlaPolicies_FullMethodName:        authz.Allow(manager),
	workflowv1.SlaService_ListSlaClocks_FullMethodName:          authz.Allow(manager, sales, ops).WithReach("the record's read rule"),
	workflowv1.SlaService_GetSlaReport_FullMethodName:           authz.Allow(manager),

	// The directory is admins' to keep and everyone's to read; each user
	// sets its own out-of-office. Assignment rules are admin business,
	// read by managers; a record's assignment follows the record's read
	// rule.
	workflowv1.DirectoryService_CreateUser_FullMethodName:           authz.AdminOnly,
	workflowv1.DirectoryService_UpdateUser_FullMethodName:           authz.AdminOnly,
	workflowv1.DirectoryService_DeleteUser_FullMethodName:           authz.AdminOnly,
	workflowv1.DirectoryService_GetUser_FullMethodName:              authz.Allow(manager, sales, ops),
	workflowv1.DirectoryService_ListUsers_FullMethodName:            authz.Allow(manager, sales, ops),
	workflowv1.DirectoryService_SetOutOfOffice_FullMethodName:       authz.Allow(manager, sales, ops).WithReach("own only, whoever asks"),
	workflowv1.DirectoryService_CreateAssignmentRule_FullMethodName: authz.AdminOnly,
	workflowv1.DirectoryService_UpdateAssignmentRule_FullMethodName: authz.AdminOnly,
	workflowv1.DirectoryService_DeleteAssignmentRule_FullMethodName: authz.AdminOnly,
	workflowv1.DirectoryService_GetAssignmentRule_FullMethodName:    authz.Allow(manager),
	workflowv1.DirectoryService_ListAssignmentRules_FullMethodName:  authz.Allow(manager),
	workflowv1.DirectoryService_GetAssignment_FullMethodName:        authz.Allow(manager, sales, ops).WithReach("the record's read rule"),
	workflowv1.DirectoryService_ListAssignments_FullMethodName:      authz.Allow(manager),
}

const (
	manager, sales, ops = authz.Manager, authz.Sales, authz.Ops
	readReach           = "the regarding record's read rule"
	ownReach            = "sales, ops: own activities on records they read"
)

var slaAnnounced = promauto.NewCounterVec(prometheus.CounterOpts{
	Name: "crm_workflow_sla_breaches_total",
	Help: "SLA breaches announced (SlaBreached), by policy and target; a firing rolled back and retried counts again.",
}, []string{"policy", "target"})

var slaWarned = promauto.NewCounterVec(prometheus.CounterOpts{
	Name: "crm_workflow_sla_warnings_total",
	Help: "SLA warnings announced (SlaWarning), by policy and target; a firing rolled back and retried counts again.",
}, []string{"policy", "target"})

func countSla(f app.SlaFiring) {
	c := slaWarned
	if f.Breach {
		c = slaAnnounced
	}
	c.WithLabelValues(f.Clock.PolicyID.String(), string(f.Clock.Target)).Inc()
}
