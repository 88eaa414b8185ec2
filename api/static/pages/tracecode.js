/* Trace codes in the browser: the check character (as ledger/tracecode.py computes it) and label URLs.
 * A typed code is checked here, offline, so a typo is caught before it is queued. */
(function (global) {
  "use strict";
  var ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
  var SEPARATORS = " -\u00a0\t";
  var LENGTH = 11;

  // Multiply by the generator w of GF(4), elements as 2-bit numbers.
  function timesW(x) {
    var high = x >> 1, low = x & 1;
    return ((high ^ low) << 1) | high;
  }

  // The quasigroup of order 36 on GF(4) x Z9 that the check character is built on.
  function combine(state, symbol) {
    var a = Math.floor(state / 9), b = state % 9;
    var c = Math.floor(symbol / 9), d = symbol % 9;
    return (timesW(a) ^ c) * 9 + (2 * b + d) % 9;
  }

  /* {code} in canonical form, or {error: "length" | "character" | "check"}. */
  function normalize(text) {
    var symbols = [];
    for (var i = 0; i < text.length; i++) {
      var ch = text.charAt(i);
      if (SEPARATORS.indexOf(ch) >= 0) continue;
      if (ch >= "a" && ch <= "z") ch = ch.toUpperCase();
      if (ALPHABET.indexOf(ch) < 0) return { error: "character" };
      symbols.push(ch);
    }
    if (symbols.length !== LENGTH) return { error: "length" };
    var state = 0;
    for (var j = 0; j < symbols.length; j++) state = combine(state, ALPHABET.indexOf(symbols[j]));
    if (state !== 0) return { error: "check" };
    return { code: symbols.join("") };
  }

  function printed(code) {
    return code.slice(0, 4) + "-" + code.slice(4, 8) + "-" + code.slice(8);
  }

  /* What a scanner read: a label URL (<base>/c/<code>?s=<signature>) or a typed code.
   * {code, signature, source} or {error}. The signature is checked by the server. */
  function fromScan(text) {
    text = (text || "").trim();
    if (!text) return { error: "empty" };
    if (text.indexOf("://") < 0) {
      var typed = normalize(text);
      if (typed.error) return typed;
      return { code: typed.code, signature: null, source: "typed" };
    }
    var url;
    try { url = new URL(text); } catch (e) { return { error: "not_label" }; }
    var match = /\/c\/([^\/]+)$/.exec(url.pathname);
    if (!match || (url.protocol !== "https:" && url.protocol !== "http:")) return { error: "not_label" };
    var label = normalize(decodeURIComponent(match[1]));
    if (label.error || label.code !== match[1]) return { error: "altered" };
    var signature = url.searchParams.get("s");
    if (!signature) return { error: "truncated" };
    return { code: label.code, signature: signature, source: "label" };
  }

  global.TraceCode = { normalize: normalize, printed: printed, fromScan: fromScan };
})(window);
