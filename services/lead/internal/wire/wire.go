// Package wire assembles the lead service from its parts; main and the
// end-to-end tests both start it through Spec.
package wire

import (
	"buf.build/go/protovalidate"

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

// Option adjusts the service, for tests.
type Option func(*grpcport.ImportConfig)

// WithImportLimits overrides the import batch size and row limit.
func WithImportLimits(batchRows int, maxRows int64) Option {
	return func(c *grpcport.ImportConfig) { c.BatchRows, c.MaxRows = batchRows, maxRows }
}

// Spec describes the lead service to the shared runtime.
func Spec(opts ...Option) service.Spec {
	return service.Spec{
		Schema:     Schema,
		Migrations: migrations.FS,
		Register: func(rt *service.Runtime) error {
			var env config.Env
			phoneRegion := env.String("DEFAULT_PHONE_REGION", "")
			imports := grpcport.ImportConfig{
				BatchRows: env.Int("IMPORT_BATCH_ROWS", 2000),
				MaxRows:   int64(env.Int("IMPORT_MAX_ROWS", 1_000_000)),
			}
			if err := env.Err(); err != nil {
				return err
			}
			for _, o := range opts {
				o(&imports)
			}
			validator, err := protovalidate.New()
			if err != nil {
				return err
			}
			repo := postgres.New(rt.Pool, rt.Outbox, paging.NewCodec([]byte(rt.Config.PageTokenSecret)), phoneRegion)
			if rt.Config.PageTokenSecret == "" {
				rt.Logger.Warn("PAGE_TOKEN_SECRET is not set: page tokens are signed with a random key and break across restarts and replicas")
			}
			svc := app.New(repo)
			srv := grpcport.New(svc, &idempotency.Store{Pool: rt.Pool}, rt.Relay.Kick).
				WithImports(app.NewImporter(repo, svc, phoneRegion), imports, validator)
			leadv1.RegisterLeadServiceServer(rt.GRPC, srv)
			return nil
		},
	}
}
