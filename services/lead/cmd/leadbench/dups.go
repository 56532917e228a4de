package main

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/metadata"

	leadv1 "github.com/crmsuite/crm/gen/go/crm/lead/v1"
	"github.com/crmsuite/crm/platform/benchkit"
)

// dupBench measures duplicate detection on the loaded table: CreateLead
// with and without the check (allow_duplicate skips it), and the first
// page of ListDuplicateGroups.
func dupBench(ctx context.Context, o options, client leadv1.LeadServiceClient, seq *atomic.Int64, rep *report) error {
	ctx = metadata.AppendToOutgoingContext(ctx, "authorization", authorization)
	c := o.concurrency[len(o.concurrency)-1]
	for round := range 2 {
		for _, check := range []bool{false, true} {
			name := "gRPC CreateLead, duplicate check off"
			if check {
				name = "gRPC CreateLead, duplicate check on"
			}
			step(fmt.Sprintf("duplicates: %s (round %d)", name, round+1))
			res, err := load(ctx, c, o.warmup, o.duration, seq, func(ctx context.Context, i int64) error {
				l := benchLeadProto(i)
				l.Phone = fmt.Sprintf("+1 212 %07d", i%10_000_000)
				_, err := client.CreateLead(ctx, &leadv1.CreateLeadRequest{Lead: l, AllowDuplicate: !check})
				return err
			})
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			res.name, res.concurrency = name, c
			rep.dupCreates = append(rep.dupCreates, res)
		}
	}
	for _, rule := range []leadv1.DuplicateRule{leadv1.DuplicateRule_DUPLICATE_RULE_UNSPECIFIED, leadv1.DuplicateRule_DUPLICATE_RULE_EMAIL,
		leadv1.DuplicateRule_DUPLICATE_RULE_PHONE, leadv1.DuplicateRule_DUPLICATE_RULE_COMPANY_AND_NAME} {
		step(fmt.Sprintf("duplicates: ListDuplicateGroups first page, rule %s", rule))
		var lat []time.Duration
		groups := 0
		requests := o.listRequests
		if rule == leadv1.DuplicateRule_DUPLICATE_RULE_COMPANY_AND_NAME {
			requests = 20 // nearly no groups: each page reads the whole index
		}
		for n := range requests + 20 {
			t := time.Now()
			resp, err := client.ListDuplicateGroups(ctx, &leadv1.ListDuplicateGroupsRequest{PageSize: 50, Rule: rule})
			if err != nil {
				return err
			}
			if n >= 20 {
				lat = append(lat, time.Since(t))
				groups += len(resp.Groups)
			}
		}
		res := listResult{name: "ListDuplicateGroups first page, rule " + rule.String(), requests: len(lat), avgRows: float64(groups) / float64(len(lat))}
		res.p50, res.p99 = benchkit.Percentile(lat, 50), benchkit.Percentile(lat, 99)
		res.max = lat[len(lat)-1]
		rep.dupLists = append(rep.dupLists, res)
	}
	return nil
}
