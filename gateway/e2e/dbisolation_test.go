package e2e

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	accountv1 "github.com/crmsuite/crm/gen/go/crm/account/v1"
	leadv1 "github.com/crmsuite/crm/gen/go/crm/lead/v1"
	"github.com/crmsuite/crm/platform/testkit"
)

// DESIGN §6: each service connects as a Postgres role that owns its schema
// and has no rights on any other. The services start as Kubernetes starts
// them: `<service> migrate` with the admin URL (the init container), then
// the service with its own role's URL only.
func TestEachServiceRoleReachesOnlyItsOwnSchema(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, n := testkit.Database(t), testkit.NewNATS(t)
	leadAddr, accountAddr := testkit.FreeAddr(t), testkit.FreeAddr(t)
	common := append([]string{"METRICS_ADDR=off", "NATS_URL=" + n.URL, "EVENTS_NAMESPACE=" + n.Namespace,
		"PAGE_TOKEN_SECRET=e2e", "LOG_LEVEL=warn", "LOG_FORMAT=text", "SHUTDOWN_TIMEOUT=5s",
		"ACCOUNT_GRPC_ADDR=" + accountAddr}, testkit.AuthEnv()...)
	for _, s := range []struct{ name, addr string }{{"account", accountAddr}, {"lead", leadAddr}} {
		bin := testkit.Binary(t, "github.com/crmsuite/crm/services/"+s.name+"/cmd/"+s.name)
		migrate := exec.Command(bin, "migrate")
		migrate.Env = append(append(os.Environ(), common...), testkit.DatabaseEnv(db, s.name)...)
		if out, err := migrate.CombinedOutput(); err != nil {
			t.Fatalf("%s migrate: %v\n%s", s.name, err, out)
		}
		testkit.StartProc(t, s.name, bin, s.addr, append(common, "GRPC_ADDR="+s.addr,
			"DATABASE_ADMIN_URL=", "DATABASE_URL="+testkit.ServiceURL(db, s.name))...)
	}
	if _, err := leadv1.NewLeadServiceClient(testkit.Dial(t, leadAddr)).CreateLead(testkit.As("alice"),
		&leadv1.CreateLeadRequest{Lead: &leadv1.Lead{LastName: "Lovelace", Company: "Analytical Engines"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := accountv1.NewAccountServiceClient(testkit.Dial(t, accountAddr)).CreateAccount(testkit.As("alice"),
		&accountv1.CreateAccountRequest{Account: &accountv1.Account{DisplayName: "Initech", CurrencyCode: "EUR"}}); err != nil {
		t.Fatal(err)
	}

	connect := func(url string) *pgx.Conn {
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = conn.Close(ctx) })
		return conn
	}
	admin := connect(db)
	rows, err := admin.Query(ctx, `SELECT DISTINCT application_name || ' as ' || usename FROM pg_stat_activity
		WHERE datname = current_database() AND application_name IN ('lead', 'account') ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	sessions, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || len(sessions) != 2 || sessions[0] != "account as crm_account" || sessions[1] != "lead as crm_lead" {
		t.Fatalf("the services' sessions: %q, %v; want each as its own role", sessions, err)
	}

	lead, account := connect(testkit.ServiceURL(db, "lead")), connect(testkit.ServiceURL(db, "account"))
	var count int
	if err := lead.QueryRow(ctx, "SELECT count(*) FROM lead.leads").Scan(&count); err != nil || count != 1 {
		t.Fatalf("lead role reading lead.leads: %d, %v", count, err)
	}
	if err := account.QueryRow(ctx, "SELECT count(*) FROM account.accounts").Scan(&count); err != nil || count != 1 {
		t.Fatalf("account role reading account.accounts: %d, %v", count, err)
	}
	for _, c := range []struct {
		role string
		conn *pgx.Conn
		sql  string
	}{
		{"lead", lead, "SELECT count(*) FROM account.accounts"},
		{"lead", lead, "SELECT email FROM account.contacts"},
		{"lead", lead, "INSERT INTO account.accounts (id) VALUES (gen_random_uuid())"},
		{"lead", lead, "CREATE SCHEMA intruder"},
		{"account", account, "SELECT count(*) FROM lead.leads"},
		{"account", account, "UPDATE lead.leads SET owner = 'mallory'"},
		{"account", account, "SELECT lead.refresh_duplicate_keys()"},
	} {
		_, err := c.conn.Exec(ctx, c.sql)
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "42501" {
			t.Errorf("%s role: %s: got %v, want insufficient_privilege (42501)", c.role, c.sql, err)
		}
	}
}
