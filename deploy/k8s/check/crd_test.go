package check

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"sigs.k8s.io/kustomize/kyaml/kio"
)

// crdDir holds the CustomResourceDefinitions of the operators the overlays
// use, as their releases ship them (crds/README.md says which release).
const crdDir = "crds"

// crdSchema validates one kind at one version, offline, against the
// openAPIV3Schema of its vendored CRD, as the API server would: wrong
// types, missing required fields, values outside an enum or pattern, and,
// since the API server drops or (with kubectl's strict field validation)
// refuses them, unknown fields. Not covered: CEL rules
// (x-kubernetes-validations) and the operators' admission webhooks; the
// prod-ha checks repeat the webhook rules that bite this repository
// (pooler parameters).
type crdSchema struct {
	file   string
	schema *jsonschema.Schema
}

var (
	crdOnce    sync.Once
	crdSchemas map[string]crdSchema // "group/version Kind"
	crdErr     error
)

func loadCRDs(t *testing.T) map[string]crdSchema {
	t.Helper()
	crdOnce.Do(func() { crdSchemas, crdErr = readCRDs(crdDir) })
	if crdErr != nil {
		t.Fatal(crdErr)
	}
	return crdSchemas
}

type crd struct {
	Spec struct {
		Group string `json:"group"`
		Names struct {
			Kind string `json:"kind"`
		} `json:"names"`
		Versions []struct {
			Name   string `json:"name"`
			Served bool   `json:"served"`
			Schema struct {
				OpenAPIV3Schema map[string]any `json:"openAPIV3Schema"`
			} `json:"schema"`
		} `json:"versions"`
	} `json:"spec"`
}

func readCRDs(dir string) (map[string]crdSchema, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(files) == 0 {
		return nil, fmt.Errorf("no CRDs in %s (%v)", dir, err)
	}
	out := map[string]crdSchema{}
	c := jsonschema.NewCompiler()
	// OpenAPI 3.0 schemas are JSON Schema draft 4 plus extensions, which
	// draft 4 ignores as unknown keywords (exclusiveMinimum is a boolean
	// there as in OpenAPI 3.0).
	c.DefaultDraft(jsonschema.Draft4)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		nodes, err := kio.FromBytes(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		for _, n := range nodes {
			raw, err := n.MarshalJSON()
			if err != nil {
				return nil, fmt.Errorf("%s: %w", f, err)
			}
			var d crd
			if err := json.Unmarshal(raw, &d); err != nil {
				return nil, fmt.Errorf("%s: %w", f, err)
			}
			for _, v := range d.Spec.Versions {
				if !v.Served || v.Schema.OpenAPIV3Schema == nil {
					continue
				}
				key := d.Spec.Group + "/" + v.Name + " " + d.Spec.Names.Kind
				url := "crd:///" + filepath.Base(f) + "/" + v.Name
				// Through JSON again so that numbers are json.Number, as
				// the compiler wants them.
				doc, err := reparse(structural(v.Schema.OpenAPIV3Schema, true))
				if err != nil {
					return nil, err
				}
				if err := c.AddResource(url, doc); err != nil {
					return nil, fmt.Errorf("%s: %w", key, err)
				}
				s, err := c.Compile(url)
				if err != nil {
					return nil, fmt.Errorf("%s (%s): %w", key, f, err)
				}
				out[key] = crdSchema{file: filepath.Base(f), schema: s}
			}
		}
	}
	return out, nil
}

func reparse(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return jsonschema.UnmarshalJSON(bytes.NewReader(b))
}

// structural translates the Kubernetes dialect into plain JSON Schema:
// an object schema that names its properties admits no others unless it
// says x-kubernetes-preserve-unknown-fields (the API server prunes the
// rest, and kubectl's default strict validation refuses them), and
// nullable admits null. Inside anyOf/allOf/oneOf/not the branches only
// constrain values, so no property list is closed there.
func structural(s map[string]any, closeable bool) map[string]any {
	out := make(map[string]any, len(s)+1)
	for k, v := range s {
		out[k] = v
	}
	if props, ok := s["properties"].(map[string]any); ok {
		np := make(map[string]any, len(props))
		for name, p := range props {
			if pm, ok := p.(map[string]any); ok {
				np[name] = structural(pm, true)
			}
		}
		out["properties"] = np
		preserve, _ := s["x-kubernetes-preserve-unknown-fields"].(bool)
		if _, has := s["additionalProperties"]; closeable && !has && !preserve {
			out["additionalProperties"] = false
		}
	}
	if items, ok := s["items"].(map[string]any); ok {
		out["items"] = structural(items, true)
	}
	if ap, ok := s["additionalProperties"].(map[string]any); ok {
		out["additionalProperties"] = structural(ap, true)
	}
	for _, k := range []string{"anyOf", "allOf", "oneOf"} {
		if list, ok := s[k].([]any); ok {
			nl := make([]any, len(list))
			for i, b := range list {
				if bm, ok := b.(map[string]any); ok {
					nl[i] = structural(bm, false)
				} else {
					nl[i] = b
				}
			}
			out[k] = nl
		}
	}
	if not, ok := s["not"].(map[string]any); ok {
		out["not"] = structural(not, false)
	}
	if nullable, _ := s["nullable"].(bool); nullable {
		if typ, ok := s["type"].(string); ok {
			out["type"] = []any{typ, "null"}
		}
	}
	return out
}

// isBuiltin reports whether apiVersion belongs to Kubernetes itself (core,
// apps, batch, policy, autoscaling, *.k8s.io), whose kinds need no CRD.
func isBuiltin(apiVersion string) bool {
	group, _, found := strings.Cut(apiVersion, "/")
	if !found {
		return true // core: "v1"
	}
	return !strings.Contains(group, ".") || strings.HasSuffix(group, ".k8s.io")
}

// validateCustom validates every custom resource of r against its
// vendored CRD; a custom kind without one is an error, so a new operator
// resource cannot slip past the check.
func validateCustom(t *testing.T, r rendered) (validated []string) {
	t.Helper()
	schemas := loadCRDs(t)
	for _, o := range r.objects {
		if isBuiltin(o.APIVersion) {
			continue
		}
		id := o.Kind + "/" + o.Metadata.Name
		s, ok := schemas[o.APIVersion+" "+o.Kind]
		if !ok {
			t.Errorf("%s (%s): no CRD for it in deploy/k8s/check/%s: vendor the operator's CRD (crds/README.md)", id, o.APIVersion, crdDir)
			continue
		}
		if err := validateAgainst(s, o.raw); err != nil {
			t.Errorf("%s does not match the schema of %s:\n%v", id, s.file, err)
		}
		validated = append(validated, o.Kind)
	}
	return validated
}

func validateAgainst(s crdSchema, raw []byte) error {
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return err
	}
	return s.schema.Validate(inst)
}

// TestCustomResourcesMatchCRDs validates the custom resources of every
// overlay (and of deploy/observability alone) against the vendored CRDs.
func TestCustomResourcesMatchCRDs(t *testing.T) {
	dirs := []string{observabilityDir}
	for _, name := range overlays(t) {
		dirs = append(dirs, filepath.Join(overlayDir, name))
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			validateCustom(t, render(t, dir))
		})
	}
}

// TestCRDValidationRejects proves the validation bites: each mutation of
// a rendered resource, which the API server would refuse, must fail it.
func TestCRDValidationRejects(t *testing.T) {
	var renders []rendered
	for _, dir := range []string{observabilityDir, filepath.Join(overlayDir, "prod-ha")} {
		renders = append(renders, render(t, dir))
	}
	find := func(kind, name string) (object, bool) {
		for _, r := range renders {
			if o, ok := r.find(kind, name); ok {
				return o, true
			}
		}
		return object{}, false
	}
	schemas := loadCRDs(t)
	cases := []struct {
		kind, name, what string
		mutate           func(obj map[string]any)
	}{
		{"Cluster", "crm-pg", "unknown field (typo of instances)", func(o map[string]any) {
			spec := o["spec"].(map[string]any)
			spec["instance"] = spec["instances"]
		}},
		{"Cluster", "crm-pg", "instances as a string", func(o map[string]any) {
			o["spec"].(map[string]any)["instances"] = "3"
		}},
		{"Pooler", "crm-pg-pooler", "pool mode outside the enum", func(o map[string]any) {
			o["spec"].(map[string]any)["pgbouncer"].(map[string]any)["poolMode"] = "statement"
		}},
		{"ScheduledBackup", "crm-pg-daily", "no cluster", func(o map[string]any) {
			delete(o["spec"].(map[string]any), "cluster")
		}},
		{"ObjectStore", "crm-pg-backups", "WAL compression unknown to barman", func(o map[string]any) {
			o["spec"].(map[string]any)["configuration"].(map[string]any)["wal"].(map[string]any)["compression"] = "zip"
		}},
		{"PrometheusRule", "crm", "a rule without expr", func(o map[string]any) {
			rule := o["spec"].(map[string]any)["groups"].([]any)[0].(map[string]any)["rules"].([]any)[0].(map[string]any)
			delete(rule, "expr")
		}},
		{"PodMonitor", "crm", "endpoint port as a list", func(o map[string]any) {
			ep := o["spec"].(map[string]any)["podMetricsEndpoints"].([]any)[0].(map[string]any)
			ep["port"] = []any{"metrics"}
		}},
	}
	for _, c := range cases {
		t.Run(c.kind+" "+c.what, func(t *testing.T) {
			o, ok := find(c.kind, c.name)
			if !ok {
				t.Fatalf("no %s/%s rendered", c.kind, c.name)
			}
			s, ok := schemas[o.APIVersion+" "+c.kind]
			if !ok {
				t.Fatalf("no CRD for %s", o.APIVersion)
			}
			if err := validateAgainst(s, o.raw); err != nil {
				t.Fatalf("unmodified %s/%s should validate: %v", c.kind, c.name, err)
			}
			var obj map[string]any
			if err := json.Unmarshal(o.raw, &obj); err != nil {
				t.Fatal(err)
			}
			c.mutate(obj)
			raw, err := json.Marshal(obj)
			if err != nil {
				t.Fatal(err)
			}
			if err := validateAgainst(s, raw); err == nil {
				t.Errorf("%s/%s with %s validates; the API server would refuse it", c.kind, c.name, c.what)
			}
		})
	}
}

// TestVendoredCRDsDocumented: every vendored CRD file is listed in
// crds/README.md with its source, and every listed file exists.
func TestVendoredCRDsDocumented(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(crdDir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(crdDir, "*.yaml"))
	var names []string
	for _, f := range files {
		names = append(names, filepath.Base(f))
		if !bytes.Contains(readme, []byte("`"+filepath.Base(f)+"`")) {
			t.Errorf("crds/README.md does not list %s and where it comes from", filepath.Base(f))
		}
	}
	for _, line := range strings.Split(string(readme), "\n") {
		for _, field := range strings.Split(line, "`") {
			if strings.HasSuffix(field, ".yaml") && !strings.Contains(field, "/") && !slices.Contains(names, field) {
				t.Errorf("crds/README.md lists %s, which is not in crds/", field)
			}
		}
	}
}
