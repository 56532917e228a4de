package wire_test

import (
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	opportunityv1 "github.com/crmsuite/crm/gen/go/crm/opportunity/v1"
	"github.com/crmsuite/crm/platform/testkit"
)

// Moves racing a pipeline update that removes a stage: the update moves
// whatever is in the stage when it commits, later moves into the stage
// are refused, nothing deadlocks or fails otherwise, and no opportunity is
// left on the removed stage.
func TestMovesRacingStageRemoval(t *testing.T) {
	t.Parallel()
	s := start(t)
	ctx := testkit.As("manager")
	p, err := s.client.CreatePipeline(ctx, &opportunityv1.CreatePipelineRequest{Pipeline: &opportunityv1.Pipeline{
		DisplayName: "Race", Default: true, Stages: []*opportunityv1.Stage{
			{DisplayName: "A", Kind: open, Probability: 10}, {DisplayName: "B", Kind: open, Probability: 20},
			{DisplayName: "Won", Kind: won}, {DisplayName: "Lost", Kind: lost}}}})
	if err != nil {
		t.Fatal(err)
	}
	// Conversions open opportunities in the default pipeline without the
	// account service.
	var ids []string
	for range 12 {
		id := uuid.NewString()
		ids = append(ids, "opportunities/"+id)
		s.qualify(t, uuid.NewString(), conversion(id))
	}
	testkit.Eventually(t, 20*time.Second, func() bool {
		resp, err := s.client.ListOpportunities(ctx, &opportunityv1.ListOpportunitiesRequest{Filter: `pipeline = "` + p.Name + `"`})
		return err == nil && len(resp.Opportunities) == len(ids)
	}, "12 converted opportunities")

	var wg sync.WaitGroup
	stop := make(chan struct{})
	errs := make(chan error, 100)
	for _, name := range ids {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				stage := []string{"a", "b"}[i%2]
				_, err := s.client.MoveOpportunity(ctx, &opportunityv1.MoveOpportunityRequest{Name: name, Stage: stage})
				if c := status.Code(err); c != codes.OK && c != codes.InvalidArgument {
					errs <- err
					return
				}
			}
		})
	}
	time.Sleep(300 * time.Millisecond)
	_, err = s.client.UpdatePipeline(ctx, &opportunityv1.UpdatePipelineRequest{
		Pipeline: &opportunityv1.Pipeline{Name: p.Name, DisplayName: "Race", Stages: []*opportunityv1.Stage{
			p.Stages[0], p.Stages[2], p.Stages[3]}},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"stages"}}, StageMoves: map[string]string{"b": "a"}})
	time.Sleep(200 * time.Millisecond)
	close(stop)
	wg.Wait()
	close(errs)
	if err != nil {
		t.Fatal(err)
	}
	for e := range errs {
		t.Error(e)
	}
	resp, err := s.client.ListOpportunities(ctx, &opportunityv1.ListOpportunitiesRequest{Filter: `stage = "b"`})
	if err != nil || len(resp.Opportunities) != 0 {
		t.Fatalf("left on the removed stage: %v, %v", resp, err)
	}
}
