package check

import (
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The prod-ha overlay: prod plus Postgres on CloudNativePG, a three-node
// NATS JetStream cluster, and the dashboards and alerts. Its expectations
// for the checks every overlay gets are registered here.
func init() {
	wantKinds["prod-ha"] = struct{ present, absent []string }{
		present: []string{"Namespace", "NetworkPolicy", "Deployment", "Service", "Ingress", "ConfigMap", "HorizontalPodAutoscaler", "PodDisruptionBudget",
			"StatefulSet", "Cluster", "Pooler", "ScheduledBackup", "ObjectStore", "PodMonitor", "PrometheusRule"},
		// Operators create the Secrets (deploy/README.md): nothing secret
		// is rendered.
		absent: []string{"Secret"},
	}
	wantAlgorithms["prod-ha"] = "RS256,EdDSA"
	operatorSecrets["prod-ha"] = map[string][]string{
		// The CloudNativePG operator's CA of Cluster crm-pg: the services
		// verify the database's and the pooler's certificate with ca.crt.
		"crm-pg-ca": {"ca.crt", "ca.key"},
	}
}

// operatorSecrets lists, per overlay, the Secrets an operator in the
// cluster creates (not people), with their keys; pods may reference them.
var operatorSecrets = map[string]map[string][]string{}

// dbRoles is, per gRPC service, the Postgres role its <name>-db URL names
// and its schema (deploy/README.md, "Secrets" and "Database roles").
var dbRoles = map[string]struct{ role, schema string }{
	"lead":        {"lead", "lead"},
	"account":     {"account", "account"},
	"opportunity": {"opportunity", "opportunity"},
	"order":       {"crm_order", `"order"`},
	"workflow":    {"crm_workflow", "workflow"},
}

// cnpgPgbouncerParameters is CloudNativePG 1.30's admission webhook
// allow-list of PgBouncer parameters
// (internal/webhook/v1/pooler_webhook.go,
// AllowedPgbouncerGenericConfigurationParameters): a Pooler setting any
// other is refused at apply time, which the CRD schema cannot show.
var cnpgPgbouncerParameters = []string{
	"application_name_add_host", "auth_type", "autodb_idle_timeout", "cancel_wait_timeout",
	"client_idle_timeout", "client_login_timeout", "client_tls_sslmode", "default_pool_size",
	"disable_pqexec", "dns_max_ttl", "dns_nxdomain_ttl", "idle_transaction_timeout",
	"ignore_startup_parameters", "listen_backlog", "log_connections", "log_disconnections",
	"log_pooler_errors", "log_stats", "max_client_conn", "max_db_connections", "max_packet_size",
	"max_prepared_statements", "max_user_connections", "min_pool_size", "pkt_buf", "query_timeout",
	"query_wait_timeout", "reserve_pool_size", "reserve_pool_timeout", "sbuf_loopcnt",
	"server_check_delay", "server_check_query", "server_connect_timeout", "server_fast_close",
	"server_idle_timeout", "server_lifetime", "server_login_retry", "server_reset_query",
	"server_reset_query_always", "server_round_robin", "server_tls_ciphers", "server_tls_protocols",
	"server_tls_sslmode", "stats_period", "suspend_timeout", "tcp_defer_accept", "tcp_socket_buffer",
	"tcp_keepalive", "tcp_keepcnt", "tcp_keepidle", "tcp_keepintvl", "tcp_user_timeout",
	"track_extra_parameters", "verbose",
}

const barmanPlugin = "barman-cloud.cloudnative-pg.io"

type pgCluster struct {
	Metadata meta `json:"metadata"`
	Spec     struct {
		Instances int `json:"instances"`
		Bootstrap struct {
			InitDB *struct {
				Database               string   `json:"database"`
				PostInitApplicationSQL []string `json:"postInitApplicationSQL"`
			} `json:"initdb"`
			Recovery *struct {
				Source         string `json:"source"`
				RecoveryTarget *struct {
					TargetTime string `json:"targetTime"`
				} `json:"recoveryTarget"`
			} `json:"recovery"`
		} `json:"bootstrap"`
		PostgreSQL struct {
			Parameters map[string]string `json:"parameters"`
		} `json:"postgresql"`
		Affinity struct {
			EnablePodAntiAffinity *bool  `json:"enablePodAntiAffinity"`
			PodAntiAffinityType   string `json:"podAntiAffinityType"`
			TopologyKey           string `json:"topologyKey"`
		} `json:"affinity"`
		EnablePDB    *bool `json:"enablePDB"`
		Certificates struct {
			ServerAltDNSNames []string `json:"serverAltDNSNames"`
		} `json:"certificates"`
		Plugins []struct {
			Name          string            `json:"name"`
			IsWALArchiver bool              `json:"isWALArchiver"`
			Parameters    map[string]string `json:"parameters"`
		} `json:"plugins"`
		ExternalClusters []struct {
			Name   string `json:"name"`
			Plugin *struct {
				Name       string            `json:"name"`
				Parameters map[string]string `json:"parameters"`
			} `json:"plugin"`
		} `json:"externalClusters"`
	} `json:"spec"`
}

// walArchive is the object store and server name the Cluster archives
// WAL to (the plugin's serverName defaults to the Cluster's name).
func (c pgCluster) walArchive() (store, server string, ok bool) {
	for _, p := range c.Spec.Plugins {
		if p.Name == barmanPlugin && p.IsWALArchiver {
			server = p.Parameters["serverName"]
			if server == "" {
				server = c.Metadata.Name
			}
			return p.Parameters["barmanObjectName"], server, true
		}
	}
	return "", "", false
}

type pooler struct {
	Metadata meta `json:"metadata"`
	Spec     struct {
		Cluster   nameRef `json:"cluster"`
		Instances int     `json:"instances"`
		Type      string  `json:"type"`
		PgBouncer struct {
			PoolMode   string            `json:"poolMode"`
			Parameters map[string]string `json:"parameters"`
		} `json:"pgbouncer"`
		Template struct {
			Spec struct {
				Affinity *affinity `json:"affinity"`
			} `json:"spec"`
		} `json:"template"`
	} `json:"spec"`
}

type affinity struct {
	PodAntiAffinity *struct {
		Required []struct {
			TopologyKey   string        `json:"topologyKey"`
			LabelSelector labelSelector `json:"labelSelector"`
		} `json:"requiredDuringSchedulingIgnoredDuringExecution"`
	} `json:"podAntiAffinity"`
}

// onePerNode reports whether the affinity keeps two pods with labels on
// different nodes.
func (a *affinity) onePerNode(labels map[string]string) bool {
	if a == nil || a.PodAntiAffinity == nil {
		return false
	}
	return slices.ContainsFunc(a.PodAntiAffinity.Required, func(r struct {
		TopologyKey   string        `json:"topologyKey"`
		LabelSelector labelSelector `json:"labelSelector"`
	}) bool {
		return r.TopologyKey == "kubernetes.io/hostname" && r.LabelSelector.matches(labels)
	})
}

type budget struct {
	Metadata meta `json:"metadata"`
	Spec     struct {
		Selector       labelSelector `json:"selector"`
		MinAvailable   any           `json:"minAvailable"`
		MaxUnavailable any           `json:"maxUnavailable"`
	} `json:"spec"`
}

// disruptions is how many of n pods the budget lets an eviction (a node
// drain) take at once, rounding as Kubernetes does (minAvailable
// percentages up, maxUnavailable percentages up).
func (b budget) disruptions(n int) (int, error) {
	parse := func(v any) (int, error) {
		s := fmt.Sprint(v)
		if p, ok := strings.CutSuffix(s, "%"); ok {
			f, err := strconv.ParseFloat(p, 64)
			return int(math.Ceil(f / 100 * float64(n))), err
		}
		return strconv.Atoi(s)
	}
	switch {
	case b.Spec.MaxUnavailable != nil:
		return parse(b.Spec.MaxUnavailable)
	case b.Spec.MinAvailable != nil:
		m, err := parse(b.Spec.MinAvailable)
		return n - m, err
	}
	return 0, fmt.Errorf("PodDisruptionBudget %s sets neither minAvailable nor maxUnavailable", b.Metadata.Name)
}

type natsStatefulSet struct {
	Metadata meta `json:"metadata"`
	Spec     struct {
		Replicas            int    `json:"replicas"`
		ServiceName         string `json:"serviceName"`
		PodManagementPolicy string `json:"podManagementPolicy"`
		Template            struct {
			Metadata meta `json:"metadata"`
			Spec     struct {
				Affinity *affinity `json:"affinity"`
				Volumes  []struct {
					Name      string   `json:"name"`
					ConfigMap *nameRef `json:"configMap"`
				} `json:"volumes"`
			} `json:"spec"`
		} `json:"template"`
		VolumeClaimTemplates []struct {
			Metadata meta `json:"metadata"`
		} `json:"volumeClaimTemplates"`
	} `json:"spec"`
}

func TestProdHA(t *testing.T) {
	r := render(t, filepath.Join(overlayDir, "prod-ha"))
	t.Run("autoscaling and budgets", func(t *testing.T) { checkScaling(t, r) })
	t.Run("pinned images", func(t *testing.T) { checkPinnedImages(t, r) })
	t.Run("custom resources validated", func(t *testing.T) {
		kinds := validateCustom(t, r)
		for _, k := range []string{"Cluster", "Pooler", "ScheduledBackup", "ObjectStore", "PodMonitor", "PrometheusRule"} {
			if !slices.Contains(kinds, k) {
				t.Errorf("no %s validated against its CRD", k)
			}
		}
	})
	t.Run("postgres", func(t *testing.T) { checkPostgres(t, r) })
	t.Run("database TLS", func(t *testing.T) { checkDatabaseTLS(t, r) })
	t.Run("nats", func(t *testing.T) { checkNATSCluster(t, r) })
	t.Run("drains keep quorum", func(t *testing.T) { checkDrains(t, r) })
	t.Run("engine pods hardened", func(t *testing.T) { checkEnginePods(t, r) })
	t.Run("readme", func(t *testing.T) { checkProdHAReadme(t, r) })
}

func one[T any](t *testing.T, r rendered, kind string) T {
	t.Helper()
	objs := r.ofKind(kind)
	if len(objs) != 1 {
		t.Fatalf("want one %s, got %d", kind, len(objs))
	}
	return decode[T](t, objs[0])
}

// hpaMax is maxReplicas of each Deployment's HPA.
func hpaMax(t *testing.T, r rendered) map[string]hpa {
	out := map[string]hpa{}
	for _, o := range r.ofKind("HorizontalPodAutoscaler") {
		h := decode[hpa](t, o)
		out[h.Spec.ScaleTargetRef.Name] = h
	}
	return out
}

// checkPostgres: one CloudNativePG Cluster for the suite's one database
// (every service's schema lives in database crm), three instances on
// distinct nodes with the operator's budgets, WAL archived continuously
// and base backups scheduled to the same object store (point-in-time
// recovery), Postgres and the pooler sized for every service at its HPA
// maximum, and each service role's search_path set for the pooler.
func checkPostgres(t *testing.T, r rendered) {
	c := one[pgCluster](t, r, "Cluster")
	name := c.Metadata.Name
	if c.Spec.Instances < 3 {
		t.Errorf("Cluster %s: %d instances, want 3 (a primary and two standbys)", name, c.Spec.Instances)
	}
	if c.Spec.Bootstrap.InitDB == nil || c.Spec.Bootstrap.InitDB.Database != "crm" {
		t.Errorf("Cluster %s: want bootstrap.initdb of database crm, the database every service's schema lives in", name)
	}
	if a := c.Spec.Affinity; a.EnablePodAntiAffinity == nil || !*a.EnablePodAntiAffinity || a.PodAntiAffinityType != "required" || (a.TopologyKey != "" && a.TopologyKey != "kubernetes.io/hostname") {
		t.Errorf("Cluster %s: want required pod anti-affinity per node (one instance per node)", name)
	}
	if c.Spec.EnablePDB != nil && !*c.Spec.EnablePDB {
		t.Errorf("Cluster %s: enablePDB false leaves drains free to take the primary and a standby at once", name)
	}

	// Point-in-time recovery: WAL archived continuously, base backups on
	// a schedule, both to one ObjectStore with a retention window.
	store, _, ok := c.walArchive()
	if !ok {
		t.Errorf("Cluster %s: no WAL archiver (plugin %s with isWALArchiver): no point-in-time recovery", name, barmanPlugin)
	}
	o, found := r.find("ObjectStore", store)
	if !found {
		t.Errorf("Cluster %s archives to ObjectStore %q, which is not rendered", name, store)
	} else {
		var st struct {
			Spec struct {
				RetentionPolicy string `json:"retentionPolicy"`
				Configuration   struct {
					DestinationPath string          `json:"destinationPath"`
					Wal             json.RawMessage `json:"wal"`
				} `json:"configuration"`
			} `json:"spec"`
		}
		if err := json.Unmarshal(o.raw, &st); err != nil {
			t.Fatal(err)
		}
		if st.Spec.RetentionPolicy == "" || st.Spec.Configuration.DestinationPath == "" {
			t.Errorf("ObjectStore %s: want a destinationPath and a retentionPolicy (how far back recovery reaches)", store)
		}
	}
	var scheduled bool
	for _, o := range r.ofKind("ScheduledBackup") {
		var sb struct {
			Spec struct {
				Cluster             nameRef `json:"cluster"`
				Schedule            string  `json:"schedule"`
				Method              string  `json:"method"`
				PluginConfiguration *struct {
					Name string `json:"name"`
				} `json:"pluginConfiguration"`
			} `json:"spec"`
		}
		if err := json.Unmarshal(o.raw, &sb); err != nil {
			t.Fatal(err)
		}
		if sb.Spec.Cluster.Name != name {
			continue
		}
		scheduled = true
		if sb.Spec.Method != "plugin" || sb.Spec.PluginConfiguration == nil || sb.Spec.PluginConfiguration.Name != barmanPlugin {
			t.Errorf("ScheduledBackup %s: want method plugin with %s, the archiver's object store", o.Metadata.Name, barmanPlugin)
		}
		// CloudNativePG schedules have six fields, seconds first.
		if f := strings.Fields(sb.Spec.Schedule); len(f) != 6 {
			t.Errorf("ScheduledBackup %s: schedule %q has %d fields, CloudNativePG wants 6 (seconds first)", o.Metadata.Name, sb.Spec.Schedule, len(f))
		}
	}
	if !scheduled {
		t.Errorf("no ScheduledBackup for Cluster %s: recovery needs a base backup", name)
	}

	// The services' roles get their schema as search_path: the pooler
	// drops the search_path they send (ignore_startup_parameters).
	var sql string
	if c.Spec.Bootstrap.InitDB != nil {
		sql = strings.Join(c.Spec.Bootstrap.InitDB.PostInitApplicationSQL, "\n")
	}
	for _, d := range deployments(t, r) {
		if !isGRPCService(d) {
			continue
		}
		role, ok := dbRoles[d.Metadata.Name]
		if !ok {
			t.Errorf("service %s: add its role and schema to dbRoles and a search_path for the role to postInitApplicationSQL in prod-ha/postgres.yaml", d.Metadata.Name)
			continue
		}
		if want := fmt.Sprintf("ALTER ROLE %s SET search_path = %s", role.role, role.schema); !strings.Contains(sql, want) {
			t.Errorf("Cluster %s: postInitApplicationSQL lacks %q: through the pooler %s would not find its tables", name, want, d.Metadata.Name)
		}
	}

	// Connections: every service pod at its HPA maximum holds up to
	// DB_MAX_CONNS; in session mode each is a Postgres backend.
	p := one[pooler](t, r, "Pooler")
	hpas := hpaMax(t, r)
	var total, perService int
	for _, d := range deployments(t, r) {
		if !isGRPCService(d) {
			continue
		}
		n, err := strconv.Atoi(plainEnv(t, r, d)["DB_MAX_CONNS"])
		if err != nil {
			t.Errorf("%s: DB_MAX_CONNS: %v", d.Metadata.Name, err)
			continue
		}
		conns := n * hpas[d.Metadata.Name].Spec.MaxReplicas
		total += conns
		perService = max(perService, conns)
	}
	// Headroom: superuser_reserved_connections (3), the migrate init
	// containers, replication, the pooler's auth queries, operators.
	const headroom = 20
	if mc, err := strconv.Atoi(c.Spec.PostgreSQL.Parameters["max_connections"]); err != nil || mc < total+headroom {
		t.Errorf("Cluster %s: max_connections %q, want at least %d (DB_MAX_CONNS x HPA maxReplicas over the services, %d, plus %d)", name, c.Spec.PostgreSQL.Parameters["max_connections"], total+headroom, total, headroom)
	}
	params := p.Spec.PgBouncer.Parameters
	if n, err := strconv.Atoi(params["default_pool_size"]); err != nil || n < perService {
		t.Errorf("Pooler %s: default_pool_size %q, want at least %d (one service's connections at its HPA maximum, all on one pooler pod)", p.Metadata.Name, params["default_pool_size"], perService)
	}
	if n, err := strconv.Atoi(params["max_client_conn"]); err != nil || n < total {
		t.Errorf("Pooler %s: max_client_conn %q, want at least %d", p.Metadata.Name, params["max_client_conn"], total)
	}

	// The pooler: in front of the primary, highly available, in session
	// mode (migrations hold pg_advisory_lock across statements; pgx
	// prepares statements per connection), accepting the startup
	// parameter the services send.
	if p.Spec.Cluster.Name != name || p.Spec.Type != "rw" {
		t.Errorf("Pooler %s: want cluster %s type rw, got %s %s", p.Metadata.Name, name, p.Spec.Cluster.Name, p.Spec.Type)
	}
	if p.Metadata.Name == name {
		t.Errorf("Pooler %s: CloudNativePG refuses a pooler named like its cluster", p.Metadata.Name)
	}
	if p.Spec.Instances < 2 {
		t.Errorf("Pooler %s: %d instances, want at least 2", p.Metadata.Name, p.Spec.Instances)
	}
	if p.Spec.PgBouncer.PoolMode != "session" {
		t.Errorf("Pooler %s: poolMode %q; the services need session (advisory locks and prepared statements per connection)", p.Metadata.Name, p.Spec.PgBouncer.PoolMode)
	}
	for k := range params {
		if !slices.Contains(cnpgPgbouncerParameters, k) {
			t.Errorf("Pooler %s: parameter %s is not on CloudNativePG's allow-list; its webhook refuses the Pooler", p.Metadata.Name, k)
		}
	}
	if !slices.Contains(strings.Split(params["ignore_startup_parameters"], ","), "search_path") {
		t.Errorf("Pooler %s: ignore_startup_parameters must include search_path, which the services send (platform/pg) and PgBouncer otherwise refuses", p.Metadata.Name)
	}
	if !slices.Contains(c.Spec.Certificates.ServerAltDNSNames, p.Metadata.Name) {
		t.Errorf("Cluster %s: certificates.serverAltDNSNames lacks %s: the pooler serves the cluster's certificate, and sslmode=verify-full through it would fail", name, p.Metadata.Name)
	}
	if !p.Spec.Template.Spec.Affinity.onePerNode(map[string]string{"cnpg.io/poolerName": p.Metadata.Name}) {
		t.Errorf("Pooler %s: want required anti-affinity per node on cnpg.io/poolerName", p.Metadata.Name)
	}
}

// checkDatabaseTLS: every gRPC service's container and migrate init
// container verify the server (PGSSLMODE verify-full) against the CA of
// the Cluster, mounted from the operator's Secret.
func checkDatabaseTLS(t *testing.T, r rendered) {
	c := one[pgCluster](t, r, "Cluster")
	ca := c.Metadata.Name + "-ca"
	for _, d := range deployments(t, r) {
		if !isGRPCService(d) {
			continue
		}
		pod := d.Spec.Template.Spec
		for _, ctr := range pod.allContainers() {
			if ctr.Name != "migrate" && ctr.Name != pod.Containers[0].Name {
				continue
			}
			id := d.Metadata.Name + "/" + ctr.Name
			if v, _ := ctr.env("PGSSLMODE"); v != "verify-full" {
				t.Errorf("%s: PGSSLMODE=%q, want verify-full", id, v)
			}
			path, _ := ctr.env("PGSSLROOTCERT")
			sec, key, err := secretFile(pod, ctr, path)
			switch {
			case err != nil:
				t.Errorf("%s: PGSSLROOTCERT: %v", id, err)
			case sec != ca || key != "ca.crt":
				t.Errorf("%s: PGSSLROOTCERT is Secret %s key %s, want %s key ca.crt", id, sec, key, ca)
			}
		}
	}
}

var natsRoute = regexp.MustCompile(`nats://([a-z0-9-]+)-(\d+)\.([a-z0-9-]+):6222`)

// checkNATSCluster: a JetStream cluster of three members, one per node,
// routed to each other by the headless Service's per-pod names, which the
// services reach through Service nats and on which they replicate every
// stream three times.
func checkNATSCluster(t *testing.T, r rendered) {
	o, ok := r.find("StatefulSet", "nats")
	if !ok {
		t.Fatal("no StatefulSet nats")
	}
	s := decode[natsStatefulSet](t, o)
	n := s.Spec.Replicas
	if n != 3 {
		t.Errorf("StatefulSet nats: %d replicas, want 3", n)
	}
	if s.Spec.PodManagementPolicy != "Parallel" {
		t.Errorf("StatefulSet nats: podManagementPolicy %q; want Parallel (members wait for each other's quorum to be ready)", s.Spec.PodManagementPolicy)
	}
	labels := s.Spec.Template.Metadata.Labels
	if !s.Spec.Template.Spec.Affinity.onePerNode(labels) {
		t.Error("StatefulSet nats: want required anti-affinity per node: a node lost or drained takes one member")
	}
	if len(s.Spec.VolumeClaimTemplates) == 0 {
		t.Error("StatefulSet nats: no volumeClaimTemplates: JetStream's file store would not survive a restart")
	}
	if _, ok := r.find("Service", s.Spec.ServiceName); !ok {
		t.Errorf("StatefulSet nats: serviceName %s is not rendered", s.Spec.ServiceName)
	}
	var conf string
	for _, v := range s.Spec.Template.Spec.Volumes {
		if v.ConfigMap == nil {
			continue
		}
		if cm, ok := r.find("ConfigMap", v.ConfigMap.Name); ok {
			conf += decode[dataObject](t, cm).Data["nats.conf"]
		}
	}
	if conf == "" {
		t.Fatal("StatefulSet nats mounts no ConfigMap with nats.conf")
	}
	routes := natsRoute.FindAllStringSubmatch(conf, -1)
	var members []int
	for _, m := range routes {
		i, _ := strconv.Atoi(m[2])
		if m[1] != s.Metadata.Name || m[3] != s.Spec.ServiceName {
			t.Errorf("nats.conf route %s does not name a member of StatefulSet %s through %s", m[0], s.Metadata.Name, s.Spec.ServiceName)
		}
		members = append(members, i)
	}
	slices.Sort(members)
	if want := seq(n); !slices.Equal(members, want) {
		t.Errorf("nats.conf routes to members %v, the StatefulSet has %v: keep them in step", members, want)
	}
	if !regexp.MustCompile(`(?m)^jetstream\s*\{`).MatchString(conf) || !strings.Contains(conf, "store_dir") {
		t.Error("nats.conf: no jetstream block with a store_dir")
	}
	for _, d := range deployments(t, r) {
		if !isGRPCService(d) {
			continue
		}
		env := plainEnv(t, r, d)
		if env["NATS_STREAM_REPLICAS"] != strconv.Itoa(n) {
			t.Errorf("%s: NATS_STREAM_REPLICAS=%q, want %d (every stream on every member)", d.Metadata.Name, env["NATS_STREAM_REPLICAS"], n)
		}
		u, err := url.Parse(env["NATS_URL"])
		if err != nil || u.Port() != "4222" {
			t.Errorf("%s: NATS_URL=%q, want nats://<Service>:4222", d.Metadata.Name, env["NATS_URL"])
			continue
		}
		so, ok := r.find("Service", u.Hostname())
		if !ok {
			t.Errorf("%s: NATS_URL names Service %s, which is not rendered", d.Metadata.Name, u.Hostname())
			continue
		}
		svc := decode[service](t, so)
		for k, v := range svc.Spec.Selector {
			if labels[k] != v {
				t.Errorf("Service %s does not select the NATS pods (%s=%s)", svc.Metadata.Name, k, v)
			}
		}
	}
}

func seq(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// checkDrains: a node drain evicts pods one budget at a time. Every
// workload must let it proceed (at least one disruption allowed at its
// minimum size, else the drain hangs) without losing what keeps it
// serving: one pod of a service, two of the three NATS members (JetStream
// quorum), one pooler; and pods of one workload must sit on distinct
// nodes, so one node's drain takes one pod of each.
func checkDrains(t *testing.T, r rendered) {
	var budgets []budget
	for _, o := range r.ofKind("PodDisruptionBudget") {
		budgets = append(budgets, decode[budget](t, o))
	}
	check := func(what string, labels map[string]string, size, keep int) {
		t.Helper()
		var covering []budget
		for _, b := range budgets {
			if b.Spec.Selector.matches(labels) && len(b.Spec.Selector.MatchLabels)+len(b.Spec.Selector.MatchExpressions) > 0 {
				covering = append(covering, b)
			}
		}
		if len(covering) != 1 {
			t.Errorf("%s: %d PodDisruptionBudgets select its pods, want 1", what, len(covering))
			return
		}
		allowed, err := covering[0].disruptions(size)
		switch {
		case err != nil:
			t.Error(err)
		case allowed < 1:
			t.Errorf("%s: budget %s allows no eviction of %d pods: a node drain would hang", what, covering[0].Metadata.Name, size)
		case size-allowed < keep:
			t.Errorf("%s: budget %s lets a drain take %d of %d pods, leaving fewer than %d", what, covering[0].Metadata.Name, allowed, size, keep)
		}
	}
	hpas := hpaMax(t, r)
	for _, d := range deployments(t, r) {
		labels := d.Spec.Template.Metadata.Labels
		check("Deployment "+d.Metadata.Name, labels, hpas[d.Metadata.Name].Spec.MinReplicas, 1)
		var spread struct {
			Spec struct {
				Template struct {
					Spec struct {
						TopologySpreadConstraints []struct {
							TopologyKey       string `json:"topologyKey"`
							WhenUnsatisfiable string `json:"whenUnsatisfiable"`
							MaxSkew           int    `json:"maxSkew"`
						} `json:"topologySpreadConstraints"`
					} `json:"spec"`
				} `json:"template"`
			} `json:"spec"`
		}
		o, _ := r.find("Deployment", d.Metadata.Name)
		if err := json.Unmarshal(o.raw, &spread); err != nil {
			t.Fatal(err)
		}
		if !slices.ContainsFunc(spread.Spec.Template.Spec.TopologySpreadConstraints, func(c struct {
			TopologyKey       string `json:"topologyKey"`
			WhenUnsatisfiable string `json:"whenUnsatisfiable"`
			MaxSkew           int    `json:"maxSkew"`
		}) bool {
			return c.TopologyKey == "kubernetes.io/hostname" && c.WhenUnsatisfiable == "DoNotSchedule" && c.MaxSkew == 1
		}) {
			t.Errorf("Deployment %s: want a hostname topology spread with maxSkew 1, DoNotSchedule: at its minimum both replicas could share a node", d.Metadata.Name)
		}
	}
	if o, ok := r.find("StatefulSet", "nats"); ok {
		s := decode[natsStatefulSet](t, o)
		check("StatefulSet nats", s.Spec.Template.Metadata.Labels, s.Spec.Replicas, s.Spec.Replicas/2+1)
	}
	for _, o := range r.ofKind("Pooler") {
		p := decode[pooler](t, o)
		check("Pooler "+p.Metadata.Name, map[string]string{"cnpg.io/poolerName": p.Metadata.Name}, p.Spec.Instances, 1)
	}
	// The Cluster's instances: the operator's own budgets (enablePDB),
	// checked in checkPostgres.
}

// checkEnginePods: the NATS members run under the namespace's restricted
// Pod Security level like every other pod, with resources set.
func checkEnginePods(t *testing.T, r rendered) {
	for _, o := range r.ofKind("StatefulSet") {
		s := decode[statefulSet](t, o)
		pod := s.Spec.Template.Spec
		for _, c := range pod.allContainers() {
			id := o.Metadata.Name + "/" + c.Name
			checkContainerSecurity(t, id, pod.SecurityContext, c.SecurityContext)
			for _, res := range []string{"cpu", "memory"} {
				if c.Resources.Limits[res] == "" || c.Resources.Requests[res] == "" {
					t.Errorf("%s: want %s request and limit", id, res)
				}
			}
			checkMemLimit(t, id, c)
		}
		if psc := pod.SecurityContext; psc == nil || psc.SeccompProfile == nil || psc.SeccompProfile.Type != "RuntimeDefault" {
			t.Errorf("%s: pod seccompProfile must be RuntimeDefault", o.Metadata.Name)
		}
	}
}

// checkProdHAReadme: the Secrets prod-ha needs beyond prod's (the object
// store's credentials) and those the operator makes are documented.
func checkProdHAReadme(t *testing.T, r rendered) {
	b, err := os.ReadFile(readmePath)
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	want := map[string][]string{}
	for _, o := range r.ofKind("ObjectStore") {
		var st struct {
			Spec struct {
				Configuration struct {
					S3Credentials map[string]json.RawMessage `json:"s3Credentials"`
				} `json:"configuration"`
			} `json:"spec"`
		}
		if err := json.Unmarshal(o.raw, &st); err != nil {
			t.Fatal(err)
		}
		for _, raw := range st.Spec.Configuration.S3Credentials {
			var ref keyRef
			if json.Unmarshal(raw, &ref) == nil && ref.Name != "" {
				want[ref.Name] = append(want[ref.Name], ref.Key)
			}
		}
	}
	for name, keys := range operatorSecrets[r.name] {
		want[name] = keys
	}
	for name, keys := range want {
		found := slices.ContainsFunc(strings.Split(readme, "\n"), func(l string) bool {
			if !strings.Contains(l, "`"+name+"`") {
				return false
			}
			for _, k := range keys {
				if !strings.Contains(l, "`"+k+"`") {
					return false
				}
			}
			return true
		})
		if !found {
			t.Errorf("deploy/README.md has no line documenting Secret `%s` with keys %v", name, keys)
		}
	}
}

// TestProdHARestore renders prod-ha with its restore component, as the
// README's procedure has operators do: the Cluster must still match its
// CRD, bootstrap by recovery to a point in time from the archive the
// running Cluster writes (same object store, same server name), and
// archive the new timeline under another server name.
func TestProdHARestore(t *testing.T) {
	dir := t.TempDir()
	// kustomize takes no absolute paths for other kustomizations.
	rel := func(p string) string {
		a, err := filepath.Abs(p)
		if err == nil {
			a, err = filepath.Rel(dir, a)
		}
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	k := fmt.Sprintf("resources:\n  - %s\ncomponents:\n  - %s\n",
		rel(filepath.Join(overlayDir, "prod-ha")), rel(filepath.Join(overlayDir, "prod-ha", "restore")))
	if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(k), 0o644); err != nil {
		t.Fatal(err)
	}
	restored := render(t, dir)
	validateCustom(t, restored)
	orig := one[pgCluster](t, render(t, filepath.Join(overlayDir, "prod-ha")), "Cluster")
	c := one[pgCluster](t, restored, "Cluster")
	origStore, origServer, _ := orig.walArchive()
	rec := c.Spec.Bootstrap.Recovery
	if c.Spec.Bootstrap.InitDB != nil || rec == nil {
		t.Fatal("restore: want bootstrap.recovery instead of initdb")
	}
	if rec.RecoveryTarget == nil || rec.RecoveryTarget.TargetTime == "" {
		t.Error("restore: no recoveryTarget.targetTime: recovery would replay to the end of the archive, not to a point in time")
	}
	var source bool
	for _, ec := range c.Spec.ExternalClusters {
		if ec.Name != rec.Source {
			continue
		}
		source = ec.Plugin != nil && ec.Plugin.Name == barmanPlugin &&
			ec.Plugin.Parameters["barmanObjectName"] == origStore && ec.Plugin.Parameters["serverName"] == origServer
	}
	if !source {
		t.Errorf("restore: recovery source %q must read the archive Cluster %s writes (plugin %s, ObjectStore %s, serverName %s)", rec.Source, orig.Metadata.Name, barmanPlugin, origStore, origServer)
	}
	store, server, ok := c.walArchive()
	if !ok || store != origStore || server == origServer {
		t.Errorf("restore: the restored cluster archives to %s/%s; want the same ObjectStore under another serverName than %s", store, server, origServer)
	}
}
