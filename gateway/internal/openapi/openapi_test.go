package openapi

import (
	"encoding/json"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
)

func TestJSONAndYAMLAreOneDocument(t *testing.T) {
	var j, y any
	if err := json.Unmarshal(JSON, &j); err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(YAML, &y); err != nil {
		t.Fatal(err)
	}
	// Through JSON, so both have the same number and map types.
	b, _ := json.Marshal(y)
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(j, y) {
		t.Fatal("openapi.json and openapi.yaml differ: run make gen")
	}
}

// Every schema named after a proto message or enum has that message's
// fields (by JSON name) or that enum's values, checked against the API's
// descriptor set: the generated schemas, and the hand-written ones of
// handwritten.yaml (crm.lead.v1.ImportProgress), which nothing else
// would keep in step with the protos.
func TestProtoSchemasMatchTheProtos(t *testing.T) {
	raw, err := os.ReadFile("../../../gen/descriptor/crm.binpb")
	if err != nil {
		t.Fatal(err)
	}
	var set descriptorpb.FileDescriptorSet
	if err := proto.Unmarshal(raw, &set); err != nil {
		t.Fatal(err)
	}
	files, err := protodesc.NewFiles(&set)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Components struct {
			Schemas map[string]struct {
				Properties map[string]any `json:"properties"`
				Enum       []string       `json:"enum"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(JSON, &doc); err != nil {
		t.Fatal(err)
	}
	checked := 0
	for name, s := range doc.Components.Schemas {
		if !strings.HasPrefix(name, "crm.") {
			continue
		}
		d, err := files.FindDescriptorByName(protoreflect.FullName(name))
		if err != nil {
			t.Errorf("schema %s names no proto message or enum", name)
			continue
		}
		var want, got []string
		switch d := d.(type) {
		case protoreflect.MessageDescriptor:
			for i := range d.Fields().Len() {
				want = append(want, d.Fields().Get(i).JSONName())
			}
			for p := range s.Properties {
				got = append(got, p)
			}
		case protoreflect.EnumDescriptor:
			for i := range d.Values().Len() {
				want = append(want, string(d.Values().Get(i).Name()))
			}
			got = s.Enum
		}
		slices.Sort(want)
		slices.Sort(got)
		if !slices.Equal(want, got) {
			t.Errorf("schema %s has %v, the proto %v", name, got, want)
		}
		checked++
	}
	if checked < 50 {
		t.Fatalf("only %d proto schemas checked", checked)
	}
}
