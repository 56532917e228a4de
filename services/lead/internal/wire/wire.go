// Package wire assembles the lead service from its parts; main and the
// end-to-end tests both start it through Spec.
package wire

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"google.golang.org/protobuf/proto"

	"buf.build/go/protovalidate"

	leadv1 "github.com/crmsuite/crm/gen/go/crm/lead/v1"
	"github.com/crmsuite/crm/platform/authz"
	"github.com/crmsuite/crm/platform/config"
	"github.com/crmsuite/crm/platform/idempotency"
	"github.com/crmsuite/crm/platform/pg"
	"github.com/crmsuite/crm/platform/processgate"
	"github.com/crmsuite/crm/platform/service"
	"github.com/crmsuite/crm/services/lead/internal/adapters/grpcclient"
	"github.com/crmsuite/crm/services/lead/internal/adapters/postgres"
	"github.com/crmsuite/crm/services/lead/internal/app"
	"github.com/crmsuite/crm/services/lead/internal/domain"
	eventport "github.com/crmsuite/crm/services/lead/internal/ports/events"
	grpcport "github.com/crmsuite/crm/services/lead/internal/ports/grpc"
	"github.com/crmsuite/crm/services/lead/internal/protomap"
	"github.com/crmsuite/crm/services/lead/migrations"
)

// Schema is the lead service's Postgres schema.
const Schema = "lead"

// Option adjusts the service, for tests.
type Option func(*settings)

type settings struct {
	imports        grpcport.ImportConfig
	accountAddr    string
	accountTimeout time.Duration
	workflowAddr   string
	processTimeout time.Duration
	stuckAfter     time.Duration
}

// WithImportLimits overrides the import batch size and row limit.
func WithImportLimits(batchRows int, maxRows int64) Option {
	return func(s *settings) { s.imports.BatchRows, s.imports.MaxRows = batchRows, maxRows }
}

// WithAccountService overrides where the account service listens and how
// long a call to it may take.
func WithAccountService(addr string, timeout time.Duration) Option {
	return func(s *settings) { s.accountAddr, s.accountTimeout = addr, timeout }
}

// WithWorkflowService overrides where the workflow service (process
// checks) listens and how long a check may take.
func WithWorkflowService(addr string, timeout time.Duration) Option {
	return func(s *settings) { s.workflowAddr, s.processTimeout = addr, timeout }
}

// Spec describes the lead service to the shared runtime.
func Spec(opts ...Option) service.Spec {
	return service.Spec{
		Schema:           Schema,
		Migrations:       migrations.FS,
		SharedMigrations: []pg.MigrationSet{processgate.Migrations()},
		Extensions:       migrations.Extensions,
		Rules:            Rules,
		Commands:         Commands,
		Register: func(rt *service.Runtime) error {
			var env config.Env
			phoneRegion := env.String("DEFAULT_PHONE_REGION", "")
			set := settings{
				imports: grpcport.ImportConfig{
					BatchRows: env.Int("IMPORT_BATCH_ROWS", 2000),
					MaxRows:   int64(env.Int("IMPORT_MAX_ROWS", 1_000_000)),
				},
				accountAddr:    env.String("ACCOUNT_GRPC_ADDR", "127.0.0.1:9102"),
				accountTimeout: env.Duration("ACCOUNT_CALL_TIMEOUT", 2*time.Second),
				workflowAddr:   env.String("WORKFLOW_GRPC_ADDR", "127.0.0.1:9105"),
				processTimeout: env.Duration("PROCESS_CHECK_TIMEOUT", 2*time.Second),
				stuckAfter:     env.Duration("STUCK_CONVERSION_AFTER", app.DefaultStuckAfter),
			}
			if err := env.Err(); err != nil {
				return err
			}
			for _, o := range opts {
				o(&set)
			}
			validator, err := protovalidate.New()
			if err != nil {
				return err
			}
			repo := postgres.New(rt.Pool, rt.Outbox, rt.PageCodec(), phoneRegion)
			accounts, err := rt.Peer("account", set.accountAddr)
			if err != nil {
				return err
			}
			svc := app.New(repo).WithCustomers(grpcclient.NewCustomers(accounts, set.accountTimeout)).WithModules(rt.Module)
			// Processes are the workflow module's: without it nothing
			// gates a status change (see opportunity's wire).
			if rt.Module("workflow") {
				workflow, err := rt.Dial(set.workflowAddr)
				if err != nil {
					return err
				}
				svc = svc.WithProcessGate(processgate.New(rt.Pool, workflow, set.processTimeout, rt.Logger),
					func(l *domain.Lead) proto.Message { return protomap.Lead(l) })
			}
			// AssignLead accepts only the workflow module's active users,
			// once it keeps any (see app.checkAssignee).
			svc = svc.WithDirectory(repo).WithCustomerKeys(repo)
			rt.Consume(processgate.Consumer(rt.Config.EventsNamespace, "lead-process-gates", rt.Pool))
			svc.WithStuckConversions(repo, set.stuckAfter)
			rt.Go(func(ctx context.Context) error { return countStuckConversions(ctx, svc, rt.Logger) })
			for _, c := range append(eventport.ConversionConsumers(rt.Config.EventsNamespace, svc), eventport.Merges(rt.Config.EventsNamespace, svc)) {
				rt.Consume(c)
			}
			rt.Consume(eventport.ActivityConsumer(rt.Config.EventsNamespace, svc))
			rt.Consume(eventport.DirectoryConsumer(rt.Config.EventsNamespace, svc))
			rt.Consume(eventport.CustomerKeysConsumer(rt.Config.EventsNamespace, svc))
			srv := grpcport.New(svc, &idempotency.Store{Pool: rt.Pool}, rt.Relay.Kick).
				WithImports(app.NewImporter(repo, svc, phoneRegion), set.imports, validator)
			leadv1.RegisterLeadServiceServer(rt.GRPC, srv)
			leadv1.RegisterWebFormServiceServer(rt.GRPC, grpcport.NewWebForms(app.NewWebForms(repo, svc), &idempotency.Store{Pool: rt.Pool}, rt.Relay.Kick, rt.Logger))
			return nil
		},
	}
}

// Who may call each RPC of the lead service (LeadService and
// WebFormService; deny by default: a method missing here is refused, and
// the service does not start). admin may call everything; "service"
// identities only GetLead, UpdateLead and AssignLead: the workflow service
// reads leads, sets their fields (its rules' actions) and assigns new
// leads (its assignment rules) as itself. Within these, a
// salesperson reads, changes and reports on only the leads (and import
// jobs) it owns, a service identity every lead: the use cases check that
// (authz.Scope), with PermissionDenied for others' leads. Finding and
// merging duplicates spans owners, so it is for managers.
var Rules = map[string]authz.Rule{
	// Reads.
	leadv1.LeadService_GetLead_FullMethodName:                  authz.Allow(manager, sales, authz.Service).WithReach("sales: own; service: all"),
	leadv1.LeadService_ListLeads_FullMethodName:                authz.Allow(manager, sales).WithReach("sales: own"),
	leadv1.LeadService_FindDuplicates_FullMethodName:           authz.Allow(manager),
	leadv1.LeadService_ListDuplicateGroups_FullMethodName:      authz.Allow(manager),
	leadv1.LeadService_FindConversionCandidates_FullMethodName: authz.Allow(manager, sales).WithReach("sales: own"),
	leadv1.LeadService_ListStuckConversions_FullMethodName:     authz.Allow(manager),
	leadv1.LeadService_RetryConversion_FullMethodName:          authz.Allow(manager),
	leadv1.LeadService_GetImportJob_FullMethodName:             authz.Allow(manager, sales).WithReach("sales: jobs it started"),
	leadv1.LeadService_ListImportRejections_FullMethodName:     authz.Allow(manager, sales).WithReach("sales: jobs it started"),
	// The audit trail: as the lead's Get; sales only of leads they own,
	// deleted leads' and all leads' only managers (app.ListAuditEntries).
	leadv1.LeadService_ListAuditEntries_FullMethodName: authz.Allow(manager, sales).WithReach("sales: own leads; web forms: admin"),
	// Reports.
	leadv1.LeadService_GetLeadStatistics_FullMethodName: authz.Allow(manager, sales).WithReach("sales: own leads"),
	// Changes.
	leadv1.LeadService_CreateLead_FullMethodName:     authz.Allow(manager, sales).WithReach("sales: owned by itself"),
	leadv1.LeadService_ImportLeads_FullMethodName:    authz.Allow(manager, sales).WithReach("sales: owned by itself; updates own"),
	leadv1.LeadService_UpdateLead_FullMethodName:     authz.Allow(manager, sales, authz.Service).WithReach("sales: own; service: all"),
	leadv1.LeadService_QualifyLead_FullMethodName:    authz.Allow(manager, sales).WithReach("sales: own"),
	leadv1.LeadService_DisqualifyLead_FullMethodName: authz.Allow(manager, sales).WithReach("sales: own"),
	leadv1.LeadService_ReactivateLead_FullMethodName: authz.Allow(manager, sales).WithReach("sales: own"),
	leadv1.LeadService_MergeLeads_FullMethodName:     authz.Allow(manager),
	// Reassigning owners; the workflow service's assignment rules as
	// itself.
	leadv1.LeadService_AssignLead_FullMethodName: authz.Allow(manager, authz.Service).WithReach("service: workflow assignment rules"),
	// Deletes.
	leadv1.LeadService_DeleteLead_FullMethodName: authz.AdminOnly,

	// Web-form keys are admin business: a key lets anyone who has it create
	// leads.
	leadv1.WebFormService_CreateWebForm_FullMethodName: authz.AdminOnly,
	leadv1.WebFormService_GetWebForm_FullMethodName:    authz.AdminOnly,
	leadv1.WebFormService_ListWebForms_FullMethodName:  authz.AdminOnly,
	leadv1.WebFormService_RevokeWebForm_FullMethodName: authz.AdminOnly,
	// Website visitors have no token: the handler checks the form's key.
	leadv1.WebFormService_SubmitWebForm_FullMethodName: authz.Public,
}

const manager, sales = authz.Manager, authz.Sales

var stuckConversions = promauto.NewGauge(prometheus.GaugeOpts{
	Name: "crm_lead_conversions_stuck",
	Help: "Lead conversions PENDING for longer than STUCK_CONVERSION_AFTER (5m): a service has not applied its part (ListStuckConversions, RetryConversion).",
})

// countStuckConversions keeps crm_lead_conversions_stuck current, every
// 30 seconds, until ctx ends. Every replica reports the same count.
func countStuckConversions(ctx context.Context, svc *app.Service, log *slog.Logger) error {
	t := time.NewTicker(30 * time.Second)
	defer t.Stop()
	for {
		n, err := svc.CountStuckConversions(ctx)
		if err != nil && ctx.Err() == nil {
			log.WarnContext(ctx, "counting stuck conversions", "error", err)
		} else if err == nil {
			stuckConversions.Set(float64(n))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
