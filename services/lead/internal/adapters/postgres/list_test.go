package postgres

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/crmsuite/crm/platform/outbox"
	"github.com/crmsuite/crm/platform/paging"
	"github.com/crmsuite/crm/platform/pg"
	"github.com/crmsuite/crm/platform/testkit"
	"github.com/crmsuite/crm/services/lead/internal/app"
	"github.com/crmsuite/crm/services/lead/internal/domain"
	"github.com/crmsuite/crm/services/lead/migrations"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// Text searches take one of three paths (a probe that fills the page, a
// larger second probe, the trigram index); with the probes shrunk to a few
// rows, a small table exercises all of them. Every page must equal the
// brute-force answer, for every order.
func TestTextSearchPathsAgreeWithBruteForce(t *testing.T) {
	textProbeRows, maxTextProbeRows = 4, 16
	t.Cleanup(func() { textProbeRows, maxTextProbeRows = 1000, 6000 })

	ctx := context.Background()
	pool := testkit.Pool(t, "lead", pg.MigrationSet{Name: "lead", FS: migrations.FS, Extensions: migrations.Extensions})
	repo := New(pool, outbox.Writer{Service: "lead"}, paging.NewCodec([]byte("k")), "")
	var all []*domain.Lead
	base := time.Now().UTC().Truncate(time.Microsecond)
	for i := range 120 {
		// "common" on every 2nd lead, "sparse" on every 15th, "rare" on two.
		tags := []string{}
		if i%2 == 0 {
			tags = append(tags, "common")
		}
		if i%15 == 0 {
			tags = append(tags, "sparse")
		}
		if i == 7 || i == 93 {
			tags = append(tags, "rare")
		}
		l, evs, err := domain.New(domain.Lead{
			FirstName: fmt.Sprintf("P%03d", i), LastName: strings.Join(tags, " ") + fmt.Sprintf(" family%d", i%3),
			Company: fmt.Sprintf("Co %d", i%7), Rating: []domain.Rating{domain.RatingHot, domain.RatingCold}[i%2],
		}, fmt.Sprintf("owner%d", i%4), base.Add(time.Duration(i)*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if err := repo.Create(ctx, l, app.Change{Events: evs}); err != nil {
			t.Fatal(err)
		}
		all = append(all, l)
	}

	for _, c := range []struct {
		filter string
		match  func(*domain.Lead) bool
	}{
		{`text:"common"`, func(l *domain.Lead) bool { return strings.Contains(l.LastName, "common") }},
		{`text:"sparse"`, func(l *domain.Lead) bool { return strings.Contains(l.LastName, "sparse") }},
		{`text:"rare"`, func(l *domain.Lead) bool { return strings.Contains(l.LastName, "rare") }},
		{`text:"nowhere"`, func(l *domain.Lead) bool { return false }},
		{`owner = "owner2" AND text:"common"`, func(l *domain.Lead) bool {
			return l.Owner == "owner2" && strings.Contains(l.LastName, "common")
		}},
		{`rating = RATING_COLD AND text:"sparse"`, func(l *domain.Lead) bool {
			return l.Rating == domain.RatingCold && strings.Contains(l.LastName, "sparse")
		}},
		{`text:"sparse" OR company = "Co 3"`, func(l *domain.Lead) bool {
			return strings.Contains(l.LastName, "sparse") || l.Company == "Co 3"
		}},
	} {
		for _, order := range []string{"", "create_time", "last_name", "company desc"} {
			var want []string
			for _, l := range sortedFor(all, order) {
				if c.match(l) {
					want = append(want, l.ID.String())
				}
			}
			for _, size := range []int{1, 3, 50} {
				var got []string
				token := ""
				for range 200 {
					page, next, err := repo.List(ctx, app.ListQuery{Filter: c.filter, OrderBy: order, PageSize: size, PageToken: token})
					if err != nil {
						t.Fatalf("%s / %q: %v", c.filter, order, err)
					}
					for _, l := range page {
						got = append(got, l.ID.String())
					}
					if token = next; token == "" {
						break
					}
				}
				if !slices.Equal(got, want) {
					t.Fatalf("%s order %q pages of %d:\n got %v\nwant %v", c.filter, order, size, got, want)
				}
			}
		}
	}
}

// sortedFor orders leads as List does for order_by.
func sortedFor(leads []*domain.Lead, order string) []*domain.Lead {
	out := slices.Clone(leads)
	key := func(l *domain.Lead) string { return l.CreatedAt.UTC().Format(sortableTime) }
	desc := order == "" || strings.HasSuffix(order, " desc")
	switch strings.Fields(order + " x")[0] {
	case "last_name":
		key = func(l *domain.Lead) string { return l.LastName }
	case "company":
		key = func(l *domain.Lead) string { return l.Company }
	}
	slices.SortStableFunc(out, func(a, b *domain.Lead) int {
		c := strings.Compare(key(a), key(b))
		if c == 0 {
			c = strings.Compare(a.ID.String(), b.ID.String())
		}
		if desc {
			return -c
		}
		return c
	})
	return out
}

// sortableTime formats times so that string order is time order.
const sortableTime = "2006-01-02T15:04:05.000000000"
