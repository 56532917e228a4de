package postgres

import (
	"context"
	"fmt"
	"slices"

	"github.com/crmsuite/crm/platform/pg"
	"github.com/crmsuite/crm/services/account/internal/app"
)

// Match implements app.Repository. Each rule is an indexed equality
// (accounts: name_key, domain, phone_key; contacts: GIN on email_keys and
// phone_keys), so the OR of them is a bitmap OR of index scans.
func (r *Repo) Match(ctx context.Context, q app.MatchQuery) ([]app.AccountMatch, []app.ContactMatch, error) {
	q2 := pg.Q(ctx, r.pool)
	var accounts []app.AccountMatch
	domains := []string{}
	for _, d := range []string{q.EmailDomain, q.WebsiteDomain} {
		if d != "" && !slices.Contains(domains, d) {
			domains = append(domains, d)
		}
	}
	if q.NameKey != "" || len(domains) > 0 || q.Phone != "" {
		rows, err := q2.Query(ctx, `SELECT `+accountColumns+`, a.name_key, a.phone_key FROM accounts a
			WHERE ((a.name_key = $1 AND a.name_key <> '') OR (a.domain = ANY($2) AND a.domain <> '') OR (a.phone_key = $3 AND a.phone_key <> ''))
			  AND a.state <> 'MERGED'
			ORDER BY a.created_at, a.id LIMIT $4`, q.NameKey, domains, q.Phone, q.Limit)
		if err != nil {
			return nil, nil, fmt.Errorf("match accounts: %w", err)
		}
		for rows.Next() {
			var nameKey, phoneKey string
			a, err := scanAccount(rows, &nameKey, &phoneKey)
			if err != nil {
				rows.Close()
				return nil, nil, err
			}
			m := app.AccountMatch{Account: a}
			if q.NameKey != "" && nameKey == q.NameKey {
				m.Rules = append(m.Rules, app.RuleCompanyName)
			}
			if q.EmailDomain != "" && a.Domain == q.EmailDomain {
				m.Rules = append(m.Rules, app.RuleEmailDomain)
			}
			if q.WebsiteDomain != "" && a.Domain == q.WebsiteDomain {
				m.Rules = append(m.Rules, app.RuleWebsiteDomain)
			}
			if q.Phone != "" && phoneKey == q.Phone {
				m.Rules = append(m.Rules, app.RulePhone)
			}
			accounts = append(accounts, m)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, nil, err
		}
	}
	var contacts []app.ContactMatch
	if q.Email != "" || q.Phone != "" {
		rows, err := q2.Query(ctx, `SELECT `+contactColumns+`, email_keys, phone_keys FROM contacts
			WHERE (($1 <> '' AND email_keys @> ARRAY[$1]) OR ($2 <> '' AND phone_keys @> ARRAY[$2])) AND merged_into IS NULL
			ORDER BY created_at, id LIMIT $3`, q.Email, q.Phone, q.Limit)
		if err != nil {
			return nil, nil, fmt.Errorf("match contacts: %w", err)
		}
		for rows.Next() {
			var emailKeys, phoneKeys []string
			c, err := scanContact(rows, &emailKeys, &phoneKeys)
			if err != nil {
				rows.Close()
				return nil, nil, err
			}
			m := app.ContactMatch{Contact: c}
			if q.Email != "" && slices.Contains(emailKeys, q.Email) {
				m.Rules = append(m.Rules, app.RuleEmail)
			}
			if q.Phone != "" && slices.Contains(phoneKeys, q.Phone) {
				m.Rules = append(m.Rules, app.RulePhone)
			}
			contacts = append(contacts, m)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, nil, err
		}
	}
	return accounts, contacts, nil
}
