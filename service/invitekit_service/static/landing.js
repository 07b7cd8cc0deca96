// The invite landing page. Everything here runs in the browser: the invite (the URL
// fragment) is read from location.hash and never leaves this page -- the page makes no
// request at all (the Content-Security-Policy says connect-src 'none').
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);

  function b64urlDecode(text) {
    if (!/^[A-Za-z0-9_-]*={0,2}$/.test(text)) throw new Error("not base64url");
    const b64 = text.replace(/=+$/, "").replace(/-/g, "+").replace(/_/g, "/");
    const bin = atob(b64 + "===".slice((b64.length + 3) % 4));
    return Uint8Array.from(bin, (c) => c.charCodeAt(0));
  }

  function b32Decode(text) {
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    const out = [];
    let value = 0, bits = 0;
    for (const c of text.toUpperCase().replace(/=+$/, "")) {
      const v = alphabet.indexOf(c);
      if (v < 0) throw new Error("not base32");
      value = (value << 5) | v;
      bits += 5;
      if (bits >= 8) {
        out.push((value >>> (bits - 8)) & 0xff);
        bits -= 8;
      }
    }
    return Uint8Array.from(out);
  }

  // Minimal protobuf reading: the fields of one message as {number: [bytes|int]}.
  function fields(buf) {
    const out = {};
    let i = 0;
    const varint = () => {
      let v = 0, shift = 0, b;
      do {
        if (i >= buf.length) throw new Error("truncated");
        b = buf[i++];
        v += (b & 0x7f) * 2 ** shift;
        shift += 7;
      } while (b & 0x80);
      return v;
    };
    while (i < buf.length) {
      const key = varint();
      const num = Math.floor(key / 8), type = key % 8;
      let value;
      if (type === 0) value = varint();
      else if (type === 2) {
        const len = varint();
        if (i + len > buf.length) throw new Error("truncated");
        value = buf.subarray(i, i + len);
        i += len;
      } else throw new Error("unsupported wire type");
      (out[num] = out[num] || []).push(value);
    }
    return out;
  }

  const utf8 = (bytes) => new TextDecoder("utf-8", { fatal: true }).decode(bytes);

  // The invite: service pointer and slot id (the key is never shown or used here).
  function readInvite(bytes) {
    const v1 = (fields(bytes)[1] || [])[0];
    if (!(v1 instanceof Uint8Array)) throw new Error("not a version-1 invite");
    const f = fields(v1);
    const slot = (f[2] || [])[0];
    const key = (f[3] || [])[0];
    if (!(slot instanceof Uint8Array) || slot.length < 4) throw new Error("no slot id");
    if (!(key instanceof Uint8Array) || (key.length !== 32 && key.length !== 34)) {
      throw new Error("no key");
    }
    const legacy = key.length === 32;
    let service = "the app's own service";
    const raw = (f[1] || [])[0];
    if (raw instanceof Uint8Array) {
      let url = null;
      if (legacy) {
        try { url = utf8(raw); } catch (e) { url = null; }
      } else {
        const p = fields(raw);
        if (p[1]) url = utf8(p[1][0]);
        else if (p[2]) {
          try { url = utf8(p[2][0]); } catch (e) { url = null; }
        }
      }
      if (url && /^https?:\/\//i.test(url)) service = new URL(url).host;
      else service = "a service the app chooses";
    }
    return { slot, service };
  }

  async function fingerprint(slot) {
    if (!(window.crypto && crypto.subtle)) return "unavailable (not a secure context)";
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", slot));
    return Array.from(digest.slice(0, 4), (b) => b.toString(16).padStart(2, "0")).join("");
  }

  // The link to show, copy and encode: as opened, the compact profile kept compact.
  function theLink(fragment, compact) {
    if (compact) {
      return "HTTPS://" + location.host.toUpperCase() + location.pathname + "#" + fragment;
    }
    return location.origin + location.pathname + "#" + fragment;
  }

  async function main() {
    const body = document.body;
    const fragment = location.hash.slice(1);
    const compact = location.pathname === body.dataset.compactPath;
    const appName = body.dataset.appName || "the app";
    if (!fragment) {
      $("status").textContent = "This page opens group invites, but this link has no invite"
        + " in it. Ask for the invite link again.";
      body.dataset.state = "empty";
      return;
    }
    let invite;
    try {
      invite = readInvite(compact ? b32Decode(fragment) : b64urlDecode(fragment));
    } catch (e) {
      $("status").textContent = "This link is not a complete invite (" + e.message + ")."
        + " Ask for the invite link again, or copy it whole.";
      body.dataset.state = "invalid";
      return;
    }
    const link = theLink(fragment, compact);
    $("service").textContent = invite.service;
    $("fingerprint").textContent = await fingerprint(invite.slot);
    $("link").value = link;
    const app = body.dataset.appLink;
    const open = $("open-app");
    if (app) {
      open.href = app + "#" + fragment;
      open.hidden = false;
      $("status").textContent = "Open the invite in " + appName
        + " to see the group and join it.";
    } else {
      $("status").textContent = "Open this link in " + appName
        + " to see the group and join it.";
    }
    $("copy").addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(link);
        $("copied").textContent = "Copied.";
      } catch (e) {
        $("link").select();
        $("copied").textContent = "Select the link above and copy it.";
      }
    });
    if (!InviteQr.draw($("qr"), link, 6)) {
      $("qr-note").textContent = InviteQr.available
        ? "This link is too long for a QR code: copy it instead."
        : "Copy the link below and open it on your phone.";
    }
    body.dataset.state = "ready";
  }

  main();
})();
