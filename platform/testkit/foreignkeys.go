package testkit

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// RequireIndexedForeignKeys fails the test for every foreign key of a table
// in schema (of the database dbURL, migrated) whose referencing columns
// are not the leading columns of a btree index (UnindexedForeignKeys).
func RequireIndexedForeignKeys(t testing.TB, dbURL, schema string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatalf("testkit: connect: %v", err)
	}
	defer conn.Close(ctx) //nolint:errcheck
	missing, err := UnindexedForeignKeys(ctx, conn, schema)
	if err != nil {
		t.Fatalf("testkit: foreign keys of %s: %v", schema, err)
	}
	for _, m := range missing {
		t.Errorf("foreign key without an index on its referencing columns: %s", m)
	}
}

// UnindexedForeignKeys walks pg_constraint for the foreign keys of the
// tables in schema and describes each one whose referencing columns are
// not the leading key columns (in any order) of a valid btree index of the
// table. Without such an index every delete or key update of a referenced
// row (and every ON DELETE CASCADE / SET NULL) scans the referencing table
// whole: a bulk delete goes quadratic, a single one a full scan.
//
// A partial index counts when its predicate only asks for referencing
// columns IS NOT NULL: the referential check (col = $1) implies it.
func UnindexedForeignKeys(ctx context.Context, conn *pgx.Conn, schema string) ([]string, error) {
	rows, err := conn.Query(ctx, `
		SELECT c.conrelid, c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid),
			ARRAY(SELECT a.attname::text FROM unnest(c.conkey) k
				JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k)
		FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
		WHERE c.contype = 'f' AND n.nspname = $1
		ORDER BY 2, 3`, schema)
	if err != nil {
		return nil, err
	}
	type fk struct {
		table       uint32
		name, def   string
		tableName   string
		columns     []string
		description string
	}
	var fks []fk
	for rows.Next() {
		var f fk
		if err := rows.Scan(&f.table, &f.tableName, &f.name, &f.def, &f.columns); err != nil {
			return nil, err
		}
		fks = append(fks, f)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var missing []string
	for _, f := range fks {
		// Each valid btree index of the table: its key columns in order
		// ("" for an expression) and its predicate, if partial.
		rows, err := conn.Query(ctx, `
			SELECT ARRAY(SELECT coalesce(a.attname::text, '') FROM unnest(i.indkey::int2[]) WITH ORDINALITY k(attnum, ord)
					LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
					WHERE k.ord <= i.indnkeyatts ORDER BY k.ord),
				coalesce(pg_get_expr(i.indpred, i.indrelid), '')
			FROM pg_index i JOIN pg_class x ON x.oid = i.indexrelid JOIN pg_am am ON am.oid = x.relam
			WHERE i.indrelid = $1 AND i.indisvalid AND am.amname = 'btree'`, f.table)
		if err != nil {
			return nil, err
		}
		covered := false
		for rows.Next() {
			var keys []string
			var pred string
			if err := rows.Scan(&keys, &pred); err != nil {
				rows.Close()
				return nil, err
			}
			if len(keys) >= len(f.columns) && sameSet(keys[:len(f.columns)], f.columns) && onlyNotNull(pred, f.columns) {
				covered = true
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
		if !covered {
			missing = append(missing, fmt.Sprintf("%s %s %s (wants an index on %s (%s))",
				f.tableName, f.name, f.def, f.tableName, strings.Join(f.columns, ", ")))
		}
	}
	return missing, nil
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// onlyNotNull reports whether pred (pg_get_expr of an index predicate; ""
// for none) is a conjunction of "column IS NOT NULL" over columns.
func onlyNotNull(pred string, columns []string) bool {
	if pred == "" {
		return true
	}
	pred = strings.NewReplacer("(", "", ")", "").Replace(pred)
	for _, term := range strings.Split(pred, " AND ") {
		col, ok := strings.CutSuffix(strings.TrimSpace(term), " IS NOT NULL")
		if !ok || !slices.Contains(columns, col) {
			return false
		}
	}
	return true
}
