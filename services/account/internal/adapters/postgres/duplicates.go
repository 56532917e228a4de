package postgres

import (
	"context"
	"fmt"
	"slices"

	"github.com/google/uuid"

	"github.com/crmsuite/crm/platform/pg"
	"github.com/crmsuite/crm/services/account/internal/app"
)

// lockKeys takes transaction-scoped advisory locks on duplicate keys (in
// a fixed order), so two concurrent creates of the same customer cannot
// both pass the check; prefix keeps accounts' and contacts' keys apart.
func (r *Repo) lockKeys(ctx context.Context, prefix string, keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	_, err := pg.Q(ctx, r.pool).Exec(ctx, `SELECT pg_advisory_xact_lock(k)
		FROM (SELECT DISTINCT hashtextextended($1 || v, 0) AS k FROM unnest($2::text[]) AS v WHERE v <> '' ORDER BY 1) keys`, prefix, keys)
	if err != nil {
		return fmt.Errorf("lock duplicate keys: %w", err)
	}
	return nil
}

// AccountDuplicates implements app.Repository: the accounts other than id
// with the name key or the domain, oldest first. With lock (a create's
// check, in its transaction) the keys are locked first.
func (r *Repo) AccountDuplicates(ctx context.Context, id uuid.UUID, nameKey, domain string, lock bool, limit int) ([]app.AccountMatch, error) {
	if nameKey == "" && domain == "" {
		return nil, nil
	}
	if lock {
		if err := r.lockKeys(ctx, "account:", []string{"n:" + nameKey, "d:" + domain}); err != nil {
			return nil, err
		}
	}
	rows, err := pg.Q(ctx, r.pool).Query(ctx, `SELECT `+accountColumns+`, a.name_key FROM accounts a
		WHERE a.id <> $1 AND ((a.name_key = $2 AND a.name_key <> '') OR (a.domain = $3 AND a.domain <> ''))
		ORDER BY a.created_at, a.id LIMIT $4`, id, nameKey, domain, limit)
	if err != nil {
		return nil, fmt.Errorf("account duplicates: %w", err)
	}
	defer rows.Close()
	var out []app.AccountMatch
	for rows.Next() {
		var key string
		a, err := scanAccount(rows, &key)
		if err != nil {
			return nil, err
		}
		m := app.AccountMatch{Account: a}
		if nameKey != "" && key == nameKey {
			m.Rules = append(m.Rules, app.RuleCompanyName)
		}
		if domain != "" && a.Domain == domain {
			m.Rules = append(m.Rules, app.RuleWebsiteDomain)
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// AccountKeys implements app.Repository: an account's stored name key and
// domain.
func (r *Repo) AccountKeys(ctx context.Context, id uuid.UUID) (nameKey, domain string, err error) {
	err = pg.Q(ctx, r.pool).QueryRow(ctx, `SELECT name_key, domain FROM accounts WHERE id = $1`, id).Scan(&nameKey, &domain)
	return nameKey, domain, err
}

// ContactDuplicates implements app.Repository: the contacts other than id
// sharing an email or a phone key (GIN overlaps), oldest first.
func (r *Repo) ContactDuplicates(ctx context.Context, id uuid.UUID, emails, phones []string, lock bool, limit int) ([]app.ContactMatch, error) {
	if len(emails) == 0 && len(phones) == 0 {
		return nil, nil
	}
	if lock {
		var keys []string
		for _, e := range emails {
			keys = append(keys, "e:"+e)
		}
		for _, p := range phones {
			keys = append(keys, "p:"+p)
		}
		if err := r.lockKeys(ctx, "contact:", keys); err != nil {
			return nil, err
		}
	}
	rows, err := pg.Q(ctx, r.pool).Query(ctx, `SELECT `+contactColumns+`, email_keys, phone_keys FROM contacts
		WHERE id <> $1 AND (email_keys && $2::text[] OR phone_keys && $3::text[])
		ORDER BY created_at, id LIMIT $4`, id, nonNilStrings(emails), nonNilStrings(phones), limit)
	if err != nil {
		return nil, fmt.Errorf("contact duplicates: %w", err)
	}
	defer rows.Close()
	var out []app.ContactMatch
	for rows.Next() {
		var emailKeys, phoneKeys []string
		c, err := scanContact(rows, &emailKeys, &phoneKeys)
		if err != nil {
			return nil, err
		}
		m := app.ContactMatch{Contact: c}
		if slices.ContainsFunc(emails, func(e string) bool { return slices.Contains(emailKeys, e) }) {
			m.Rules = append(m.Rules, app.RuleEmail)
		}
		if slices.ContainsFunc(phones, func(p string) bool { return slices.Contains(phoneKeys, p) }) {
			m.Rules = append(m.Rules, app.RulePhone)
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// ContactKeys implements app.Repository: a contact's stored email and
// phone keys.
func (r *Repo) ContactKeys(ctx context.Context, id uuid.UUID) (emails, phones []string, err error) {
	err = pg.Q(ctx, r.pool).QueryRow(ctx, `SELECT email_keys, phone_keys FROM contacts WHERE id = $1`, id).Scan(&emails, &phones)
	return emails, phones, err
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// noteAccountDuplicateKeys and noteContactDuplicateKeys record, in
// duplicate_keys (migration 002), the keys the account or contact $1 (just
// written) shares with another: one indexed probe per key (the accounts'
// partial key indexes, the contacts' GIN indexes).
const (
	noteAccountDuplicateKeys = `INSERT INTO duplicate_keys (collection, rule, key)
		SELECT 'accounts', 'COMPANY_NAME', n.name_key FROM accounts n WHERE n.id = $1 AND n.name_key <> ''
			AND EXISTS (SELECT 1 FROM accounts o WHERE o.name_key = n.name_key AND o.name_key <> '' AND o.id <> n.id)
		UNION ALL
		SELECT 'accounts', 'WEBSITE_DOMAIN', n.domain FROM accounts n WHERE n.id = $1 AND n.domain <> ''
			AND EXISTS (SELECT 1 FROM accounts o WHERE o.domain = n.domain AND o.domain <> '' AND o.id <> n.id)
		ON CONFLICT DO NOTHING`
	noteContactDuplicateKeys = `INSERT INTO duplicate_keys (collection, rule, key)
		SELECT 'contacts', 'EMAIL', k FROM contacts n, unnest(n.email_keys) AS k WHERE n.id = $1
			AND EXISTS (SELECT 1 FROM contacts o WHERE o.email_keys @> ARRAY[k] AND o.id <> n.id)
		UNION ALL
		SELECT 'contacts', 'PHONE', k FROM contacts n, unnest(n.phone_keys) AS k WHERE n.id = $1
			AND EXISTS (SELECT 1 FROM contacts o WHERE o.phone_keys @> ARRAY[k] AND o.id <> n.id)
		ON CONFLICT DO NOTHING`
)

// dupGroupMembers are, by rule, the records holding the noted key dk.key,
// each an indexed lookup.
var dupGroupMembers = map[string]string{
	app.RuleCompanyName:   `SELECT id, created_at FROM accounts WHERE name_key = dk.key AND name_key <> ''`,
	app.RuleWebsiteDomain: `SELECT id, created_at FROM accounts WHERE domain = dk.key AND domain <> ''`,
	app.RuleEmail:         `SELECT id, created_at FROM contacts WHERE email_keys @> ARRAY[dk.key]`,
	app.RulePhone:         `SELECT id, created_at FROM contacts WHERE phone_keys @> ARRAY[dk.key]`,
}

type groupCursor struct {
	Rule int    `json:"r"`
	Key  string `json:"k"`
}

// DuplicateGroups implements app.Repository: each rule's groups come from
// the keys noted as shared (duplicate_keys) in key order, each checked
// against the records (a noted key whose group fell apart is skipped);
// rules are read one after the other, so a page stops reading once it has
// its groups.
func (r *Repo) DuplicateGroups(ctx context.Context, collection string, rules []string, pageSize int, pageToken string) ([]app.DuplicateGroup, string, error) {
	queryKey := "duplicate-groups\x00" + collection + "\x00" + fmt.Sprint(rules)
	var c groupCursor
	if pageToken != "" {
		if err := r.pages.Decode(pageToken, queryKey, &c); err != nil {
			return nil, "", err
		}
	}
	var groups []app.DuplicateGroup
	var ords []int
	for i, rule := range rules {
		if i < c.Rule {
			continue
		}
		after := ""
		args := []any{pageSize + 1 - len(groups), collection, rule}
		if pageToken != "" && i == c.Rule {
			after = " AND dk.key > $4"
			args = append(args, c.Key)
		}
		rows, err := pg.Q(ctx, r.pool).Query(ctx, `SELECT dk.key, g.ids FROM duplicate_keys dk
			CROSS JOIN LATERAL (SELECT array_agg(id ORDER BY created_at, id) AS ids FROM (`+dupGroupMembers[rule]+`) m) g
			WHERE dk.collection = $2 AND dk.rule = $3`+after+` AND cardinality(g.ids) > 1
			ORDER BY dk.key LIMIT $1`, args...)
		if err != nil {
			return nil, "", fmt.Errorf("list duplicate groups: %w", err)
		}
		for rows.Next() {
			g := app.DuplicateGroup{Rule: rule}
			if err := rows.Scan(&g.Key, &g.IDs); err != nil {
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
