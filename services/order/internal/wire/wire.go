// Package wire assembles the order service from its parts; main and the
// end-to-end tests both start it through Spec.
package wire

import (
	"context"
	"fmt"
	"github.com/crmsuite/crm/platform/recordmerge"
	"strconv"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/crmsuite/crm/gen/go/crm/events/v1"
	orderv1 "github.com/crmsuite/crm/gen/go/crm/order/v1"
	"github.com/crmsuite/crm/platform/authz"
	"github.com/crmsuite/crm/platform/config"
	"github.com/crmsuite/crm/platform/conversion"
	"github.com/crmsuite/crm/platform/events"
	"github.com/crmsuite/crm/platform/idempotency"
	"github.com/crmsuite/crm/platform/inbox"
	"github.com/crmsuite/crm/platform/pg"
	"github.com/crmsuite/crm/platform/processgate"
	"github.com/crmsuite/crm/platform/service"
	"github.com/crmsuite/crm/platform/timer"
	"github.com/crmsuite/crm/services/order/internal/adapters/grpcclient"
	"github.com/crmsuite/crm/services/order/internal/adapters/postgres"
	"github.com/crmsuite/crm/services/order/internal/app"
	"github.com/crmsuite/crm/services/order/internal/domain"
	eventport "github.com/crmsuite/crm/services/order/internal/ports/events"
	grpcport "github.com/crmsuite/crm/services/order/internal/ports/grpc"
	"github.com/crmsuite/crm/services/order/internal/protomap"
	"github.com/crmsuite/crm/services/order/migrations"
)

// Schema is the order service's Postgres schema.
const Schema = "order"

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

// Spec describes the order service to the shared runtime.
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
			pages := rt.PageCodec()
			repo := postgres.New(rt.Pool, rt.Outbox, pages)
			svc := app.New(repo, grpcclient.NewAccounts(accounts, set.accountTimeout))
			// Processes are the workflow module's: without it nothing
			// gates confirming or fulfilling (see opportunity's wire).
			if rt.Module("workflow") {
				workflow, err := rt.Dial(set.workflowAddr)
				if err != nil {
					return err
				}
				svc = svc.WithProcessGate(processgate.New(rt.Pool, workflow, set.processTimeout, rt.Logger),
					func(o *domain.Order) proto.Message { return protomap.Order(o) })
			}
			rt.Consume(processgate.Consumer(rt.Config.EventsNamespace, "order-process-gates", rt.Pool))
			api := grpcport.New(svc, &idempotency.Store{Pool: rt.Pool}, pages, rt.Relay.Kick)
			orderv1.RegisterOrderServiceServer(rt.GRPC, api)
			orderv1.RegisterExchangeRateServiceServer(rt.GRPC, grpcport.NewExchangeRates(api))

			rt.Timers(TimerHandlers(svc), RenewalsDue(svc))

			ns := rt.Config.EventsNamespace
			h := &eventport.Handlers{App: svc}
			for _, c := range []*inbox.Consumer{{
				Name:   eventport.OpportunityConsumer,
				Stream: events.StreamName(ns, "opportunity"),
				Subjects: []string{
					events.Subject(ns, "opportunity", &eventsv1.OpportunityWon{}),
					events.Subject(ns, "opportunity", &eventsv1.OpportunityLost{}),
					events.Subject(ns, "opportunity", &eventsv1.OpportunityReopened{}),
				},
				Handler: h.Opportunities,
			}, {
				Name:         eventport.LeadConsumer,
				Stream:       events.StreamName(ns, "lead"),
				Subjects:     []string{events.Subject(ns, "lead", &eventsv1.LeadQualified{})},
				Handler:      h.LeadQualified,
				OnDeadLetter: conversion.RejectionHook(rt.Pool, rt.Outbox, "order-lead-conversion-rejected"),
			}, {
				Name:   eventport.AccountConsumer,
				Stream: events.StreamName(ns, "account"),
				Subjects: append([]string{
					events.Subject(ns, "account", &eventsv1.AccountCreated{}),
					events.Subject(ns, "account", &eventsv1.AccountUpdated{}),
				}, recordmerge.Subjects(ns)...),
				Handler: h.Accounts,
			}} {
				if set.consumer != nil {
					set.consumer(c)
				}
				rt.Consume(c)
			}
			return nil
		},
	}
}

// RenewalsDue fires contracts' renewal timers together (they tend to fall
// due in crowds: every contract started on a month's first day).
func RenewalsDue(svc *app.Service) map[string]timer.BatchHandler {
	return map[string]timer.BatchHandler{domain.TimerRenewalDue: func(ctx context.Context, ts []timer.Timer) error {
		due := make([]app.Due, 0, len(ts))
		for _, t := range ts {
			id, err := uuid.Parse(t.Key)
			if err != nil {
				return fmt.Errorf("timer %s: key %q is not a contract id", t.Purpose, t.Key)
			}
			term, _ := strconv.Atoi(string(t.Payload))
			due = append(due, app.Due{Contract: id, Term: term})
		}
		return svc.ContractsRenewalDue(ctx, due)
	}}
}

// TimerHandlers are the order service's other durable timers: a
// contract's term ending and its forecast horizon moving on. Each is keyed
// by the contract id; the payload is the term.
func TimerHandlers(svc *app.Service) map[string]timer.Handler {
	contract := func(fire func(ctx context.Context, id uuid.UUID, term int) error) timer.Handler {
		return func(ctx context.Context, t timer.Timer) error {
			id, err := uuid.Parse(t.Key)
			if err != nil {
				return fmt.Errorf("timer %s: key %q is not a contract id", t.Purpose, t.Key)
			}
			term, _ := strconv.Atoi(string(t.Payload))
			return fire(ctx, id, term)
		}
	}
	return map[string]timer.Handler{
		domain.TimerTermEnd:         contract(svc.ContractTermEnded),
		domain.TimerForecastHorizon: contract(func(ctx context.Context, id uuid.UUID, _ int) error { return svc.RefreshContractRevenue(ctx, id) }),
	}
}

// Who may call each RPC of the order service (deny by default: a method
// missing here is refused, and the service does not start). ops and
// admins run orders and contracts; managers read everything and may
// override credit refusals (the credit-raising methods); salespeople read
// their own orders and contracts and those of the accounts they own, and
// make draft orders from their own won opportunities. The use cases check
// which records (authz.Scope).
var Rules = map[string]authz.Rule{
	// Reads.
	orderv1.OrderService_GetOrder_FullMethodName:               authz.Allow(manager, sales, ops, authz.Service).WithReach(readReach),
	orderv1.OrderService_ListOrders_FullMethodName:             authz.Allow(manager, sales, ops).WithReach(readReach),
	orderv1.OrderService_ListOrderStatusChanges_FullMethodName: authz.Allow(manager, sales, ops).WithReach(readReach),
	orderv1.OrderService_GetContract_FullMethodName:            authz.Allow(manager, sales, ops, authz.Service).WithReach(readReach),
	orderv1.OrderService_ListContracts_FullMethodName:          authz.Allow(manager, sales, ops).WithReach(readReach),
	orderv1.OrderService_ListBillingPeriods_FullMethodName:     authz.Allow(manager, sales, ops).WithReach(readReach),
	// The audit trail: as the record's Get; whole collections' only
	// managers (app.ListAuditEntries).
	orderv1.OrderService_ListAuditEntries_FullMethodName: authz.Allow(manager, sales, ops).WithReach(readReach),
	// Reports.
	orderv1.OrderService_GetOrderPipeline_FullMethodName:    authz.Allow(manager, sales, ops).WithReach("sales: own"),
	orderv1.OrderService_GetRevenueForecast_FullMethodName:  authz.Allow(manager, sales, ops).WithReach("sales: own"),
	orderv1.OrderService_GetRecurringRevenue_FullMethodName: authz.Allow(manager, sales, ops).WithReach("sales: own"),
	orderv1.OrderService_GetOrderPerformance_FullMethodName: authz.Allow(manager, sales, ops).WithReach("sales: own"),
	// Orders.
	orderv1.OrderService_CreateOrder_FullMethodName:   authz.Allow(ops, sales).WithReach("sales: drafts from own won opportunities"),
	orderv1.OrderService_UpdateOrder_FullMethodName:   authz.Allow(ops, authz.Service).WithReach("service: workflow assignment rules (owner)"),
	orderv1.OrderService_ConfirmOrder_FullMethodName:  authz.Allow(ops, manager).WithReach(overrideReach),
	orderv1.OrderService_ResumeOrder_FullMethodName:   authz.Allow(ops, manager).WithReach(overrideReach),
	orderv1.OrderService_ReopenOrder_FullMethodName:   authz.Allow(ops, manager).WithReach(overrideReach),
	orderv1.OrderService_AddOrderLines_FullMethodName: authz.Allow(ops, manager).WithReach(overrideReach),
	orderv1.OrderService_HoldOrder_FullMethodName:     authz.Allow(ops),
	orderv1.OrderService_FulfillOrder_FullMethodName:  authz.Allow(ops),
	orderv1.OrderService_CloseOrder_FullMethodName:    authz.Allow(ops),
	orderv1.OrderService_CancelOrder_FullMethodName:   authz.Allow(ops),
	// Contracts.
	orderv1.OrderService_CreateContract_FullMethodName:     authz.Allow(ops),
	orderv1.OrderService_UpdateContract_FullMethodName:     authz.Allow(ops),
	orderv1.OrderService_ActivateContract_FullMethodName:   authz.Allow(ops),
	orderv1.OrderService_AmendContract_FullMethodName:      authz.Allow(ops),
	orderv1.OrderService_GiveContractNotice_FullMethodName: authz.Allow(ops),
	orderv1.OrderService_RenewContract_FullMethodName:      authz.Allow(ops),
	orderv1.OrderService_CancelContract_FullMethodName:     authz.Allow(ops),
	// Exchange rates: admins enter them; staff (and services) read them.
	orderv1.ExchangeRateService_CreateExchangeRate_FullMethodName: authz.AdminOnly,
	orderv1.ExchangeRateService_UpdateExchangeRate_FullMethodName: authz.AdminOnly,
	orderv1.ExchangeRateService_DeleteExchangeRate_FullMethodName: authz.AdminOnly,
	orderv1.ExchangeRateService_GetExchangeRate_FullMethodName:    authz.Allow(manager, sales, ops, authz.Service),
	orderv1.ExchangeRateService_ListExchangeRates_FullMethodName:  authz.Allow(manager, sales, ops, authz.Service),
}

const (
	manager, sales, ops = authz.Manager, authz.Sales, authz.Ops
	readReach           = "sales: own, and of accounts it owns"
	overrideReach       = "credit override: manager, admin"
)
