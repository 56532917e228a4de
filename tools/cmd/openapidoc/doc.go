package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// methods are the operation keys of a path item.
var methods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// Finish turns the merged generator output into the served document (see
// the package comment), merging the hand-written fragment add.
func Finish(doc, add map[string]any) (map[string]any, error) {
	if v, _ := doc["openapi"].(string); !strings.HasPrefix(v, "3.1.") {
		return nil, fmt.Errorf("want an OpenAPI 3.1 document, got openapi %q", v)
	}
	add, _ = normalize(add).(map[string]any)
	paths, err := concretePaths(obj(doc, "paths"))
	if err != nil {
		return nil, err
	}
	doc["paths"] = paths
	forEachOperation(doc, func(_, _ string, op map[string]any) { summarize(op) })
	wrapRefSiblings(doc)
	nameOneofMembers(doc)
	// Schemas of the fragment replace the generator's whole (google.rpc.Status
	// gets its detail types); everything else merges key by key, so the
	// fragment can add to a generated operation.
	if schemas := obj(obj(add, "components"), "schemas"); len(schemas) > 0 {
		maps.Copy(mapAt(mapAt(doc, "components"), "schemas"), schemas)
		delete(obj(add, "components"), "schemas")
	}
	merge(doc, add)
	forEachOperation(doc, errorResponses)
	return doc, check(doc)
}

// param matches a path template parameter.
var param = regexp.MustCompile(`\{([^{}]+)\}`)

// collection is an AIP collection id (lowerCamel, AIP-122); version is an
// API version segment, which is none.
var (
	collection = regexp.MustCompile(`^[a-z][A-Za-z0-9]*$`)
	version    = regexp.MustCompile(`^v[0-9]+((alpha|beta)[0-9]*)?$`)
)

// expansionSuffix is what protoc-gen-openapiv3 appends to the second and
// later parameters one field expands into (name, name_1, ...).
var expansionSuffix = regexp.MustCompile(`_[0-9]+$`)

// concretePaths renames each path parameter that follows a collection
// segment after the collection's singular and joins the operations that
// then share a template.
func concretePaths(paths map[string]any) (map[string]any, error) {
	out := map[string]any{}
	for _, path := range slices.Sorted(maps.Keys(paths)) {
		item, _ := paths[path].(map[string]any)
		renames := map[string]string{}
		segs := strings.Split(path, "/")
		for i, seg := range segs {
			segs[i] = param.ReplaceAllStringFunc(seg, func(m string) string {
				name := m[1 : len(m)-1]
				if i == 0 || !collection.MatchString(segs[i-1]) || version.MatchString(segs[i-1]) {
					return m // no collection before it: left as it is
				}
				to := singular(segs[i-1])
				renames[name] = to
				return "{" + to + "}"
			})
		}
		newPath := strings.Join(segs, "/")
		if names := param.FindAllString(newPath, -1); len(slices.Compact(slices.Sorted(slices.Values(names)))) != len(names) {
			return nil, fmt.Errorf("%s: two parameters would have one name in %s", path, newPath)
		}
		target, _ := out[newPath].(map[string]any)
		if target == nil {
			target = map[string]any{}
			out[newPath] = target
		}
		for key, v := range item {
			if _, clash := target[key]; clash {
				return nil, fmt.Errorf("%s and another template both have %s %s", path, strings.ToUpper(key), newPath)
			}
			target[key] = v
			op, _ := v.(map[string]any)
			if !slices.Contains(methods, key) || op == nil {
				continue
			}
			params, _ := op["parameters"].([]any)
			for _, p := range params {
				p, _ := p.(map[string]any)
				name, _ := p["name"].(string)
				to, ok := renames[name]
				if p["in"] != "path" || !ok {
					continue
				}
				p["name"] = to
				field := expansionSuffix.ReplaceAllString(name, "")
				desc := fmt.Sprintf("The `{%s}` segment of the resource name in request field `%s`.", to, field)
				if d, _ := p["description"].(string); d != "" {
					desc += " " + d
				}
				p["description"] = desc
			}
		}
	}
	return out, nil
}

// singular of an AIP collection id (lowerCamel plural): leads -> lead,
// opportunities -> opportunity, addresses -> address, webForms -> webForm.
// Irregular plurals (people, shelves) are beyond it: such a collection
// would need a name here.
func singular(collection string) string {
	switch s := collection; {
	case strings.HasSuffix(s, "ies"):
		return strings.TrimSuffix(s, "ies") + "y"
	case strings.HasSuffix(s, "sses"), strings.HasSuffix(s, "xes"), strings.HasSuffix(s, "ches"), strings.HasSuffix(s, "shes"):
		return strings.TrimSuffix(s, "es")
	case strings.HasSuffix(s, "s") && !strings.HasSuffix(s, "ss") && !strings.HasSuffix(s, "us"):
		return strings.TrimSuffix(s, "s")
	default:
		return s
	}
}

// sentenceEnd is a full stop, question or exclamation mark followed by
// white space (abbreviations such as "e.g." are skipped by the caller).
var sentenceEnd = regexp.MustCompile(`[.!?](\s)`)

// summarize makes the summary one short line: a comment without a
// paragraph break is all summary to the generator, so its first sentence
// becomes the summary and the whole comment the description.
func summarize(op map[string]any) {
	summary, _ := op["summary"].(string)
	description, _ := op["description"].(string)
	first := summary
	for _, m := range sentenceEnd.FindAllStringIndex(summary, -1) {
		before := strings.ToLower(summary[:m[0]])
		if strings.HasSuffix(before, "e.g") || strings.HasSuffix(before, "i.e") || strings.HasSuffix(before, "etc") || strings.HasSuffix(before, "vs") {
			continue
		}
		first = summary[:m[0]]
		break
	}
	if first != summary {
		if description != "" {
			summary += "\n\n" + description
		}
		op["description"] = summary
	}
	first = strings.Join(strings.Fields(first), " ")
	op["summary"] = strings.TrimSuffix(first, ".")
}

// wrapRefSiblings rewrites {"$ref": X, "description": ...} schemas as
// {"description": ..., "allOf": [{"$ref": X}]}: generators ignore what
// stands beside a $ref.
func wrapRefSiblings(v any) {
	switch v := v.(type) {
	case map[string]any:
		for _, child := range v {
			wrapRefSiblings(child)
		}
		ref, ok := v["$ref"].(string)
		if ok && len(v) > 1 && strings.HasPrefix(ref, "#/components/schemas/") {
			delete(v, "$ref")
			v["allOf"] = []any{map[string]any{"$ref": ref}}
		}
	case []any:
		for _, child := range v {
			wrapRefSiblings(child)
		}
	}
}

// nameOneofMembers declares the property each {"required": [p]} of a
// oneof's "none of them set" branch ({"not": {"anyOf": [...]}}) names:
// the generator leaves them undeclared, which linters take for a typo.
func nameOneofMembers(v any) {
	switch v := v.(type) {
	case map[string]any:
		for _, child := range v {
			nameOneofMembers(child)
		}
		not, _ := v["not"].(map[string]any)
		anyOf, _ := not["anyOf"].([]any)
		for _, a := range anyOf {
			m, _ := a.(map[string]any)
			req, _ := m["required"].([]any)
			if len(req) == 1 && m["properties"] == nil {
				if p, ok := req[0].(string); ok {
					m["properties"] = map[string]any{p: map[string]any{}}
				}
			}
		}
	case []any:
		for _, child := range v {
			nameOneofMembers(child)
		}
	}
}

// merge copies src into dst, key by key into objects present in both.
func merge(dst, src map[string]any) {
	for k, v := range src {
		d, dok := dst[k].(map[string]any)
		s, sok := v.(map[string]any)
		if dok && sok {
			merge(d, s)
			continue
		}
		dst[k] = v
	}
}

// errorResponses gives an operation the error responses it can give, each
// a google.rpc.Status (components/responses in the fragment), unless it
// declares them itself: 400, 401, 403 and 429 everywhere, 404 with a
// resource in the path, 409 on writes, 413 with a request body, and the
// rest (500, 503, 504) as default.
func errorResponses(path, method string, op map[string]any) {
	responses := mapAt(op, "responses")
	add := func(code, name string) {
		if _, ok := responses[code]; !ok {
			responses[code] = map[string]any{"$ref": "#/components/responses/" + name}
		}
	}
	add("400", "BadRequest")
	add("401", "Unauthorized")
	add("403", "Forbidden")
	if strings.Contains(path, "{") {
		add("404", "NotFound")
	}
	if method != "get" {
		add("409", "Conflict")
	}
	if op["requestBody"] != nil {
		add("413", "PayloadTooLarge")
	}
	add("429", "TooManyRequests")
	responses["default"] = map[string]any{"$ref": "#/components/responses/Error"}
}

// check refuses a document generators would misread.
func check(doc map[string]any) error {
	var errs []error
	templates := map[string]string{}
	ids := map[string]string{}
	for _, path := range slices.Sorted(maps.Keys(obj(doc, "paths"))) {
		shape := param.ReplaceAllString(path, "{}")
		if other, dup := templates[shape]; dup {
			errs = append(errs, fmt.Errorf("%s and %s are the same template", other, path))
		}
		templates[shape] = path
	}
	forEachOperation(doc, func(path, method string, op map[string]any) {
		where := strings.ToUpper(method) + " " + path
		if s, _ := op["summary"].(string); s == "" {
			errs = append(errs, fmt.Errorf("%s: no summary (comment the method in its proto)", where))
		}
		id, _ := op["operationId"].(string)
		if other, dup := ids[id]; dup || id == "" {
			errs = append(errs, fmt.Errorf("%s: operationId %q not unique (also %s)", where, id, other))
		}
		ids[id] = where
		var inPath, declared []string
		for _, m := range param.FindAllStringSubmatch(path, -1) {
			inPath = append(inPath, m[1])
		}
		params, _ := op["parameters"].([]any)
		for _, p := range params {
			if p, _ := p.(map[string]any); p["in"] == "path" {
				declared = append(declared, p["name"].(string))
			}
		}
		slices.Sort(inPath)
		slices.Sort(declared)
		if !slices.Equal(inPath, declared) {
			errs = append(errs, fmt.Errorf("%s: path parameters %v, declared %v", where, inPath, declared))
		}
	})
	walkRefs(doc, func(ref string) {
		if !resolves(doc, ref) {
			errs = append(errs, fmt.Errorf("$ref %s does not resolve", ref))
		}
	})
	return errors.Join(errs...)
}

func forEachOperation(doc map[string]any, f func(path, method string, op map[string]any)) {
	paths := obj(doc, "paths")
	for _, path := range slices.Sorted(maps.Keys(paths)) {
		item, _ := paths[path].(map[string]any)
		for _, m := range methods {
			if op, ok := item[m].(map[string]any); ok {
				f(path, m, op)
			}
		}
	}
}

func walkRefs(v any, f func(string)) {
	switch v := v.(type) {
	case map[string]any:
		if ref, ok := v["$ref"].(string); ok {
			f(ref)
		}
		for _, child := range v {
			walkRefs(child, f)
		}
	case []any:
		for _, child := range v {
			walkRefs(child, f)
		}
	}
}

// resolves says whether a local JSON pointer names something in doc.
func resolves(doc map[string]any, ref string) bool {
	ptr, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return false
	}
	var cur any = doc
	for _, tok := range strings.Split(ptr, "/") {
		tok = strings.NewReplacer("~1", "/", "~0", "~").Replace(tok)
		m, ok := cur.(map[string]any)
		if !ok {
			return false
		}
		if cur, ok = m[tok]; !ok {
			return false
		}
	}
	return true
}

// obj returns m[key] as an object, or nil.
func obj(m map[string]any, key string) map[string]any {
	v, _ := m[key].(map[string]any)
	return v
}

// mapAt returns m[key] as an object, creating it when absent.
func mapAt(m map[string]any, key string) map[string]any {
	v, ok := m[key].(map[string]any)
	if !ok {
		v = map[string]any{}
		m[key] = v
	}
	return v
}

// normalize turns what YAML decodes into what JSON decodes: string keys
// (response codes are numbers to YAML) and float64 numbers.
func normalize(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, child := range v {
			v[k] = normalize(child)
		}
		return v
	case map[any]any:
		out := make(map[string]any, len(v))
		for k, child := range v {
			out[fmt.Sprint(k)] = normalize(child)
		}
		return out
	case []any:
		for i, child := range v {
			v[i] = normalize(child)
		}
		return v
	case int:
		return float64(v)
	default:
		return v
	}
}

// topLevel is the order of the document's top-level keys in the output
// (a reader meets info before the paths); others follow sorted.
var topLevel = []string{"openapi", "info", "jsonSchemaDialect", "servers", "security", "tags", "externalDocs", "paths", "webhooks", "components"}

func orderedKeys(doc map[string]any) []string {
	var keys []string
	for _, k := range topLevel {
		if _, ok := doc[k]; ok {
			keys = append(keys, k)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(doc)) {
		if !slices.Contains(topLevel, k) {
			keys = append(keys, k)
		}
	}
	return keys
}

// MarshalJSON writes doc indented, top-level keys in reading order, the
// rest sorted, without HTML escaping.
func MarshalJSON(doc map[string]any) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("{\n")
	for i, k := range orderedKeys(doc) {
		var v bytes.Buffer
		enc := json.NewEncoder(&v)
		enc.SetEscapeHTML(false)
		enc.SetIndent("  ", "  ")
		if err := enc.Encode(doc[k]); err != nil {
			return nil, err
		}
		key, _ := json.Marshal(k)
		fmt.Fprintf(&b, "  %s: %s", key, bytes.TrimRight(v.Bytes(), "\n"))
		if i < len(doc)-1 {
			b.WriteString(",")
		}
		b.WriteString("\n")
	}
	b.WriteString("}\n")
	return b.Bytes(), nil
}

// MarshalYAML writes doc as YAML with the same key order as MarshalJSON.
func MarshalYAML(doc map[string]any) ([]byte, error) {
	root := &yaml.Node{Kind: yaml.MappingNode}
	for _, k := range orderedKeys(doc) {
		var v yaml.Node
		if err := v.Encode(doc[k]); err != nil {
			return nil, err
		}
		root.Content = append(root.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: k}, &v)
	}
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(root); err != nil {
		return nil, err
	}
	return b.Bytes(), enc.Close()
}
