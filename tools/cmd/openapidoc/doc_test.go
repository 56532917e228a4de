package main

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

func decode(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// op is a generated operation with the given path parameters.
func op(id string, params ...string) map[string]any {
	var ps []any
	for _, p := range params {
		ps = append(ps, map[string]any{"name": p, "in": "path", "required": true, "description": "Resource name."})
	}
	ps = append(ps, map[string]any{"name": "pageSize", "in": "query"})
	return map[string]any{"operationId": id, "summary": id, "parameters": ps,
		"responses": map[string]any{"200": map[string]any{"description": "ok"}}}
}

func pathParams(o map[string]any) []string {
	var names []string
	for _, p := range o["parameters"].([]any) {
		if p := p.(map[string]any); p["in"] == "path" {
			names = append(names, p["name"].(string))
		}
	}
	return names
}

func TestConcretePathsNameParametersAfterTheirCollection(t *testing.T) {
	paths := map[string]any{
		"/v1/leads":                            map[string]any{"get": op("List")},
		"/v1/leads/{name}":                     map[string]any{"get": op("Get", "name"), "delete": op("Delete", "name")},
		"/v1/leads/{lead.name}":                map[string]any{"patch": op("Update", "lead.name")},
		"/v1/leads/{primary}:merge":            map[string]any{"post": op("Merge", "primary")},
		"/v1/leads/{parent}/activities":        map[string]any{"get": op("ListActivities", "parent")},
		"/v1/opportunities/{name}:win":         map[string]any{"post": op("Win", "name")},
		"/v1/webForms/{name}":                  map[string]any{"get": op("GetForm", "name")},
		"/v1/publishers/{name}/books/{name_1}": map[string]any{"get": op("GetBook", "name", "name_1")},
		"/v1/leads/{parent}/addresses/{name}":  map[string]any{"get": op("GetAddress", "parent", "name")},
		"/v1/{name}":                           map[string]any{"get": op("Bare", "name")},
	}
	got, err := concretePaths(paths)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{ // path -> operations
		"/v1/leads":                               {"get"},
		"/v1/leads/{lead}":                        {"delete", "get", "patch"},
		"/v1/leads/{lead}:merge":                  {"post"},
		"/v1/leads/{lead}/activities":             {"get"},
		"/v1/opportunities/{opportunity}:win":     {"post"},
		"/v1/webForms/{webForm}":                  {"get"},
		"/v1/publishers/{publisher}/books/{book}": {"get"},
		"/v1/leads/{lead}/addresses/{address}":    {"get"},
		"/v1/{name}":                              {"get"},
	}
	if len(got) != len(want) {
		t.Fatalf("paths = %v", slices.Sorted(func(yield func(string) bool) {
			for k := range got {
				yield(k)
			}
		}))
	}
	for path, ops := range want {
		item, ok := got[path].(map[string]any)
		if !ok {
			t.Fatalf("no %s in %v", path, got)
		}
		for _, m := range ops {
			o := item[m].(map[string]any)
			var inPath []string
			for _, p := range param.FindAllStringSubmatch(path, -1) {
				inPath = append(inPath, p[1])
			}
			if !slices.Equal(pathParams(o), inPath) {
				t.Errorf("%s %s: parameters %v, want %v", m, path, pathParams(o), inPath)
			}
		}
	}
	p := got["/v1/leads/{lead}"].(map[string]any)["patch"].(map[string]any)["parameters"].([]any)[0].(map[string]any)
	if d := p["description"].(string); !strings.Contains(d, "`{lead}`") || !strings.Contains(d, "`lead.name`") || !strings.HasSuffix(d, "Resource name.") {
		t.Errorf("renamed parameter's description = %q: should map it back to the request field", d)
	}
	b := got["/v1/publishers/{publisher}/books/{book}"].(map[string]any)["get"].(map[string]any)["parameters"].([]any)[1].(map[string]any)
	if d := b["description"].(string); !strings.Contains(d, "field `name`") {
		t.Errorf("second segment of one field: %q", d)
	}
}

func TestConcretePathsRefuseTwoOperationsOnOneTemplate(t *testing.T) {
	_, err := concretePaths(map[string]any{
		"/v1/leads/{name}": map[string]any{"get": op("Get", "name")},
		"/v1/leads/{id}":   map[string]any{"get": op("Other", "id")},
	})
	if err == nil || !strings.Contains(err.Error(), "GET /v1/leads/{lead}") {
		t.Fatalf("err = %v", err)
	}
}

func TestSingular(t *testing.T) {
	for plural, want := range map[string]string{
		"leads": "lead", "opportunities": "opportunity", "activities": "activity", "webForms": "webForm",
		"importJobs": "importJob", "addresses": "address", "boxes": "box", "matches": "match",
		"wishes": "wish", "status": "status", "campus": "campus", "data": "data", "stageChanges": "stageChange",
	} {
		if got := singular(plural); got != want {
			t.Errorf("singular(%q) = %q, want %q", plural, got, want)
		}
	}
}

func TestSummarizeKeepsTheFirstSentence(t *testing.T) {
	for _, c := range []struct{ summary, description, wantSummary, wantDescription string }{
		{"Gets a lead.", "", "Gets a lead", ""},
		{"Creates a lead. With a `request_id`, a retry\nreturns the first result.", "", "Creates a lead",
			"Creates a lead. With a `request_id`, a retry\nreturns the first result."},
		{"Finds leads, e.g. by email. Then more.", "Details.", "Finds leads, e.g. by email",
			"Finds leads, e.g. by email. Then more.\n\nDetails."},
		{"Lists things across\nlines", "Kept.", "Lists things across lines", "Kept."},
		{"DRAFT -> CONFIRMED. Asks the account service.", "", "DRAFT -> CONFIRMED", "DRAFT -> CONFIRMED. Asks the account service."},
	} {
		o := map[string]any{"summary": c.summary}
		if c.description != "" {
			o["description"] = c.description
		}
		summarize(o)
		d, _ := o["description"].(string)
		if o["summary"] != c.wantSummary || d != c.wantDescription {
			t.Errorf("%q: summary %q, description %q", c.summary, o["summary"], d)
		}
	}
}

func TestWrapRefSiblingsKeepsTheDescriptionForGenerators(t *testing.T) {
	doc := decode(t, `{"components": {"schemas": {"Lead": {"properties": {
		"status": {"$ref": "#/components/schemas/Status", "description": "Where it stands."},
		"plain": {"$ref": "#/components/schemas/Status"},
		"held": {"allOf": [{"$ref": "#/components/schemas/Status"}], "readOnly": true}}}}},
		"paths": {"/x": {"get": {"responses": {"400": {"$ref": "#/components/responses/Bad", "description": "kept"}}}}}}`)
	wrapRefSiblings(doc)
	props := doc["components"].(map[string]any)["schemas"].(map[string]any)["Lead"].(map[string]any)["properties"].(map[string]any)
	status := props["status"].(map[string]any)
	if status["$ref"] != nil || status["description"] != "Where it stands." || status["allOf"].([]any)[0].(map[string]any)["$ref"] != "#/components/schemas/Status" {
		t.Errorf("status = %v", status)
	}
	if props["plain"].(map[string]any)["$ref"] == nil || props["held"].(map[string]any)["allOf"] == nil {
		t.Errorf("plain or allOf references changed: %v", props)
	}
	resp := doc["paths"].(map[string]any)["/x"].(map[string]any)["get"].(map[string]any)["responses"].(map[string]any)["400"].(map[string]any)
	if resp["$ref"] == nil {
		t.Errorf("a response reference (its siblings are allowed) was wrapped: %v", resp)
	}
}

func TestNameOneofMembersDeclaresTheNoneSetBranchsProperties(t *testing.T) {
	doc := decode(t, `{"components": {"schemas": {"Trigger": {"oneOf": [
		{"type": "object", "not": {"anyOf": [{"required": ["events"]}, {"required": ["time"]}]}},
		{"type": "object", "properties": {"events": {"type": "string"}}, "required": ["events"]}]}}}}`)
	nameOneofMembers(doc)
	none := doc["components"].(map[string]any)["schemas"].(map[string]any)["Trigger"].(map[string]any)["oneOf"].([]any)[0].(map[string]any)
	for i, name := range []string{"events", "time"} {
		m := none["not"].(map[string]any)["anyOf"].([]any)[i].(map[string]any)
		if _, ok := m["properties"].(map[string]any)[name]; !ok {
			t.Errorf("branch %d: %v, want %s declared", i, m, name)
		}
	}
	member := doc["components"].(map[string]any)["schemas"].(map[string]any)["Trigger"].(map[string]any)["oneOf"].([]any)[1].(map[string]any)
	if member["properties"].(map[string]any)["events"].(map[string]any)["type"] != "string" {
		t.Errorf("a member's own properties changed: %v", member)
	}
}

const fragment = `
info: {title: CRM, version: v1}
security: [{bearerAuth: []}]
paths:
  /v1/webForms/{webForm}:submit:
    post:
      security: []
      requestBody:
        content:
          application/x-www-form-urlencoded: {schema: {type: object}}
  /v1/leads:importCsv:
    post:
      operationId: ImportCsv
      summary: Imports leads
      requestBody: {content: {text/csv: {schema: {type: string}}}}
      responses:
        200: {description: ok}
components:
  securitySchemes:
    bearerAuth: {type: http, scheme: bearer, bearerFormat: JWT}
  responses:
    BadRequest: {description: bad}
    Unauthorized: {description: no}
    Forbidden: {description: no}
    NotFound: {description: none}
    Conflict: {description: stale}
    PayloadTooLarge: {description: big}
    TooManyRequests: {description: slow down}
    Error: {description: error}
  schemas:
    google.rpc.Status: {type: object, properties: {code: {type: integer}}}
`

func generated(t *testing.T) map[string]any {
	return decode(t, `{"openapi": "3.1.0", "info": {"title": "lead_service", "version": "1.0.0"},
	  "paths": {
	    "/v1/leads/{name}": {"get": {"operationId": "GetLead", "summary": "Gets a lead.",
	      "parameters": [{"name": "name", "in": "path", "required": true, "schema": {"type": "string"}}],
	      "responses": {"200": {"description": "ok"}, "default": {"description": "error",
	        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/google.rpc.Status"}}}}}}},
	    "/v1/webForms/{name}:submit": {"post": {"operationId": "Submit", "summary": "Submits.",
	      "parameters": [{"name": "name", "in": "path", "required": true, "schema": {"type": "string"}}],
	      "requestBody": {"content": {"application/json": {"schema": {"type": "object"}}}},
	      "responses": {"200": {"description": "ok"}}}}},
	  "components": {"schemas": {"google.rpc.Status": {"type": "object", "properties": {"details": {"type": "array"}}}}}}`)
}

func TestFinishMergesTheHandWrittenPartsAndGivesErrorResponses(t *testing.T) {
	var add map[string]any
	if err := yaml.Unmarshal([]byte(fragment), &add); err != nil {
		t.Fatal(err)
	}
	doc, err := Finish(generated(t), add)
	if err != nil {
		t.Fatal(err)
	}
	paths := doc["paths"].(map[string]any)
	submit := paths["/v1/webForms/{webForm}:submit"].(map[string]any)["post"].(map[string]any)
	if s, ok := submit["security"].([]any); !ok || len(s) != 0 {
		t.Errorf("submit security = %v, want [] (public)", submit["security"])
	}
	content := submit["requestBody"].(map[string]any)["content"].(map[string]any)
	if content["application/json"] == nil || content["application/x-www-form-urlencoded"] == nil {
		t.Errorf("submit body types = %v: the form post adds to the JSON one", content)
	}
	get := paths["/v1/leads/{lead}"].(map[string]any)["get"].(map[string]any)
	codes := get["responses"].(map[string]any)
	for _, c := range []string{"200", "400", "401", "403", "404", "429", "default"} {
		if codes[c] == nil {
			t.Errorf("GET lead: no %s response", c)
		}
	}
	if codes["409"] != nil || codes["413"] != nil {
		t.Errorf("GET lead: a read has no 409 or 413: %v", codes)
	}
	if get["summary"] != "Gets a lead" {
		t.Errorf("summary %q", get["summary"])
	}
	csv := paths["/v1/leads:importCsv"].(map[string]any)["post"].(map[string]any)["responses"].(map[string]any)
	if csv["409"] == nil || csv["413"] == nil || csv["404"] != nil {
		t.Errorf("CSV import responses = %v", csv)
	}
	status := doc["components"].(map[string]any)["schemas"].(map[string]any)["google.rpc.Status"].(map[string]any)
	if status["properties"].(map[string]any)["details"] != nil {
		t.Errorf("the fragment's Status should replace the generated one whole: %v", status)
	}
	if doc["info"].(map[string]any)["title"] != "CRM" || doc["security"] == nil {
		t.Errorf("info %v, security %v", doc["info"], doc["security"])
	}
	// The output reads top down and its YAML says the same.
	j, err := MarshalJSON(doc)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(j), "{\n  \"openapi\": \"3.1.0\",\n  \"info\"") {
		t.Errorf("JSON starts %q", j[:40])
	}
	y, err := MarshalYAML(doc)
	if err != nil {
		t.Fatal(err)
	}
	var fromYAML, fromJSON map[string]any
	if err := yaml.Unmarshal(y, &fromYAML); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(j, &fromJSON); err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(normalize(fromYAML))
	b, _ := json.Marshal(fromJSON)
	if string(a) != string(b) {
		t.Errorf("YAML and JSON differ")
	}
}

func TestCheckRefusesWhatGeneratorsMisread(t *testing.T) {
	doc := decode(t, `{"openapi": "3.1.0", "paths": {
	  "/v1/a/{x}": {"get": {"operationId": "A", "summary": "a", "parameters": []}},
	  "/v1/a/{y}": {"post": {"operationId": "A", "parameters": [{"name": "y", "in": "path"}],
	    "responses": {"200": {"$ref": "#/components/responses/Nope"}}}}}}`)
	err := check(doc)
	for _, want := range []string{"same template", "path parameters [x], declared []", "no summary", "not unique", "does not resolve"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("check: %v, want %q", err, want)
		}
	}
}

// The committed document (make gen) passes the checks: what the gateway
// serves.
func TestTheServedDocumentPassesTheChecks(t *testing.T) {
	raw, err := os.ReadFile("../../../gateway/internal/openapi/openapi.json")
	if err != nil {
		t.Fatal("the served document is committed (make gen):", err)
	}
	doc := decode(t, string(raw))
	if err := check(doc); err != nil {
		t.Fatal(err)
	}
	forEachOperation(doc, func(path, method string, op map[string]any) {
		if strings.Contains(path, "{name") || strings.Contains(path, "{parent") || strings.Contains(path, ".") {
			t.Errorf("%s %s: not concrete", method, path)
		}
	})
}
