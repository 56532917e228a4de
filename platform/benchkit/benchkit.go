// Package benchkit is what the load tools behind `make bench` share: a
// durable PostgreSQL (fsync on) with a `bench` database and an embedded
// NATS JetStream to run the services against, latency percentiles and
// free local addresses.
package benchkit

import (
	"context"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/crmsuite/crm/platform/localnats"
	"github.com/crmsuite/crm/platform/localpg"
	"github.com/crmsuite/crm/platform/pg"
)

// Backends are the running PostgreSQL and NATS.
type Backends struct {
	// DatabaseURL of the `bench` database, as the superuser (the tools'
	// own loading and maintenance); NATSURL of the server.
	DatabaseURL, NATSURL string

	pg   *localpg.Server
	nats *localnats.Server
}

// Start runs PostgreSQL with its data in pgDir (reused if it holds a
// cluster already, so loaded tables survive across runs) and
// sharedBuffers ("" for the default), creates the `bench` database unless
// it exists, and starts NATS with its store in natsDir.
func Start(ctx context.Context, pgDir, sharedBuffers, natsDir string) (*Backends, error) {
	pgsrv, err := localpg.Start(ctx, localpg.Options{DataDir: pgDir, SharedBuffers: sharedBuffers})
	if err != nil {
		return nil, err
	}
	b := &Backends{pg: pgsrv}
	if err := createBenchDatabase(ctx, pgsrv.URL); err != nil {
		b.Stop()
		return nil, err
	}
	b.DatabaseURL = strings.Replace(pgsrv.URL, "/postgres?", "/bench?", 1)
	if b.nats, err = localnats.Start(localnats.Options{StoreDir: natsDir}); err != nil {
		b.Stop()
		return nil, err
	}
	b.NATSURL = b.nats.URL
	return b, nil
}

func createBenchDatabase(ctx context.Context, adminURL string) error {
	admin, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return err
	}
	defer admin.Close(ctx) //nolint:errcheck
	var exists bool
	if err := admin.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'bench')").Scan(&exists); err != nil {
		return err
	}
	if !exists {
		_, err = admin.Exec(ctx, "CREATE DATABASE bench")
	}
	return err
}

// DatabaseEnv is the environment of service's process: the superuser URL
// to provision its role with and its own role's URL (no password: the
// local server trusts local connections), as `make run` and production
// start it.
func (b *Backends) DatabaseEnv(service string) ([]string, error) {
	u, err := pg.WithUser(b.DatabaseURL, pg.ServiceRole(service), "")
	if err != nil {
		return nil, err
	}
	return []string{"DATABASE_ADMIN_URL=" + b.DatabaseURL, "DATABASE_URL=" + u}, nil
}

// Stop stops NATS and PostgreSQL.
func (b *Backends) Stop() {
	if b.nats != nil {
		b.nats.Stop()
	}
	if b.pg != nil {
		_ = b.pg.Stop()
	}
}

// Dirs returns the PostgreSQL and NATS directories under tmp, with pgDir
// replacing the former when given (to keep a loaded database).
func Dirs(tmp, pgDir string) (string, string, error) {
	if pgDir == "" {
		return filepath.Join(tmp, "pg"), filepath.Join(tmp, "nats"), nil
	}
	abs, err := filepath.Abs(pgDir)
	return abs, filepath.Join(tmp, "nats"), err
}

// Percentile returns the p-th percentile (0-100) of d, sorting d.
func Percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return d[int(float64(len(d)-1)*p/100)]
}

// FreeAddr returns a loopback address with a free port.
func FreeAddr() string {
	p, err := localpg.FreePort()
	if err != nil {
		panic(err) // no free port on loopback: nothing to measure
	}
	return "127.0.0.1:" + strconv.Itoa(p)
}
