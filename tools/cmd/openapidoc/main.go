// Command openapidoc finishes the OpenAPI 3.1 document the gateway serves.
//
// protoc-gen-openapiv3 (grpc-gateway, pinned in tools/go.mod) writes one
// document per proto file from the google.api.http rules, and
// openapiv3-merge joins them. What they leave for this step (see Finish):
//
//   - AIP resource-name templates come out as /v1/leads/{name},
//     /v1/leads/{lead.name} and /v1/leads/{parent}/activities: templates
//     that collide and parameters that do not say what they hold. Each
//     parameter that follows a collection segment is renamed after the
//     collection's singular (/v1/leads/{lead}), and operations that then
//     share a template share one path item. The gateway routes exactly as
//     before: it matches `leads/*`, and the parameter is that `*`.
//   - A method comment without a paragraph break is all summary: the
//     summary becomes its first sentence and the description the rest.
//   - A schema $ref with sibling keywords (a property's description) is
//     valid 3.1, but generators drop the siblings; the reference is wrapped
//     in allOf, as the generator itself does for readOnly references.
//   - What the protos cannot say comes from a hand-written fragment, merged
//     in: info, the bearer JWT security scheme and the operations that need
//     none, the error responses and the google.rpc detail schemas, and the
//     endpoints the gateway serves by hand (CSV import, HTML form posts).
//   - Every operation gets the error responses it can give (Status bodies).
//
// Then the document is checked (unique templates, declared path parameters,
// summaries, resolvable references) and written as JSON and YAML.
//
// Usage: openapidoc -in merged.json -add fragment.yaml -json out.json -yaml out.yaml
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"

	"go.yaml.in/yaml/v3"
)

func main() {
	in := flag.String("in", "", "merged OpenAPI document from openapiv3-merge (JSON)")
	add := flag.String("add", "", "hand-written fragment to merge in (YAML)")
	jsonOut := flag.String("json", "", "where to write the JSON document")
	yamlOut := flag.String("yaml", "", "where to write the YAML document")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("openapidoc: ")
	if *in == "" || *add == "" || *jsonOut == "" {
		log.Fatal("usage: openapidoc -in merged.json -add fragment.yaml -json out.json [-yaml out.yaml]")
	}
	var gen, frag map[string]any
	raw, err := os.ReadFile(*in)
	if err != nil {
		log.Fatal(err)
	}
	if err := json.Unmarshal(raw, &gen); err != nil {
		log.Fatalf("%s: %v", *in, err)
	}
	raw, err = os.ReadFile(*add)
	if err != nil {
		log.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, &frag); err != nil {
		log.Fatalf("%s: %v", *add, err)
	}
	doc, err := Finish(gen, frag)
	if err != nil {
		log.Fatal(err)
	}
	out, err := MarshalJSON(doc)
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(*jsonOut, out, 0o644); err != nil {
		log.Fatal(err)
	}
	if *yamlOut != "" {
		out, err := MarshalYAML(doc)
		if err != nil {
			log.Fatal(err)
		}
		if err := os.WriteFile(*yamlOut, out, 0o644); err != nil {
			log.Fatal(err)
		}
	}
	fmt.Fprintf(os.Stderr, "openapidoc: %d paths -> %s\n", len(doc["paths"].(map[string]any)), *jsonOut)
}
