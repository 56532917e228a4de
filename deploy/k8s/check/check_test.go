package check

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/kustomize/kyaml/kio"
)

const (
	baseDir    = "../base"
	overlayDir = "../overlays"
	readmePath = "../../README.md"
	// dbAdminSecret holds the admin URL (key url) the services' migrate
	// init containers provision their Postgres roles and schemas with.
	dbAdminSecret = "crm-db-admin"
)

// documentedSecrets are the Secrets an overlay may reference without
// generating them: operators create them (deploy/README.md, "Secrets").
// Keep this list, the README table and the manifests in step; the tests
// below check all three agree.
var documentedSecrets = map[string][]string{
	"lead-db":                {"url"},
	"lead-page-token":        {"secret"},
	"account-db":             {"url"},
	"account-page-token":     {"secret"},
	"opportunity-db":         {"url"},
	"opportunity-page-token": {"secret"},
	"order-db":               {"url"},
	"order-page-token":       {"secret"},
	"workflow-db":            {"url"},
	"workflow-page-token":    {"secret"},
	"crm-tls":                {"tls.crt", "tls.key"},
	dbAdminSecret:            {"url"},
	// Token authentication (prod): the identity provider's public keys,
	// and the own token of each service that calls others (wantUpstreams).
	"crm-auth-jwks":             {"jwks.json"},
	"lead-service-token":        {"token"},
	"opportunity-service-token": {"token"},
	"order-service-token":       {"token"},
	"workflow-service-token":    {"token"},
}

// wantAlgorithms is AUTH_ALGORITHMS per overlay: dev verifies HS256 with a
// generated secret, prod only the identity provider's RS256/EdDSA tokens.
var wantAlgorithms = map[string]string{
	"dev":  "HS256",
	"prod": "RS256,EdDSA",
}

// wantUpstreams lists, per gRPC service, the services it calls over gRPC.
// The caller must hold <UPSTREAM>_GRPC_ADDR=<upstream>:9090 (in its
// <service>-config) and the NetworkPolicies must let it reach the
// upstream's grpc port. The gateway calls every service and is checked
// separately (checkGateway).
var wantUpstreams = map[string][]string{
	// Lead, opportunity and order ask the workflow service's process
	// before gated transitions (platform/processgate).
	"lead":        {"account", "workflow"},
	"opportunity": {"account", "workflow"},
	"order":       {"account", "workflow"},
	"workflow":    {"lead", "account", "opportunity", "order"},
}

// wantPublicURL lists the services that link to records through the
// gateway (PUBLIC_BASE_URL, the gateway's public URL): the workflow
// service's calendar feeds.
var wantPublicURL = []string{"workflow"}

// wantKinds lists, per overlay, the kinds that must be rendered and those
// that must not be.
var wantKinds = map[string]struct{ present, absent []string }{
	"dev": {
		present: []string{"Namespace", "NetworkPolicy", "Deployment", "Service", "Ingress", "ConfigMap", "Secret", "StatefulSet"},
		absent:  []string{"HorizontalPodAutoscaler", "PodDisruptionBudget"},
	},
	"prod": {
		present: []string{"Namespace", "NetworkPolicy", "Deployment", "Service", "Ingress", "ConfigMap", "HorizontalPodAutoscaler", "PodDisruptionBudget"},
		// Production Secrets are created by operators, never rendered, and
		// Postgres and NATS are external.
		absent: []string{"Secret", "StatefulSet"},
	},
}

// Minimal views of the Kubernetes objects checked; unknown fields are
// ignored, so these stay small.

type meta struct {
	Name        string            `json:"name"`
	Namespace   string            `json:"namespace"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
}

type object struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   meta   `json:"metadata"`
	raw        []byte
}

type keyRef struct {
	Name string `json:"name"`
	Key  string `json:"key"`
}

type nameRef struct {
	Name string `json:"name"`
}

type envVar struct {
	Name      string `json:"name"`
	Value     string `json:"value"`
	ValueFrom *struct {
		SecretKeyRef    *keyRef `json:"secretKeyRef"`
		ConfigMapKeyRef *keyRef `json:"configMapKeyRef"`
	} `json:"valueFrom"`
}

type probe struct {
	GRPC    *struct{ Port int } `json:"grpc"`
	HTTPGet *struct {
		Path string `json:"path"`
		Port any    `json:"port"`
	} `json:"httpGet"`
	Exec      *struct{ Command []string } `json:"exec"`
	TCPSocket *struct{ Port any }         `json:"tcpSocket"`
}

func (p *probe) hasHandler() bool {
	return p != nil && (p.GRPC != nil || p.HTTPGet != nil || p.Exec != nil || p.TCPSocket != nil)
}

type securityContext struct {
	RunAsNonRoot             *bool `json:"runAsNonRoot"`
	ReadOnlyRootFilesystem   *bool `json:"readOnlyRootFilesystem"`
	AllowPrivilegeEscalation *bool `json:"allowPrivilegeEscalation"`
	Capabilities             *struct {
		Drop []string `json:"drop"`
	} `json:"capabilities"`
	SeccompProfile *struct {
		Type string `json:"type"`
	} `json:"seccompProfile"`
}

type container struct {
	Name  string   `json:"name"`
	Image string   `json:"image"`
	Args  []string `json:"args"`
	Ports []struct {
		Name          string `json:"name"`
		ContainerPort int    `json:"containerPort"`
	} `json:"ports"`
	Env          []envVar `json:"env"`
	VolumeMounts []struct {
		Name      string `json:"name"`
		MountPath string `json:"mountPath"`
		SubPath   string `json:"subPath"`
		ReadOnly  bool   `json:"readOnly"`
	} `json:"volumeMounts"`
	EnvFrom []struct {
		ConfigMapRef *nameRef `json:"configMapRef"`
		SecretRef    *nameRef `json:"secretRef"`
	} `json:"envFrom"`
	ReadinessProbe *probe `json:"readinessProbe"`
	LivenessProbe  *probe `json:"livenessProbe"`
	Resources      struct {
		Limits   map[string]string `json:"limits"`
		Requests map[string]string `json:"requests"`
	} `json:"resources"`
	SecurityContext *securityContext `json:"securityContext"`
	Lifecycle       *struct {
		PreStop *struct {
			Sleep *struct{ Seconds int64 } `json:"sleep"`
		} `json:"preStop"`
	} `json:"lifecycle"`
}

func (c container) env(name string) (string, bool) {
	for _, e := range c.Env {
		if e.Name == name && e.ValueFrom == nil {
			return e.Value, true
		}
	}
	return "", false
}

func (c container) port(name string) int {
	for _, p := range c.Ports {
		if p.Name == name {
			return p.ContainerPort
		}
	}
	return 0
}

type podSpec struct {
	TerminationGracePeriodSeconds *int64           `json:"terminationGracePeriodSeconds"`
	SecurityContext               *securityContext `json:"securityContext"`
	InitContainers                []container      `json:"initContainers"`
	Containers                    []container      `json:"containers"`
	Volumes                       []struct {
		Name   string `json:"name"`
		Secret *struct {
			SecretName string `json:"secretName"`
			Items      []struct {
				Key  string `json:"key"`
				Path string `json:"path"`
			} `json:"items"`
		} `json:"secret"`
	} `json:"volumes"`
}

func (p podSpec) allContainers() []container {
	return append(slices.Clone(p.InitContainers), p.Containers...)
}

type podTemplate struct {
	Metadata meta    `json:"metadata"`
	Spec     podSpec `json:"spec"`
}

type deployment struct {
	Metadata meta `json:"metadata"`
	Spec     struct {
		Replicas *int `json:"replicas"`
		Selector struct {
			MatchLabels map[string]string `json:"matchLabels"`
		} `json:"selector"`
		Strategy struct {
			Type          string `json:"type"`
			RollingUpdate *struct {
				MaxUnavailable any `json:"maxUnavailable"`
			} `json:"rollingUpdate"`
		} `json:"strategy"`
		Template podTemplate `json:"template"`
	} `json:"spec"`
}

type statefulSet struct {
	Metadata meta `json:"metadata"`
	Spec     struct {
		Template podTemplate `json:"template"`
	} `json:"spec"`
}

type service struct {
	Metadata meta `json:"metadata"`
	Spec     struct {
		Selector map[string]string `json:"selector"`
		Ports    []struct {
			Name        string `json:"name"`
			Port        int    `json:"port"`
			AppProtocol string `json:"appProtocol"`
		} `json:"ports"`
	} `json:"spec"`
}

type hpa struct {
	Metadata meta `json:"metadata"`
	Spec     struct {
		ScaleTargetRef struct {
			Kind string `json:"kind"`
			Name string `json:"name"`
		} `json:"scaleTargetRef"`
		MinReplicas int `json:"minReplicas"`
		MaxReplicas int `json:"maxReplicas"`
	} `json:"spec"`
}

type pdb struct {
	Metadata meta `json:"metadata"`
	Spec     struct {
		Selector struct {
			MatchLabels map[string]string `json:"matchLabels"`
		} `json:"selector"`
	} `json:"spec"`
}

type ingress struct {
	Metadata meta `json:"metadata"`
	Spec     struct {
		TLS []struct {
			Hosts      []string `json:"hosts"`
			SecretName string   `json:"secretName"`
		} `json:"tls"`
	} `json:"spec"`
}

type dataObject struct { // ConfigMap or Secret
	Data       map[string]string `json:"data"`
	StringData map[string]string `json:"stringData"`
}

func (d dataObject) keys() []string {
	var ks []string
	for k := range d.Data {
		ks = append(ks, k)
	}
	for k := range d.StringData {
		ks = append(ks, k)
	}
	return ks
}

// rendered is one overlay's output.
type rendered struct {
	name    string
	objects []object
}

func (r rendered) ofKind(kind string) []object {
	var out []object
	for _, o := range r.objects {
		if o.Kind == kind {
			out = append(out, o)
		}
	}
	return out
}

func (r rendered) find(kind, name string) (object, bool) {
	for _, o := range r.objects {
		if o.Kind == kind && o.Metadata.Name == name {
			return o, true
		}
	}
	return object{}, false
}

// isSecret reports whether name is Secret base as rendered: base itself
// (created by operators) or, generated, base with kustomize's hash suffix.
func (r rendered) isSecret(name, base string) bool {
	if name == base {
		return true
	}
	_, generated := r.find("Secret", name)
	return generated && strings.HasPrefix(name, base+"-") && len(name) == len(base)+11
}

// secretName is the rendered name of Secret base.
func (r rendered) secretName(base string) string {
	for _, o := range r.ofKind("Secret") {
		if r.isSecret(o.Metadata.Name, base) {
			return o.Metadata.Name
		}
	}
	return base
}

func decode[T any](t *testing.T, o object) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(o.raw, &v); err != nil {
		t.Fatalf("%s/%s: %v", o.Kind, o.Metadata.Name, err)
	}
	return v
}

func deployments(t *testing.T, r rendered) []deployment {
	var out []deployment
	for _, o := range r.ofKind("Deployment") {
		out = append(out, decode[deployment](t, o))
	}
	return out
}

// render builds an overlay exactly as `kubectl apply -k` / `kustomize
// build` would, and parses the YAML stream back.
func render(t *testing.T, dir string) rendered {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	m, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	out, err := m.AsYaml()
	if err != nil {
		t.Fatalf("kustomize build %s: yaml: %v", dir, err)
	}
	nodes, err := kio.FromBytes(out)
	if err != nil {
		t.Fatalf("kustomize build %s: output does not parse as YAML: %v", dir, err)
	}
	r := rendered{name: filepath.Base(dir)}
	seen := map[string]bool{}
	for _, n := range nodes {
		raw, err := n.MarshalJSON()
		if err != nil {
			t.Fatalf("%s: %v", dir, err)
		}
		var o object
		if err := json.Unmarshal(raw, &o); err != nil {
			t.Fatalf("%s: %v", dir, err)
		}
		o.raw = raw
		if o.APIVersion == "" || o.Kind == "" || o.Metadata.Name == "" {
			t.Errorf("%s: object without apiVersion, kind or name:\n%s", dir, raw)
		}
		id := o.Kind + "/" + o.Metadata.Name
		if seen[id] {
			t.Errorf("%s: %s rendered twice", dir, id)
		}
		seen[id] = true
		r.objects = append(r.objects, o)
	}
	return r
}

// baseServices lists the workload directories of the base (one
// kustomization per service, plus the gateway).
func baseServices(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir(baseDir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() {
			if _, err := os.Stat(filepath.Join(baseDir, e.Name(), "kustomization.yaml")); err == nil {
				names = append(names, e.Name())
			}
		}
	}
	if !slices.Contains(names, "gateway") || len(names) < 2 {
		t.Fatalf("base: want gateway and at least one service directory, got %v", names)
	}
	return names
}

func overlays(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir(overlayDir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	for want := range wantKinds {
		if !slices.Contains(names, want) {
			t.Fatalf("overlay %s missing (found %v)", want, names)
		}
	}
	return names
}

func TestBaseBuilds(t *testing.T) {
	render(t, baseDir)
}

func TestOverlays(t *testing.T) {
	services := baseServices(t)
	for _, name := range overlays(t) {
		t.Run(name, func(t *testing.T) {
			r := render(t, filepath.Join(overlayDir, name))
			t.Run("kinds", func(t *testing.T) { checkKinds(t, r) })
			t.Run("every service deployed", func(t *testing.T) { checkServicesPresent(t, r, services) })
			t.Run("deployments", func(t *testing.T) { checkDeployments(t, r) })
			t.Run("secret references", func(t *testing.T) { checkSecretRefs(t, r) })
			t.Run("configmap references", func(t *testing.T) { checkConfigMapRefs(t, r) })
			t.Run("services select pods", func(t *testing.T) { checkServices(t, r) })
			t.Run("gateway wiring", func(t *testing.T) { checkGateway(t, r) })
			t.Run("service wiring", func(t *testing.T) { checkUpstreams(t, r) })
			t.Run("public URL", func(t *testing.T) { checkPublicURL(t, r) })
			t.Run("network policies", func(t *testing.T) { checkNetworkPolicies(t, r) })
			t.Run("authentication", func(t *testing.T) { checkAuth(t, r) })
			t.Run("database credentials", func(t *testing.T) { checkDatabaseCredentials(t, r) })
			switch name {
			case "prod":
				t.Run("autoscaling and budgets", func(t *testing.T) { checkScaling(t, r) })
				t.Run("pinned images", func(t *testing.T) { checkPinnedImages(t, r) })
			case "dev":
				t.Run("dev database roles", func(t *testing.T) { checkDevDatabase(t, r) })
			}
		})
	}
}

func checkKinds(t *testing.T, r rendered) {
	want, ok := wantKinds[r.name]
	if !ok {
		t.Fatalf("overlay %s: add its expected kinds to wantKinds", r.name)
	}
	for _, k := range want.present {
		if len(r.ofKind(k)) == 0 {
			t.Errorf("no %s rendered", k)
		}
	}
	for _, k := range want.absent {
		if n := len(r.ofKind(k)); n > 0 {
			t.Errorf("%d %s rendered, want none", n, k)
		}
	}
	ns := r.ofKind("Namespace")
	for _, o := range r.objects {
		if o.Kind != "Namespace" && len(ns) == 1 && o.Metadata.Namespace != ns[0].Metadata.Name {
			t.Errorf("%s/%s in namespace %q, want %q", o.Kind, o.Metadata.Name, o.Metadata.Namespace, ns[0].Metadata.Name)
		}
	}
}

func checkServicesPresent(t *testing.T, r rendered, services []string) {
	for _, s := range services {
		if _, ok := r.find("Deployment", s); !ok {
			t.Errorf("no Deployment %s: is base/%s listed in base/kustomization.yaml?", s, s)
		}
		if _, ok := r.find("Service", s); !ok {
			t.Errorf("no Service %s", s)
		}
	}
}

func isGRPCService(d deployment) bool {
	return d.Spec.Template.Metadata.Labels["app.kubernetes.io/component"] == "grpc-service"
}

func checkDeployments(t *testing.T, r rendered) {
	for _, d := range deployments(t, r) {
		name := d.Metadata.Name
		pod := d.Spec.Template
		labels := pod.Metadata.Labels
		if labels["app.kubernetes.io/name"] != name || labels["app.kubernetes.io/part-of"] != "crm" {
			t.Errorf("%s: pod labels %v lack app.kubernetes.io/name=%s, app.kubernetes.io/part-of=crm", name, labels, name)
		}
		// The NetworkPolicies select pods by component.
		if c := labels["app.kubernetes.io/component"]; c != "grpc-service" && c != "gateway" {
			t.Errorf("%s: app.kubernetes.io/component=%q, want grpc-service or gateway (NetworkPolicy)", name, c)
		}
		for k, v := range d.Spec.Selector.MatchLabels {
			if labels[k] != v {
				t.Errorf("%s: selector %s=%s does not match the pod template", name, k, v)
			}
		}
		if d.Spec.Strategy.Type != "RollingUpdate" || d.Spec.Strategy.RollingUpdate == nil ||
			fmt.Sprint(d.Spec.Strategy.RollingUpdate.MaxUnavailable) != "0" {
			t.Errorf("%s: want RollingUpdate with maxUnavailable 0", name)
		}
		if pod.Metadata.Annotations["prometheus.io/scrape"] != "true" || pod.Metadata.Annotations["prometheus.io/port"] == "" {
			t.Errorf("%s: missing prometheus.io scrape annotations", name)
		}

		psc := pod.Spec.SecurityContext
		if psc == nil || psc.SeccompProfile == nil || psc.SeccompProfile.Type != "RuntimeDefault" {
			t.Errorf("%s: pod seccompProfile must be RuntimeDefault", name)
		}
		if len(pod.Spec.Containers) == 0 {
			t.Fatalf("%s: no containers", name)
		}
		for _, c := range pod.Spec.allContainers() {
			id := name + "/" + c.Name
			checkContainerSecurity(t, id, psc, c.SecurityContext)
			for _, res := range []string{"cpu", "memory"} {
				if c.Resources.Limits[res] == "" {
					t.Errorf("%s: no %s limit", id, res)
				}
				if c.Resources.Requests[res] == "" {
					t.Errorf("%s: no %s request", id, res)
				}
			}
			checkMemLimit(t, id, c)
		}
		// Init containers run to completion: no probes, no serving.
		for _, c := range pod.Spec.Containers {
			id := name + "/" + c.Name
			if !c.ReadinessProbe.hasHandler() {
				t.Errorf("%s: no readinessProbe", id)
			}
			if !c.LivenessProbe.hasHandler() {
				t.Errorf("%s: no livenessProbe", id)
			}
			checkGracePeriod(t, id, pod.Spec, c)
			if isGRPCService(d) {
				checkGRPCContainer(t, id, c)
			} else {
				checkHTTPContainer(t, id, c)
			}
		}
	}
}

func checkContainerSecurity(t *testing.T, id string, pod, c *securityContext) {
	t.Helper()
	nonRoot := pod != nil && pod.RunAsNonRoot != nil && *pod.RunAsNonRoot
	if c != nil && c.RunAsNonRoot != nil {
		nonRoot = *c.RunAsNonRoot
	}
	if !nonRoot {
		t.Errorf("%s: runAsNonRoot is not true", id)
	}
	if c == nil {
		t.Errorf("%s: no container securityContext", id)
		return
	}
	if c.ReadOnlyRootFilesystem == nil || !*c.ReadOnlyRootFilesystem {
		t.Errorf("%s: readOnlyRootFilesystem is not true", id)
	}
	if c.AllowPrivilegeEscalation == nil || *c.AllowPrivilegeEscalation {
		t.Errorf("%s: allowPrivilegeEscalation is not false", id)
	}
	if c.Capabilities == nil || !slices.Contains(c.Capabilities.Drop, "ALL") {
		t.Errorf("%s: capabilities do not drop ALL", id)
	}
}

// checkMemLimit: GOMEMLIMIT, when set, must leave headroom under the
// container's memory limit.
func checkMemLimit(t *testing.T, id string, c container) {
	t.Helper()
	v, ok := c.env("GOMEMLIMIT")
	if !ok {
		return
	}
	soft, err := parseBytes(v, map[string]int64{"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30})
	if err != nil {
		t.Errorf("%s: GOMEMLIMIT: %v", id, err)
		return
	}
	hard, err := parseBytes(c.Resources.Limits["memory"], map[string]int64{"": 1, "Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30})
	if err != nil {
		t.Errorf("%s: memory limit: %v", id, err)
		return
	}
	if soft >= hard {
		t.Errorf("%s: GOMEMLIMIT %s is not below the memory limit %s", id, v, c.Resources.Limits["memory"])
	}
}

var quantity = regexp.MustCompile(`^([0-9]+)([A-Za-z]*)$`)

func parseBytes(s string, units map[string]int64) (int64, error) {
	m := quantity.FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("cannot parse %q", s)
	}
	mult, ok := units[m[2]]
	if !ok {
		return 0, fmt.Errorf("unknown unit in %q", s)
	}
	n, err := strconv.ParseInt(m[1], 10, 64)
	return n * mult, err
}

// graceMargin is left after preStop + SHUTDOWN_TIMEOUT for what follows the
// gRPC drain: stopping workers, the final outbox flush (<= 2s), exit.
const graceMargin = 5 * time.Second

// checkGracePeriod: the kubelet must not SIGKILL a pod that is still
// draining: preStop sleep + SHUTDOWN_TIMEOUT + graceMargin <=
// terminationGracePeriodSeconds.
func checkGracePeriod(t *testing.T, id string, pod podSpec, c container) {
	t.Helper()
	v, ok := c.env("SHUTDOWN_TIMEOUT")
	if !ok {
		t.Errorf("%s: SHUTDOWN_TIMEOUT not set", id)
		return
	}
	drain, err := time.ParseDuration(v)
	if err != nil {
		t.Errorf("%s: SHUTDOWN_TIMEOUT: %v", id, err)
		return
	}
	if c.Lifecycle != nil && c.Lifecycle.PreStop != nil && c.Lifecycle.PreStop.Sleep != nil {
		drain += time.Duration(c.Lifecycle.PreStop.Sleep.Seconds) * time.Second
	}
	grace := 30 * time.Second // Kubernetes' default
	if pod.TerminationGracePeriodSeconds != nil {
		grace = time.Duration(*pod.TerminationGracePeriodSeconds) * time.Second
	}
	if drain+graceMargin > grace {
		t.Errorf("%s: preStop + SHUTDOWN_TIMEOUT = %v leaves less than %v of terminationGracePeriodSeconds (%v)", id, drain, graceMargin, grace)
	}
}

func checkGRPCContainer(t *testing.T, id string, c container) {
	t.Helper()
	grpcPort, metricsPort := c.port("grpc"), c.port("metrics")
	if grpcPort != 9090 || metricsPort != 9091 {
		t.Errorf("%s: want container ports grpc=9090, metrics=9091; got %d, %d", id, grpcPort, metricsPort)
	}
	if v, _ := c.env("GRPC_ADDR"); v != ":9090" {
		t.Errorf("%s: GRPC_ADDR=%q, want \":9090\"", id, v)
	}
	if v, _ := c.env("METRICS_ADDR"); v != ":9091" {
		t.Errorf("%s: METRICS_ADDR=%q, want \":9091\"", id, v)
	}
	for what, p := range map[string]*probe{"readiness": c.ReadinessProbe, "liveness": c.LivenessProbe} {
		if p == nil || p.GRPC == nil || p.GRPC.Port != grpcPort {
			t.Errorf("%s: %s probe must be a gRPC health probe on port %d", id, what, grpcPort)
		}
	}
}

func checkHTTPContainer(t *testing.T, id string, c container) {
	t.Helper()
	if c.port("http") != 8080 {
		t.Errorf("%s: want container port http=8080", id)
	}
	if v, _ := c.env("HTTP_ADDR"); v != ":8080" {
		t.Errorf("%s: HTTP_ADDR=%q, want \":8080\"", id, v)
	}
	for what, want := range map[string]string{"readiness": "/readyz", "liveness": "/healthz"} {
		p := c.ReadinessProbe
		if what == "liveness" {
			p = c.LivenessProbe
		}
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != want {
			t.Errorf("%s: %s probe must be GET %s", id, what, want)
		}
	}
}

// podTemplates returns every pod template rendered, by owner.
func podTemplates(t *testing.T, r rendered) map[string]podSpec {
	out := map[string]podSpec{}
	for _, o := range r.ofKind("Deployment") {
		out["Deployment/"+o.Metadata.Name] = decode[deployment](t, o).Spec.Template.Spec
	}
	for _, o := range r.ofKind("StatefulSet") {
		out["StatefulSet/"+o.Metadata.Name] = decode[statefulSet](t, o).Spec.Template.Spec
	}
	return out
}

// checkSecretRefs: every Secret a pod or Ingress references is either
// rendered by the overlay (with the key) or documented for operators.
func checkSecretRefs(t *testing.T, r rendered) {
	generated := map[string][]string{}
	for _, o := range r.ofKind("Secret") {
		generated[o.Metadata.Name] = decode[dataObject](t, o).keys()
	}
	referenced := map[string]bool{}
	ref := func(owner, name, key string) {
		referenced[name] = true
		keys, ok := generated[name]
		if !ok {
			keys, ok = documentedSecrets[name]
		}
		if !ok {
			keys, ok = operatorSecrets[r.name][name]
		}
		switch {
		case !ok:
			t.Errorf("%s references Secret %q, which the overlay does not generate and deploy/README.md does not document (documentedSecrets)", owner, name)
		case key != "" && !slices.Contains(keys, key):
			t.Errorf("%s references key %q of Secret %q; known keys %v", owner, key, name, keys)
		}
	}
	for owner, pod := range podTemplates(t, r) {
		for _, c := range pod.allContainers() {
			for _, e := range c.Env {
				if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
					ref(owner+" env "+e.Name, e.ValueFrom.SecretKeyRef.Name, e.ValueFrom.SecretKeyRef.Key)
				}
			}
			for _, ef := range c.EnvFrom {
				if ef.SecretRef != nil {
					ref(owner+" envFrom", ef.SecretRef.Name, "")
				}
			}
		}
		for _, v := range pod.Volumes {
			if v.Secret != nil {
				ref(owner+" volume", v.Secret.SecretName, "")
			}
		}
	}
	for _, o := range r.ofKind("Ingress") {
		for _, tls := range decode[ingress](t, o).Spec.TLS {
			ref("Ingress/"+o.Metadata.Name+" tls", tls.SecretName, "")
		}
	}
	if len(generated) == 0 {
		// Nothing generated (prod): the documented list must not go stale.
		for name := range documentedSecrets {
			if !referenced[name] {
				t.Errorf("documentedSecrets lists %q but the %s overlay does not reference it", name, r.name)
			}
		}
	}
}

func checkConfigMapRefs(t *testing.T, r rendered) {
	for owner, pod := range podTemplates(t, r) {
		for _, c := range pod.allContainers() {
			for _, ef := range c.EnvFrom {
				if ef.ConfigMapRef != nil {
					if _, ok := r.find("ConfigMap", ef.ConfigMapRef.Name); !ok {
						t.Errorf("%s: envFrom ConfigMap %q is not rendered", owner, ef.ConfigMapRef.Name)
					}
				}
			}
			for _, e := range c.Env {
				if e.ValueFrom != nil && e.ValueFrom.ConfigMapKeyRef != nil {
					ref := e.ValueFrom.ConfigMapKeyRef
					o, ok := r.find("ConfigMap", ref.Name)
					if !ok || !slices.Contains(decode[dataObject](t, o).keys(), ref.Key) {
						t.Errorf("%s: env %s: ConfigMap %q key %q is not rendered", owner, e.Name, ref.Name, ref.Key)
					}
				}
			}
		}
	}
}

// checkServices: each Service selects the pods of the Deployment of the
// same name and exposes its ports.
func checkServices(t *testing.T, r rendered) {
	for _, d := range deployments(t, r) {
		o, ok := r.find("Service", d.Metadata.Name)
		if !ok {
			t.Errorf("Deployment %s has no Service", d.Metadata.Name)
			continue
		}
		s := decode[service](t, o)
		if len(s.Spec.Selector) == 0 {
			t.Errorf("Service %s has no selector", s.Metadata.Name)
		}
		for k, v := range s.Spec.Selector {
			if d.Spec.Template.Metadata.Labels[k] != v {
				t.Errorf("Service %s selector %s=%s does not match its pods", s.Metadata.Name, k, v)
			}
		}
		if isGRPCService(d) {
			var grpcOK, metricsOK bool
			for _, p := range s.Spec.Ports {
				grpcOK = grpcOK || (p.Name == "grpc" && p.Port == 9090 && p.AppProtocol == "grpc")
				metricsOK = metricsOK || (p.Name == "metrics" && p.Port == 9091)
			}
			if !grpcOK || !metricsOK {
				t.Errorf("Service %s: want ports grpc 9090 (appProtocol grpc) and metrics 9091", s.Metadata.Name)
			}
		}
	}
}

// checkGateway: the gateway knows the address of every gRPC service and
// trusts the ingress controller's X-Forwarded-For, and the ingress body
// limit equals the gateway's own.
func checkGateway(t *testing.T, r rendered) {
	var d deployment
	for _, x := range deployments(t, r) {
		if x.Metadata.Name == "gateway" {
			d = x
		}
	}
	if d.Metadata.Name == "" {
		t.Fatal("no gateway Deployment")
	}
	env := plainEnv(t, r, d)
	for _, s := range deployments(t, r) {
		if !isGRPCService(s) {
			continue
		}
		if key, want := grpcAddrKey(s.Metadata.Name), s.Metadata.Name+":9090"; env[key] != want {
			t.Errorf("gateway: %s=%q, want %q", key, env[key], want)
		}
	}
	maxBody, err := strconv.ParseInt(env["MAX_BODY_BYTES"], 10, 64)
	if err != nil {
		t.Fatalf("gateway: MAX_BODY_BYTES=%q: %v", env["MAX_BODY_BYTES"], err)
	}
	// Behind the ingress, without trusted proxies every client would share
	// the ingress controller's rate-limit bucket.
	if env["TRUSTED_PROXIES"] == "" {
		t.Error("gateway: no TRUSTED_PROXIES (the ingress controller's addresses)")
	}
	for _, p := range strings.Split(env["TRUSTED_PROXIES"], ",") {
		if _, err := netip.ParsePrefix(strings.TrimSpace(p)); err != nil {
			if _, err := netip.ParseAddr(strings.TrimSpace(p)); err != nil {
				t.Errorf("gateway: TRUSTED_PROXIES entry %q is neither a CIDR nor an address", p)
			}
		}
	}
	o, ok := r.find("Ingress", "gateway")
	if !ok {
		t.Fatal("no Ingress gateway")
	}
	ann := o.Metadata.Annotations["nginx.ingress.kubernetes.io/proxy-body-size"]
	// nginx sizes: bytes, or k/m/g suffixes (powers of 1024).
	edge, err := parseBytes(strings.ToLower(ann), map[string]int64{"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30})
	if err != nil {
		t.Fatalf("Ingress proxy-body-size %q: %v", ann, err)
	}
	if edge != maxBody {
		t.Errorf("Ingress proxy-body-size %s (%d bytes) != gateway MAX_BODY_BYTES %d", ann, edge, maxBody)
	}
}

// plainEnv is the first container's literal environment as the pod sees
// it: envFrom ConfigMaps, then env values (which win).
func plainEnv(t *testing.T, r rendered, d deployment) map[string]string {
	t.Helper()
	env := map[string]string{}
	for _, ef := range d.Spec.Template.Spec.Containers[0].EnvFrom {
		if ef.ConfigMapRef == nil {
			continue
		}
		if o, ok := r.find("ConfigMap", ef.ConfigMapRef.Name); ok {
			for k, v := range decode[dataObject](t, o).Data {
				env[k] = v
			}
		}
	}
	for _, e := range d.Spec.Template.Spec.Containers[0].Env {
		if e.ValueFrom == nil {
			env[e.Name] = e.Value
		}
	}
	return env
}

// grpcAddrKey is the variable holding a service's address: lead ->
// LEAD_GRPC_ADDR.
func grpcAddrKey(service string) string {
	return strings.ToUpper(strings.ReplaceAll(service, "-", "_")) + "_GRPC_ADDR"
}

// checkUpstreams: every gRPC service holds the address of each service it
// calls (wantUpstreams) and no other (an unrecorded call would escape the
// NetworkPolicy and credential checks), and every <NAME>_GRPC_ADDR any
// workload holds names a rendered gRPC service on 9090 (no stale or
// mistyped addresses).
func checkUpstreams(t *testing.T, r rendered) {
	grpcServices := map[string]bool{}
	for _, d := range deployments(t, r) {
		if isGRPCService(d) {
			grpcServices[d.Metadata.Name] = true
		}
	}
	for caller, upstreams := range wantUpstreams {
		if !grpcServices[caller] {
			t.Errorf("wantUpstreams: no gRPC service Deployment %s", caller)
		}
		for _, u := range upstreams {
			if !grpcServices[u] {
				t.Errorf("wantUpstreams: %s calls %s, which is not deployed", caller, u)
			}
		}
	}
	for _, d := range deployments(t, r) {
		env := plainEnv(t, r, d)
		for _, u := range wantUpstreams[d.Metadata.Name] {
			if key, want := grpcAddrKey(u), u+":9090"; env[key] != want {
				t.Errorf("%s: %s=%q, want %q", d.Metadata.Name, key, env[key], want)
			}
		}
		for key, v := range env {
			if !strings.HasSuffix(key, "_GRPC_ADDR") || key == "GRPC_ADDR" {
				continue
			}
			name := strings.ToLower(strings.ReplaceAll(strings.TrimSuffix(key, "_GRPC_ADDR"), "_", "-"))
			if slices.Contains(wantUpstreams[d.Metadata.Name], name) {
				continue // checked above
			}
			if !grpcServices[name] {
				t.Errorf("%s: %s=%q, but no gRPC service %s is deployed", d.Metadata.Name, key, v, name)
			} else if isGRPCService(d) {
				t.Errorf("%s: %s=%q, but wantUpstreams does not record that %s calls %s: add it, so the check demands the NetworkPolicy and the credential", d.Metadata.Name, key, v, d.Metadata.Name, name)
			} else if want := name + ":9090"; v != want {
				t.Errorf("%s: %s=%q, want %q", d.Metadata.Name, key, v, want)
			}
		}
	}
}

// checkPublicURL: each service in wantPublicURL, and no other, has a
// PUBLIC_BASE_URL, an absolute http(s) URL with no path, query or
// fragment (the Ingress serves the gateway at /); where the Ingress
// terminates TLS (prod) it is https on a host the Ingress serves with TLS,
// so the links reach the gateway.
func checkPublicURL(t *testing.T, r rendered) {
	tlsHosts := map[string]bool{}
	for _, o := range r.ofKind("Ingress") {
		for _, tls := range decode[ingress](t, o).Spec.TLS {
			for _, h := range tls.Hosts {
				tlsHosts[h] = true
			}
		}
	}
	for _, d := range deployments(t, r) {
		name := d.Metadata.Name
		v, ok := plainEnv(t, r, d)["PUBLIC_BASE_URL"]
		if !ok {
			if slices.Contains(wantPublicURL, name) {
				t.Errorf("%s: no PUBLIC_BASE_URL (the gateway's public URL, in %s-config)", name, name)
			}
			continue
		}
		if !slices.Contains(wantPublicURL, name) {
			t.Errorf("%s: PUBLIC_BASE_URL=%q, but wantPublicURL does not list %s", name, v, name)
		}
		u, err := url.Parse(v)
		switch {
		case err != nil || u.Host == "" || u.Scheme != "https" && u.Scheme != "http":
			t.Errorf("%s: PUBLIC_BASE_URL=%q, want an absolute http(s) URL", name, v)
		case strings.TrimSuffix(u.Path, "/") != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil:
			t.Errorf("%s: PUBLIC_BASE_URL=%q, want scheme and host only (the Ingress serves the gateway at /)", name, v)
		case len(tlsHosts) > 0 && (u.Scheme != "https" || !tlsHosts[u.Host]):
			t.Errorf("%s: PUBLIC_BASE_URL=%q, want https://HOST with HOST one of the Ingress's TLS hosts %v", name, v, slices.Sorted(maps.Keys(tlsHosts)))
		}
	}
}

type labelSelector struct {
	MatchLabels      map[string]string `json:"matchLabels"`
	MatchExpressions []struct {
		Key      string   `json:"key"`
		Operator string   `json:"operator"`
		Values   []string `json:"values"`
	} `json:"matchExpressions"`
}

// matches follows metav1.LabelSelector: all terms must hold; an empty
// selector selects everything.
func (s *labelSelector) matches(labels map[string]string) bool {
	for k, v := range s.MatchLabels {
		if labels[k] != v {
			return false
		}
	}
	for _, e := range s.MatchExpressions {
		v, has := labels[e.Key]
		var ok bool
		switch e.Operator {
		case "In":
			ok = has && slices.Contains(e.Values, v)
		case "NotIn":
			ok = !has || !slices.Contains(e.Values, v)
		case "Exists":
			ok = has
		case "DoesNotExist":
			ok = !has
		}
		if !ok {
			return false
		}
	}
	return true
}

type networkPolicy struct {
	Metadata meta `json:"metadata"`
	Spec     struct {
		PodSelector labelSelector `json:"podSelector"`
		PolicyTypes []string      `json:"policyTypes"`
		Ingress     []struct {
			From []struct {
				PodSelector       *labelSelector `json:"podSelector"`
				NamespaceSelector *labelSelector `json:"namespaceSelector"`
				IPBlock           any            `json:"ipBlock"`
			} `json:"from"`
			Ports []struct {
				Port any `json:"port"`
			} `json:"ports"`
		} `json:"ingress"`
	} `json:"spec"`
}

// peer is where traffic comes from: a pod of the same namespace (labels),
// or any pod of another namespace (nsLabels).
type peer struct {
	labels   map[string]string
	nsLabels map[string]string
}

// allows reports whether the NetworkPolicies let src reach the pods
// labelled dst on the named container port (number num). Like the CNI, it
// allows everything to pods no Ingress policy selects.
func allows(policies []networkPolicy, dst map[string]string, portName string, num int, src peer) bool {
	selected := false
	for _, np := range policies {
		if !np.Spec.PodSelector.matches(dst) ||
			(len(np.Spec.PolicyTypes) > 0 && !slices.Contains(np.Spec.PolicyTypes, "Ingress")) {
			continue
		}
		selected = true
		for _, rule := range np.Spec.Ingress {
			portOK := len(rule.Ports) == 0
			for _, p := range rule.Ports {
				portOK = portOK || p.Port == nil || fmt.Sprint(p.Port) == portName || fmt.Sprint(p.Port) == strconv.Itoa(num)
			}
			fromOK := len(rule.From) == 0
			for _, f := range rule.From {
				switch {
				case f.IPBlock != nil:
				case src.nsLabels == nil: // same namespace
					fromOK = fromOK || (f.NamespaceSelector == nil && f.PodSelector != nil && f.PodSelector.matches(src.labels))
				default: // another namespace: any pod in it
					fromOK = fromOK || (f.NamespaceSelector != nil && f.NamespaceSelector.matches(src.nsLabels) &&
						(f.PodSelector == nil || len(f.PodSelector.MatchLabels)+len(f.PodSelector.MatchExpressions) == 0))
				}
			}
			if portOK && fromOK {
				return true
			}
		}
	}
	return !selected
}

// checkNetworkPolicies: the gateway reaches every gRPC service, each
// service reaches its upstreams (wantUpstreams), Prometheus in namespace
// monitoring scrapes every service's metrics port, and the ingress
// controller reaches the gateway; another pod of the namespace reaches no
// gRPC service.
func checkNetworkPolicies(t *testing.T, r rendered) {
	var policies []networkPolicy
	for _, o := range r.ofKind("NetworkPolicy") {
		policies = append(policies, decode[networkPolicy](t, o))
	}
	ns := func(name string) peer {
		return peer{nsLabels: map[string]string{"kubernetes.io/metadata.name": name}}
	}
	pods := map[string]map[string]string{}
	for _, d := range deployments(t, r) {
		pods[d.Metadata.Name] = d.Spec.Template.Metadata.Labels
	}
	gateway, ok := pods["gateway"]
	if !ok {
		t.Fatal("no gateway Deployment")
	}
	if !allows(policies, gateway, "http", 8080, ns("ingress-nginx")) {
		t.Error("NetworkPolicy: namespace ingress-nginx cannot reach the gateway on http")
	}
	for _, d := range deployments(t, r) {
		if !isGRPCService(d) {
			continue
		}
		labels := d.Spec.Template.Metadata.Labels
		c := d.Spec.Template.Spec.Containers[0]
		if !allows(policies, labels, "grpc", c.port("grpc"), peer{labels: gateway}) {
			t.Errorf("NetworkPolicy: gateway cannot reach %s on grpc", d.Metadata.Name)
		}
		if !allows(policies, labels, "metrics", c.port("metrics"), ns("monitoring")) {
			t.Errorf("NetworkPolicy: namespace monitoring cannot scrape %s on metrics", d.Metadata.Name)
		}
		stranger := map[string]string{"app.kubernetes.io/name": "stranger", "app.kubernetes.io/part-of": "crm"}
		if allows(policies, labels, "grpc", c.port("grpc"), peer{labels: stranger}) {
			t.Errorf("NetworkPolicy: any pod of the namespace reaches %s on grpc", d.Metadata.Name)
		}
	}
	for _, d := range deployments(t, r) {
		for _, u := range wantUpstreams[d.Metadata.Name] {
			if dst, ok := pods[u]; ok && !allows(policies, dst, "grpc", 9090, peer{labels: pods[d.Metadata.Name]}) {
				t.Errorf("NetworkPolicy: %s cannot reach %s on grpc", d.Metadata.Name, u)
			}
		}
	}
}

// secretFile resolves a file path in container c of pod to the Secret
// and key mounted there. The mount must be a whole Secret volume, read-only
// and without subPath: the kubelet updates Secret volumes in place when the
// Secret changes, but never a subPath mount, so a rotated token would not
// reach the pod.
func secretFile(pod podSpec, c container, path string) (secret, key string, err error) {
	for _, m := range c.VolumeMounts {
		dir := strings.TrimSuffix(m.MountPath, "/") + "/"
		if m.SubPath == "" && !strings.HasPrefix(path, dir) {
			continue
		}
		if m.SubPath != "" && path != m.MountPath {
			continue
		}
		for _, v := range pod.Volumes {
			if v.Name != m.Name {
				continue
			}
			if v.Secret == nil {
				return "", "", fmt.Errorf("%s is mounted from volume %s, which is not a Secret volume", path, m.Name)
			}
			if m.SubPath != "" {
				return "", "", fmt.Errorf("%s is a subPath mount of Secret %s: the kubelet never updates it, mount the whole volume", path, v.Secret.SecretName)
			}
			if !m.ReadOnly {
				return "", "", fmt.Errorf("volume %s (Secret %s) is not mounted readOnly", m.Name, v.Secret.SecretName)
			}
			rel := strings.TrimPrefix(path, dir)
			key = rel
			for _, it := range v.Secret.Items {
				key = "" // with items, only the listed keys exist
				if it.Path == rel {
					key = it.Key
					break
				}
			}
			if key == "" || strings.Contains(key, "/") {
				return "", "", fmt.Errorf("%s: no key of Secret %s is mounted there", path, v.Secret.SecretName)
			}
			return v.Secret.SecretName, key, nil
		}
		return "", "", fmt.Errorf("%s: volume %s is not defined", path, m.Name)
	}
	return "", "", fmt.Errorf("%s is not inside any volume mount", path)
}

// secretKeys returns the keys of a Secret the overlay generates or
// operators create (documentedSecrets), and its decoded data when
// generated.
func secretKeys(t *testing.T, r rendered, name string) (keys []string, data map[string]string, ok bool) {
	if o, found := r.find("Secret", name); found {
		d := decode[dataObject](t, o)
		data = map[string]string{}
		for k, v := range d.Data {
			b, err := base64.StdEncoding.DecodeString(v)
			if err != nil {
				t.Fatalf("Secret %s key %s: %v", name, k, err)
			}
			data[k] = string(b)
		}
		for k, v := range d.StringData {
			data[k] = v
		}
		return d.keys(), data, true
	}
	keys, ok = documentedSecrets[name]
	return keys, nil, ok
}

// checkAuth: every gRPC service starts with token authentication
// configured as platform/service/auth.go requires: AUTH_ALGORITHMS as the
// overlay wants (wantAlgorithms); for HS256 a secret of at least 32 bytes
// from a Secret; for RS256/EdDSA AUTH_JWKS_FILE on a Secret volume; and
// each service that calls others (wantUpstreams) a credential for its
// calls: its own token file (<name>-service-token, key token) or, where
// HS256 is accepted, the HS256 secret to mint one.
func checkAuth(t *testing.T, r rendered) {
	want, ok := wantAlgorithms[r.name]
	if !ok {
		t.Fatalf("overlay %s: add its AUTH_ALGORITHMS to wantAlgorithms", r.name)
	}
	for _, d := range deployments(t, r) {
		if !isGRPCService(d) {
			continue
		}
		name, pod := d.Metadata.Name, d.Spec.Template.Spec
		c := pod.Containers[0]
		env := plainEnv(t, r, d)
		if m := env["AUTH_MODE"]; m != "" && m != "token" {
			t.Errorf("%s: AUTH_MODE=%q, want token (dev-header authenticates nobody)", name, m)
		}
		if env["AUTH_ISSUER"] == "" || env["AUTH_AUDIENCE"] == "" {
			t.Errorf("%s: AUTH_ISSUER and AUTH_AUDIENCE must be set (crm-config)", name)
		}
		algs, set := env["AUTH_ALGORITHMS"]
		if !set {
			t.Errorf("%s: AUTH_ALGORITHMS not set", name)
			continue
		}
		if algs != want {
			t.Errorf("%s: AUTH_ALGORITHMS=%q, want %q in the %s overlay", name, algs, want, r.name)
		}
		list := strings.Split(algs, ",")
		for i := range list {
			list[i] = strings.TrimSpace(list[i])
		}

		// HS256: the secret, from a Secret, 32+ bytes when generated.
		var hsRef *keyRef
		for _, e := range c.Env {
			if e.Name == "AUTH_HS256_SECRET" || e.Name == "AUTH_HS256_SECRET_FILE" {
				if e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
					if e.Name == "AUTH_HS256_SECRET" {
						t.Errorf("%s: AUTH_HS256_SECRET is a literal; take it from a Secret", name)
						continue
					}
					sec, key, err := secretFile(pod, c, e.Value)
					if err != nil {
						t.Errorf("%s: AUTH_HS256_SECRET_FILE: %v", name, err)
						continue
					}
					hsRef = &keyRef{Name: sec, Key: key}
				} else {
					hsRef = e.ValueFrom.SecretKeyRef
				}
			}
		}
		hs256 := slices.Contains(list, "HS256")
		switch {
		case hs256 && hsRef == nil:
			t.Errorf("%s: AUTH_ALGORITHMS lists HS256 but no AUTH_HS256_SECRET(_FILE) comes from a Secret", name)
		case !hs256 && hsRef != nil:
			t.Errorf("%s: an HS256 secret is set but AUTH_ALGORITHMS=%q does not accept HS256: drop it", name, algs)
		case hsRef != nil:
			keys, data, ok := secretKeys(t, r, hsRef.Name)
			if !ok || !slices.Contains(keys, hsRef.Key) {
				t.Errorf("%s: HS256 secret: Secret %q key %q is neither generated nor documented", name, hsRef.Name, hsRef.Key)
			} else if data != nil && len(strings.TrimSpace(data[hsRef.Key])) < 32 {
				t.Errorf("%s: HS256 secret in Secret %s has %d bytes, want at least 32", name, hsRef.Name, len(strings.TrimSpace(data[hsRef.Key])))
			}
		}

		// RS256/EdDSA: the identity provider's JWKS, as a file.
		if slices.Contains(list, "RS256") || slices.Contains(list, "EdDSA") {
			path, ok := c.env("AUTH_JWKS_FILE")
			if !ok || path == "" {
				t.Errorf("%s: AUTH_ALGORITHMS=%q needs AUTH_JWKS_FILE", name, algs)
			} else if sec, key, err := secretFile(pod, c, path); err != nil {
				t.Errorf("%s: AUTH_JWKS_FILE: %v", name, err)
			} else if keys, _, ok := secretKeys(t, r, sec); !ok || !slices.Contains(keys, key) {
				t.Errorf("%s: AUTH_JWKS_FILE: Secret %q key %q is neither generated nor documented", name, sec, key)
			}
		}

		// The service's own credential for its calls to other services.
		if path, ok := c.env("AUTH_SERVICE_TOKEN_FILE"); ok {
			sec, key, err := secretFile(pod, c, path)
			if err != nil {
				t.Errorf("%s: AUTH_SERVICE_TOKEN_FILE: %v", name, err)
			} else if want := name + "-service-token"; sec != want || key != "token" {
				t.Errorf("%s: AUTH_SERVICE_TOKEN_FILE is Secret %s key %s, want %s key token", name, sec, key, want)
			} else if keys, _, ok := secretKeys(t, r, sec); !ok || !slices.Contains(keys, key) {
				t.Errorf("%s: AUTH_SERVICE_TOKEN_FILE: Secret %q key %q is neither generated nor documented", name, sec, key)
			}
		} else if len(wantUpstreams[name]) > 0 && (hsRef == nil || !hs256) {
			t.Errorf("%s calls %v but has no credential for it: mount Secret %s-service-token (key token) and set AUTH_SERVICE_TOKEN_FILE", name, wantUpstreams[name], name)
		}
	}
}

func checkScaling(t *testing.T, r rendered) {
	hpas := map[string]hpa{}
	for _, o := range r.ofKind("HorizontalPodAutoscaler") {
		h := decode[hpa](t, o)
		hpas[h.Spec.ScaleTargetRef.Kind+"/"+h.Spec.ScaleTargetRef.Name] = h
	}
	var pdbs []pdb
	for _, o := range r.ofKind("PodDisruptionBudget") {
		pdbs = append(pdbs, decode[pdb](t, o))
	}
	for _, d := range deployments(t, r) {
		h, ok := hpas["Deployment/"+d.Metadata.Name]
		if !ok {
			t.Errorf("Deployment %s has no HorizontalPodAutoscaler", d.Metadata.Name)
		} else if h.Spec.MinReplicas < 2 || h.Spec.MaxReplicas < h.Spec.MinReplicas {
			t.Errorf("HPA %s: min %d max %d, want min >= 2", h.Metadata.Name, h.Spec.MinReplicas, h.Spec.MaxReplicas)
		}
		if d.Spec.Replicas != nil {
			t.Errorf("Deployment %s sets spec.replicas; the HPA owns it", d.Metadata.Name)
		}
		covered := slices.ContainsFunc(pdbs, func(p pdb) bool {
			for k, v := range p.Spec.Selector.MatchLabels {
				if d.Spec.Template.Metadata.Labels[k] != v {
					return false
				}
			}
			return len(p.Spec.Selector.MatchLabels) > 0
		})
		if !covered {
			t.Errorf("Deployment %s has no PodDisruptionBudget", d.Metadata.Name)
		}
	}
}

var pinned = regexp.MustCompile(`(:[A-Za-z0-9_][A-Za-z0-9_.-]*|@sha256:[0-9a-f]{64})$`)

func checkPinnedImages(t *testing.T, r rendered) {
	for owner, pod := range podTemplates(t, r) {
		for _, c := range pod.allContainers() {
			last := c.Image[strings.LastIndex(c.Image, "/")+1:]
			if !pinned.MatchString(last) || strings.HasSuffix(c.Image, ":latest") || strings.HasSuffix(c.Image, ":dev") {
				t.Errorf("%s/%s: image %q is not pinned to a release tag or digest", owner, c.Name, c.Image)
			}
		}
	}
}

// secretEnv returns the Secret and key env var name of c comes from.
func secretEnv(c container, name string) (keyRef, bool) {
	for _, e := range c.Env {
		if e.Name == name && e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			return *e.ValueFrom.SecretKeyRef, true
		}
	}
	return keyRef{}, false
}

// checkDatabaseCredentials: every gRPC service has an init container
// `migrate` (its own image, args [migrate]) that gets DATABASE_URL from
// the same Secret as the service and DATABASE_ADMIN_URL from crm-db-admin;
// no other container of any pod gets the admin credentials in any form, so
// the long-running services hold their own role's credentials only; and
// no two services share a database Secret (each is its own role).
func checkDatabaseCredentials(t *testing.T, r rendered) {
	dbSecrets := map[string]string{}
	for _, d := range deployments(t, r) {
		if !isGRPCService(d) {
			continue
		}
		name, pod := d.Metadata.Name, d.Spec.Template.Spec
		main := pod.Containers[0]
		db, ok := secretEnv(main, "DATABASE_URL")
		if !ok {
			t.Errorf("%s: DATABASE_URL does not come from a Secret", name)
			continue
		}
		if other, dup := dbSecrets[db.Name]; dup {
			t.Errorf("%s and %s share database Secret %s: each service needs a role of its own", other, name, db.Name)
		}
		dbSecrets[db.Name] = name
		var migrate []container
		for _, c := range pod.InitContainers {
			if c.Name == "migrate" {
				migrate = append(migrate, c)
			}
		}
		if len(migrate) != 1 {
			t.Errorf("%s: want one init container \"migrate\" that provisions the database role, got %d", name, len(migrate))
			continue
		}
		m := migrate[0]
		if m.Image != main.Image || !slices.Equal(m.Args, []string{"migrate"}) {
			t.Errorf("%s/migrate: runs %s %v, want the service's image %s with args [migrate]", name, m.Image, m.Args, main.Image)
		}
		if got, _ := secretEnv(m, "DATABASE_URL"); got != db {
			t.Errorf("%s/migrate: DATABASE_URL from %+v, want the service's %+v", name, got, db)
		}
		if got, _ := secretEnv(m, "DATABASE_ADMIN_URL"); !r.isSecret(got.Name, dbAdminSecret) || got.Key != "url" {
			t.Errorf("%s/migrate: DATABASE_ADMIN_URL from %+v, want Secret %s key url", name, got, dbAdminSecret)
		}
	}
	for owner, pod := range podTemplates(t, r) {
		for _, v := range pod.Volumes {
			if v.Secret != nil && r.isSecret(v.Secret.SecretName, dbAdminSecret) {
				t.Errorf("%s: mounts %s as a volume; only the migrate init containers may have it, as env", owner, dbAdminSecret)
			}
		}
		for _, c := range pod.allContainers() {
			isMigrate := slices.ContainsFunc(pod.InitContainers, func(i container) bool { return i.Name == c.Name && i.Name == "migrate" })
			for _, e := range c.Env {
				admin := e.Name == "DATABASE_ADMIN_URL" || e.Name == "DATABASE_ADMIN_URL_FILE" ||
					e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil && r.isSecret(e.ValueFrom.SecretKeyRef.Name, dbAdminSecret)
				if admin && !isMigrate {
					t.Errorf("%s/%s: gets the database admin credentials (%s); only the migrate init container may", owner, c.Name, e.Name)
				}
			}
			for _, ef := range c.EnvFrom {
				if ef.SecretRef != nil && r.isSecret(ef.SecretRef.Name, dbAdminSecret) {
					t.Errorf("%s/%s: envFrom %s; only the migrate init container may have it, as DATABASE_ADMIN_URL", owner, c.Name, dbAdminSecret)
				}
			}
		}
	}
}

// checkDevDatabase: the dev admin URL logs in as the dev Postgres'
// superuser (POSTGRES_USER, the password of Secret postgres-superuser) on
// the database the services use, and each service's URL names a role of
// its own, so the dev overlay works as rendered.
func checkDevDatabase(t *testing.T, r rendered) {
	parse := func(what, raw string) *url.URL {
		u, err := url.Parse(raw)
		if err != nil || u.User == nil {
			t.Fatalf("%s: %q is no postgres URL with a user (%v)", what, raw, err)
		}
		return u
	}
	_, adminData, _ := secretKeys(t, r, r.secretName(dbAdminSecret))
	_, superData, _ := secretKeys(t, r, r.secretName("postgres-superuser"))
	admin := parse(dbAdminSecret, adminData["url"])
	if pw, _ := admin.User.Password(); admin.User.Username() != "postgres" || pw != superData["password"] {
		t.Errorf("%s: user %q with another password than postgres-superuser's; want the dev superuser postgres", dbAdminSecret, admin.User.Username())
	}
	roles := map[string]string{}
	for _, d := range deployments(t, r) {
		ref, ok := secretEnv(d.Spec.Template.Spec.Containers[0], "DATABASE_URL")
		if !ok {
			continue
		}
		_, data, _ := secretKeys(t, r, ref.Name)
		u := parse(ref.Name, data[ref.Key])
		role := u.User.Username()
		if pw, _ := u.User.Password(); role == "" || role == admin.User.Username() || pw == "" {
			t.Errorf("%s: DATABASE_URL must name a role of the service's own with a password, not %q", d.Metadata.Name, role)
		}
		if other, dup := roles[role]; dup {
			t.Errorf("%s and %s connect as the same role %s", other, d.Metadata.Name, role)
		}
		roles[role] = d.Metadata.Name
		if u.Host != admin.Host || u.Path != admin.Path {
			t.Errorf("%s: DATABASE_URL is on %s%s, the admin URL on %s%s: the bootstrap works on the service's database", d.Metadata.Name, u.Host, u.Path, admin.Host, admin.Path)
		}
	}
}

// TestReadmeDocumentsSecrets keeps documentedSecrets and the README's
// table in step: each Secret and each of its keys on one line.
func TestReadmeDocumentsSecrets(t *testing.T) {
	f, err := os.Open(readmePath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		lines = append(lines, s.Text())
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	for name, keys := range documentedSecrets {
		found := slices.ContainsFunc(lines, func(l string) bool {
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
