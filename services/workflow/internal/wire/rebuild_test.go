package wire_test

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/fieldmaskpb"

	leadv1 "github.com/crmsuite/crm/gen/go/crm/lead/v1"
	"github.com/crmsuite/crm/platform/service"
	"github.com/crmsuite/crm/platform/testkit"
	"github.com/crmsuite/crm/platform/testkit/inproc"
	"github.com/crmsuite/crm/services/workflow/internal/wire"
)

// `workflow rebuild-projection` replays the streams into the projection:
// records lost or damaged come back as the latest events left them, and
// no rule runs again.
func TestRebuildProjectionReplaysTheStreams(t *testing.T) {
	t.Parallel()
	s := start(t, "lead", "account")
	hot := s.lead(t, "sam", &leadv1.Lead{LastName: "Hot", Rating: leadv1.Rating_RATING_HOT})
	renamed := s.lead(t, "sam", &leadv1.Lead{LastName: "Before"})
	if _, err := s.leads.UpdateLead(sam, &leadv1.UpdateLeadRequest{Lead: &leadv1.Lead{Name: renamed.Name, LastName: "After"},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"last_name"}}}); err != nil {
		t.Fatal(err)
	}
	_, contact := s.account(t, "sue", "Acme")
	testkit.Eventually(t, 20*time.Second, func() bool {
		return s.query(t, `SELECT coalesce(max(display_name), '') FROM records WHERE name = $1`, renamed.Name) == "After" && len(s.callbacks(t, hot.Name)) == 1
	}, "the projection up to date")
	s.known(t, contact.Name)
	want := s.query(t, `SELECT string_agg(name || type || display_name || owner || account || status, '|' ORDER BY name) FROM records`)
	runs := s.query(t, `SELECT count(*)::text FROM rule_runs`)

	// Damage it: one record lost, one wrong.
	s.exec(t, `DELETE FROM records WHERE name = $1`, hot.Name)
	s.exec(t, `UPDATE records SET display_name = 'wrong', account = '' WHERE name = $1`, contact.Name)

	cfg := inproc.Config("workflow", s.dbURL, s.nats)
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if err := service.RunCommand(context.Background(), cfg, log, wire.Spec(), "rebuild-projection", nil); err != nil {
		t.Fatal(err)
	}
	if got := s.query(t, `SELECT string_agg(name || type || display_name || owner || account || status, '|' ORDER BY name) FROM records`); got != want {
		t.Fatalf("after the rebuild:\n%s\nwant\n%s", got, want)
	}
	if got := s.query(t, `SELECT count(*)::text FROM rule_runs`); got != runs {
		t.Fatalf("%s runs after the rebuild, %s before: rules ran again", got, runs)
	}
	// Run again: nothing changes.
	if err := service.RunCommand(context.Background(), cfg, log, wire.Spec(), "rebuild-projection", nil); err != nil {
		t.Fatal(err)
	}
	if got := s.query(t, `SELECT string_agg(name || type || display_name || owner || account || status, '|' ORDER BY name) FROM records`); got != want {
		t.Fatalf("after a second rebuild: %s", got)
	}
}
