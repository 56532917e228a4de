package inbox

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// processedTotal counts deliveries by consumer and outcome: applied,
// duplicate (already applied, skipped), retry, dead_letter.
var processedTotal = promauto.NewCounterVec(prometheus.CounterOpts{
	Name: "crm_inbox_deliveries_total",
	Help: "Event deliveries handled by inbox consumers, by outcome (applied, duplicate, retry, dead_letter).",
}, []string{"consumer", "outcome"})
