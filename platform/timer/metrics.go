package timer

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

var (
	firedTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "crm_timer_fired_total",
		Help: "Timers fired (their handler's work committed), by purpose.",
	}, []string{"purpose"})
	failuresTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "crm_timer_failures_total",
		Help: "Timer handler attempts that failed and were rolled back, by purpose; the timer is retried with backoff.",
	}, []string{"purpose"})
	deadTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "crm_timer_dead_total",
		Help: "Timers given up after their last attempt (failed_at set; they wait for an operator), by purpose. Alert on any.",
	}, []string{"purpose"})
	lagSeconds = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "crm_timer_lag_seconds",
		Help:    "Time from a timer's due time to the commit of its firing, by purpose.",
		Buckets: []float64{.01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600, 86400},
	}, []string{"purpose"})
	passFailuresTotal = promauto.NewCounter(prometheus.CounterOpts{
		Name: "crm_timer_engine_failures_total",
		Help: "Engine passes that failed (Postgres unavailable); due timers wait and are retried.",
	})
)
