// The landing page's QR code, drawn in the browser so the link (whose fragment is the invite
// capability) is never sent anywhere to be encoded. The symbol itself comes from the
// maintained `qrcode-generator` package (loaded before this file as `qrcode`); this file only
// turns the link into UTF-8 bytes, asks for error correction level M at the smallest
// version that fits, and paints the modules on a canvas with a 4-module quiet zone.
"use strict";

const InviteQr = (() => {
  const available = typeof qrcode === "function";

  /** The QR symbol for a string as a square boolean matrix (true = dark), or null. */
  function encode(text) {
    if (!available) return null;
    const symbol = qrcode(0, "M");
    try {
      qrcode.stringToBytes = qrcode.stringToBytesFuncs["UTF-8"];
      symbol.addData(text, "Byte");
      symbol.make();
    } catch (e) {
      return null; // longer than the largest symbol holds
    }
    const size = symbol.getModuleCount();
    const rows = [];
    for (let y = 0; y < size; y++) {
      const row = [];
      for (let x = 0; x < size; x++) row.push(symbol.isDark(y, x));
      rows.push(row);
    }
    return rows;
  }

  /** Draw ``text`` as a QR symbol on a canvas; false when no symbol could be made. */
  function draw(canvas, text, scale) {
    const m = encode(text);
    if (m === null) return false;
    const quiet = 4;
    const px = (m.length + 2 * quiet) * scale;
    canvas.width = px;
    canvas.height = px;
    const ctx = canvas.getContext("2d");
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, px, px);
    ctx.fillStyle = "#000";
    for (let y = 0; y < m.length; y++) {
      for (let x = 0; x < m.length; x++) {
        if (m[y][x]) ctx.fillRect((x + quiet) * scale, (y + quiet) * scale, scale, scale);
      }
    }
    return true;
  }

  return { available, encode, draw };
})();
