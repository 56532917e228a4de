package domain

import (
	"testing"
	"time"

	"github.com/crmsuite/crm/platform/apperr"
)

func TestMergeRefusesConvertedLeadsEitherWay(t *testing.T) {
	now := time.Now()
	mk := func(name string) *Lead {
		l, _, err := New(Lead{LastName: name}, "u", now)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	for _, qualifiedIsPrimary := range []bool{false, true} {
		p, d := mk("P"), mk("D")
		if qualifiedIsPrimary {
			p.Status = StatusQualified
		} else {
			d.Status = StatusQualified
		}
		before := *p
		_, err := p.Merge([]*Lead{d}, nil, "u", now)
		if e, ok := apperr.As(err); !ok || e.Reason != "LEAD_CONVERTED" {
			t.Fatalf("qualified primary=%v: err = %v", qualifiedIsPrimary, err)
		}
		if p.Version != before.Version || d.Status == StatusMerged {
			t.Fatal("a refused merge changed the leads")
		}
	}
}
