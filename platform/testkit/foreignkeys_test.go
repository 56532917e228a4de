package testkit_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/crmsuite/crm/platform/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m) }

func TestUnindexedForeignKeys(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, testkit.Database(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx) //nolint:errcheck
	if _, err := conn.Exec(ctx, `
		CREATE SCHEMA s;
		CREATE TABLE s.parent (id int PRIMARY KEY, a int, b int, merged_into int REFERENCES s.parent (id), UNIQUE (a, b));
		CREATE TABLE s.bare (id int, p int REFERENCES s.parent (id) ON DELETE CASCADE);
		CREATE TABLE s.leading (id int, p int REFERENCES s.parent (id), x int);
		CREATE INDEX ON s.leading (p, x);
		CREATE TABLE s.second (id int, p int REFERENCES s.parent (id), x int);
		CREATE INDEX ON s.second (x, p);
		CREATE TABLE s.included (id int, p int REFERENCES s.parent (id), x int);
		CREATE INDEX ON s.included (x) INCLUDE (p);
		CREATE TABLE s.notnull (id int, p int REFERENCES s.parent (id));
		CREATE INDEX ON s.notnull (p) WHERE p IS NOT NULL;
		CREATE TABLE s.partial (id int, p int REFERENCES s.parent (id), flag bool);
		CREATE INDEX ON s.partial (p) WHERE flag;
		CREATE TABLE s.hashed (id int, p int REFERENCES s.parent (id));
		CREATE INDEX ON s.hashed USING hash (p);
		CREATE TABLE s.pair (id int, pa int, pb int, z int, FOREIGN KEY (pa, pb) REFERENCES s.parent (a, b));
		CREATE INDEX ON s.pair (pb, pa, z);
		CREATE TABLE s.halfpair (id int, pa int, pb int, FOREIGN KEY (pa, pb) REFERENCES s.parent (a, b));
		CREATE INDEX ON s.halfpair (pa);
		CREATE SCHEMA other;
		CREATE TABLE other.none (id int, p int REFERENCES s.parent (id));
	`); err != nil {
		t.Fatal(err)
	}
	missing, err := testkit.UnindexedForeignKeys(ctx, conn, "s")
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for _, m := range missing {
		tables = append(tables, strings.Fields(m)[0])
	}
	want := []string{"s.bare", "s.halfpair", "s.hashed", "s.included", "s.parent", "s.partial", "s.second"}
	if !slices.Equal(tables, want) {
		t.Errorf("unindexed foreign keys on %v, want %v:\n%s", tables, want, strings.Join(missing, "\n"))
	}
	if !strings.Contains(missing[len(missing)-3], "wants an index on s.parent (merged_into)") {
		t.Errorf("no advice in %q", missing[len(missing)-3])
	}
}
