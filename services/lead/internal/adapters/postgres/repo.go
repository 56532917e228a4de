// Package postgres stores leads in the service's own schema. Every change
// and the outbox rows announcing it are written in one transaction.
package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	leadv1 "github.com/crmsuite/crm/gen/go/crm/lead/v1"
	"github.com/crmsuite/crm/platform/audit"
	"github.com/crmsuite/crm/platform/events"
	"github.com/crmsuite/crm/platform/outbox"
	"github.com/crmsuite/crm/platform/paging"
	"github.com/crmsuite/crm/platform/pg"
	"github.com/crmsuite/crm/services/lead/internal/app"
	"github.com/crmsuite/crm/services/lead/internal/domain"
	"github.com/crmsuite/crm/services/lead/internal/protomap"
)

// Repo implements app.Repository.
type Repo struct {
	pool   *pgxpool.Pool
	outbox outbox.Writer
	pages  *paging.Codec
	// phoneRegion reads local phone numbers of leads without an address
	// country, for duplicate detection.
	phoneRegion string
}

// New returns a repository over pool; ow names the service's event
// subjects, pages signs page tokens, phoneRegion (ISO 3166-1 alpha-2, may
// be empty) is the country of local phone numbers of leads without one.
func New(pool *pgxpool.Pool, ow outbox.Writer, pages *paging.Codec, phoneRegion string) *Repo {
	return &Repo{pool: pool, outbox: ow, pages: pages, phoneRegion: phoneRegion}
}

var _ app.Repository = (*Repo)(nil)

// leadColumnList are the columns a lead is read from, in scanLead's order;
// writes add the duplicate keys (writeColumnList), in leadArgs' order.
var (
	leadColumnList = []string{"id", "first_name", "last_name", "company", "title", "email", "phone", "website",
		"address", "source", "campaign", "rating", "status", "owner", "next_contact_at", "description", "custom_fields",
		"disqualify_reason", "disqualify_note", "disqualified_at", "disqualified_by", "status_before_disqualify",
		"last_activity_at", "created_at", "created_by", "updated_at", "updated_by", "version", "merged_into",
		"qualified_at", "conversion", "lifecycle_stage", "lifecycle_changed_at", "lifecycle_changed_by", "mql_at", "sql_at", "products"}
	writeColumnList = append(slices.Clone(leadColumnList), "email_norm", "phone_norm", "name_key")

	leadColumns   = strings.Join(leadColumnList, ", ")
	insertColumns = strings.Join(writeColumnList, ", ")
	insertLead    = "INSERT INTO leads (" + strings.Join(writeColumnList, ", ") + ") VALUES (" + pg.Placeholders(1, len(writeColumnList)) + ")"
	updateLead    = "UPDATE leads SET (" + strings.Join(writeColumnList[1:], ", ") + ") = (" + pg.Placeholders(2, len(writeColumnList)) + ") WHERE id = $1"
)

type addressJSON struct {
	Lines              []string `json:"lines,omitempty"`
	Locality           string   `json:"locality,omitempty"`
	AdministrativeArea string   `json:"administrative_area,omitempty"`
	PostalCode         string   `json:"postal_code,omitempty"`
	RegionCode         string   `json:"region_code,omitempty"`
}

func addressValue(a domain.Address) []byte {
	if len(a.Lines) == 0 && a.Locality == "" && a.AdministrativeArea == "" && a.PostalCode == "" && a.RegionCode == "" {
		return nil
	}
	b, _ := json.Marshal(addressJSON(a))
	return b
}

func productsValue(ps []domain.ProductInterest) []byte {
	if len(ps) == 0 {
		return []byte("[]")
	}
	b, _ := json.Marshal(ps)
	return b
}

func conversionValue(c *domain.Conversion) []byte {
	if c == nil {
		return nil
	}
	b, _ := json.Marshal(c)
	return b
}

// leadArgs are the values of leadColumns and then of the duplicate keys,
// in order.
func (r *Repo) leadArgs(l *domain.Lead) []any {
	return leadArgsWithKeys(l, l.DuplicateKeys(r.phoneRegion))
}

func leadArgsWithKeys(l *domain.Lead, keys domain.DuplicateKeys) []any {
	var reason, note, by, before *string
	var at *time.Time
	if d := l.Disqualification; d != nil {
		r, s := string(d.Reason), string(d.PreviousStatus)
		reason, note, by, before, at = &r, &d.Note, &d.By, &s, &d.At
	}
	custom, _ := json.Marshal(l.CustomFields)
	var mergedInto *uuid.UUID
	if l.MergedInto != uuid.Nil {
		mergedInto = &l.MergedInto
	}
	return []any{
		l.ID, l.FirstName, l.LastName, l.Company, l.Title, l.Email, l.Phone, l.Website, addressValue(l.Address),
		string(l.Source), l.Campaign, string(l.Rating), string(l.Status), l.Owner, l.NextContactAt, l.Description,
		custom, reason, note, at, by, before, l.LastActivityAt, l.CreatedAt, l.CreatedBy, l.UpdatedAt, l.UpdatedBy,
		l.Version, mergedInto, l.QualifiedAt, conversionValue(l.Conversion), string(l.Lifecycle.Stage), l.Lifecycle.ChangedAt,
		l.Lifecycle.ChangedBy, l.Lifecycle.MQLAt, l.Lifecycle.SQLAt, productsValue(l.Products), keys.Email, keys.Phone, keys.CompanyAndName,
	}
}

// scanLead reads leadColumns, then any extra columns into extra.
func scanLead(row pgx.Row, extra ...any) (*domain.Lead, error) {
	var (
		l                        domain.Lead
		address, custom          []byte
		source, rating, status   string
		reason, note, by, before *string
		disqualifiedAt           *time.Time
		mergedInto               *uuid.UUID
		conversion               []byte
		stage                    string
		products                 []byte
	)
	err := row.Scan(append([]any{&l.ID, &l.FirstName, &l.LastName, &l.Company, &l.Title, &l.Email, &l.Phone, &l.Website,
		&address, &source, &l.Campaign, &rating, &status, &l.Owner, &l.NextContactAt, &l.Description, &custom,
		&reason, &note, &disqualifiedAt, &by, &before, &l.LastActivityAt, &l.CreatedAt, &l.CreatedBy,
		&l.UpdatedAt, &l.UpdatedBy, &l.Version, &mergedInto, &l.QualifiedAt, &conversion,
		&stage, &l.Lifecycle.ChangedAt, &l.Lifecycle.ChangedBy, &l.Lifecycle.MQLAt, &l.Lifecycle.SQLAt, &products}, extra...)...)
	if err != nil {
		return nil, err
	}
	l.Source, l.Rating, l.Status = domain.Source(source), domain.Rating(rating), domain.Status(status)
	l.Lifecycle.Stage = domain.LifecycleStage(stage)
	if len(address) > 0 {
		var a addressJSON
		if err := json.Unmarshal(address, &a); err != nil {
			return nil, fmt.Errorf("lead %s address: %w", l.ID, err)
		}
		l.Address = domain.Address(a)
	}
	l.CustomFields = map[string]string{}
	if err := json.Unmarshal(custom, &l.CustomFields); err != nil {
		return nil, fmt.Errorf("lead %s custom fields: %w", l.ID, err)
	}
	if reason != nil {
		l.Disqualification = &domain.Disqualification{
			Reason: domain.DisqualificationReason(*reason), Note: deref(note), By: deref(by),
			PreviousStatus: domain.Status(deref(before)),
		}
		if disqualifiedAt != nil {
			l.Disqualification.At = *disqualifiedAt
		}
	}
	if mergedInto != nil {
		l.MergedInto = *mergedInto
	}
	if len(conversion) > 0 {
		l.Conversion = new(domain.Conversion)
		if err := json.Unmarshal(conversion, l.Conversion); err != nil {
			return nil, fmt.Errorf("lead %s conversion: %w", l.ID, err)
		}
	}
	if err := json.Unmarshal(products, &l.Products); err != nil {
		return nil, fmt.Errorf("lead %s products: %w", l.ID, err)
	}
	utc(&l.CreatedAt, &l.UpdatedAt)
	return &l, nil
}

func utc(ts ...*time.Time) {
	for _, t := range ts {
		*t = t.UTC()
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// assertNoDuplicate fails the batch (and so its transaction) with SQLSTATE
// CR002 when another lead, a contact or an account shares one of the given
// keys; see migration 013.
const assertNoDuplicate = `SELECT assert_no_duplicate($1, $2, $3, $4, $5, $6)`

func queueAssertNoDuplicate(b *pgx.Batch, id uuid.UUID, k domain.DuplicateKeys) {
	b.Queue(assertNoDuplicate, id, k.Email, k.Phone, k.CompanyAndName, k.Company, k.WebDomain)
}

// noteDuplicateLead records the keys a lead written with allow_duplicate
// shares with others, for ListDuplicateGroups (migration 007).
const noteDuplicateLead = `SELECT note_duplicate_lead($1, $2, $3, $4)`

// Create sends the lead and its outbox rows in one round trip; the batch
// is one implicit transaction (or joins the one in ctx).
func (r *Repo) Create(ctx context.Context, l *domain.Lead, ch app.Change) error {
	msgs, err := r.messages(ctx, l, ch)
	if err != nil {
		return err
	}
	entry, err := audit.New(ctx, nil, protomap.Lead(l), ch.RequestID)
	if err != nil {
		return err
	}
	b := &pgx.Batch{}
	k := l.DuplicateKeys(r.phoneRegion)
	if !ch.AllowDuplicate {
		queueAssertNoDuplicate(b, l.ID, k)
	}
	b.Queue(insertLead, leadArgsWithKeys(l, k)...)
	if ch.AllowDuplicate {
		b.Queue(noteDuplicateLead, l.ID, k.Email, k.Phone, k.CompanyAndName)
	}
	outbox.Queue(b, msgs...)
	audit.Queue(b, entry)
	if err := pg.Q(ctx, r.pool).SendBatch(ctx, b).Close(); err != nil {
		return duplicateOr(err, "create lead")
	}
	return nil
}

// duplicateOr turns assert_no_duplicate's error into the domain's, and
// wraps any other.
func duplicateOr(err error, what string) error {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "CR002" {
		return fmt.Errorf("%s: %w", what, err)
	}
	var report struct {
		Leads []struct {
			ID    uuid.UUID `json:"id"`
			Rules string    `json:"rules"`
		} `json:"leads"`
		Customers []struct {
			ID      uuid.UUID  `json:"id"`
			Kind    string     `json:"kind"`
			Name    string     `json:"name"`
			Account *uuid.UUID `json:"account"`
			Rules   string     `json:"rules"`
		} `json:"customers"`
	}
	if err := json.Unmarshal([]byte(pgErr.Detail), &report); err != nil {
		return fmt.Errorf("%s: unreadable duplicate report %q: %w", what, pgErr.Detail, err)
	}
	rules := func(s string) []domain.DuplicateRule {
		var out []domain.DuplicateRule
		for _, r := range strings.Split(s, "+") {
			out = append(out, domain.DuplicateRule(r))
		}
		return out
	}
	var matches []domain.DuplicateMatch
	for _, l := range report.Leads {
		matches = append(matches, domain.DuplicateMatch{LeadID: l.ID, Rules: rules(l.Rules)})
	}
	var customers []domain.CustomerMatch
	for _, c := range report.Customers {
		m := domain.CustomerMatch{Kind: domain.CustomerKind(c.Kind), ID: c.ID, DisplayName: c.Name, Rules: rules(c.Rules)}
		if c.Account != nil {
			m.AccountID = *c.Account
		}
		customers = append(customers, m)
	}
	return domain.ErrDuplicate(matches, customers)
}

func (r *Repo) Get(ctx context.Context, id uuid.UUID) (*domain.Lead, error) {
	l, err := scanLead(pg.Q(ctx, r.pool).QueryRow(ctx, `SELECT `+leadColumns+` FROM leads WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, domain.ErrNotFound(id)
	}
	return l, err
}

// Mutate implements app.Repository: SELECT ... FOR UPDATE serialises
// writers of one lead, which also keeps its outbox rows in commit order.
func (r *Repo) Mutate(ctx context.Context, id uuid.UUID, fn func(l *domain.Lead) (app.Change, error)) (*domain.Lead, error) {
	var out *domain.Lead
	err := pg.InTx(ctx, r.pool, func(ctx context.Context) error {
		q := pg.Q(ctx, r.pool)
		l, err := scanLead(q.QueryRow(ctx, `SELECT `+leadColumns+` FROM leads WHERE id = $1 FOR UPDATE`, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return domain.ErrNotFound(id)
		}
		if err != nil {
			return err
		}
		before := l.DuplicateKeys(r.phoneRegion)
		was := protomap.Lead(l)
		ch, err := fn(l)
		if err != nil {
			return err
		}
		out = l
		if len(ch.Events) == 0 {
			return nil
		}
		msgs, err := r.messages(ctx, l, ch)
		if err != nil {
			return err
		}
		var now *leadv1.Lead
		if !ch.Delete {
			now = protomap.Lead(l)
		}
		entry, err := audit.New(ctx, was, now, ch.RequestID)
		if err != nil {
			return err
		}
		b := &pgx.Batch{}
		if ch.Delete {
			b.Queue(`DELETE FROM leads WHERE id = $1`, id)
		} else {
			after := l.DuplicateKeys(r.phoneRegion)
			if after != before && !ch.AllowDuplicate {
				// Only keys this change sets count: a duplicate someone
				// allowed before does not block unrelated edits.
				queueAssertNoDuplicate(b, l.ID, domain.DuplicateKeys{
					Email: changed(before.Email, after.Email), Phone: changed(before.Phone, after.Phone),
					CompanyAndName: changed(before.CompanyAndName, after.CompanyAndName),
					Company:        changed(before.Company, after.Company), WebDomain: changed(before.WebDomain, after.WebDomain),
				})
			}
			b.Queue(updateLead, leadArgsWithKeys(l, after)...)
			if after != before && ch.AllowDuplicate {
				b.Queue(noteDuplicateLead, l.ID, after.Email, after.Phone, after.CompanyAndName)
			}
		}
		outbox.Queue(b, msgs...)
		audit.Queue(b, entry, ch.Audit)
		if err := q.SendBatch(ctx, b).Close(); err != nil {
			return duplicateOr(err, "update lead")
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func changed(before, after string) string {
	if before == after {
		return ""
	}
	return after
}

// messages turns a change's domain events into outbox rows.
func (r *Repo) messages(ctx context.Context, l *domain.Lead, ch app.Change) ([]outbox.Message, error) {
	msgs := make([]outbox.Message, 0, len(ch.Events))
	for _, ev := range ch.Events {
		m, err := protomap.Event(events.NewMeta(ctx, ch.RequestID, l.UpdatedAt), l, ev)
		if err != nil {
			return nil, err
		}
		msg, err := r.outbox.Message(ctx, l.ID.String(), m)
		if err != nil {
			return nil, err
		}
		if re, ok := ev.(domain.ConversionResent); ok {
			msg = outbox.Resend(msg, uuid.NewSHA1(msg.EventID, fmt.Appendf(nil, "resend %d", re.Attempt)))
		}
		msgs = append(msgs, msg)
	}
	return msgs, nil
}

// Merge implements app.Repository.
func (r *Repo) Merge(ctx context.Context, primary uuid.UUID, duplicates []uuid.UUID, dryRun bool,
	fn func(primary *domain.Lead, duplicates []*domain.Lead) (app.Change, error)) (*domain.Lead, []*domain.Lead, error) {
	var outPrimary *domain.Lead
	var outDups []*domain.Lead
	err := pg.InTx(ctx, r.pool, func(ctx context.Context) error {
		q := pg.Q(ctx, r.pool)
		lock := " FOR UPDATE"
		if dryRun {
			lock = ""
		}
		ids := append([]uuid.UUID{primary}, duplicates...)
		rows, err := q.Query(ctx, `SELECT `+leadColumns+` FROM leads WHERE id = ANY($1) ORDER BY id`+lock, ids)
		if err != nil {
			return err
		}
		byID := map[uuid.UUID]*domain.Lead{}
		for rows.Next() {
			l, err := scanLead(rows)
			if err != nil {
				rows.Close()
				return err
			}
			byID[l.ID] = l
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, id := range ids {
			if byID[id] == nil {
				return domain.ErrNotFound(id)
			}
		}
		outPrimary = byID[primary]
		was := map[uuid.UUID]*leadv1.Lead{}
		for _, l := range byID {
			was[l.ID] = protomap.Lead(l)
		}
		outDups = make([]*domain.Lead, len(duplicates))
		for i, id := range duplicates {
			// The same lead twice is the domain's to refuse; give it
			// distinct values so the refusal is what the caller sees.
			d := *byID[id]
			outDups[i] = &d
		}
		ch, err := fn(outPrimary, outDups)
		if err != nil || dryRun {
			return err
		}
		msgs, err := r.messages(ctx, outPrimary, ch)
		if err != nil {
			return err
		}
		b := &pgx.Batch{}
		entries := make([]*audit.Entry, 0, 1+len(outDups))
		for _, l := range append([]*domain.Lead{outPrimary}, outDups...) {
			b.Queue(updateLead, r.leadArgs(l)...)
			e, err := audit.New(ctx, was[l.ID], protomap.Lead(l), ch.RequestID)
			if err != nil {
				return err
			}
			entries = append(entries, e)
		}
		outbox.Queue(b, msgs...)
		audit.Queue(b, entries...)
		return q.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return nil, nil, err
	}
	return outPrimary, outDups, nil
}

// ListAudit implements app.Repository.
func (r *Repo) ListAudit(ctx context.Context, q audit.Query) ([]audit.Entry, string, error) {
	return audit.List(ctx, pg.Q(ctx, r.pool), r.pages, q)
}
