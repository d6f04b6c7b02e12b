import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  Base64Error,
  decodeBase64,
  encodeBase64,
  JsonNumber,
  parseJson,
  quoteGo,
  stringifyGo,
  UnsupportedValueError,
} from "../src/wire/json.ts";

describe("parseJson", () => {
  test("numbers become JsonNumber with the exact literal", () => {
    const v = parseJson("[1, -0, 1.50, 1e3, 9007199254740993, 18446744073709551615, 2E-7]");
    assert.deepEqual(
      (v as JsonNumber[]).map((n) => n.text),
      ["1", "-0", "1.50", "1e3", "9007199254740993", "18446744073709551615", "2E-7"],
    );
    const n = (v as JsonNumber[])[4];
    assert.ok(n instanceof JsonNumber);
    assert.equal(n.toBigInt(), 9007199254740993n);
    assert.equal(String(n), "9007199254740993");
    assert.equal((v as JsonNumber[])[2].toNumber(), 1.5);
    assert.throws(() => (v as JsonNumber[])[2].toBigInt(), RangeError);
  });

  test("strings, escapes and surrogates", () => {
    assert.equal(parseJson('"a\\"b\\\\c\\/d\\b\\f\\n\\r\\t"'), 'a"b\\c/d\b\f\n\r\t');
    assert.equal(parseJson('"\\u003ca\\u0026b\\u003e"'), "<a&b>");
    assert.equal(parseJson('"\\ud83d\\ude00"'), "😀");
    assert.equal(parseJson('"😀 é"'), "😀 é");
    // Go replaces an unpaired surrogate escape with U+FFFD.
    assert.equal(parseJson('"\\ud800x"'), "\ufffdx");
    assert.equal(parseJson('"\\udc00"'), "\ufffd");
    assert.equal(parseJson('"\\ud800\\u0041"'), "\ufffdA");
  });

  test("objects, arrays, literals and whitespace", () => {
    const v = parseJson(' { "a" : [ true , false , null ] , "b" : { } , "c" : [ ] } ');
    assert.deepEqual(v, { a: [true, false, null], b: {}, c: [] });
  });

  test("a repeated key keeps the last value, in the first position", () => {
    const v = parseJson('{"a":1,"b":2,"a":3}') as Record<string, JsonNumber>;
    assert.deepEqual(Object.keys(v), ["a", "b"]);
    assert.equal(v.a.text, "3");
  });

  test("__proto__ is an own data property, not the prototype", () => {
    const v = parseJson('{"__proto__":{"polluted":1},"x":1}') as Record<string, unknown>;
    assert.equal(Object.getPrototypeOf(v), Object.prototype);
    assert.ok(Object.hasOwn(v, "__proto__"));
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    assert.equal(stringifyGo(v), '{"__proto__":{"polluted":1},"x":1}');
  });

  test("syntax errors use Go's wording", () => {
    const cases: [string, string][] = [
      ["", "unexpected end of JSON input"],
      ["x", "invalid character 'x' looking for beginning of value"],
      ["[1,]", "invalid character ']' looking for beginning of value"],
      ['{"a" 1}', "invalid character '1' after object key"],
      ['{"a":1 "b"}', "invalid character '\"' after object key:value pair"],
      ["{1:2}", "invalid character '1' looking for beginning of object key string"],
      ["[1 2]", "invalid character '2' after array element"],
      ["01", "invalid character '1' after top-level value"],
      ["{} x", "invalid character 'x' after top-level value"],
      ["-x", "invalid character 'x' in numeric literal"],
      ["1.x", "invalid character 'x' after decimal point in numeric literal"],
      ["1ex", "invalid character 'x' in exponent of numeric literal"],
      ["tru", "unexpected end of JSON input"],
      ["trux", "invalid character 'x' in literal true (expecting 'e')"],
      ['"a\nb"', "invalid character '\\n' in string literal"],
      ['"\\x"', "invalid character 'x' in string escape code"],
      ['"\\u12x4"', "invalid character 'x' in \\u hexadecimal character escape"],
      ['"abc', "unexpected end of JSON input"],
      ["[", "unexpected end of JSON input"],
      ["'", "invalid character '\\'' looking for beginning of value"],
    ];
    for (const [input, message] of cases) {
      assert.throws(() => parseJson(input), { name: "SyntaxError", message }, input);
    }
  });

  test("deep nesting is rejected cleanly", () => {
    const deep = "[".repeat(100_000) + "]".repeat(100_000);
    assert.throws(() => parseJson(deep), { name: "SyntaxError", message: "exceeded max depth" });
    assert.doesNotThrow(() => parseJson("[".repeat(1000) + "]".repeat(1000)));
    assert.throws(() => parseJson("[[[]]]", { maxDepth: 2 }), /exceeded max depth/);
  });
});

describe("stringifyGo", () => {
  test("escapes strings like Go", () => {
    assert.equal(stringifyGo("<a&b>"), '"\\u003ca\\u0026b\\u003e"');
    assert.equal(stringifyGo('q"b\\s'), '"q\\"b\\\\s"');
    assert.equal(stringifyGo("\n\r\t\b\f\u0001\u001f"), '"\\n\\r\\t\\u0008\\u000c\\u0001\\u001f"');
    assert.equal(stringifyGo("\u2028\u2029"), '"\\u2028\\u2029"');
    assert.equal(stringifyGo("é😀\u007f"), '"é😀\u007f"');
    assert.equal(stringifyGo("a\ud800b"), '"a\\ufffdb"');
    assert.equal(quoteGo("plain"), '"plain"');
  });

  test("numbers: JsonNumber verbatim, bigint digits, JS shortest form", () => {
    assert.equal(stringifyGo(new JsonNumber("1.50")), "1.50");
    assert.equal(stringifyGo(18446744073709551615n), "18446744073709551615");
    assert.equal(stringifyGo(4.2), "4.2");
    assert.equal(stringifyGo(1e-7), "1e-7");
    assert.equal(stringifyGo(1e21), "1e+21");
    assert.equal(stringifyGo(200), "200");
    assert.equal(stringifyGo(-0), "0");
  });

  test("NaN and infinities fail with Go's message", () => {
    assert.throws(() => stringifyGo(NaN), {
      name: "UnsupportedValueError",
      message: "json: unsupported value: NaN",
    });
    assert.throws(() => stringifyGo([Infinity]), { message: "json: unsupported value: +Inf" });
    assert.throws(() => stringifyGo({ a: -Infinity }), {
      message: "json: unsupported value: -Inf",
    });
    assert.throws(() => stringifyGo(() => 1), UnsupportedValueError);
  });

  test("bytes, null, booleans, dates, nested values", () => {
    assert.equal(stringifyGo(new Uint8Array([1, 2, 255])), '"AQL/"');
    assert.equal(stringifyGo(new Uint8Array([])), '""');
    assert.equal(stringifyGo(null), "null");
    assert.equal(stringifyGo(undefined), "null");
    assert.equal(stringifyGo([true, false, { b: undefined }]), '[true,false,{"b":null}]');
    assert.equal(
      stringifyGo(new Date(Date.UTC(2025, 0, 2, 3, 4, 5, 120))),
      '"2025-01-02T03:04:05.12Z"',
    );
  });

  test("keys keep insertion order unless sorted like a Go map", () => {
    const v = { b: 1, a: { d: 1, c: 2 }, "é": 0, "\uffff": 0, "😀": 0 };
    assert.equal(stringifyGo(v), '{"b":1,"a":{"d":1,"c":2},"é":0,"\uffff":0,"😀":0}');
    // Code point order (UTF-8 byte order): U+FFFF sorts before U+1F600.
    assert.equal(
      stringifyGo(v, { sortKeys: true }),
      '{"a":{"c":2,"d":1},"b":1,"é":0,"\uffff":0,"😀":0}',
    );
  });

  test("a cycle is an error, not a stack overflow", () => {
    const a: unknown[] = [];
    a.push(a);
    assert.throws(() => stringifyGo(a), /encountered a cycle/);
  });

  test("round trip keeps the bytes", () => {
    const text =
      '{"a":[1,2.50,-3e+2,"x\\u003cy"],"b":{"c":null,"d":true},"e":18446744073709551615}';
    assert.equal(stringifyGo(parseJson(text)), text);
  });
});

describe("base64", () => {
  test("encodes with padding", () => {
    assert.equal(encodeBase64(new TextEncoder().encode("hi")), "aGk=");
    assert.equal(encodeBase64(new TextEncoder().encode("h")), "aA==");
    assert.equal(encodeBase64(new TextEncoder().encode("hij")), "aGlq");
  });

  test("decodes like Go's StdEncoding", () => {
    assert.deepEqual(decodeBase64("aGk="), new TextEncoder().encode("hi"));
    assert.deepEqual(decodeBase64("AQL/"), new Uint8Array([1, 2, 255]));
    assert.deepEqual(decodeBase64("aG\r\nk="), new TextEncoder().encode("hi"));
    assert.deepEqual(decodeBase64(""), new Uint8Array([]));
    const bad: [string, number][] = [["aGk", 0], ["a===", 1], ["aGk=x", 4], ["a*k=", 1], [
      "aA=",
      3,
    ], ["aA=x", 2]];
    for (const [input, offset] of bad) {
      assert.throws(() => decodeBase64(input), (e) => {
        assert.ok(e instanceof Base64Error);
        assert.equal(e.message, `illegal base64 data at input byte ${offset}`, input);
        return true;
      });
    }
  });
});
