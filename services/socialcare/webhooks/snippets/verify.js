// Verify a Socialcare webhook delivery (Node.js 16+, only its own crypto module).
//
// Socialcare signs every delivery with HMAC-SHA256 over "<timestamp>.<raw body>":
//
//   X-Socialcare-Signature: t=1767225600,v1=<64 hex digits>
//
// Several v1= entries may come (while a secret is rotated, the old one signs too); one
// matching is enough. Verify over the raw body bytes exactly as received (never re-encoded
// JSON), and refuse a timestamp more than five minutes from your clock (a replayed request).
"use strict";

const crypto = require("crypto");

const TOLERANCE_S = 300;

// true when `header` (the X-Socialcare-Signature value) signs `body` (a Buffer) with
// `secret` (the subscription's secret, a string) at a time within `toleranceS` of `now`.
function verifySignature(secret, body, header, toleranceS = TOLERANCE_S, now = Date.now() / 1000) {
  if (!header) return false;
  let timestamp = null;
  const signatures = [];
  for (const item of header.split(",")) {
    const [name, ...rest] = item.trim().split("=");
    const value = rest.join("=");
    if (name === "t" && /^[0-9]{1,12}$/.test(value)) timestamp = Number(value);
    else if (name === "v1") signatures.push(value.trim().toLowerCase());
  }
  if (timestamp === null || signatures.length === 0) return false;
  if (Math.abs(now - timestamp) > toleranceS) return false;
  const expected = crypto
    .createHmac("sha256", secret)
    .update(Buffer.concat([Buffer.from(`${timestamp}.`), body]))
    .digest("hex");
  const wanted = Buffer.from(expected);
  // Compare with every entry in constant time; no early exit.
  let matched = false;
  for (const signature of signatures) {
    const given = Buffer.from(signature);
    if (given.length === wanted.length && crypto.timingSafeEqual(given, wanted)) matched = true;
  }
  return matched;
}

module.exports = { verifySignature, TOLERANCE_S };

// Example, with Express (the raw body, not the parsed JSON):
//
//   app.post("/socialcare", express.raw({ type: "*/*" }), (req, res) => {
//     if (!verifySignature(SECRET, req.body, req.get("X-Socialcare-Signature"))) {
//       return res.status(401).send("bad signature");
//     }
//     const deliveryId = req.get("X-Socialcare-Delivery"); // deduplicate on this
//     const event = JSON.parse(req.body); // a CloudEvents 1.0 envelope: event.type, event.data
//     res.sendStatus(204);
//   });
