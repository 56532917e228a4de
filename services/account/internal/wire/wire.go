// Package wire assembles the account service from its parts; main and the
// end-to-end tests both start it through Spec.
package wire

import (
	"time"

	accountv1 "github.com/crmsuite/crm/gen/go/crm/account/v1"
	eventsv1 "github.com/crmsuite/crm/gen/go/crm/events/v1"
	"github.com/crmsuite/crm/platform/authz"
	"github.com/crmsuite/crm/platform/config"
	"github.com/crmsuite/crm/platform/conversion"
	"github.com/crmsuite/crm/platform/events"
	"github.com/crmsuite/crm/platform/idempotency"
	"github.com/crmsuite/crm/platform/inbox"
	"github.com/crmsuite/crm/platform/service"
	"github.com/crmsuite/crm/services/account/internal/adapters/postgres"
	"github.com/crmsuite/crm/services/account/internal/app"
	eventport "github.com/crmsuite/crm/services/account/internal/ports/events"
	grpcport "github.com/crmsuite/crm/services/account/internal/ports/grpc"
	"github.com/crmsuite/crm/services/account/migrations"
)

// Schema is the account service's Postgres schema.
const Schema = "account"

// Option adjusts the service, for tests.
type Option func(*inbox.Consumer)

// WithConsumerRetries sets the conversion consumer's deliveries and
// backoff.
func WithConsumerRetries(maxDeliver int, backoff time.Duration, ackWait time.Duration) Option {
	return func(c *inbox.Consumer) {
		c.MaxDeliver, c.Backoff, c.AckWait = maxDeliver, []time.Duration{backoff}, ackWait
	}
}

// Spec describes the account service to the shared runtime.
func Spec(opts ...Option) service.Spec {
	return service.Spec{
		Schema:     Schema,
		Migrations: migrations.FS,
		Extensions: migrations.Extensions,
		Rules:      Rules,
		Commands:   Commands,
		Register: func(rt *service.Runtime) error {
			var env config.Env
			phoneRegion := env.String("DEFAULT_PHONE_REGION", "")
			if err := env.Err(); err != nil {
				return err
			}
			repo := postgres.New(rt.Pool, rt.Outbox, rt.PageCodec(), phoneRegion)
			svc := app.New(repo, phoneRegion)
			accountv1.RegisterAccountServiceServer(rt.GRPC, grpcport.New(svc, &idempotency.Store{Pool: rt.Pool}, rt.Relay.Kick))

			ns := rt.Config.EventsNamespace
			conv := &eventport.Conversions{App: svc}
			c := &inbox.Consumer{
				Name:         eventport.ConsumerName,
				Stream:       events.StreamName(ns, "lead"),
				Subjects:     []string{events.Subject(ns, "lead", &eventsv1.LeadQualified{})},
				Handler:      conv.Handle,
				OnDeadLetter: conversion.RejectionHook(rt.Pool, rt.Outbox, "account-lead-conversion-rejected"),
			}
			orders := &inbox.Consumer{
				Name:     eventport.OrdersConsumerName,
				Stream:   events.StreamName(ns, "order"),
				Subjects: events.StreamSubjects(ns, "order"),
				Handler:  (&eventport.Orders{App: svc}).Handle,
			}
			for _, o := range opts {
				o(c)
				o(orders)
			}
			rt.Consume(c)
			rt.Consume(orders)
			return nil
		},
	}
}

// Who may call each RPC of the account service (deny by default: a method
// missing here is refused, and the service does not start). admin may call
// everything. "service" identities get only what the lead and opportunity
// services call. Within these, a salesperson reads every account and
// contact but changes only those it owns (and creates them for itself):
// the use cases check that (authz.Scope), with PermissionDenied.
var Rules = map[string]authz.Rule{
	// Reads.
	accountv1.AccountService_GetAccount_FullMethodName:     authz.Allow(manager, sales, ops, authz.Service),
	accountv1.AccountService_ListAccounts_FullMethodName:   authz.Allow(manager, sales, ops),
	accountv1.AccountService_GetContact_FullMethodName:     authz.Allow(manager, sales, ops, authz.Service),
	accountv1.AccountService_ListContacts_FullMethodName:   authz.Allow(manager, sales, ops),
	accountv1.AccountService_MatchCustomers_FullMethodName: authz.Allow(manager, sales, authz.Service),
	// Upcoming birthdays: a view of ListContacts.
	accountv1.AccountService_ListUpcomingBirthdays_FullMethodName: authz.Allow(manager, sales, ops),
	// The role list: everyone who gives contacts roles reads it, and so do
	// the services that check roles (the opportunity service's buying
	// committees); only admins change it.
	accountv1.AccountService_ListContactRoles_FullMethodName:   authz.Allow(manager, sales, ops, authz.Service),
	accountv1.AccountService_UpdateContactRoles_FullMethodName: authz.AdminOnly,
	// Finding duplicates spans owners, so it is for managers (as leads').
	accountv1.AccountService_FindAccountDuplicates_FullMethodName:      authz.Allow(manager),
	accountv1.AccountService_ListAccountDuplicateGroups_FullMethodName: authz.Allow(manager),
	accountv1.AccountService_FindContactDuplicates_FullMethodName:      authz.Allow(manager),
	accountv1.AccountService_ListContactDuplicateGroups_FullMethodName: authz.Allow(manager),
	// The audit trail: as the record's Get, without service identities;
	// sales only of records they own, deleted records' and all records'
	// only managers (app.ListAuditEntries).
	accountv1.AccountService_ListAuditEntries_FullMethodName: authz.Allow(manager, sales, ops),
	// Changes.
	accountv1.AccountService_CreateAccount_FullMethodName:     authz.Allow(manager, sales).WithReach("sales: owned by itself"),
	accountv1.AccountService_UpdateAccount_FullMethodName:     authz.Allow(manager, sales, authz.Service).WithReach("sales: own; reassigning: manager; service: workflow rules"),
	accountv1.AccountService_DeactivateAccount_FullMethodName: authz.Allow(manager, sales).WithReach("sales: own"),
	accountv1.AccountService_ActivateAccount_FullMethodName:   authz.Allow(manager, sales).WithReach("sales: own"),
	accountv1.AccountService_CreateContact_FullMethodName:     authz.Allow(manager, sales).WithReach("sales: owned by itself, on any account"),
	accountv1.AccountService_UpdateContact_FullMethodName:     authz.Allow(manager, sales, authz.Service).WithReach("sales: own; reassigning: manager; service: workflow rules"),
	// Merges: as lead merges, a manager's call.
	accountv1.AccountService_MergeAccounts_FullMethodName: authz.Allow(manager),
	accountv1.AccountService_MergeContacts_FullMethodName: authz.Allow(manager),
	// Deletes.
	accountv1.AccountService_DeleteContact_FullMethodName: authz.AdminOnly,
}

const manager, sales, ops = authz.Manager, authz.Sales, authz.Ops
