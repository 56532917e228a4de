// A TypeScript REST client of the suite, as a user would write one: types
// from openapi-typescript run on the gateway's /openapi.json (crm.d.ts,
// written by the Go test that runs this), calls through openapi-fetch.
// tsc must accept it against those types and it must work against the
// running suite, so a wrong path, parameter or schema in the document
// fails the test. Env: BASE_URL, TOKEN (a bearer token of a salesperson).
import createClient from "openapi-fetch";
import type { components, paths } from "./crm.js";

type Status = components["schemas"]["google.rpc.Status"];
type BadRequest = components["schemas"]["google.rpc.BadRequest"];

const client = createClient<paths>({
  baseUrl: process.env.BASE_URL,
  headers: { Authorization: `Bearer ${process.env.TOKEN}` },
});

function fail(what: string, body: unknown): never {
  throw new Error(`${what}: ${JSON.stringify(body)}`);
}

// The fields a google.rpc.BadRequest detail names.
function violations(status: Status | undefined): string[] {
  const fields: string[] = [];
  for (const d of status?.details ?? []) {
    // (Any, the fallback for detail types the document does not list,
    // takes any @type, so the check does not narrow by itself.)
    if (d["@type"] === "type.googleapis.com/google.rpc.BadRequest") {
      for (const v of (d as BadRequest).fieldViolations ?? []) fields.push(v.field ?? "");
    }
  }
  return fields;
}

const created = await client.POST("/v1/leads", {
  body: { firstName: "Grace", lastName: "Hopper", company: "Navy", email: "grace@navy.example", rating: "RATING_WARM" },
});
if (!created.data?.name || created.data.status !== "STATUS_NEW") fail("create", created.error ?? created.data);
const lead = created.data.name.replace(/^leads\//, "");

const got = await client.GET("/v1/leads/{lead}", { params: { path: { lead } } });
if (got.data?.email !== "grace@navy.example") fail("get", got.error ?? got.data);

// Update with the etag; the same etag again is stale: 409 ABORTED.
const updated = await client.PATCH("/v1/leads/{lead}", {
  params: { path: { lead } },
  body: { etag: created.data.etag, rating: "RATING_HOT" },
});
if (updated.data?.rating !== "RATING_HOT") fail("update", updated.error ?? updated.data);
const stale = await client.PATCH("/v1/leads/{lead}", {
  params: { path: { lead } },
  body: { etag: created.data.etag, title: "Rear Admiral" },
});
if (stale.response.status !== 409 || stale.error?.code !== 10) fail("stale etag", stale.error);

// Qualify into a new account and read the conversion once complete.
const qualified = await client.POST("/v1/leads/{lead}:qualify", {
  params: { path: { lead } },
  body: { etag: updated.data.etag, newAccount: { currencyCode: "USD" } },
});
if (qualified.data?.status !== "STATUS_QUALIFIED") fail("qualify", qualified.error ?? qualified.data);
let conversion = qualified.data.conversion;
for (let i = 0; conversion?.state !== "CONVERSION_STATE_COMPLETE"; i++) {
  if (i > 200) fail("conversion not complete", conversion);
  await new Promise((r) => setTimeout(r, 100));
  conversion = (await client.GET("/v1/leads/{lead}", { params: { path: { lead } } })).data?.conversion;
}
const account = await client.GET("/v1/accounts/{account}", {
  params: { path: { account: conversion.account!.replace(/^accounts\//, "") } },
});
if (account.data?.displayName !== "Navy") fail("converted account", account.error ?? account.data);

// Bad input: 400 with field violations.
const bad = await client.POST("/v1/leads", { body: { company: "X", email: "not an email" } });
if (bad.response.status !== 400 || !violations(bad.error).includes("lead.email")) fail("bad email", bad.error);
const malformed = await client.GET("/v1/leads/{lead}", { params: { path: { lead: "not-a-uuid" } } });
if (malformed.response.status !== 400 || !violations(malformed.error).includes("name")) fail("malformed id", malformed.error);

console.log(JSON.stringify({ lead: `leads/${lead}`, account: conversion.account, conversion: conversion.state }));
