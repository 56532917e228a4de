package postgres

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/uuid"

	"github.com/crmsuite/crm/platform/pg"
	"github.com/crmsuite/crm/services/lead/internal/app"
	"github.com/crmsuite/crm/services/lead/internal/domain"
)

// dupRules are the duplicate rules in listing order, with their key
// columns; each has a partial index (key, id) over the leads that can be
// duplicates (migration 002).
var dupRules = []struct {
	rule   domain.DuplicateRule
	column string
}{
	{domain.RuleEmail, "email_norm"},
	{domain.RulePhone, "phone_norm"},
	{domain.RuleCompanyAndName, "name_key"},
}

// noteDuplicateKeys records, in duplicate_keys (migration 007), the keys
// the leads with ids $1 (uuid[]) share with other leads: run after an
// import batch that may have made duplicates, so ListDuplicateGroups finds
// them (single writes use note_duplicate_lead, the guard's twin). `id =
// ANY` and the non-empty key conditions keep every probe on an index (the
// primary key, the partial key indexes).
var noteDuplicateKeys = func() string {
	parts := make([]string, len(dupRules))
	for i, d := range dupRules {
		parts[i] = fmt.Sprintf(`SELECT '%[2]s', n.%[1]s FROM leads n
			WHERE n.id = ANY ($1::uuid[]) AND n.%[1]s <> '' AND n.status <> 'MERGED'
			AND EXISTS (SELECT 1 FROM leads o WHERE o.%[1]s = n.%[1]s AND o.%[1]s <> '' AND o.id <> n.id AND o.status <> 'MERGED')`,
			d.column, d.rule)
	}
	return "INSERT INTO duplicate_keys (rule, key) " + strings.Join(parts, " UNION ") + " ON CONFLICT DO NOTHING"
}()

// FindDuplicates implements app.Repository.
func (r *Repo) FindDuplicates(ctx context.Context, id uuid.UUID) ([]app.Duplicate, error) {
	if _, err := r.Get(ctx, id); err != nil {
		return nil, err
	}
	var rules, match []string
	for _, d := range dupRules {
		rules = append(rules, fmt.Sprintf("CASE WHEN l.%[1]s <> '' AND d.%[1]s = l.%[1]s THEN '%[2]s' END", d.column, d.rule))
		match = append(match, fmt.Sprintf("(l.%[1]s <> '' AND d.%[1]s = l.%[1]s AND d.%[1]s <> '')", d.column))
	}
	rows, err := pg.Q(ctx, r.pool).Query(ctx, fmt.Sprintf(`SELECT %s, rules FROM (
			SELECT d.*, concat_ws('+', %s) AS rules
			FROM leads l JOIN leads d ON d.id <> l.id AND d.status <> 'MERGED' AND (%s)
			WHERE l.id = $1
			ORDER BY d.created_at, d.id
			LIMIT 100
		) dup`, leadColumns, strings.Join(rules, ", "), strings.Join(match, " OR ")), id)
	if err != nil {
		return nil, fmt.Errorf("find duplicates: %w", err)
	}
	defer rows.Close()
	var out []app.Duplicate
	for rows.Next() {
		var matched string
		l, err := scanLead(rows, &matched)
		if err != nil {
			return nil, err
		}
		d := app.Duplicate{Lead: l}
		for _, rule := range strings.Split(matched, "+") {
			d.Rules = append(d.Rules, domain.DuplicateRule(rule))
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

type groupCursor struct {
	Rule int    `json:"r"`
	Key  string `json:"k"`
}

// ListDuplicateGroups implements app.Repository. Each rule's groups come
// from the keys noted as shared (duplicate_keys, migration 007) in key
// order, each checked against the leads' partial index (a noted key whose
// group fell apart is skipped); rules are read one after the other, so a
// page stops reading once it has its groups.
func (r *Repo) ListDuplicateGroups(ctx context.Context, only domain.DuplicateRule, pageSize int, pageToken string) ([]app.DuplicateGroup, string, error) {
	queryKey := "duplicate-groups\x00" + string(only)
	var c groupCursor
	if pageToken != "" {
		if err := r.pages.Decode(pageToken, queryKey, &c); err != nil {
			return nil, "", err
		}
	}
	var groups []app.DuplicateGroup
	var ords []int
	for i, d := range dupRules {
		if (only != "" && d.rule != only) || i < c.Rule {
			continue
		}
		args := []any{pageSize + 1 - len(groups), string(d.rule)}
		after := ""
		if pageToken != "" && i == c.Rule {
			args = append(args, c.Key)
			after = " AND dk.key > $3"
		}
		rows, err := pg.Q(ctx, r.pool).Query(ctx, fmt.Sprintf(`SELECT dk.key, g.ids
			FROM duplicate_keys dk
			CROSS JOIN LATERAL (SELECT array_agg(id ORDER BY id) AS ids FROM leads
				WHERE %[1]s = dk.key AND %[1]s <> '' AND status <> 'MERGED') g
			WHERE dk.rule = $2%[2]s AND cardinality(g.ids) > 1
			ORDER BY dk.key LIMIT $1`, d.column, after), args...)
		if err != nil {
			return nil, "", fmt.Errorf("list duplicate groups: %w", err)
		}
		for rows.Next() {
			g := app.DuplicateGroup{Rule: d.rule}
			if err := rows.Scan(&g.Key, &g.Leads); err != nil {
				rows.Close()
				return nil, "", err
			}
			groups = append(groups, g)
			ords = append(ords, i)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, "", err
		}
		if len(groups) > pageSize {
			break
		}
	}
	if len(groups) <= pageSize {
		return groups, "", nil
	}
	groups = groups[:pageSize]
	next, err := r.pages.Encode(queryKey, groupCursor{Rule: ords[pageSize-1], Key: groups[pageSize-1].Key})
	return groups, next, err
}
