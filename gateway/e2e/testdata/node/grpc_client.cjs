// A Node gRPC caller, as one in another language would be: @grpc/grpc-js
// with @grpc/proto-loader loading the API's descriptor set
// (gen/descriptor/crm.binpb, `make descriptors`), since protobufjs cannot
// load the .proto sources (buf/validate's message-literal options).
// Env: DESCRIPTOR_SET, LEAD_ADDR, TOKEN (a bearer token).
const fs = require("node:fs");
const assert = require("node:assert/strict");
const grpc = require("@grpc/grpc-js");
const loader = require("@grpc/proto-loader");
const protobuf = require("protobufjs");

const definition = loader.loadFileDescriptorSetFromBuffer(fs.readFileSync(process.env.DESCRIPTOR_SET), {
  longs: String,
  enums: String,
  defaults: false,
  oneofs: true,
});
const crm = grpc.loadPackageDefinition(definition).crm;
const leads = new crm.lead.v1.LeadService(process.env.LEAD_ADDR, grpc.credentials.createInsecure());

function call(method, request, token) {
  const md = new grpc.Metadata();
  if (token) md.set("authorization", `Bearer ${token}`);
  return new Promise((resolve, reject) =>
    leads[method](request, md, { deadline: Date.now() + 10000 }, (err, res) => (err ? reject(err) : resolve(res))),
  );
}

// The google.rpc.Status in an error's trailers, with its BadRequest
// decoded (google/rpc types are not in the API's descriptor set).
const rpc = protobuf.Root.fromJSON({
  nested: {
    google: {
      nested: {
        protobuf: { nested: { Any: { fields: { type_url: { type: "string", id: 1 }, value: { type: "bytes", id: 2 } } } } },
        rpc: {
          nested: {
            Status: {
              fields: {
                code: { type: "int32", id: 1 },
                message: { type: "string", id: 2 },
                details: { rule: "repeated", type: "google.protobuf.Any", id: 3 },
              },
            },
            BadRequest: {
              fields: { field_violations: { rule: "repeated", type: "FieldViolation", id: 1 } },
              nested: {
                FieldViolation: { fields: { field: { type: "string", id: 1 }, description: { type: "string", id: 2 } } },
              },
            },
          },
        },
      },
    },
  },
});
function violations(err) {
  const [bin] = err.metadata.get("grpc-status-details-bin");
  const status = rpc.lookupType("google.rpc.Status").decode(bin);
  const fields = [];
  for (const d of status.details) {
    if (d.type_url === "type.googleapis.com/google.rpc.BadRequest") {
      for (const v of rpc.lookupType("google.rpc.BadRequest").decode(d.value).field_violations) fields.push(v.field);
    }
  }
  return fields;
}

async function main() {
  const token = process.env.TOKEN;
  const lead = await call("CreateLead", {
    lead: { firstName: "Alan", lastName: "Turing", company: "Bletchley Park", email: "alan@bletchley.example", rating: "RATING_HOT" },
  }, token);
  assert.match(lead.name, /^leads\/[0-9a-f-]{36}$/);
  assert.equal(lead.status, "STATUS_NEW");

  await assert.rejects(call("CreateLead", { lead: { company: "X", email: "not an email" } }, token), (err) => {
    assert.equal(err.code, grpc.status.INVALID_ARGUMENT);
    assert.ok(violations(err).includes("lead.email"), `violations ${violations(err)}`);
    return true;
  });
  await assert.rejects(call("GetLead", { name: "leads/not-a-uuid" }, token), (err) => {
    assert.equal(err.code, grpc.status.INVALID_ARGUMENT);
    assert.ok(violations(err).includes("name"), `violations ${violations(err)}`);
    return true;
  });
  await assert.rejects(call("ListLeads", {}, ""), { code: grpc.status.UNAUTHENTICATED });

  const list = await call("ListLeads", { pageSize: 10 }, token);
  assert.deepEqual(list.leads.map((l) => l.name), [lead.name]);
  console.log(JSON.stringify({ lead: lead.name, listed: list.leads.length }));
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
