package grpc

// Per-row costs of an import: validation and phone normalisation.

import (
	"testing"

	leadv1 "github.com/crmsuite/crm/gen/go/crm/lead/v1"
	"github.com/crmsuite/crm/services/lead/internal/domain"
)

func BenchmarkValidateLead(b *testing.B) {
	l := &leadv1.Lead{FirstName: "Ada", LastName: "Lovelace", Company: "Analytical Engines", Email: "ada@example.com",
		Phone: "+1 415 555 0134", Rating: leadv1.Rating_RATING_WARM, Source: leadv1.Source_SOURCE_IMPORT}
	for b.Loop() {
		if err := validator.Validate(l); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkNormalizePhone(b *testing.B) {
	for b.Loop() {
		domain.NormalizePhone("+1 415 555 0134", "US")
	}
}
