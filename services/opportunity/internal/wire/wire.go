// Package wire assembles the opportunity service from its parts; main and
// the end-to-end tests both start it through Spec.
package wire

import (
	"time"

	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/crmsuite/crm/gen/go/crm/events/v1"
	opportunityv1 "github.com/crmsuite/crm/gen/go/crm/opportunity/v1"
	"github.com/crmsuite/crm/platform/authz"
	"github.com/crmsuite/crm/platform/config"
	"github.com/crmsuite/crm/platform/conversion"
	"github.com/crmsuite/crm/platform/events"
	"github.com/crmsuite/crm/platform/idempotency"
	"github.com/crmsuite/crm/platform/inbox"
	"github.com/crmsuite/crm/platform/pg"
	"github.com/crmsuite/crm/platform/processgate"
	"github.com/crmsuite/crm/platform/service"
	"github.com/crmsuite/crm/services/opportunity/internal/adapters/grpcclient"
	"github.com/crmsuite/crm/services/opportunity/internal/adapters/postgres"
	"github.com/crmsuite/crm/services/opportunity/internal/app"
	"github.com/crmsuite/crm/services/opportunity/internal/domain"
	eventport "github.com/crmsuite/crm/services/opportunity/internal/ports/events"
	grpcport "github.com/crmsuite/crm/services/opportunity/internal/ports/grpc"
	"github.com/crmsuite/crm/services/opportunity/internal/protomap"
	"github.com/crmsuite/crm/services/opportunity/migrations"
)

// Schema is the opportunity service's Postgres schema.
const Schema = "opportunity"

// Option adjusts the service, for tests.
type Option func(*settings)

type settings struct {
	accountAddr    string
	accountTimeout time.Duration
	workflowAddr   string
	processTimeout time.Duration
	consumer       func(*inbox.Consumer)
}

// WithWorkflowService overrides where the workflow service (process
// checks) listens and how long a check may take.
func WithWorkflowService(addr string, timeout time.Duration) Option {
	return func(s *settings) { s.workflowAddr, s.processTimeout = addr, timeout }
}

// WithAccountService overrides where the account service listens and how
// long a call to it may take.
func WithAccountService(addr string, timeout time.Duration) Option {
	return func(s *settings) { s.accountAddr, s.accountTimeout = addr, timeout }
}

// WithConsumerRetries sets the consumers' deliveries and backoff.
func WithConsumerRetries(maxDeliver int, backoff time.Duration, ackWait time.Duration) Option {
	return func(s *settings) {
		s.consumer = func(c *inbox.Consumer) {
			c.MaxDeliver, c.Backoff, c.AckWait = maxDeliver, []time.Duration{backoff}, ackWait
		}
	}
}

// Spec describes the opportunity service to the shared runtime.
func Spec(opts ...Option) service.Spec {
	return service.Spec{
		Schema:           Schema,
		Migrations:       migrations.FS,
		SharedMigrations: []pg.MigrationSet{processgate.Migrations()},
		Extensions:       migrations.Extensions,
		Rules:            Rules,
		Register: func(rt *service.Runtime) error {
			var env config.Env
			set := settings{
				accountAddr:    env.String("ACCOUNT_GRPC_ADDR", "127.0.0.1:9102"),
				accountTimeout: env.Duration("ACCOUNT_CALL_TIMEOUT", 2*time.Second),
				workflowAddr:   env.String("WORKFLOW_GRPC_ADDR", "127.0.0.1:9105"),
				processTimeout: env.Duration("PROCESS_CHECK_TIMEOUT", 2*time.Second),
			}
			if err := env.Err(); err != nil {
				return err
			}
			for _, o := range opts {
				o(&set)
			}
			accounts, err := rt.Peer("account", set.accountAddr)
			if err != nil {
				return err
			}
			repo := postgres.New(rt.Pool, rt.Outbox, rt.PageCodec())
			svc := app.New(repo, grpcclient.NewAccounts(accounts, set.accountTimeout))
			// Processes are the workflow module's: without it nothing
			// gates a move, not even a definition process_gates kept from
			// when it ran, which no one could satisfy any more.
			if rt.Module("workflow") {
				workflow, err := rt.Dial(set.workflowAddr)
				if err != nil {
					return err
				}
				svc = svc.WithProcessGate(processgate.New(rt.Pool, workflow, set.processTimeout, rt.Logger),
					func(o *domain.Opportunity) proto.Message { return protomap.Opportunity(o) })
			}
			opportunityv1.RegisterOpportunityServiceServer(rt.GRPC, grpcport.New(svc, &idempotency.Store{Pool: rt.Pool}, rt.Relay.Kick))

			ns := rt.Config.EventsNamespace
			conv := &eventport.Conversions{App: svc}
			renewals := &eventport.Renewals{App: svc}
			for _, c := range []*inbox.Consumer{{
				Name:     eventport.ConsumerName,
				Stream:   events.StreamName(ns, "lead"),
				Subjects: []string{events.Subject(ns, "lead", &eventsv1.LeadQualified{})},
				Handler:  conv.Handle,
				// What the opportunity side cannot apply fails the
				// conversion with the reason instead of leaving it PENDING.
				OnDeadLetter: conversion.RejectionHook(rt.Pool, rt.Outbox, "opportunity-lead-conversion-rejected"),
			}, {
				Name:         eventport.RenewalsConsumer,
				Stream:       events.StreamName(ns, "order"),
				Subjects:     []string{events.Subject(ns, "order", &eventsv1.ContractRenewalDue{})},
				BatchHandler: renewals.HandleBatch,
				// A renewal falls due once per term and asks the account
				// service for the owner: it waits out an outage of hours
				// (about 3) rather than the platform's default minutes.
				MaxDeliver: 12,
				Backoff:    []time.Duration{time.Second, 5 * time.Second, 30 * time.Second, 2 * time.Minute, 10 * time.Minute, 30 * time.Minute},
			}, {
				Name:   eventport.ExchangeRatesConsumer,
				Stream: events.StreamName(ns, "order"),
				Subjects: []string{
					events.Subject(ns, "order", &eventsv1.ExchangeRateChanged{}),
					events.Subject(ns, "order", &eventsv1.ExchangeRateDeleted{}),
				},
				Handler: (&eventport.ExchangeRates{App: svc}).Handle,
			}, processgate.Consumer(ns, "opportunity-process-gates", rt.Pool), eventport.Merges(ns, svc)} {
				if set.consumer != nil {
					set.consumer(c)
				}
				rt.Consume(c)
			}
			return nil
		},
	}
}

// Who may call each RPC of the opportunity service (deny by default: a
// method missing here is refused, and the service does not start). admin
// may call everything; "service" identities read and update
// opportunities (the workflow service: records it does not know yet, and
// its rules' update actions), nothing else. Within these, a salesperson reads, changes and reports on
// only the opportunities it owns, and ops reads won ones only: the use
// cases check that (authz.Scope), with PermissionDenied.
var Rules = map[string]authz.Rule{
	// Reads.
	opportunityv1.OpportunityService_GetOpportunity_FullMethodName:    authz.Allow(manager, sales, ops, authz.Service).WithReach("sales: own; ops: won"),
	opportunityv1.OpportunityService_ListOpportunities_FullMethodName: authz.Allow(manager, sales, ops).WithReach("sales: own; ops: won"),
	opportunityv1.OpportunityService_ListStageChanges_FullMethodName:  authz.Allow(manager, sales).WithReach("sales: own"),
	// The audit trail: as GetOpportunity; sales only of opportunities they
	// own, deleted ones' and all ones' only managers (app.ListAuditEntries).
	opportunityv1.OpportunityService_ListAuditEntries_FullMethodName: authz.Allow(manager, sales, ops).WithReach("sales: own; ops: won"),
	opportunityv1.OpportunityService_GetPipeline_FullMethodName:      authz.Allow(manager, sales, authz.Service),
	opportunityv1.OpportunityService_ListPipelines_FullMethodName:    authz.Allow(manager, sales),
	opportunityv1.OpportunityService_ListLossReasons_FullMethodName:  authz.Allow(manager, sales),
	opportunityv1.OpportunityService_ListWinReasons_FullMethodName:   authz.Allow(manager, sales),
	// Reports.
	opportunityv1.OpportunityService_GetForecast_FullMethodName:         authz.Allow(manager, sales).WithReach("sales: own"),
	opportunityv1.OpportunityService_GetSalesPerformance_FullMethodName: authz.Allow(manager, sales).WithReach("sales: own"),
	// Changes.
	opportunityv1.OpportunityService_CreateOpportunity_FullMethodName:     authz.Allow(manager, sales).WithReach("sales: owned by itself"),
	opportunityv1.OpportunityService_UpdateOpportunity_FullMethodName:     authz.Allow(manager, sales, authz.Service).WithReach("sales: own; reassigning: manager; service: workflow rules"),
	opportunityv1.OpportunityService_MoveOpportunity_FullMethodName:       authz.Allow(manager, sales).WithReach("sales: own"),
	opportunityv1.OpportunityService_WinOpportunity_FullMethodName:        authz.Allow(manager, sales).WithReach("sales: own"),
	opportunityv1.OpportunityService_LoseOpportunity_FullMethodName:       authz.Allow(manager, sales).WithReach("sales: own"),
	opportunityv1.OpportunityService_DisqualifyOpportunity_FullMethodName: authz.Allow(manager, sales).WithReach("sales: own"),
	opportunityv1.OpportunityService_ReopenOpportunity_FullMethodName:     authz.Allow(manager, sales).WithReach("sales: own"),
	// Configuration and deletes.
	opportunityv1.OpportunityService_CreatePipeline_FullMethodName:    authz.AdminOnly,
	opportunityv1.OpportunityService_UpdatePipeline_FullMethodName:    authz.AdminOnly,
	opportunityv1.OpportunityService_UpdateLossReasons_FullMethodName: authz.AdminOnly,
	opportunityv1.OpportunityService_UpdateWinReasons_FullMethodName:  authz.AdminOnly,
	opportunityv1.OpportunityService_DeleteOpportunity_FullMethodName: authz.AdminOnly,
}

const manager, sales, ops = authz.Manager, authz.Sales, authz.Ops
