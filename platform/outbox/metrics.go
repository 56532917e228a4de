package outbox

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

var (
	publishedTotal = promauto.NewCounter(prometheus.CounterOpts{
		Name: "crm_outbox_published_total",
		Help: "Outbox events published to JetStream and acknowledged.",
	})
	publishFailuresTotal = promauto.NewCounter(prometheus.CounterOpts{
		Name: "crm_outbox_relay_failures_total",
		Help: "Relay passes that failed (NATS or Postgres unavailable); the events wait and are retried.",
	})
	oldestAge = promauto.NewGauge(prometheus.GaugeOpts{
		Name: "crm_outbox_oldest_event_age_seconds",
		Help: "Age of the oldest unpublished event at the relay's last pass; 0 when the outbox is empty. Alert when it grows.",
	})
)
