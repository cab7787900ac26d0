/*
 * Unit tests of the script processor's Lua side (luascript.h): msgpack to
 * Lua and back with its bounds, the sandbox (what is absent, what is
 * limited), the instruction budget, the memory cap, failures that leave the
 * state usable, the return values of process, and snapshot/restore.
 */
#include <criterion/criterion.h>

#include "flow/error.h"
#include "luascript.h"

#include <lauxlib.h>
#include <stdio.h>
#include <string.h>

static const lscript_limits small = { .max_instructions = 1000000,
                                      .max_memory = 8u * 1024 * 1024 };

static lscript *make(const char *text)
{
    char err[512];
    lscript *s = lscript_new(&small, NULL, NULL, err, sizeof(err));
    cr_assert_not_null(s, "%s", err);
    if (text) {
        int rc = lscript_load(s, "=t", text, strlen(text), err, sizeof(err));
        cr_assert_eq(rc, 0, "load: %s", err);
    }
    return s;
}

/* Runs Lua code on the state directly (not through the sandbox's calls):
 * the tests' own assertions. */
static void lua_ok(lscript *s, const char *code)
{
    lua_State *L = lscript_state(s);
    int rc = luaL_loadstring(L, code);
    if (rc == LUA_OK)
        rc = lua_pcall(L, 0, 0, 0);
    cr_assert_eq(rc, LUA_OK, "%s: %s", code, lua_tostring(L, -1));
}

/* The events process returned, copied. */
struct got {
    int n;
    char type[8][64];
    char key[8][64];
    bool key_set[8];
    int64_t ts[8];
    flow_buf payload[8];
};

static int collect(void *arg, const lscript_out *o)
{
    struct got *g = arg;
    cr_assert_lt(g->n, 8);
    int i = g->n++;
    snprintf(g->type[i], sizeof(g->type[i]), "%.*s", (int)o->type_len,
             o->type ? o->type : "");
    snprintf(g->key[i], sizeof(g->key[i]), "%.*s", (int)o->key_len,
             o->key ? o->key : "");
    g->key_set[i] = o->key_set;
    g->ts[i] = o->ts_us;
    flow_buf_init(&g->payload[i]);
    flow_buf_append(&g->payload[i], o->payload, o->payload_len);
    return 0;
}

static void got_fini(struct got *g)
{
    for (int i = 0; i < g->n; i++)
        flow_buf_fini(&g->payload[i]);
    g->n = 0;
}

/* A deposit event with payload {type, account, amount}. */
static flow_buf deposit_payload;
static flow_event deposit(int64_t amount)
{
    flow_buf_fini(&deposit_payload);
    flow_buf_init(&deposit_payload);
    flow_mp_put_map(&deposit_payload, 3);
    flow_mp_put_cstr(&deposit_payload, "type");
    flow_mp_put_cstr(&deposit_payload, "ACCOUNT_DEPOSITED");
    flow_mp_put_cstr(&deposit_payload, "account");
    flow_mp_put_int(&deposit_payload, 42);
    flow_mp_put_cstr(&deposit_payload, "amount");
    flow_mp_put_int(&deposit_payload, amount);
    return (flow_event){ .id = 7,
                         .ts_us = 1700000000000000,
                         .type = "acct",
                         .type_len = 4,
                         .key = "42",
                         .key_len = 2,
                         .payload = deposit_payload.data,
                         .payload_len = (uint32_t)deposit_payload.len,
                         .seq = 3 };
}

static int process(lscript *s, const flow_event *ev, struct got *g, char *err,
                   size_t errlen)
{
    err[0] = '\0';
    return lscript_process(s, ev, collect, g, err, errlen);
}

/* ---- Conversion ------------------------------------------------------ */

Test(luascript, msgpack_to_lua_values)
{
    lscript *s = make(NULL);
    flow_buf b;
    flow_buf_init(&b);
    flow_mp_put_map(&b, 9);
    flow_mp_put_cstr(&b, "i");
    flow_mp_put_int(&b, -5);
    flow_mp_put_cstr(&b, "u");
    flow_mp_put_uint(&b, UINT64_MAX);
    flow_mp_put_cstr(&b, "f");
    flow_mp_put_double(&b, 2.5);
    flow_mp_put_cstr(&b, "s");
    flow_mp_put_cstr(&b, "hé");
    flow_mp_put_cstr(&b, "bin");
    flow_mp_put_bin(&b, "\0\1", 2);
    flow_mp_put_cstr(&b, "t");
    flow_mp_put_bool(&b, true);
    flow_mp_put_cstr(&b, "n");
    flow_mp_put_nil(&b);
    flow_mp_put_cstr(&b, "list");
    flow_mp_put_array(&b, 3);
    flow_mp_put_int(&b, 1);
    flow_mp_put_nil(&b);
    flow_mp_put_cstr(&b, "x");
    flow_mp_put_int(&b, 10);
    flow_mp_put_cstr(&b, "ten");

    char err[256];
    lua_State *L = lscript_state(s);
    cr_assert_eq(lscript_push_msgpack(s, b.data, b.len, err, sizeof(err)), 0,
                 "%s", err);
    lua_setglobal(L, "v");
    lua_ok(s, "assert(math.type(v.i) == 'integer' and v.i == -5)\n"
              "assert(math.type(v.u) == 'float' and v.u == 2.0^64)\n"
              "assert(v.f == 2.5)\n"
              "assert(v.s == 'h\\xc3\\xa9')\n"
              "assert(v.bin == '\\0\\1')\n"
              "assert(v.t == true)\n"
              "assert(v.n == null)\n"
              "assert(#v.list == 3 and v.list[1] == 1 and v.list[2] == null"
              " and v.list[3] == 'x')\n"
              "assert(v[10] == 'ten')\n");

    /* Back to msgpack and in again: the same values. */
    flow_buf out;
    flow_buf_init(&out);
    lua_getglobal(L, "v");
    cr_assert_eq(lscript_to_msgpack(s, -1, &out, err, sizeof(err)), 0, "%s",
                 err);
    lua_pop(L, 1);
    flow_mp_value m, v;
    cr_assert_eq(flow_mp_map_find(out.data, out.len, "i", &v), 0);
    cr_assert(v.type == FLOW_MP_INT && v.i == -5);
    cr_assert_eq(flow_mp_map_find(out.data, out.len, "n", &v), 0);
    cr_assert_eq(v.type, FLOW_MP_NIL);
    cr_assert_eq(flow_mp_map_find(out.data, out.len, "list", &v), 0);
    cr_assert(v.type == FLOW_MP_ARRAY && v.len == 3);
    flow_mp_reader r;
    flow_mp_reader_init(&r, out.data, out.len);
    cr_assert_eq(flow_mp_read(&r, &m), 0);
    cr_assert(m.type == FLOW_MP_MAP && m.len == 9);
    cr_assert_eq(lscript_push_msgpack(s, out.data, out.len, err, sizeof(err)),
                 0, "%s", err);
    lua_setglobal(L, "w");
    lua_ok(s, "for k, x in pairs(v) do\n"
              "  if type(x) ~= 'table' then assert(w[k] == x, k) end\n"
              "end\n"
              "assert(w.list[2] == null and w.list[3] == 'x')\n");
    flow_buf_fini(&out);
    flow_buf_fini(&b);
    lscript_destroy(&s);
}

Test(luascript, lua_to_msgpack_shapes)
{
    lscript *s = make(NULL);
    lua_State *L = lscript_state(s);
    char err[256];
    flow_buf out;
    flow_buf_init(&out);
    lua_ok(s, "a = {1, 2, 3}; m = {x = 1}; e = {}; h = {1, 2, nil, 4}\n"
              "f = function() end; c = {}; c.self = c\n");
    const struct {
        const char *name;
        int rc;
        flow_mp_type type;
        uint32_t len;
    } cases[] = {
        { "a", 0, FLOW_MP_ARRAY, 3 },  { "m", 0, FLOW_MP_MAP, 1 },
        { "e", 0, FLOW_MP_MAP, 0 },    { "h", 0, FLOW_MP_MAP, 3 },
        { "f", -FLOW_EINVAL, 0, 0 },   { "c", -FLOW_EINVAL, 0, 0 },
        { "null", 0, FLOW_MP_NIL, 0 },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        flow_buf_reset(&out);
        lua_getglobal(L, cases[i].name);
        int rc = lscript_to_msgpack(s, -1, &out, err, sizeof(err));
        lua_pop(L, 1);
        cr_assert_eq(rc, cases[i].rc, "%s: %d %s", cases[i].name, rc, err);
        if (rc)
            continue;
        flow_mp_reader r;
        flow_mp_value v;
        flow_mp_reader_init(&r, out.data, out.len);
        cr_assert_eq(flow_mp_read(&r, &v), 0);
        cr_assert_eq(v.type, cases[i].type, "%s", cases[i].name);
        if (v.type == FLOW_MP_ARRAY || v.type == FLOW_MP_MAP)
            cr_assert_eq(v.len, cases[i].len, "%s", cases[i].name);
    }
    flow_buf_reset(&out);
    lua_getglobal(L, "c");
    cr_assert_eq(lscript_to_msgpack(s, -1, &out, err, sizeof(err)),
                 -FLOW_EINVAL);
    lua_pop(L, 1);
    cr_assert(strstr(err, "deeper than 32"), "%s", err);
    flow_buf_fini(&out);
    lscript_destroy(&s);
}

Test(luascript, msgpack_bounds)
{
    lscript *s = make(NULL);
    char err[256];
    uint8_t deep[64];
    memset(deep, 0x91, sizeof(deep)); /* arrays of one array ... */
    deep[sizeof(deep) - 1] = 0xc0;
    cr_assert_eq(lscript_push_msgpack(s, deep, sizeof(deep), err, sizeof(err)),
                 -FLOW_EMALFORMED);
    cr_assert(strstr(err, "deeper than 32"), "%s", err);
    /* Exactly 32 levels is fine. */
    cr_assert_eq(
        lscript_push_msgpack(s, deep + sizeof(deep) - 33, 33, err, sizeof(err)),
        0, "%s", err);
    lua_pop(lscript_state(s), 1);

    const struct {
        const char *bytes;
        size_t len;
        const char *why;
    } bad[] = {
        { "\x92\x01", 2, "ends early" },
        { "\xd9\x05"
          "ab",
          4, "ends early" },
        { "\x01\x02", 2, "follow" },
        { "\xc1", 1, "malformed" },
        { "\xd4\x01\x00", 3, "ext" },
        { "\x81\xc0\x01", 3, "nil" },
        { "\x81\x90\x01", 3, "array or a map" },
        { "\x81\xcb\x7f\xf8\0\0\0\0\0\0\x01", 11, "NaN" },
        { "\xdd\xff\xff\xff\xff", 5, "" },
        { "", 0, "ends early" },
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int top = lua_gettop(lscript_state(s));
        int rc =
            lscript_push_msgpack(s, bad[i].bytes, bad[i].len, err, sizeof(err));
        cr_assert_eq(rc, -FLOW_EMALFORMED, "case %zu: %d %s", i, rc, err);
        cr_assert(strstr(err, bad[i].why), "case %zu: %s", i, err);
        cr_assert_eq(lua_gettop(lscript_state(s)), top, "case %zu", i);
    }
    lscript_destroy(&s);
}

/* ---- The sandbox ----------------------------------------------------- */

Test(luascript, sandbox_has_no_os_io_require)
{
    lscript *s = make(NULL);
    lua_ok(s, "assert(os == nil and io == nil and require == nil)\n"
              "assert(package == nil and debug == nil)\n"
              "assert(dofile == nil and loadfile == nil)\n"
              "assert(string.dump == nil)\n"
              "assert(string and table and math and utf8 and coroutine)\n"
              "assert(load('return 1 + 1')() == 2)\n"
              "local ok, e = pcall(load, 'return 1', 'x', 'b')\n"
              "assert(not ok and e:find('text chunks only'))\n"
              "local f, e2 = load('\\27Lua')\n"
              "assert(f == nil and e2:find('binary'), e2)\n"
              "assert(type(collectgarbage('count')) == 'number')\n"
              "collectgarbage()\n"
              "ok, e = pcall(collectgarbage, 'stop')\n"
              "assert(not ok and e:find('not available'))\n"
              "ok, e = pcall(setmetatable, {}, {__gc = function() end})\n"
              "assert(not ok and e:find('__gc'))\n"
              "assert(getmetatable(setmetatable({}, {__index = {a = 1}})))\n");
    lscript_destroy(&s);
}

Test(luascript, budget_stops_an_infinite_loop)
{
    lscript *s =
        make("function process(ev)\n"
             "  local a = ev.payload.amount\n"
             "  if a == 1 then while true do end end\n"
             "  if a == 2 then\n"
             "    while true do pcall(function() while true do end end) end\n"
             "  end\n"
             "  if a == 3 then\n"
             "    coroutine.wrap(function() while true do end end)()\n"
             "  end\n"
             "  if a == 4 then table.move({}, 1, math.maxinteger - 1, 1) end\n"
             "  if a == 5 then\n"
             "    assert(string.rep('', 1 << 62) == '')\n"
             "    assert(('x'):rep(3, ',') == 'x,x,x')\n"
             "    assert(#table.move({1, 2, 3}, 1, 3, 2) == 4)\n"
             "  end\n"
             "  return ev\n"
             "end\n");
    char err[512];
    struct got g = { 0 };
    for (int64_t amount = 1; amount <= 4; amount++) {
        flow_event ev = deposit(amount);
        int rc = process(s, &ev, &g, err, sizeof(err));
        cr_assert_eq(rc, -FLOW_ETOOBIG, "amount %lld: %d %s", (long long)amount,
                     rc, err);
        cr_assert(strstr(err, "instruction budget exceeded"), "%s", err);
        cr_assert(strstr(err, "1000000 instructions"), "%s", err);
        cr_assert(strstr(err, "t:"), "the message names the chunk: %s", err);
        cr_assert_eq(g.n, 0);
        /* The state goes on: the next event passes (and string.rep and
         * table.move still work). */
        ev = deposit(5);
        cr_assert_eq(process(s, &ev, &g, err, sizeof(err)), 0, "%s", err);
        cr_assert_eq(g.n, 1);
        got_fini(&g);
    }
    lscript_destroy(&s);
}

Test(luascript, memory_cap_stops_an_allocation_bomb)
{
    lscript_limits lim = { .max_instructions = 100000000,
                           .max_memory = 2u * 1024 * 1024 };
    char err[512];
    lscript *s = lscript_new(&lim, NULL, NULL, err, sizeof(err));
    cr_assert_not_null(s);
    const char *text =
        "function process(ev)\n"
        "  if ev.payload.amount == 1 then\n"
        "    local t = {}\n"
        "    for i = 1, 1e9 do t[i] = string.rep('x', 100) .. i end\n"
        "  end\n"
        "  if ev.payload.amount == 2 then return {payload = "
        "string.rep('y', 1 << 30)} end\n"
        "  return ev\n"
        "end\n";
    cr_assert_eq(lscript_load(s, "=t", text, strlen(text), err, sizeof(err)), 0,
                 "%s", err);
    struct got g = { 0 };
    for (int64_t amount = 1; amount <= 2; amount++) {
        flow_event ev = deposit(amount);
        int rc = process(s, &ev, &g, err, sizeof(err));
        cr_assert_eq(rc, -FLOW_ETOOBIG, "%d %s", rc, err);
        cr_assert(strstr(err, "out of memory") &&
                      strstr(err, "2097152 bytes (--max-memory)"),
                  "%s", err);
        ev = deposit(5);
        cr_assert_eq(process(s, &ev, &g, err, sizeof(err)), 0, "%s", err);
        cr_assert_eq(g.n, 1);
        got_fini(&g);
    }
    lscript_destroy(&s);
}

Test(luascript, runtime_error_and_bad_returns)
{
    lscript *s = make("function process(ev)\n"
                      "  local a = ev.payload.amount\n"
                      "  if a == 1 then error('boom') end\n"
                      "  if a == 2 then return 42 end\n"
                      "  if a == 3 then return {x = 1} end\n"
                      "  if a == 4 then return {ev, 'no'} end\n"
                      "  if a == 5 then return {payload = {f = print}} end\n"
                      "  if a == 6 then return {payload = 1, type = 5} end\n"
                      "  if a == 7 then return ev.nothing.here end\n"
                      "  return nil\n"
                      "end\n");
    const struct {
        int64_t amount;
        const char *msg;
    } cases[] = {
        { 1, "t:3: boom" },
        { 2, "process returned a number" },
        { 3, "a table without a payload" },
        { 4, "event 2 of the list is a string" },
        { 5, "holds a function" },
        { 6, "the type of the event is a number" },
        { 7, "t:9: attempt to index a nil value" },
    };
    char err[512];
    struct got g = { 0 };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        flow_event ev = deposit(cases[i].amount);
        int rc = process(s, &ev, &g, err, sizeof(err));
        cr_assert_eq(rc, -FLOW_EINVAL, "%lld: %d %s",
                     (long long)cases[i].amount, rc, err);
        cr_assert(strstr(err, cases[i].msg), "%s", err);
        cr_assert_eq(g.n, 0, "nothing is emitted from a failed call");
    }
    flow_event ev = deposit(8);
    cr_assert_eq(process(s, &ev, &g, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(g.n, 0, "nil drops");
    lscript_destroy(&s);
}

Test(luascript, event_table_and_results)
{
    lscript *s =
        make("function process(ev)\n"
             "  assert(ev.id == 7 and ev.type == 'acct' and ev.key == '42')\n"
             "  assert(ev.ts == 1700000000000000 and ev.seq == 3)\n"
             "  assert(ev.payload.type == 'ACCOUNT_DEPOSITED')\n"
             "  if ev.payload.amount == 1 then\n"
             "    ev.payload.big = ev.payload.amount > 0\n"
             "    return ev\n"
             "  end\n"
             "  if ev.payload.amount == 2 then\n"
             "    return {{payload = {n = 1}, type = 'one', key = false},\n"
             "            {payload = {n = 2}, ts = 5, key = 'k'}}\n"
             "  end\n"
             "  return {}\n"
             "end\n");
    char err[512];
    struct got g = { 0 };
    flow_event ev = deposit(1);
    cr_assert_eq(process(s, &ev, &g, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(g.n, 1);
    cr_assert_str_eq(g.type[0], "acct");
    cr_assert_str_eq(g.key[0], "42");
    flow_mp_value v;
    cr_assert_eq(
        flow_mp_map_find(g.payload[0].data, g.payload[0].len, "big", &v), 0);
    cr_assert(v.type == FLOW_MP_BOOL && v.b);
    cr_assert_eq(
        flow_mp_map_find(g.payload[0].data, g.payload[0].len, "account", &v),
        0);
    cr_assert_eq(v.i, 42);
    got_fini(&g);

    ev = deposit(2);
    cr_assert_eq(process(s, &ev, &g, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(g.n, 2);
    cr_assert_str_eq(g.type[0], "one");
    cr_assert(g.key_set[0] && g.key[0][0] == '\0');
    cr_assert_str_eq(g.type[1], "", "no type: the input's");
    cr_assert(g.key_set[1]);
    cr_assert_str_eq(g.key[1], "k");
    cr_assert_eq(g.ts[1], 5);
    cr_assert_eq(flow_mp_map_find(g.payload[1].data, g.payload[1].len, "n", &v),
                 0);
    cr_assert_eq(v.i, 2);
    got_fini(&g);

    ev = deposit(3);
    cr_assert_eq(process(s, &ev, &g, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(g.n, 0, "an empty list drops");
    lscript_destroy(&s);
}

Test(luascript, snapshot_restore_round_trip)
{
    const char *text = "local n, sum = 0, 0\n"
                       "function process(ev)\n"
                       "  n = n + 1; sum = sum + ev.payload.amount\n"
                       "  ev.payload.n = n; ev.payload.sum = sum\n"
                       "  return ev\n"
                       "end\n"
                       "function snapshot() return n .. ' ' .. sum end\n"
                       "function restore(s)\n"
                       "  local a, b = s:match('^(%d+) (%d+)$')\n"
                       "  assert(a, 'not a saved state')\n"
                       "  n, sum = tonumber(a), tonumber(b)\n"
                       "end\n";
    lscript *s = make(text);
    cr_assert(lscript_has_snapshot(s) && lscript_has_restore(s));
    char err[512];
    struct got g = { 0 };
    for (int64_t a = 1; a <= 3; a++) {
        flow_event ev = deposit(a * 10);
        cr_assert_eq(process(s, &ev, &g, err, sizeof(err)), 0, "%s", err);
    }
    got_fini(&g);
    flow_buf snap;
    flow_buf_init(&snap);
    cr_assert_eq(lscript_snapshot(s, &snap, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(snap.len, 4);
    cr_assert_eq(memcmp(snap.data, "3 60", 4), 0);
    lscript_destroy(&s);

    s = make(text);
    cr_assert_eq(lscript_restore(s, snap.data, snap.len, err, sizeof(err)), 0,
                 "%s", err);
    flow_event ev = deposit(40);
    cr_assert_eq(process(s, &ev, &g, err, sizeof(err)), 0, "%s", err);
    flow_mp_value v;
    cr_assert_eq(flow_mp_map_find(g.payload[0].data, g.payload[0].len, "n", &v),
                 0);
    cr_assert_eq(v.i, 4);
    cr_assert_eq(
        flow_mp_map_find(g.payload[0].data, g.payload[0].len, "sum", &v), 0);
    cr_assert_eq(v.i, 100);
    got_fini(&g);

    /* A restore that fails says so. */
    cr_assert_eq(lscript_restore(s, "x", 1, err, sizeof(err)), -FLOW_EINVAL);
    cr_assert(strstr(err, "restore(state)") && strstr(err, "not a saved state"),
              "%s", err);
    flow_buf_fini(&snap);
    lscript_destroy(&s);

    /* A script without snapshot writes nothing. */
    s = make("function process(ev) return ev end");
    flow_buf_init(&snap);
    cr_assert_eq(lscript_snapshot(s, &snap, err, sizeof(err)), 0);
    cr_assert_eq(snap.len, 0);
    flow_buf_fini(&snap);
    lscript_destroy(&s);
}

Test(luascript, load_errors_and_init_options)
{
    char err[512];
    lscript *s = lscript_new(&small, NULL, NULL, err, sizeof(err));
    const char *bad = "function process(ev)\n  return ev\n";
    cr_assert_eq(
        lscript_load(s, "@dir/f.lua", bad, strlen(bad), err, sizeof(err)),
        -FLOW_EOPTION);
    cr_assert(strstr(err, "dir/f.lua:3: 'end' expected"), "%s", err);
    lscript_destroy(&s);

    s = lscript_new(&small, NULL, NULL, err, sizeof(err));
    const char *none = "x = 1";
    cr_assert_eq(
        lscript_load(s, "@f.lua", none, strlen(none), err, sizeof(err)),
        -FLOW_EOPTION);
    cr_assert(strstr(err, "f.lua: the script defines no global function "
                          "process(event)"),
              "%s", err);
    lscript_destroy(&s);

    s = lscript_new(&small, NULL, NULL, err, sizeof(err));
    const char *loop = "while true do end";
    cr_assert_eq(lscript_load(s, "=t", loop, strlen(loop), err, sizeof(err)),
                 -FLOW_EOPTION);
    cr_assert(strstr(err, "instruction budget"), "%s", err);
    lscript_destroy(&s);

    s = make("function init(o) opts = o end\n"
             "function process(ev) return ev end\n");
    cr_assert_eq(
        lscript_init(s, "limit=1000, mode = strict\nempty=", err, sizeof(err)),
        0, "%s", err);
    lua_ok(s, "assert(opts.limit == '1000' and opts.mode == 'strict')\n"
              "assert(opts.empty == '')\n");
    cr_assert_eq(lscript_init(s, "novalue", err, sizeof(err)), -FLOW_EOPTION);
    cr_assert(strstr(err, "'novalue' is not NAME=VALUE"), "%s", err);
    lscript_destroy(&s);

    s = make("function init(o) error('needs a limit') end\n"
             "function process(ev) return ev end\n");
    cr_assert_eq(lscript_init(s, NULL, err, sizeof(err)), -FLOW_EOPTION);
    cr_assert(strstr(err, "t:1: needs"), "%s", err);
    lscript_destroy(&s);
}

static void capture_log(void *arg, const char *line)
{
    snprintf(arg, 128, "%s", line);
}

Test(luascript, print_goes_to_the_log)
{
    char line[128] = "", err[256];
    lscript *s = lscript_new(&small, capture_log, line, err, sizeof(err));
    const char *text = "function process(ev) print('seen', ev.id, nil) end";
    cr_assert_eq(lscript_load(s, "=t", text, strlen(text), err, sizeof(err)), 0,
                 "%s", err);
    struct got g = { 0 };
    flow_event ev = deposit(1);
    cr_assert_eq(process(s, &ev, &g, err, sizeof(err)), 0, "%s", err);
    cr_assert_str_eq(line, "seen\t7\tnil");
    lscript_destroy(&s);
}

Test(luascript, payload_size_limits)
{
    lscript *s =
        make("local big = string.rep('x', 600000)\n"
             "function process(ev)\n"
             "  local a = ev.payload.amount\n"
             "  if a == 1 then\n"
             "    return {{payload = {s = big}}, {payload = {s = big}},"
             " {payload = {s = big}}}\n"
             "  end\n"
             "  return {payload = {big, big}}\n"
             "end\n");
    char err[512];
    struct got g = { 0 };
    /* Three payloads of 600 KB each: each under 1 MiB, so all go out. */
    flow_event ev = deposit(1);
    cr_assert_eq(process(s, &ev, &g, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(g.n, 3);
    for (int i = 0; i < 3; i++)
        cr_assert_gt(g.payload[i].len, 600000);
    got_fini(&g);
    /* One payload of 1.2 MB is over the limit of one event. */
    ev = deposit(2);
    cr_assert_eq(process(s, &ev, &g, err, sizeof(err)), -FLOW_ETOOBIG);
    cr_assert(strstr(err, "the payload of the event encodes to more than "
                          "1048576 bytes"),
              "%s", err);
    cr_assert_eq(g.n, 0);
    lscript_destroy(&s);
}
