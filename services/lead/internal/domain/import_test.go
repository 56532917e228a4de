package domain

import (
	"testing"
	"time"
)

func TestPlanImportSkipsDuplicatesWithinTheBatch(t *testing.T) {
	j := &ImportJob{Options: ImportOptions{Mode: ImportCreateOnly, Policy: DuplicatesSkip, DefaultSource: SourceImport}}
	rows := []ImportRow{
		{Line: 6, Lead: Lead{LastName: "Zed", Phone: "+44 20 7946 0018"}},
		{Line: 7, Lead: Lead{LastName: "Zed too", Phone: "+44 (0)20 7946 0018"}},
		{Line: 8, Lead: Lead{LastName: "Ann", Company: "Acme", Email: "a@x.com"}},
		{Line: 9, Lead: Lead{FirstName: "ann", Company: "ACME"}},
	}
	for i := range rows {
		rows[i].Keys = rows[i].Lead.DuplicateKeys("")
	}
	plan := j.PlanImport(rows, ExistingLeads{}, "u", time.Now())
	if len(plan.Creates) != 2 || plan.Counts.Skipped != 2 {
		t.Fatalf("plan = %d creates, counts %+v, rejections %+v", len(plan.Creates), plan.Counts, plan.Rejections)
	}
}
