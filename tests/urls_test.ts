import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { redactPassword, redactURL, URLError, urlScheme } from "../src/urls.ts";
import { parseRedisURL } from "../src/redis/url.ts";
import { parseAMQPURLs } from "../src/amqp/url.ts";
import { parseMemcacheURL } from "../src/memcache/url.ts";

/** Asserts `fn` throws a URLError whose message holds none of `secrets` and matches `pattern`. */
function assertURLError(fn: () => unknown, secrets: string[], pattern?: RegExp): URLError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof URLError, `expected a URLError, got ${caught}`);
  assert.equal(caught.name, "URLError");
  for (const s of secrets) {
    assert.ok(!caught.message.includes(s), `message leaks "${s}": ${caught.message}`);
  }
  if (pattern) assert.match(caught.message, pattern);
  assert.ok(!caught.message.endsWith("."), "no trailing period");
  return caught;
}

describe("parseRedisURL: machinery's v1 factories_test cases", () => {
  const cases: {
    url: string;
    host: string;
    port: number;
    username: string;
    password: string;
    db: number;
  }[] = [
    { url: "redis:/", host: "127.0.0.1", port: 6379, username: "", password: "", db: 0 },
    {
      url: "redis://127.0.0.1:5672",
      host: "127.0.0.1",
      port: 5672,
      username: "",
      password: "",
      db: 0,
    },
    {
      url: "redis://pwd@127.0.0.1:5672",
      host: "127.0.0.1",
      port: 5672,
      username: "",
      password: "pwd",
      db: 0,
    },
    {
      url: "redis://pwd@127.0.0.1:5672/2",
      host: "127.0.0.1",
      port: 5672,
      username: "",
      password: "pwd",
      db: 2,
    },
    {
      url: "redis://user:pwd@127.0.0.1:5672",
      host: "127.0.0.1",
      port: 5672,
      username: "user",
      password: "pwd",
      db: 0,
    },
    {
      url: "redis://user:pwd:with:colon@127.0.0.1:5672",
      host: "127.0.0.1",
      port: 5672,
      username: "user",
      password: "pwd:with:colon",
      db: 0,
    },
    {
      url: "redis://user:@127.0.0.1:5672",
      host: "127.0.0.1",
      port: 5672,
      username: "user",
      password: "",
      db: 0,
    },
    {
      url: "redis://:pwd@127.0.0.1:5672",
      host: "127.0.0.1",
      port: 5672,
      username: "",
      password: "pwd",
      db: 0,
    },
    {
      url: "redis://password@localhost:6379",
      host: "localhost",
      port: 6379,
      username: "",
      password: "password",
      db: 0,
    },
    {
      url: "redis://localhost:6379",
      host: "localhost",
      port: 6379,
      username: "",
      password: "",
      db: 0,
    },
  ];
  for (const c of cases) {
    test(c.url, () => {
      const u = parseRedisURL(c.url);
      assert.equal(u.kind, "tcp");
      assert.equal(u.host, c.host);
      assert.equal(u.port, c.port);
      assert.deepEqual(u.hosts, [{ host: c.host, port: c.port }]);
      assert.equal(u.username, c.username);
      assert.equal(u.password, c.password);
      assert.equal(u.db, c.db);
      assert.equal(u.tls, false);
      assert.equal(u.socketPath, "");
    });
  }

  test("a scheme that is not redis throws", () => {
    assertURLError(() => parseRedisURL("non_redis://127.0.0.1:5672"), [], /Invalid Redis URL/);
    assertURLError(() => parseRedisURL("amqp://u:secret@h:5672"), ["secret"], /"amqp"/);
    assertURLError(() => parseRedisURL("BOGUS"), [], /no scheme/);
    assertURLError(() => parseRedisURL(""), []);
  });
});

describe("parseRedisURL: more of machinery's URL cases", () => {
  test("defaults: no host, no port", () => {
    for (const url of ["redis://", "redis:///", "redis://:pwd@", "redis://:pwd@/3"]) {
      const u = parseRedisURL(url);
      assert.equal(u.host, "127.0.0.1", url);
      assert.equal(u.port, 6379, url);
    }
    assert.equal(parseRedisURL("redis://:pwd@/3").db, 3);
    assert.equal(parseRedisURL("redis://myhost").port, 6379);
    assert.equal(parseRedisURL("redis://myhost:").port, 6379);
  });

  test("the database: the first path segment, bad or missing gives 0", () => {
    assert.equal(parseRedisURL("redis://h:1/").db, 0);
    assert.equal(parseRedisURL("redis://h:1/x").db, 0);
    assert.equal(parseRedisURL("redis://h:1/-1").db, 0);
    assert.equal(parseRedisURL("redis://h:1/15").db, 15);
    assert.equal(parseRedisURL("redis://h:1/7/8").db, 7);
    assert.equal(parseRedisURL("redis://h:1/4?protocol=2").db, 4);
  });

  test("rediss:// sets tls; the scheme is case-insensitive", () => {
    const u = parseRedisURL("rediss://:pw@cache.example.com:6380/1");
    assert.equal(u.tls, true);
    assert.equal(u.host, "cache.example.com");
    assert.equal(u.port, 6380);
    assert.equal(u.db, 1);
    assert.equal(parseRedisURL("REDIS://h:1").tls, false);
  });

  test("percent-encoded user info is decoded", () => {
    const u = parseRedisURL("redis://us%40er:p%2Fa%3Fs%23s%40@h:1");
    assert.equal(u.username, "us@er");
    assert.equal(u.password, "p/a?s#s@");
    assert.equal(parseRedisURL("redis://p%C3%A4ss@h").password, "päss");
  });

  test("an @ inside the password: the user info runs to the last @", () => {
    const u = parseRedisURL("redis://:p@ss@h:1/2");
    assert.equal(u.password, "p@ss");
    assert.equal(u.host, "h");
    assert.equal(u.db, 2);
  });

  test("comma host lists: credentials from the first, the database after the last", () => {
    const u = parseRedisURL("redis://a:1,b:2/3");
    assert.deepEqual(u.hosts, [{ host: "a", port: 1 }, { host: "b", port: 2 }]);
    assert.equal(u.host, "a");
    assert.equal(u.port, 1);
    assert.equal(u.db, 3);
    assert.equal(u.password, "");

    const v = parseRedisURL("redis://user:secret@a,b:7000,[::1]:7001/5");
    assert.deepEqual(v.hosts, [
      { host: "a", port: 6379 },
      { host: "b", port: 7000 },
      { host: "::1", port: 7001 },
    ]);
    assert.equal(v.username, "user");
    assert.equal(v.password, "secret");
    assert.equal(v.db, 5);

    const w = parseRedisURL("redis://pass@a:1,b:2");
    assert.equal(w.username, "");
    assert.equal(w.password, "pass");
    assert.equal(w.db, 0);

    assertURLError(() => parseRedisURL("redis://:secret@a:1,,b:2"), ["secret"], /empty/);
    assertURLError(() => parseRedisURL("redis://:secret@a:x,b:2"), ["secret"], /"x"/);
  });

  test("IPv6 hosts", () => {
    const u = parseRedisURL("redis://[::1]:6380/2");
    assert.equal(u.host, "::1");
    assert.equal(u.port, 6380);
    assert.equal(parseRedisURL("redis://[fe80::1]").port, 6379);
    assertURLError(() => parseRedisURL("redis://:secret@[::1:6380"), ["secret"]);
  });

  test("bad ports throw, naming the URL without its password", () => {
    const e = assertURLError(() => parseRedisURL("redis://:secret@host:x"), ["secret"]);
    assert.equal(
      e.message,
      `Invalid Redis URL "redis://:***@host:x": the port "x" is not a number`,
    );
    assertURLError(
      () => parseRedisURL("redis://user:secret@host:99999"),
      ["secret"],
      /out of range/,
    );
    assertURLError(() => parseRedisURL("redis://secret@host:0"), ["secret"], /out of range/);
  });

  test("a password with an unencoded / or # never leaks into the message", () => {
    for (
      const url of [
        "redis://:se/cret@host:6379",
        "redis://user:12/34@host:6379",
        "redis://:se#cret@host",
        "redis://:se?cret@host",
        "redis://se/cret@host",
      ]
    ) {
      assertURLError(
        () => parseRedisURL(url),
        ["se/cret", "12/34", "cret", "34"],
        /percent-encode/,
      );
    }
  });

  test("bad percent-escapes in the user info", () => {
    assertURLError(() => parseRedisURL("redis://:se%zzret@h"), ["se%zzret", "zz"], /percent/);
  });

  test("opaque and control-character forms throw", () => {
    assertURLError(() => parseRedisURL("redis:h:6379"), [], /expected redis:\/\/host:port\/db/);
    assertURLError(() => parseRedisURL("redis://:secret@h\n:1"), ["secret"], /control/);
    assertURLError(() => parseRedisURL("redis://:secret@my host:1"), ["secret"], /space/);
  });
});

describe("parseRedisURL: redis+socket://", () => {
  test("machinery's cases", () => {
    let u = parseRedisURL("redis+socket:///tmp/redis.sock");
    assert.equal(u.kind, "socket");
    assert.equal(u.socketPath, "/tmp/redis.sock");
    assert.equal(u.password, "");
    assert.equal(u.username, "");
    assert.equal(u.db, 0);
    assert.equal(u.host, "");
    assert.equal(u.port, 0);
    assert.deepEqual(u.hosts, []);
    assert.equal(u.tls, false);

    u = parseRedisURL("redis+socket://pwd@/tmp/redis.sock");
    assert.equal(u.socketPath, "/tmp/redis.sock");
    assert.equal(u.password, "pwd");
    assert.equal(u.username, "");
    assert.equal(u.db, 0);

    u = parseRedisURL("redis+socket://pwd@/tmp/redis.sock:/2");
    assert.equal(u.socketPath, "/tmp/redis.sock");
    assert.equal(u.password, "pwd");
    assert.equal(u.db, 2);

    u = parseRedisURL("redis+socket://user:pwd@/tmp/redis.sock:/2");
    assert.equal(u.username, "user");
    assert.equal(u.password, "pwd");
    assert.equal(u.socketPath, "/tmp/redis.sock");
    assert.equal(u.db, 2);
  });

  test("odd databases give 0; the password splits at the first colon", () => {
    assert.equal(parseRedisURL("redis+socket:///tmp/r.sock:/").db, 0);
    assert.equal(parseRedisURL("redis+socket:///tmp/r.sock:2").db, 0);
    assert.equal(parseRedisURL("redis+socket:///tmp/r.sock:/x").db, 0);
    const u = parseRedisURL("redis+socket://u:p:w@/r.sock:/9");
    assert.equal(u.username, "u");
    assert.equal(u.password, "p:w");
    assert.equal(u.db, 9);
  });

  test("an empty path or a broken scheme throws", () => {
    assertURLError(() => parseRedisURL("redis+socket:/"), [], /redis\+socket:\/\/\[user:\]/);
    assertURLError(() => parseRedisURL("redis+socket://secret@"), ["secret"], /socket path/);
    assertURLError(() => parseRedisURL("redis+socket://u:secret@:/2"), ["secret"], /socket path/);
    assertURLError(() => parseRedisURL("non_redissock:///tmp/redis.sock"), []);
  });
});

describe("parseAMQPURLs", () => {
  test("the default broker URL", () => {
    assert.deepEqual(parseAMQPURLs("amqp://guest:guest@localhost:5672/", ""), [{
      url: "amqp://guest:guest@localhost:5672/",
      host: "localhost",
      port: 5672,
      username: "guest",
      password: "guest",
      vhost: "/",
      tls: false,
    }]);
  });

  test("defaults: guest/guest, localhost, 5672 or 5671, vhost /", () => {
    const [a] = parseAMQPURLs("amqp://", "");
    assert.equal(a.host, "localhost");
    assert.equal(a.port, 5672);
    assert.equal(a.username, "guest");
    assert.equal(a.password, "guest");
    assert.equal(a.vhost, "/");
    const [b] = parseAMQPURLs("amqps://rabbit.example.com", "");
    assert.equal(b.tls, true);
    assert.equal(b.port, 5671);
    assert.equal(b.host, "rabbit.example.com");
    const [c] = parseAMQPURLs("amqp://bob@h", "");
    assert.equal(c.username, "bob");
    assert.equal(c.password, "guest");
  });

  test("vhosts and percent-decoding", () => {
    assert.equal(parseAMQPURLs("amqp://h/", "")[0].vhost, "/");
    assert.equal(parseAMQPURLs("amqp://h/prod", "")[0].vhost, "prod");
    assert.equal(parseAMQPURLs("amqp://h/%2f", "")[0].vhost, "/");
    assert.equal(parseAMQPURLs("amqp://h/%2Fprod", "")[0].vhost, "/prod");
    assert.equal(parseAMQPURLs("amqp:///vh", "")[0].vhost, "vh");
    const [u] = parseAMQPURLs("amqp://us%3Aer:p%40ss@h:1234/v", "");
    assert.equal(u.username, "us:er");
    assert.equal(u.password, "p@ss");
    assert.equal(u.port, 1234);
  });

  test("several URLs joined by the separator", () => {
    const urls = parseAMQPURLs("amqp://a:pa@dummy:5672/| amqp://b:pb@rabbit:5673/vh |", "|");
    assert.deepEqual(urls.map((u) => [u.host, u.port, u.username, u.password, u.vhost]), [
      ["dummy", 5672, "a", "pa", "/"],
      ["rabbit", 5673, "b", "pb", "vh"],
    ]);
    assert.equal(urls[1].url, "amqp://b:pb@rabbit:5673/vh");
    // Without a separator the string is one URL.
    assertURLError(() => parseAMQPURLs("amqp://u:secret@a:1,amqp://u:secret@b:2", ""), ["secret"]);
    assert.equal(parseAMQPURLs("amqp://u:p@a:1,amqp://u:p@b:2", ",").length, 2);
  });

  test("errors name the URL without its password", () => {
    const e = assertURLError(() => parseAMQPURLs("amqp://u:secret@h:x/", ""), ["secret"]);
    assert.equal(e.message, `Invalid AMQP URL "amqp://u:***@h:x/": the port "x" is not a number`);
    assertURLError(() => parseAMQPURLs("redis://:secret@h", ""), ["secret"], /"redis"/);
    assertURLError(() => parseAMQPURLs("amqp://u:sec ret@h", ""), ["sec ret", "sec", "ret@"]);
    assertURLError(() => parseAMQPURLs("", ""), [], /no URL/);
    assertURLError(() => parseAMQPURLs(" | ", "|"), [], /no URL/);
    assertURLError(() => parseAMQPURLs("amqp://u:se/cret@h:5672/", ""), ["se/cret", "cret"]);
  });
});

describe("parseMemcacheURL", () => {
  test("machinery's case and the default port", () => {
    assert.deepEqual(parseMemcacheURL("memcache://10.0.0.1:11211,10.0.0.2:11211"), {
      servers: ["10.0.0.1:11211", "10.0.0.2:11211"],
    });
    assert.deepEqual(parseMemcacheURL("memcache://a,b:1/"), { servers: ["a:11211", "b:1"] });
    assert.deepEqual(parseMemcacheURL("memcache://[::1]"), { servers: ["[::1]:11211"] });
  });

  test("errors", () => {
    assertURLError(() => parseMemcacheURL("memcache://"), [], /no server/);
    assertURLError(() => parseMemcacheURL("redis://h"), [], /memcache/);
    assertURLError(() => parseMemcacheURL("memcache://h:x"), [], /"x"/);
    assertURLError(() => parseMemcacheURL("memcache://u:secret@h"), ["secret"], /credentials/);
  });
});

describe("urlScheme", () => {
  test("schemes and bare words", () => {
    assert.equal(urlScheme("redis://h"), "redis");
    assert.equal(urlScheme("REDISS://h"), "rediss");
    assert.equal(urlScheme("redis+socket:///tmp/r.sock"), "redis+socket");
    assert.equal(urlScheme("amqp://guest:guest@localhost:5672/"), "amqp");
    assert.equal(urlScheme("mongodb+srv://c.example.com"), "mongodb+srv");
    assert.equal(urlScheme("memcache://a,b"), "memcache");
    assert.equal(urlScheme("eager"), "eager");
    assert.equal(urlScheme("memory"), "memory");
    assert.equal(urlScheme("null"), "null");
    assert.equal(urlScheme("BOGUS"), "bogus");
    assert.equal(urlScheme(""), "");
    assert.equal(urlScheme("redis:/"), "");
    assert.equal(urlScheme("localhost:5672/some-queue"), "");
    assert.equal(urlScheme("1abc://x"), "");
  });
});

describe("redactURL (Go RedactURL)", () => {
  test("machinery's case", () => {
    assert.equal(redactURL("amqp://guest:guest@localhost:5672"), "amqp://localhost:5672");
  });

  test("credentials and path removed", () => {
    assert.equal(redactURL("amqp://guest:guest@localhost:5672/"), "amqp://localhost:5672");
    assert.equal(redactURL("redis://:secret@127.0.0.1:6379/3"), "redis://127.0.0.1:6379");
    assert.equal(redactURL("redis://secret@h"), "redis://h");
    assert.equal(redactURL("REDIS://h:1"), "redis://h:1");
    assert.equal(redactURL("redis://a:1,b:2/3"), "redis://a:1,b:2");
    assert.equal(
      redactURL("https://sqs.us-east-2.amazonaws.com/123456789012"),
      "https://sqs.us-east-2.amazonaws.com",
    );
    assert.equal(
      redactURL("amqp://u:p1@h1:5672/,amqp://u:p2@h2:5672/"),
      "amqp://h1:5672",
    );
  });

  test("Go's shapes: no host gives scheme://, and empty gives ://", () => {
    assert.equal(redactURL(""), "://");
    assert.equal(redactURL("redis+socket://secret@/tmp/redis.sock:/2"), "redis+socket://");
    assert.equal(redactURL("localhost:5672/some-queue"), "localhost://");
  });

  test("bare words are kept", () => {
    assert.equal(redactURL("eager"), "eager");
    assert.equal(redactURL("memory"), "memory");
  });

  test("unparseable URLs come back with the password redacted", () => {
    assert.equal(redactURL("redis://:secret@host:x"), "redis://:***@host:x");
    assert.equal(redactURL("amqp://u:sec%zz@h"), "amqp://u:***@h");
  });

  test("a password with an unencoded / never leaks", () => {
    assert.equal(redactURL("redis://user:12/34@host:6379/1"), "redis://host:6379");
    // Go cannot parse this one: it comes back with the password redacted.
    assert.equal(redactURL("redis://:se/cret@host"), "redis://:***@host");
  });
});

describe("redactPassword", () => {
  test("keeps the URL, hides the password", () => {
    assert.equal(redactPassword("redis://:secret@host:6379/1"), "redis://:***@host:6379/1");
    assert.equal(
      redactPassword("amqp://guest:guest@localhost:5672/"),
      "amqp://guest:***@localhost:5672/",
    );
    assert.equal(redactPassword("redis://user:pwd:with:colon@h"), "redis://user:***@h");
    assert.equal(redactPassword("redis://user:@h"), "redis://user:@h");
    assert.equal(redactPassword("redis://h:6379"), "redis://h:6379");
    assert.equal(redactPassword("eager"), "eager");
    assert.equal(redactPassword(""), "");
  });

  test("a lone user info is a password for Redis, a user name elsewhere", () => {
    assert.equal(redactPassword("redis://pwd@127.0.0.1:5672/2"), "redis://***@127.0.0.1:5672/2");
    assert.equal(redactPassword("rediss://pwd@h"), "rediss://***@h");
    assert.equal(
      redactPassword("redis+socket://pwd@/tmp/r.sock"),
      "redis+socket://***@/tmp/r.sock",
    );
    assert.equal(
      redactPassword("redis+socket://user:pwd@/tmp/r.sock:/2"),
      "redis+socket://user:***@/tmp/r.sock:/2",
    );
    assert.equal(redactPassword("amqp://bob@h/"), "amqp://bob@h/");
    assert.equal(redactPassword("mongodb://bob@h/"), "mongodb://bob@h/");
  });

  test("passwords with @, / and # are hidden whole", () => {
    assert.equal(redactPassword("redis://:p@ss/w#rd@h:1/2"), "redis://:***@h:1/2");
  });

  test("URLs without // are redacted too (redis:/:pw@h)", () => {
    const cases: [string, string][] = [
      ["redis:/:secret@127.0.0.1:6379", "redis:/:***@127.0.0.1:6379"],
      ["redis::secret@127.0.0.1", "redis::***@127.0.0.1"],
      ["redis:secret@127.0.0.1", "redis:***@127.0.0.1"],
      ["redis:/secret@127.0.0.1", "redis:/***@127.0.0.1"],
      ["rediss:/user:secret@h/2", "rediss:/user:***@h/2"],
      ["amqp:guest:secret@h", "amqp:guest:***@h"],
      ["AMQP:/guest:secret@h:5672/", "AMQP:/guest:***@h:5672/"],
      ["mongodb:u:secret@h", "mongodb:u:***@h"],
      // No scheme at all: the user reads as a scheme, and the rest is hidden.
      ["user:secret@host:5672", "user:***@host:5672"],
      ["secretonly@host", "secretonly@host"],
      ["  redis:/:secret@h", "  redis:/:***@h"],
      ["redis:/:a@b:c/d@h:1", "redis:/:***@h:1"],
      ["redis:/:secret@h amqp:u:secret2@h2", "redis:/:***@h amqp:u:***@h2"],
      ["redis:///:secret@h", "redis:///:***@h"],
    ];
    for (const [url, want] of cases) {
      const got = redactPassword(url);
      assert.equal(got, want, url);
      assert.ok(!got.includes("secret") || url.startsWith("secretonly"), got);
    }
  });

  test("a password holding scheme-like text is hidden whole", () => {
    assert.equal(redactPassword("redis://:ab:/cd@h"), "redis://:***@h");
    assert.equal(redactPassword("redis://:p,w:x@h:1,b:2/3"), "redis://:***@h:1,b:2/3");
    assert.equal(redactPassword("amqp://u:a b:c@h"), "amqp://u:***@h");
  });

  test("URLs without // never show their password in redactURL", () => {
    for (const url of ["redis:/:secret@h:1", "redis::secret@h", "amqp:u:secret@h"]) {
      assert.ok(!redactURL(url).includes("secret"), redactURL(url));
    }
  });

  test("every URL of a list is redacted", () => {
    assert.equal(
      redactPassword("amqp://a:pa@h1:5672/,amqp://b:pb@h2:5672/"),
      "amqp://a:***@h1:5672/,amqp://b:***@h2:5672/",
    );
  });
});
