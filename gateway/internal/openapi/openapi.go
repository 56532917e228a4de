// Package openapi embeds the OpenAPI (Swagger 2.0) document generated from
// the protos by protoc-gen-openapiv2 (make gen).
package openapi

import (
	_ "embed"
	"encoding/json"
)

//go:embed crm.swagger.json
var generated []byte

// JSON is the merged OpenAPI document of every service behind the gateway.
// The generator names the merged document after its first input file, so
// the title and version are set here.
var JSON = func() []byte {
	var doc map[string]any
	if err := json.Unmarshal(generated, &doc); err != nil {
		return generated
	}
	doc["info"] = map[string]any{
		"title":       "CRM suite API",
		"version":     "v1",
		"description": "REST/JSON API of the CRM suite services, served by the gateway (grpc-gateway).",
	}
	out, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return generated
	}
	return out
}()
