// Package wire assembles the lead service from its parts; main and the
// end-to-end tests both start it through Spec.
package wire

import (
	leadv1 "github.com/crmsuite/crm/gen/go/crm/lead/v1"
	"github.com/crmsuite/crm/platform/config"
	"github.com/crmsuite/crm/platform/idempotency"
	"github.com/crmsuite/crm/platform/paging"
	"github.com/crmsuite/crm/platform/service"
	"github.com/crmsuite/crm/services/lead/internal/adapters/postgres"
	"github.com/crmsuite/crm/services/lead/internal/app"
	grpcport "github.com/crmsuite/crm/services/lead/internal/ports/grpc"
	"github.com/crmsuite/crm/services/lead/migrations"
)

// Schema is the lead service's Postgres schema.
const Schema = "lead"

// Spec describes the lead service to the shared runtime.
func Spec() service.Spec {
	return service.Spec{
		Schema:     Schema,
		Migrations: migrations.FS,
		Register: func(rt *service.Runtime) error {
			var env config.Env
			phoneRegion := env.String("DEFAULT_PHONE_REGION", "")
			if err := env.Err(); err != nil {
				return err
			}
			repo := postgres.New(rt.Pool, rt.Outbox, paging.NewCodec([]byte(rt.Config.PageTokenSecret)), phoneRegion)
			if rt.Config.PageTokenSecret == "" {
				rt.Logger.Warn("PAGE_TOKEN_SECRET is not set: page tokens are signed with a random key and break across restarts and replicas")
			}
			srv := grpcport.New(app.New(repo), &idempotency.Store{Pool: rt.Pool}, rt.Relay.Kick)
			leadv1.RegisterLeadServiceServer(rt.GRPC, srv)
			return nil
		},
	}
}
