package check

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const examplesDir = "../examples"

// allModules are the suite's modules (platform/modules.Names), one per
// service directory of the base.
var allModules = []string{"lead", "account", "opportunity", "order", "workflow"}

// moduleVariants are the examples that leave modules out: the overlay
// each builds on (whose rules it must keep) and the modules it runs.
var moduleVariants = map[string]struct {
	overlay string
	modules []string
}{
	"modules-lead-account-opportunity": {overlay: "prod", modules: []string{"lead", "account", "opportunity"}},
}

func TestModulesAreTheBaseServices(t *testing.T) {
	var services []string
	for _, s := range baseServices(t) {
		if s != "gateway" {
			services = append(services, s)
		}
	}
	if !slices.Equal(slices.Sorted(slices.Values(services)), slices.Sorted(slices.Values(allModules))) {
		t.Fatalf("base services %v, modules %v: keep allModules in step with platform/modules", services, allModules)
	}
}

// The full overlays run every module, and every workload knows it.
func TestOverlaysRunEveryModule(t *testing.T) {
	for _, name := range overlays(t) {
		if _, ok := wantKinds[name]; !ok {
			continue // checked by its own test
		}
		t.Run(name, func(t *testing.T) {
			r := render(t, filepath.Join(overlayDir, name))
			checkModules(t, r, allModules)
		})
	}
}

// Each example that leaves modules out renders nothing of them, and keeps
// every rule of the overlay it builds on for the rest.
func TestModuleVariants(t *testing.T) {
	entries, err := os.ReadDir(examplesDir)
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for _, e := range entries {
		if e.IsDir() {
			dirs = append(dirs, e.Name())
		}
	}
	for name := range moduleVariants {
		if !slices.Contains(dirs, name) {
			t.Errorf("moduleVariants lists %s, which is not in %s", name, examplesDir)
		}
	}
	for _, dir := range dirs {
		t.Run(dir, func(t *testing.T) {
			v, ok := moduleVariants[dir]
			if !ok {
				t.Fatalf("%s/%s: add it to moduleVariants (the overlay it builds on and the modules it runs)", examplesDir, dir)
			}
			r := render(t, filepath.Join(examplesDir, dir))
			t.Run("modules", func(t *testing.T) { checkModules(t, r, v.modules) })
			// The overlay's own rules, for what is left.
			r.name = v.overlay
			t.Run("kinds", func(t *testing.T) { checkKinds(t, r) })
			t.Run("deployments", func(t *testing.T) { checkDeployments(t, r) })
			t.Run("secret references", func(t *testing.T) { checkVariantSecretRefs(t, r, v.modules) })
			t.Run("configmap references", func(t *testing.T) { checkConfigMapRefs(t, r) })
			t.Run("services select pods", func(t *testing.T) { checkServices(t, r) })
			t.Run("gateway wiring", func(t *testing.T) { checkGateway(t, r) })
			t.Run("public URL", func(t *testing.T) { checkPublicURL(t, r) })
			t.Run("network policies", func(t *testing.T) { checkNetworkPolicies(t, r) })
			t.Run("authentication", func(t *testing.T) { checkAuth(t, r) })
			t.Run("database credentials", func(t *testing.T) { checkDatabaseCredentials(t, r) })
			if v.overlay == "prod" {
				t.Run("autoscaling and budgets", func(t *testing.T) { checkScaling(t, r) })
				t.Run("pinned images", func(t *testing.T) { checkPinnedImages(t, r) })
			}
		})
	}
}

// ofModule reports whether o belongs to module m: named m or m-...
// (m-config-<hash>), or labelled app.kubernetes.io/name=m.
func ofModule(o object, m string) bool {
	return o.Metadata.Name == m || strings.HasPrefix(o.Metadata.Name, m+"-") || o.Metadata.Labels["app.kubernetes.io/name"] == m
}

// checkModules: r runs exactly modules. Each has its Deployment and
// Service; nothing of another module is rendered (no Deployment, Service,
// NetworkPolicy, budget, autoscaler or ConfigMap); every workload reads
// MODULES listing exactly them; the gateway has the address of each and
// of no other, and no workload holds the address of an absent module;
// no NetworkPolicy is an absent module's (selects its pods and none that
// run) or admits one by name.
func checkModules(t *testing.T, r rendered, modules []string) {
	var absent []string
	for _, m := range allModules {
		if !slices.Contains(modules, m) {
			absent = append(absent, m)
		}
	}
	for _, m := range modules {
		for _, kind := range []string{"Deployment", "Service"} {
			if _, ok := r.find(kind, m); !ok {
				t.Errorf("module %s runs, but no %s %s is rendered", m, kind, m)
			}
		}
	}
	for _, o := range r.objects {
		for _, m := range absent {
			if ofModule(o, m) {
				t.Errorf("module %s does not run, but %s/%s is rendered", m, o.Kind, o.Metadata.Name)
			}
		}
	}

	want := strings.Join(modules, ",")
	var pods []map[string]string
	for _, d := range deployments(t, r) {
		pods = append(pods, d.Spec.Template.Metadata.Labels)
		env := plainEnv(t, r, d)
		got, ok := env["MODULES"]
		if !ok {
			t.Errorf("%s: no MODULES (crm-config): it would assume every module runs", d.Metadata.Name)
		} else if listed := strings.Split(got, ","); !slices.Equal(slices.Sorted(slices.Values(listed)), slices.Sorted(slices.Values(modules))) {
			t.Errorf("%s: MODULES=%q, want %q", d.Metadata.Name, got, want)
		}
		for key, v := range env {
			if !strings.HasSuffix(key, "_GRPC_ADDR") || key == "GRPC_ADDR" {
				continue
			}
			if name := strings.ToLower(strings.TrimSuffix(key, "_GRPC_ADDR")); slices.Contains(absent, name) {
				t.Errorf("%s: %s=%q, but module %s does not run", d.Metadata.Name, key, v, name)
			}
		}
		if d.Metadata.Name == "gateway" {
			for _, m := range modules {
				if key := grpcAddrKey(m); env[key] != m+":9090" {
					t.Errorf("gateway: %s=%q, want %s:9090", key, env[key], m)
				}
			}
		}
	}

	// The pods of each module, as the base renders them: a NetworkPolicy
	// that selects some of an absent module's and none that run is that
	// module's.
	modulePods := map[string]map[string]string{}
	for _, d := range deployments(t, render(t, baseDir)) {
		if slices.Contains(allModules, d.Metadata.Name) {
			modulePods[d.Metadata.Name] = d.Spec.Template.Metadata.Labels
		}
	}
	for _, o := range r.ofKind("StatefulSet") {
		pods = append(pods, decode[statefulSet](t, o).Spec.Template.Metadata.Labels)
	}
	for _, o := range r.ofKind("NetworkPolicy") {
		np := decode[networkPolicy](t, o)
		if !slices.ContainsFunc(pods, np.Spec.PodSelector.matches) {
			for _, m := range absent {
				if np.Spec.PodSelector.matches(modulePods[m]) {
					t.Errorf("NetworkPolicy %s selects module %s's pods, and none that run", np.Metadata.Name, m)
				}
			}
		}
		selectors := []*labelSelector{&np.Spec.PodSelector}
		for _, rule := range np.Spec.Ingress {
			for _, f := range rule.From {
				if f.PodSelector != nil {
					selectors = append(selectors, f.PodSelector)
				}
			}
		}
		for _, s := range selectors {
			names := []string{s.MatchLabels["app.kubernetes.io/name"]}
			for _, e := range s.MatchExpressions {
				if e.Key == "app.kubernetes.io/name" {
					names = append(names, e.Values...)
				}
			}
			for _, m := range absent {
				if slices.Contains(names, m) {
					t.Errorf("NetworkPolicy %s names module %s, which does not run", np.Metadata.Name, m)
				}
			}
		}
	}
}

// checkVariantSecretRefs: every Secret a pod or Ingress references is
// rendered or documented, as in checkSecretRefs; of the documented ones,
// those not referenced are the absent modules' (not needed: the README
// says so), and no other.
func checkVariantSecretRefs(t *testing.T, r rendered, modules []string) {
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
		if !ok || key != "" && !slices.Contains(keys, key) {
			t.Errorf("%s references Secret %q key %q, which is neither generated nor documented", owner, name, key)
		}
	}
	for owner, pod := range podTemplates(t, r) {
		for _, c := range pod.allContainers() {
			for _, e := range c.Env {
				if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
					ref(owner, e.ValueFrom.SecretKeyRef.Name, e.ValueFrom.SecretKeyRef.Key)
				}
			}
			for _, ef := range c.EnvFrom {
				if ef.SecretRef != nil {
					ref(owner, ef.SecretRef.Name, "")
				}
			}
		}
		for _, v := range pod.Volumes {
			if v.Secret != nil {
				ref(owner, v.Secret.SecretName, "")
			}
		}
	}
	for _, o := range r.ofKind("Ingress") {
		for _, tls := range decode[ingress](t, o).Spec.TLS {
			ref("Ingress/"+o.Metadata.Name, tls.SecretName, "")
		}
	}
	for name := range documentedSecrets {
		owner, _, _ := strings.Cut(name, "-")
		switch absent := slices.Contains(allModules, owner) && !slices.Contains(modules, owner); {
		case absent && referenced[name]:
			t.Errorf("Secret %s of module %s, which does not run, is referenced", name, owner)
		case !absent && !referenced[name]:
			t.Errorf("documentedSecrets lists %q but the variant does not reference it", name)
		}
	}
}
