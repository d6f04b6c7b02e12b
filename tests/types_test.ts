import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { JsonNumber, parseJson, stringifyGo, UnsupportedValueError } from "../src/wire/json.ts";
import {
  decodeValue,
  encodeValue,
  formatFloatJson,
  formatFloatV,
  humanReadable,
  inferType,
  isTypeName,
  isWireValue,
  toWireValue,
  TYPE_NAMES,
  TypeDecodeError,
} from "../src/wire/types.ts";

const n = (text: string): JsonNumber => new JsonNumber(text);

function decodeError(type: string, wireJson: string, message: string): void {
  assert.throws(() => decodeValue(type, parseJson(wireJson)), (e) => {
    assert.ok(e instanceof TypeDecodeError, `${type} ${wireJson}: ${e}`);
    assert.equal(e.name, "TypeDecodeError");
    assert.equal(e.message, message);
    return true;
  });
}

describe("type names", () => {
  test("the 29 names", () => {
    assert.equal(TYPE_NAMES.length, 29);
    assert.equal(new Set(TYPE_NAMES).size, 29);
    for (const t of ["bool", "uint64", "float32", "string", "[]byte", "[]uint8", "[]string"]) {
      assert.ok(isTypeName(t), t);
    }
    for (const t of ["map", "[]map", "[][]int", "interface{}", "int128", "byte"]) {
      assert.ok(!isTypeName(t), t);
    }
  });
});

describe("decodeValue (Go's ReflectValue)", () => {
  test("scalars", () => {
    assert.equal(decodeValue("bool", true), true);
    assert.equal(decodeValue("string", "x"), "x");
    assert.equal(decodeValue("int64", n("2")), 2);
    assert.equal(decodeValue("int", n("-7")), -7);
    assert.equal(decodeValue("int64", n("9007199254740993")), 9007199254740993n);
    assert.equal(decodeValue("int64", n("-9223372036854775808")), -9223372036854775808n);
    assert.equal(decodeValue("uint64", n("18446744073709551615")), 18446744073709551615n);
    assert.equal(decodeValue("uint", n("42")), 42);
    assert.equal(decodeValue("float64", n("4.2")), 4.2);
    assert.equal(decodeValue("float64", n("2")), 2);
    assert.equal(decodeValue("float64", n("1e-400")), 0);
    assert.equal(decodeValue("float32", n("1.28")), Math.fround(1.28));
  });

  test("narrow integers wrap silently, as in Go", () => {
    assert.equal(decodeValue("int8", n("300")), 44);
    assert.equal(decodeValue("int8", n("-129")), 127);
    assert.equal(decodeValue("int16", n("32768")), -32768);
    assert.equal(decodeValue("int32", n("4294967297")), 1);
    assert.equal(decodeValue("uint8", n("256")), 0);
    assert.equal(decodeValue("uint16", n("65537")), 1);
    assert.equal(decodeValue("uint32", n("18446744073709551615")), 4294967295);
  });

  test("Go's error texts", () => {
    decodeError("int64", "1.5", 'strconv.ParseInt: parsing "1.5": invalid syntax');
    decodeError("int64", "1e3", 'strconv.ParseInt: parsing "1e3": invalid syntax');
    decodeError("int64", '"1"', "1 is not int64");
    decodeError("int64", '"abc"', "abc is not int64");
    decodeError(
      "int64",
      "9223372036854775808",
      'strconv.ParseInt: parsing "9223372036854775808": value out of range',
    );
    decodeError(
      "int",
      "-9223372036854775809",
      'strconv.ParseInt: parsing "-9223372036854775809": value out of range',
    );
    decodeError("uint64", "-1", 'strconv.ParseUint: parsing "-1": invalid syntax');
    decodeError(
      "uint64",
      "18446744073709551616",
      'strconv.ParseUint: parsing "18446744073709551616": value out of range',
    );
    // Overflow is found before the bad character, as Go's one-pass parser does.
    decodeError(
      "uint64",
      "99999999999999999999.5",
      'strconv.ParseUint: parsing "99999999999999999999.5": value out of range',
    );
    decodeError("bool", "1", "1 is not bool");
    decodeError("bool", '"true"', "true is not bool");
    decodeError("string", "null", "<nil> is not string");
    decodeError("string", "[1,2]", "[1 2] is not string");
    decodeError("string", '{"b":1,"a":[true]}', "map[a:[true] b:1] is not string");
    decodeError("float64", '"1.5"', "1.5 is not float64");
    decodeError("float64", "1e400", 'strconv.ParseFloat: parsing "1e400": value out of range');
    decodeError("map", "{}", "map is not one of supported types");
    decodeError("main.MyT", "1", "main.MyT is not one of supported types");
    decodeError("[]map", "[]", "[]map is not one of supported types");
  });

  test("slices", () => {
    assert.deepEqual(decodeValue("[]int64", null), []);
    assert.deepEqual(decodeValue("[]uint8", null), new Uint8Array(0));
    assert.deepEqual(decodeValue("[]byte", parseJson('"aGk="')), new TextEncoder().encode("hi"));
    assert.deepEqual(decodeValue("[]uint8", parseJson('"AQL/"')), new Uint8Array([1, 2, 255]));
    assert.deepEqual(decodeValue("[]uint8", parseJson("[1,2,255]")), new Uint8Array([1, 2, 255]));
    assert.deepEqual(decodeValue("[]uint16", parseJson('"AQL/"')), [1, 2, 255]);
    assert.deepEqual(decodeValue("[]float64", parseJson("[1.5,2.7]")), [1.5, 2.7]);
    assert.deepEqual(decodeValue("[]string", parseJson('["f","o","o"]')), ["f", "o", "o"]);
    assert.deepEqual(decodeValue("[]bool", parseJson("[true,false]")), [true, false]);
    assert.deepEqual(
      decodeValue("[]int64", parseJson("[1,9223372036854775807]")),
      [1, 9223372036854775807n],
    );
    assert.deepEqual(decodeValue("[]int8", parseJson("[200]")), [-56]);
    // Go indexes a string as bytes: "" is an empty slice, anything else fails the element check.
    assert.deepEqual(decodeValue("[]int64", ""), []);
    decodeError("[]string", '"ab"', "97 is not string");
    decodeError("[]int64", '["1"]', "1 is not int64");
    decodeError("[]byte", '["1"]', "1 is not uint8");
    decodeError("[]int64", "[1.5]", 'strconv.ParseInt: parsing "1.5": invalid syntax');
    decodeError("[]uint8", '"aGk"', "illegal base64 data at input byte 0");
  });

  test("a slice given an object, a bool or a number is an error, not a crash", () => {
    decodeError("[]int64", '{"a":1}', "map[a:1] is not []int64");
    decodeError("[]int64", "true", "true is not []int64");
    decodeError("[]byte", "12", "12 is not []uint8");
    decodeError("[]string", "{}", "map[] is not []string");
  });

  test("in-process JS values", () => {
    assert.equal(decodeValue("int64", 5), 5);
    assert.equal(decodeValue("int64", 2n ** 62n), 2n ** 62n);
    assert.equal(decodeValue("int64", 5n), 5);
    assert.equal(decodeValue("float64", 1.5), 1.5);
    assert.equal(decodeValue("float32", 1.28), Math.fround(1.28));
    assert.deepEqual(decodeValue("[]uint8", new Uint8Array([3])), new Uint8Array([3]));
    assert.throws(() => decodeValue("int64", 1.5), { message: "1.5 is not int64" });
    assert.throws(() => decodeValue("bool", 1), { message: "1 is not bool" });
  });
});

describe("encodeValue", () => {
  const wire = (type: string, value: unknown): string => stringifyGo(encodeValue(type, value));

  test("integers are exact digits", () => {
    assert.equal(wire("int64", 2), "2");
    assert.equal(wire("int64", 185135722552891243n), "185135722552891243");
    assert.equal(wire("uint64", 18446744073709551615n), "18446744073709551615");
    assert.equal(wire("int8", -128), "-128");
    assert.equal(wire("int", -0), "0");
    assert.ok(encodeValue("int64", 2) instanceof JsonNumber);
    assert.throws(() => encodeValue("int64", 1.5), TypeError);
    assert.throws(() => encodeValue("int64", "1"), TypeError);
    assert.throws(() => encodeValue("int8", 300), RangeError);
    assert.throws(() => encodeValue("uint64", -1), RangeError);
    assert.throws(() => encodeValue("int64", 2n ** 63n), RangeError);
  });

  test("float64 is JS's shortest form, which is Go's", () => {
    assert.equal(wire("float64", 1.5 + 2.7), "4.2");
    assert.equal(wire("float64", 200), "200");
    assert.equal(wire("float64", 1e-7), "1e-7");
    assert.equal(wire("float64", 1e21), "1e+21");
    assert.equal(wire("float64", 1e20), "100000000000000000000");
    assert.equal(wire("float64", 0.000001), "0.000001");
    assert.equal(wire("float64", -0), "0");
    assert.throws(() => encodeValue("float64", NaN), {
      name: "UnsupportedValueError",
      message: "json: unsupported value: NaN",
    });
    assert.throws(() => encodeValue("float64", -Infinity), UnsupportedValueError);
  });

  test("float32 is the shortest form that round-trips at 32 bits", () => {
    const cases: [number, string][] = [
      [1.28, "1.28"],
      [0.1, "0.1"],
      [1 / 3, "0.33333334"],
      [16777217, "16777216"],
      [123456789, "123456790"],
      [100, "100"],
      [3.4028234663852886e38, "3.4028235e+38"],
      [1e21, "1e+21"],
      [1e-7, "1e-7"],
      [1.5e-7, "1.5e-7"],
      [1e-6, "0.000001"],
      [1.401298464324817e-45, "1e-45"],
      [1.1754943508222875e-38, "1.1754944e-38"],
      [-2.5, "-2.5"],
      [Math.fround(1.1), "1.1"],
    ];
    for (const [x, text] of cases) assert.equal(wire("float32", x), text, String(x));
    assert.throws(() => encodeValue("float32", 1e39), { message: "json: unsupported value: +Inf" });
  });

  test("float32 output always reads back to the same float32", () => {
    const f = new Float32Array(1);
    const u = new Uint32Array(f.buffer);
    let seed = 12345;
    for (let i = 0; i < 20000; i++) {
      seed = (seed * 1103515245 + 12345) >>> 0;
      u[0] = seed ^ (i << 7);
      const x = f[0];
      if (!Number.isFinite(x)) continue;
      const text = formatFloatJson(x, 32);
      assert.equal(Math.fround(Number(text)), x === 0 ? 0 : x, `${x} → ${text}`);
      // Never longer than the shortest toPrecision that round-trips.
      let p = 1;
      while (p < 9 && Math.fround(Number(x.toPrecision(p))) !== x) p++;
      const digits = text.replace(/^-/, "").replace(/e.*$/, "").replace(".", "").replace(
        /^0+/,
        "",
      ).replace(/0+$/, "");
      assert.ok(digits.length <= p, `${x} → ${text} (toPrecision needs ${p})`);
    }
  });

  test("bytes and slices", () => {
    assert.equal(wire("[]uint8", new Uint8Array([1, 2, 255])), '"AQL/"');
    assert.equal(wire("[]byte", [104, 105]), '"aGk="');
    assert.equal(wire("[]byte", "aGk="), '"aGk="');
    assert.equal(wire("[]string", ["f", "o", "o"]), '["f","o","o"]');
    assert.equal(wire("[]int64", [1, 2n, n("3")]), "[1,2,3]");
    assert.equal(wire("[]float32", [1.28]), "[1.28]");
    assert.equal(wire("[]uint16", new Uint16Array([1, 2])), "[1,2]");
    assert.equal(wire("[]int64", null), "null");
    assert.throws(() => encodeValue("[]byte", [256]), RangeError);
    assert.throws(() => encodeValue("[]int64", { a: 1 }), TypeError);
    assert.throws(() => encodeValue("[]string", [1]), TypeError);
  });

  test("JsonNumber and unknown types pass through", () => {
    const x = n("1.50");
    assert.equal(encodeValue("int64", x), x);
    const obj = { b: 1 };
    assert.equal(encodeValue("main.MyT", obj), obj);
    assert.equal(encodeValue("string", "<a&b>"), "<a&b>");
    assert.equal(encodeValue("bool", false), false);
    assert.throws(() => encodeValue("bool", 0), TypeError);
    assert.throws(() => encodeValue("string", 1), TypeError);
  });

  test("wire values pass through toWireValue untouched", () => {
    assert.ok(isWireValue(parseJson('[1,"a",{"b":null},true]')));
    assert.ok(!isWireValue([1]));
    assert.ok(!isWireValue(new Uint8Array(1)));
    // A decoded value that does not fit its type is still re-written verbatim (Go does so).
    assert.equal(toWireValue("int64", "1"), "1");
    assert.equal(stringifyGo(toWireValue("int64", n("1.5"))), "1.5");
    assert.equal(stringifyGo(toWireValue("int64", 7)), "7");
  });
});

describe("inferType", () => {
  test("defaults for JS values", () => {
    const cases: [unknown, string][] = [
      [1, "int64"],
      [-0, "int64"],
      [1.5, "float64"],
      [2 ** 63, "float64"],
      [NaN, "float64"],
      [5n, "int64"],
      [2n ** 63n, "uint64"],
      ["s", "string"],
      [true, "bool"],
      [new Uint8Array(1), "[]uint8"],
      [["a"], "[]string"],
      [[true], "[]bool"],
      [[1, 2], "[]int64"],
      [[1, 2.5], "[]float64"],
      [[1n, 2], "[]int64"],
      [[2n ** 64n - 1n, 1], "[]uint64"],
      [[], "[]int64"],
      [n("12"), "int64"],
      [n("18446744073709551615"), "uint64"],
      [n("1.5"), "float64"],
    ];
    for (const [value, type] of cases) assert.equal(inferType(value), type, String(value));
  });

  test("unsupported values throw a TypeError naming the supported kinds", () => {
    for (const value of [null, undefined, {}, [1, "a"], [[1]], [2n ** 64n, -1], () => 1]) {
      assert.throws(() => inferType(value), (e) => {
        assert.ok(e instanceof TypeError);
        assert.match(e.message, /number, bigint, string, boolean, Uint8Array/);
        return true;
      });
    }
    assert.throws(() => inferType(2n ** 64n), RangeError);
  });
});

describe("humanReadable (Go's HumanReadableResults)", () => {
  test("HumanReadableResults examples", () => {
    assert.equal(humanReadable([2]), "2");
    assert.equal(humanReadable([4.2]), "4.2");
    assert.equal(humanReadable(["foobar"]), "foobar");
    assert.equal(humanReadable([["f", "o", "o"]]), "[f o o]");
    assert.equal(humanReadable([]), "[]");
    assert.equal(humanReadable(["foo", "bar"]), "[foo, bar]");
    assert.equal(humanReadable([true]), "true");
    assert.equal(humanReadable([new Uint8Array([1, 2])]), "[1 2]");
    assert.equal(humanReadable([200], ["float64"]), "200");
    assert.equal(humanReadable([1e21], ["float64"]), "1e+21");
    assert.equal(humanReadable([1e21]), "1e+21");
    assert.equal(humanReadable([18446744073709551615n]), "18446744073709551615");
  });

  test("floats print like Go's %v when the type is known", () => {
    assert.equal(humanReadable([1e6], ["float64"]), "1e+06");
    assert.equal(humanReadable([1e6], ["int64"]), "1000000");
    assert.equal(humanReadable([Math.fround(1.28)], ["float32"]), "1.28");
    assert.equal(humanReadable([[1.5, 1e-5]], ["[]float64"]), "[1.5 1e-05]");
    assert.equal(humanReadable([2, "x"], ["int64", "string"]), "[2, x]");
    assert.equal(formatFloatV(123456789, 64), "1.23456789e+08");
    assert.equal(formatFloatV(0.0001, 64), "0.0001");
    assert.equal(formatFloatV(100000, 64), "100000");
    assert.equal(formatFloatV(-1e-300, 64), "-1e-300");
    assert.equal(formatFloatV(NaN, 64), "NaN");
    assert.equal(formatFloatV(-Infinity, 64), "-Inf");
    assert.equal(formatFloatV(123456789, 32), "1.2345679e+08");
  });
});
