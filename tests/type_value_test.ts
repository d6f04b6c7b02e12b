/**
 * `TYPE:VALUE` text (the command line's `--arg`) and Go's ParseBool: the values each type
 * takes, the ranges of the narrow integers, slices as JSON or comma lists, and the errors.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { parseGoBool, parseTypeValue, TypeValueError } from "../src/wire/type_value.ts";
import { fitsIntType, INT_WIDTHS, isIntTypeName } from "../src/wire/types.ts";

function value(spec: string): unknown {
  const arg = parseTypeValue(spec);
  assert.equal(arg.name, "");
  assert.equal(arg.type, spec.slice(0, spec.indexOf(":")));
  return arg.value;
}

function refused(spec: string, message: string): void {
  assert.throws(() => parseTypeValue(spec), (e) => {
    assert.ok(e instanceof TypeValueError, `${spec}: ${e}`);
    assert.equal(e.name, "TypeValueError");
    assert.equal(e.message, message);
    return true;
  });
}

describe("parseGoBool", () => {
  test("Go's ParseBool spellings, nothing else", () => {
    for (const t of ["1", "t", "T", "TRUE", "true", "True"]) assert.equal(parseGoBool(t), true);
    for (const f of ["0", "f", "F", "FALSE", "false", "False"]) assert.equal(parseGoBool(f), false);
    for (const x of ["", "yes", "tRUE", " true", "2"]) assert.equal(parseGoBool(x), undefined);
  });
});

describe("parseTypeValue", () => {
  test("scalars", () => {
    assert.equal(value("int64:1"), 1);
    assert.equal(value("int64: -7 "), -7);
    assert.equal(value("int64:9223372036854775807"), 9223372036854775807n);
    assert.equal(value("uint64:18446744073709551615"), 18446744073709551615n);
    assert.equal(value("float64:2.5"), 2.5);
    assert.equal(value("float32:1.1"), Math.fround(1.1));
    assert.equal(value("bool: True"), true);
    assert.equal(value("bool:0"), false);
    assert.equal(value("string: a:b "), " a:b ");
    assert.equal(value("string:"), "");
  });

  test("the narrow integers take exactly their range", () => {
    const ranges: [string, bigint, bigint][] = [
      ["int8", -128n, 127n],
      ["int16", -32768n, 32767n],
      ["int32", -2147483648n, 2147483647n],
      ["uint8", 0n, 255n],
      ["uint16", 0n, 65535n],
      ["uint32", 0n, 4294967295n],
    ];
    for (const [type, min, max] of ranges) {
      assert.equal(value(`${type}:${min}`), Number(min));
      assert.equal(value(`${type}:${max}`), Number(max));
      refused(`${type}:${min - 1n}`, `${min - 1n} is out of range for ${type}`);
      refused(`${type}:${max + 1n}`, `${max + 1n} is out of range for ${type}`);
      refused(`[]${type}:0,${max + 1n}`, `${max + 1n} is out of range for ${type}`);
    }
  });

  test("64-bit integers out of range fail with strconv's text, as Go's decoder does", () => {
    refused(
      "int64:9223372036854775808",
      'strconv.ParseInt: parsing "9223372036854775808": value out of range',
    );
    refused("uint64:-1", 'strconv.ParseUint: parsing "-1": invalid syntax');
    refused("int:1.5", 'strconv.ParseInt: parsing "1.5": invalid syntax');
  });

  test("slices: a JSON array, a comma list, a base64 string, or empty", () => {
    assert.deepEqual(value("[]int64:[1,2]"), [1, 2]);
    assert.deepEqual(value("[]int64:1, 2"), [1, 2]);
    assert.deepEqual(value("[]int64:"), []);
    assert.deepEqual(value("[]string:a,b"), ["a", "b"]);
    assert.deepEqual(value('[]string:["a,b","c"]'), ["a,b", "c"]);
    assert.deepEqual(value("[]bool:t,False"), [true, false]);
    assert.deepEqual(value("[]float64:1.5,2.5"), [1.5, 2.5]);
    assert.deepEqual(value("[]uint8:1,2"), new Uint8Array([1, 2]));
    assert.deepEqual(value('[]byte:"AQI="'), new Uint8Array([1, 2]));
  });

  test("refusals say what is wrong", () => {
    refused("nope", "expected TYPE:VALUE, such as int64:1, string:hello or []int64:1,2");
    refused(":1", "expected TYPE:VALUE, such as int64:1, string:hello or []int64:1,2");
    assert.throws(() => parseTypeValue("int65:1"), /^TypeValueError: "int65" is not one of/);
    refused("bool:maybe", '"maybe" is not a bool (true or false)');
    refused("int64:abc", '"abc" is not a number');
    refused("float64:[1]", '"[1]" is not a number');
    refused("[]int64:1,x", '"x" is not a number');
    refused("[]int64:[1,x]", "invalid character 'x' looking for beginning of value");
    refused("[]int64:[1.5]", 'strconv.ParseInt: parsing "1.5": invalid syntax');
    refused('[]byte:"!!"', "illegal base64 data at input byte 0");
  });
});

describe("the integer width table", () => {
  test("covers the ten integer types, and only them", () => {
    assert.deepEqual(Object.keys(INT_WIDTHS).sort(), [
      "int",
      "int16",
      "int32",
      "int64",
      "int8",
      "uint",
      "uint16",
      "uint32",
      "uint64",
      "uint8",
    ]);
    for (const t of ["bool", "float64", "string", "byte", "toString"]) {
      assert.ok(!isIntTypeName(t), t);
    }
    assert.ok(fitsIntType("uint64", 2n ** 64n - 1n));
    assert.ok(!fitsIntType("uint64", 2n ** 64n));
    assert.ok(fitsIntType("int", -(2n ** 63n)));
    assert.ok(!fitsIntType("int", 2n ** 63n));
  });
});
