/*
 * luascript - a user's Lua script in a sandbox (see luascript.h).
 *
 * Everything that may raise a Lua error (allocation included, since the
 * allocator refuses memory past the cap) runs inside lua_pcall, so that a
 * failure unwinds to the caller with a message and the state stays usable.
 * The instruction budget is a count hook that takes its step off the
 * instructions left in the current call; once none are left it fires on
 * every instruction, so a script that catches the error with pcall is
 * stopped again at its next instruction.
 */
#include "luascript.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lualib.h>

#include "flow/error.h"

/* Instructions between two calls of the count hook. */
#define LSCRIPT_HOOK_STEP 1000
/* The most events one call of process may return, and the most bytes
 * their payloads may take together. */
#define LSCRIPT_MAX_OUTS       65536
#define LSCRIPT_MAX_CALL_BYTES (64u * 1024 * 1024)

/* An event a script returned, its payload at an offset of enc. */
struct out_slot {
    lscript_out out;
    size_t off;
};

struct lscript {
    lua_State *L; /* owned */
    size_t used;  /* bytes the state holds */
    size_t cap;   /* --max-memory */
    int64_t budget;
    int64_t left; /* instructions left in the current call */
    bool over;    /* the current call ran out of instructions */
    int kind;     /* FLOW_E* of a failure our own code raised, or 0 */
    lscript_log_fn log;
    void *log_arg;
    int ref_process, ref_init, ref_snapshot, ref_restore; /* LUA_NOREF */
    /* Where the value being encoded starts in its buffer, and the length
     * the buffer may not pass (its own limit or what is left of the
     * call's). */
    size_t enc_start, enc_limit;
    flow_buf enc;           /* the payloads of the events of one call (owned) */
    struct out_slot *outs;  /* the events of one call (owned) */
    size_t nouts, outs_cap; /* entries used and allocated */
};

/* The value msgpack nil becomes: a light userdata of this address. */
static const char null_sentinel;
#define NULL_UD ((void *)&null_sentinel)

static lscript *owner(lua_State *L)
{
    return *(lscript **)lua_getextraspace(L);
}

/* Raises a Lua error of our own kind (a FLOW_E* code, positive). */
static int fail(lua_State *L, int kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(lua_State *L, int kind, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    owner(L)->kind = kind;
    lua_pushstring(L, msg);
    return lua_error(L);
}

/* ---- Limits ---------------------------------------------------------- */

static void *limited_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    lscript *s = ud;
    size_t old = ptr ? osize : 0;
    if (nsize == 0) {
        free(ptr);
        s->used -= old;
        return NULL;
    }
    if (nsize > old && nsize - old > s->cap - s->used)
        return NULL;
    void *p = realloc(ptr, nsize);
    if (!p)
        return nsize <= old ? ptr : NULL;
    s->used = s->used - old + nsize;
    return p;
}

static void count_hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    lscript *s = owner(L);
    s->left -= lua_gethookcount(L);
    if (s->left > 0)
        return;
    s->over = true;
    lua_sethook(L, count_hook, LUA_MASKCOUNT, 1);
    /* Level 0 inside a hook is the function that was running. */
    luaL_where(L, 0);
    lua_pushfstring(L,
                    "instruction budget exceeded: the script ran more than "
                    "%I instructions (--max-instructions)",
                    (lua_Integer)s->budget);
    lua_concat(L, 2);
    lua_error(L);
}

/* Arms the budget for one call. */
static void arm(lscript *s)
{
    int64_t step =
        s->budget < LSCRIPT_HOOK_STEP ? s->budget : LSCRIPT_HOOK_STEP;
    s->left = s->budget;
    s->over = false;
    s->kind = 0;
    lua_sethook(s->L, count_hook, LUA_MASKCOUNT, (int)step);
}

/*
 * Turns a failed lua_pcall into a code and message (popping the error).
 */
static int failed(lscript *s, int status, const char *what, char *err,
                  size_t errlen)
{
    lua_State *L = s->L;
    const char *msg = lua_tostring(L, -1);
    int rc;
    if (status == LUA_ERRMEM) {
        snprintf(err, errlen,
                 "%s: out of memory: the script reached its limit of %zu "
                 "bytes (--max-memory)",
                 what, s->cap);
        rc = -FLOW_ETOOBIG;
    } else {
        if (msg)
            snprintf(err, errlen, "%s: %s", what, msg);
        else
            snprintf(err, errlen, "%s: error object is a %s value", what,
                     luaL_typename(L, -1));
        rc = s->over ? -FLOW_ETOOBIG : s->kind ? -s->kind : -FLOW_EINVAL;
    }
    lua_pop(L, 1);
    return rc;
}

/* ---- msgpack to Lua -------------------------------------------------- */

static const char *mp_reason(int rc)
{
    return rc == -FLOW_ETRUNCATED ? "it ends early" : "it is malformed";
}

static void push_mp(lua_State *L, flow_mp_reader *r, int depth)
{
    flow_mp_value v;
    int rc = flow_mp_read(r, &v);
    if (rc < 0)
        fail(L, FLOW_EMALFORMED, "payload is not valid msgpack: %s",
             mp_reason(rc));
    luaL_checkstack(L, 4, "payload nesting");
    switch (v.type) {
    case FLOW_MP_NIL:
        lua_pushlightuserdata(L, NULL_UD);
        break;
    case FLOW_MP_BOOL:
        lua_pushboolean(L, v.b);
        break;
    case FLOW_MP_INT:
        if (v.is_neg || v.u <= (uint64_t)INT64_MAX)
            lua_pushinteger(L, (lua_Integer)v.i);
        else
            lua_pushnumber(L, (lua_Number)v.u);
        break;
    case FLOW_MP_FLOAT:
        lua_pushnumber(L, (lua_Number)v.f);
        break;
    case FLOW_MP_STR:
    case FLOW_MP_BIN:
        lua_pushlstring(L, v.str, v.len);
        break;
    case FLOW_MP_ARRAY:
        if (depth >= LSCRIPT_MAX_DEPTH)
            fail(L, FLOW_EMALFORMED,
                 "payload nests deeper than %d arrays and maps",
                 LSCRIPT_MAX_DEPTH);
        lua_createtable(L, (int)v.len, 0);
        for (uint32_t i = 0; i < v.len; i++) {
            push_mp(L, r, depth + 1);
            lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
        break;
    case FLOW_MP_MAP:
        if (depth >= LSCRIPT_MAX_DEPTH)
            fail(L, FLOW_EMALFORMED,
                 "payload nests deeper than %d arrays and maps",
                 LSCRIPT_MAX_DEPTH);
        lua_createtable(L, 0, (int)v.len);
        for (uint32_t i = 0; i < v.len; i++) {
            push_mp(L, r, depth + 1);
            int kt = lua_type(L, -1);
            if (kt == LUA_TLIGHTUSERDATA)
                fail(L, FLOW_EMALFORMED, "payload has a map key that is nil");
            if (kt == LUA_TTABLE)
                fail(L, FLOW_EMALFORMED,
                     "payload has a map key that is an array or a map");
            if (kt == LUA_TNUMBER && !lua_isinteger(L, -1)) {
                lua_Number n = lua_tonumber(L, -1);
                if (n != n)
                    fail(L, FLOW_EMALFORMED,
                         "payload has a map key that is NaN");
            }
            push_mp(L, r, depth + 1);
            lua_rawset(L, -3);
        }
        break;
    case FLOW_MP_EXT:
        fail(L, FLOW_EMALFORMED,
             "payload holds a msgpack ext value (type %d), which scripts "
             "cannot take",
             v.ext_type);
        break;
    }
}

/* Pushes the value of data[0..len), exactly one object. */
static void push_payload(lua_State *L, const void *data, size_t len)
{
    flow_mp_reader r;
    flow_mp_reader_init(&r, data, len);
    push_mp(L, &r, 0);
    if (flow_mp_remaining(&r) != 0)
        fail(L, FLOW_EMALFORMED,
             "payload is not valid msgpack: %zu bytes follow its value",
             flow_mp_remaining(&r));
}

/* ---- Lua to msgpack -------------------------------------------------- */

static void enc_value(lua_State *L, int idx, flow_buf *b, int depth,
                      const char *what);

static void enc_key(lua_State *L, int idx, flow_buf *b, const char *what)
{
    switch (lua_type(L, idx)) {
    case LUA_TSTRING:
    case LUA_TNUMBER:
    case LUA_TBOOLEAN:
        enc_value(L, idx, b, 0, what);
        return;
    default:
        fail(L, FLOW_EINVAL,
             "%s has a key that is a %s, which msgpack maps "
             "cannot hold here",
             what, luaL_typename(L, idx));
    }
}

static void enc_table(lua_State *L, int idx, flow_buf *b, int depth,
                      const char *what)
{
    if (depth >= LSCRIPT_MAX_DEPTH)
        fail(L, FLOW_EINVAL,
             "%s nests deeper than %d tables (or holds a cycle)", what,
             LSCRIPT_MAX_DEPTH);
    luaL_checkstack(L, 6, "payload nesting");
    lua_Unsigned n = lua_rawlen(L, idx), count = 0;
    bool array = true;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        if (array) {
            lua_Integer k = lua_tointeger(L, -1);
            array = lua_isinteger(L, -1) && k >= 1 && (lua_Unsigned)k <= n;
        }
        count++;
    }
    if (count > UINT32_MAX)
        fail(L, FLOW_EINVAL, "%s has more than %" PRIu32 " entries", what,
             UINT32_MAX);
    if (array && count > 0 && count == n) {
        flow_mp_put_array(b, (uint32_t)n);
        for (lua_Unsigned i = 1; i <= n; i++) {
            lua_rawgeti(L, idx, (lua_Integer)i);
            enc_value(L, -1, b, depth + 1, what);
            lua_pop(L, 1);
        }
        return;
    }
    flow_mp_put_map(b, (uint32_t)count);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        enc_key(L, -2, b, what);
        enc_value(L, -1, b, depth + 1, what);
        lua_pop(L, 1);
    }
}

static void enc_value(lua_State *L, int idx, flow_buf *b, int depth,
                      const char *what)
{
    idx = lua_absindex(L, idx);
    switch (lua_type(L, idx)) {
    case LUA_TNIL:
        flow_mp_put_nil(b);
        break;
    case LUA_TBOOLEAN:
        flow_mp_put_bool(b, lua_toboolean(L, idx));
        break;
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx))
            flow_mp_put_int(b, (int64_t)lua_tointeger(L, idx));
        else
            flow_mp_put_double(b, (double)lua_tonumber(L, idx));
        break;
    case LUA_TSTRING: {
        size_t len;
        const char *str = lua_tolstring(L, idx, &len);
        if (len > LSCRIPT_MAX_ENCODED)
            fail(L, FLOW_ETOOBIG, "%s holds a string of %zu bytes, over %u",
                 what, len, LSCRIPT_MAX_ENCODED);
        flow_mp_put_str(b, str, len);
        break;
    }
    case LUA_TLIGHTUSERDATA:
        if (lua_touserdata(L, idx) == NULL_UD) {
            flow_mp_put_nil(b);
            break;
        }
        fail(L, FLOW_EINVAL, "%s holds a light userdata", what);
        break;
    case LUA_TTABLE:
        enc_table(L, idx, b, depth, what);
        break;
    default:
        fail(L, FLOW_EINVAL, "%s holds a %s, which has no msgpack form", what,
             luaL_typename(L, idx));
    }
    if (b->err)
        fail(L, FLOW_ENOMEM, "%s: out of memory encoding it", what);
    lscript *s = owner(L);
    if (b->len > s->enc_limit) {
        if (s->enc_limit < s->enc_start + LSCRIPT_MAX_ENCODED)
            fail(L, FLOW_ETOOBIG,
                 "the events process returned encode to more than %u "
                 "bytes together",
                 LSCRIPT_MAX_CALL_BYTES);
        fail(L, FLOW_ETOOBIG, "%s encodes to more than %u bytes", what,
             LSCRIPT_MAX_ENCODED);
    }
}

/* ---- The sandbox ----------------------------------------------------- */

static int sb_print(lua_State *L)
{
    lscript *s = owner(L);
    int n = lua_gettop(L);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (int i = 1; i <= n; i++) {
        if (i > 1)
            luaL_addchar(&b, '\t');
        luaL_tolstring(L, i, NULL);
        luaL_addvalue(&b);
    }
    luaL_pushresult(&b);
    const char *line = lua_tostring(L, -1);
    if (s->log)
        s->log(s->log_arg, line);
    else
        fprintf(stderr, "%s\n", line);
    return 0;
}

/* load(chunk [, chunkname [, mode [, env]]]) with text chunks only. */
static int sb_load(lua_State *L)
{
    int n = lua_gettop(L);
    if (n >= 3 && !lua_isnil(L, 3)) {
        const char *mode = lua_tostring(L, 3);
        if (!mode || strcmp(mode, "t") != 0)
            return luaL_error(L, "load: scripts may load text chunks only "
                                 "(mode \"t\")");
    }
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_pushvalue(L, 1);
    if (n >= 2)
        lua_pushvalue(L, 2);
    else
        lua_pushnil(L);
    lua_pushliteral(L, "t");
    int nargs = 3;
    if (n >= 4) {
        lua_pushvalue(L, 4);
        nargs++;
    }
    lua_call(L, nargs, LUA_MULTRET);
    return lua_gettop(L) - n;
}

static int sb_collectgarbage(lua_State *L)
{
    static const char *const allowed[] = { "collect", "count", "step",
                                           "isrunning", NULL };
    const char *opt = luaL_optstring(L, 1, "collect");
    bool ok = false;
    for (int i = 0; allowed[i]; i++)
        ok = ok || strcmp(opt, allowed[i]) == 0;
    if (!ok)
        return luaL_error(L,
                          "collectgarbage: option '%s' is not available to "
                          "scripts (only collect, count, step, isrunning)",
                          opt);
    int n = lua_gettop(L);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, n, LUA_MULTRET);
    return lua_gettop(L);
}

/* setmetatable refusing __gc: finalizers run with the hooks off, out of
 * reach of the budget. */
static int sb_setmetatable(lua_State *L)
{
    if (lua_type(L, 2) == LUA_TTABLE) {
        lua_pushliteral(L, "__gc");
        int t = lua_rawget(L, 2);
        lua_pop(L, 1);
        if (t != LUA_TNIL)
            return luaL_error(L, "setmetatable: scripts may not set __gc "
                                 "metamethods");
    }
    int n = lua_gettop(L);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, n, LUA_MULTRET);
    return lua_gettop(L);
}

/*
 * Library functions that loop in C, where the count hook never fires,
 * for as long as their arguments ask: string.rep of empty strings (no
 * memory to run out of) and table.move over a range of nils.
 */
static int sb_string_rep(lua_State *L)
{
    size_t l, lsep;
    luaL_checklstring(L, 1, &l);
    lua_Integer n = luaL_checkinteger(L, 2);
    luaL_optlstring(L, 3, "", &lsep);
    if (n > 0 && l == 0 && lsep == 0) {
        lua_pushliteral(L, "");
        return 1;
    }
    int top = lua_gettop(L);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, top, 1);
    return 1;
}

static int sb_table_move(lua_State *L)
{
    lscript *s = owner(L);
    lua_Integer f = luaL_checkinteger(L, 2), e = luaL_checkinteger(L, 3);
    if (e >= f) {
        /* Each element moved counts as an instruction. */
        lua_Unsigned n = (lua_Unsigned)e - (lua_Unsigned)f + 1;
        if (n == 0 || n >= (lua_Unsigned)(s->left > 0 ? s->left : 0)) {
            s->over = true;
            return luaL_error(L,
                              "instruction budget exceeded: table.move of "
                              "%I elements is over what is left of %I "
                              "instructions (--max-instructions)",
                              (lua_Integer)n, (lua_Integer)s->budget);
        }
        s->left -= (int64_t)n;
    }
    int top = lua_gettop(L);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, top, 1);
    return 1;
}

/* Replaces field name of the table at idx by f with the original as its
 * upvalue. */
static void wrap_field(lua_State *L, int idx, const char *name, lua_CFunction f)
{
    idx = lua_absindex(L, idx);
    lua_getfield(L, idx, name);
    lua_pushcclosure(L, f, 1);
    lua_setfield(L, idx, name);
}

/* Replaces global name by f with the original as its upvalue. */
static void wrap_global(lua_State *L, const char *name, lua_CFunction f)
{
    lua_getglobal(L, name);
    lua_pushcclosure(L, f, 1);
    lua_setglobal(L, name);
}

static int sandbox(lua_State *L)
{
    static const luaL_Reg libs[] = {
        { LUA_GNAME, luaopen_base },
        { LUA_TABLIBNAME, luaopen_table },
        { LUA_STRLIBNAME, luaopen_string },
        { LUA_MATHLIBNAME, luaopen_math },
        { LUA_UTF8LIBNAME, luaopen_utf8 },
        { LUA_COLIBNAME, luaopen_coroutine },
        { NULL, NULL },
    };
    for (const luaL_Reg *l = libs; l->name; l++) {
        luaL_requiref(L, l->name, l->func, 1);
        lua_pop(L, 1);
    }
    static const char *const removed[] = { "dofile", "loadfile", "require",
                                           "warn", NULL };
    for (int i = 0; removed[i]; i++) {
        lua_pushnil(L);
        lua_setglobal(L, removed[i]);
    }
    lua_getglobal(L, LUA_STRLIBNAME);
    lua_pushnil(L);
    lua_setfield(L, -2, "dump");
    wrap_field(L, -1, "rep", sb_string_rep);
    lua_pop(L, 1);
    lua_getglobal(L, LUA_TABLIBNAME);
    wrap_field(L, -1, "move", sb_table_move);
    lua_pop(L, 1);
    wrap_global(L, "load", sb_load);
    wrap_global(L, "collectgarbage", sb_collectgarbage);
    wrap_global(L, "setmetatable", sb_setmetatable);
    lua_pushcfunction(L, sb_print);
    lua_setglobal(L, "print");
    lua_pushlightuserdata(L, NULL_UD);
    lua_setglobal(L, "null");
    return 0;
}

lscript *lscript_new(const lscript_limits *lim, lscript_log_fn log,
                     void *log_arg, char *err, size_t errlen)
{
    lscript *s = calloc(1, sizeof(*s));
    if (!s)
        goto nomem;
    s->cap = lim->max_memory;
    s->budget = lim->max_instructions > 0 ? lim->max_instructions : 1;
    s->log = log;
    s->log_arg = log_arg;
    s->ref_process = s->ref_init = LUA_NOREF;
    s->ref_snapshot = s->ref_restore = LUA_NOREF;
    flow_buf_init(&s->enc);
    s->L = lua_newstate(limited_alloc, s);
    if (!s->L)
        goto nomem;
    *(lscript **)lua_getextraspace(s->L) = s;
    lua_pushcfunction(s->L, sandbox);
    if (lua_pcall(s->L, 0, 0, 0) != LUA_OK) {
        snprintf(err, errlen, "cannot set up the Lua sandbox: %s",
                 lua_tostring(s->L, -1));
        lscript_destroy(&s);
        return NULL;
    }
    return s;

nomem:
    snprintf(err, errlen, "cannot make a Lua state: out of memory");
    lscript_destroy(&s);
    return NULL;
}

void lscript_destroy(lscript **sp)
{
    lscript *s = *sp;
    if (!s)
        return;
    if (s->L)
        lua_close(s->L);
    flow_buf_fini(&s->enc);
    free(s->outs);
    free(s);
    *sp = NULL;
}

lua_State *lscript_state(lscript *s)
{
    return s->L;
}

/* ---- Loading and calling --------------------------------------------- */

/* The reference to global name when it is a function, else LUA_NOREF. */
static int ref_function(lua_State *L, const char *name)
{
    lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS);
    lua_pushstring(L, name);
    lua_rawget(L, -2);
    lua_remove(L, -2);
    if (lua_type(L, -1) != LUA_TFUNCTION) {
        lua_pop(L, 1);
        return LUA_NOREF;
    }
    return luaL_ref(L, LUA_REGISTRYINDEX);
}

static int load_refs(lua_State *L)
{
    lscript *s = owner(L);
    s->ref_process = ref_function(L, "process");
    s->ref_init = ref_function(L, "init");
    s->ref_snapshot = ref_function(L, "snapshot");
    s->ref_restore = ref_function(L, "restore");
    return 0;
}

int lscript_load(lscript *s, const char *chunkname, const char *text,
                 size_t len, char *err, size_t errlen)
{
    lua_State *L = s->L;
    arm(s);
    int st = luaL_loadbufferx(L, text, len, chunkname, "t");
    if (st == LUA_OK)
        st = lua_pcall(L, 0, 0, 0);
    if (st != LUA_OK) {
        failed(s, st, "cannot load the script", err, errlen);
        return -FLOW_EOPTION;
    }
    lua_pushcfunction(L, load_refs);
    if ((st = lua_pcall(L, 0, 0, 0)) != LUA_OK) {
        failed(s, st, "cannot load the script", err, errlen);
        return -FLOW_EOPTION;
    }
    if (s->ref_process == LUA_NOREF) {
        snprintf(err, errlen,
                 "%s: the script defines no global function process(event)",
                 chunkname[0] == '@' || chunkname[0] == '=' ? chunkname + 1
                                                            : chunkname);
        return -FLOW_EOPTION;
    }
    return 0;
}

/* Trims spaces and tabs off both ends of [*p, *p + *n). */
static void trim(const char **p, size_t *n)
{
    while (*n && (**p == ' ' || **p == '\t' || **p == '\r')) {
        (*p)++;
        (*n)--;
    }
    while (*n && ((*p)[*n - 1] == ' ' || (*p)[*n - 1] == '\t' ||
                  (*p)[*n - 1] == '\r'))
        (*n)--;
}

/* Pushes the options table of "NAME=VALUE,..." (argument 1). */
static int push_options(lua_State *L)
{
    const char *o = lua_touserdata(L, 1);
    lua_newtable(L);
    while (o && *o) {
        size_t n = strcspn(o, ",\n");
        const char *item = o, *eq = memchr(o, '=', n);
        o += n + (o[n] != '\0');
        size_t ilen = n;
        trim(&item, &ilen);
        if (ilen == 0)
            continue;
        if (!eq)
            fail(L, FLOW_EOPTION,
                 "--options: '%.*s' is not NAME=VALUE (pairs are separated "
                 "by commas or newlines)",
                 (int)(ilen > 64 ? 64 : ilen), item);
        const char *name = item, *val = eq + 1;
        size_t nlen = (size_t)(eq - item), vlen = (size_t)(item + ilen - val);
        trim(&name, &nlen);
        trim(&val, &vlen);
        if (nlen == 0)
            fail(L, FLOW_EOPTION, "--options: '%.*s' has an empty name",
                 (int)(ilen > 64 ? 64 : ilen), item);
        lua_pushlstring(L, name, nlen);
        lua_pushlstring(L, val, vlen);
        lua_rawset(L, -3);
    }
    return 1;
}

int lscript_init(lscript *s, const char *options, char *err, size_t errlen)
{
    lua_State *L = s->L;
    arm(s);
    lua_pushcfunction(L, push_options);
    lua_pushlightuserdata(L, (void *)options);
    int st = lua_pcall(L, 1, 1, 0);
    if (st != LUA_OK) {
        failed(s, st, "cannot pass --options", err, errlen);
        return -FLOW_EOPTION;
    }
    if (s->ref_init == LUA_NOREF) {
        lua_pop(L, 1);
        return 0;
    }
    lua_rawgeti(L, LUA_REGISTRYINDEX, s->ref_init);
    lua_insert(L, -2);
    arm(s);
    if ((st = lua_pcall(L, 1, 0, 0)) != LUA_OK) {
        failed(s, st, "init(options) failed", err, errlen);
        return -FLOW_EOPTION;
    }
    return 0;
}

bool lscript_has_snapshot(lscript *s)
{
    return s->ref_snapshot != LUA_NOREF;
}

bool lscript_has_restore(lscript *s)
{
    return s->ref_restore != LUA_NOREF;
}

struct call {
    lscript *s;
    const flow_event *ev;
};

static void set_str(lua_State *L, const char *field, const char *p, size_t n)
{
    lua_pushlstring(L, p, n);
    lua_setfield(L, -2, field);
}

static void set_int(lua_State *L, const char *field, lua_Integer v)
{
    lua_pushinteger(L, v);
    lua_setfield(L, -2, field);
}

static const char *const bad_return =
    "it must return nil, an event table (a table with a payload field) "
    "or a list of event tables";

/* Reads the event table at idx into the next slot of s->outs. */
static void take_event(lua_State *L, lscript *s, int idx, lua_Integer nth)
{
    char what[64];
    if (nth > 0)
        snprintf(what, sizeof(what), "event %lld of the list", (long long)nth);
    else
        snprintf(what, sizeof(what), "the event");
    if (lua_type(L, idx) != LUA_TTABLE)
        fail(L, FLOW_EINVAL, "process returned a list whose %s is a %s; %s",
             what, luaL_typename(L, idx), bad_return);
    if (s->nouts == s->outs_cap) {
        size_t cap = s->outs_cap ? s->outs_cap * 2 : 8;
        struct out_slot *o = realloc(s->outs, cap * sizeof(*o));
        if (!o)
            fail(L, FLOW_ENOMEM, "out of memory holding the events");
        s->outs = o;
        s->outs_cap = cap;
    }
    struct out_slot *o = &s->outs[s->nouts];
    memset(o, 0, sizeof(*o));
    if (lua_getfield(L, idx, "payload") == LUA_TNIL)
        fail(L, FLOW_EINVAL, "process returned %s without a payload; %s",
             nth > 0 ? what : "a table", bad_return);
    o->off = s->enc.len;
    s->enc_start = o->off;
    s->enc_limit = o->off + LSCRIPT_MAX_ENCODED;
    if (s->enc_limit > LSCRIPT_MAX_CALL_BYTES)
        s->enc_limit = LSCRIPT_MAX_CALL_BYTES;
    char pwhat[96];
    snprintf(pwhat, sizeof(pwhat), "the payload of %s", what);
    enc_value(L, -1, &s->enc, 0, pwhat);
    o->out.payload_len = s->enc.len - o->off;
    lua_pop(L, 1);

    int t = lua_getfield(L, idx, "type");
    if (t == LUA_TSTRING) {
        o->out.type = lua_tolstring(L, -1, &o->out.type_len);
        if (o->out.type_len == 0 || memchr(o->out.type, '\0', o->out.type_len))
            fail(L, FLOW_EINVAL, "the type of %s is empty or holds a NUL byte",
                 what);
    } else if (t != LUA_TNIL) {
        fail(L, FLOW_EINVAL, "the type of %s is a %s, not a string", what,
             luaL_typename(L, -1));
    }
    lua_pop(L, 1);

    t = lua_getfield(L, idx, "key");
    if (t == LUA_TSTRING) {
        o->out.key = lua_tolstring(L, -1, &o->out.key_len);
        o->out.key_set = true;
    } else if (t == LUA_TBOOLEAN && !lua_toboolean(L, -1)) {
        o->out.key_set = true;
    } else if (t == LUA_TLIGHTUSERDATA && lua_touserdata(L, -1) == NULL_UD) {
        o->out.key_set = true;
    } else if (t != LUA_TNIL) {
        fail(L, FLOW_EINVAL,
             "the key of %s is a %s, not a string (false or null for none)",
             what, luaL_typename(L, -1));
    }
    lua_pop(L, 1);

    t = lua_getfield(L, idx, "ts");
    if (t != LUA_TNIL) {
        int isint;
        lua_Integer ts = lua_tointegerx(L, -1, &isint);
        if (!isint || ts <= 0)
            fail(L, FLOW_EINVAL,
                 "the ts of %s is not a positive integer (microseconds "
                 "since the epoch)",
                 what);
        o->out.ts_us = (int64_t)ts;
    }
    lua_pop(L, 1);
    s->nouts++;
}

/* Argument 1: a struct call. Returns process's result, checked and
 * converted into s->outs and s->enc. */
static int process_body(lua_State *L)
{
    struct call *c = lua_touserdata(L, 1);
    lscript *s = c->s;
    const flow_event *ev = c->ev;
    lua_settop(L, 0);
    lua_rawgeti(L, LUA_REGISTRYINDEX, s->ref_process);
    lua_createtable(L, 0, 6);
    set_int(L, "id", (lua_Integer)ev->id);
    set_str(L, "type", ev->type, ev->type_len);
    if (ev->key)
        set_str(L, "key", ev->key, ev->key_len);
    set_int(L, "ts", (lua_Integer)ev->ts_us);
    set_int(L, "seq", (lua_Integer)ev->seq);
    push_payload(L, ev->payload, ev->payload_len);
    lua_setfield(L, -2, "payload");
    s->kind = 0;
    lua_call(L, 1, 1);

    int t = lua_type(L, 1);
    if (t == LUA_TNIL)
        return 1;
    if (t != LUA_TTABLE)
        fail(L, FLOW_EINVAL, "process returned a %s; %s", luaL_typename(L, 1),
             bad_return);
    lua_pushliteral(L, "payload");
    int has_payload = lua_rawget(L, 1) != LUA_TNIL;
    lua_pop(L, 1);
    if (has_payload) {
        take_event(L, s, 1, 0);
        return 1;
    }
    lua_Unsigned n = lua_rawlen(L, 1);
    lua_pushnil(L);
    if (n == 0 && lua_next(L, 1))
        fail(L, FLOW_EINVAL, "process returned a table without a payload; %s",
             bad_return);
    lua_settop(L, 1);
    if (n > LSCRIPT_MAX_OUTS)
        fail(L, FLOW_EINVAL, "process returned %llu events; at most %d",
             (unsigned long long)n, LSCRIPT_MAX_OUTS);
    for (lua_Unsigned i = 1; i <= n; i++) {
        lua_rawgeti(L, 1, (lua_Integer)i);
        take_event(L, s, 2, (lua_Integer)i);
        lua_pop(L, 1);
    }
    return 1;
}

int lscript_process(lscript *s, const flow_event *ev, lscript_emit_fn emit,
                    void *arg, char *err, size_t errlen)
{
    lua_State *L = s->L;
    struct call c = { .s = s, .ev = ev };
    s->nouts = 0;
    flow_buf_reset(&s->enc);
    arm(s);
    lua_pushcfunction(L, process_body);
    lua_pushlightuserdata(L, &c);
    int st = lua_pcall(L, 1, 1, 0);
    if (st != LUA_OK) {
        s->nouts = 0;
        return failed(s, st, "process(event)", err, errlen);
    }
    int rc = 0;
    for (size_t i = 0; i < s->nouts && rc == 0; i++) {
        struct out_slot *o = &s->outs[i];
        o->out.payload = s->enc.data + o->off;
        rc = emit(arg, &o->out);
    }
    /* The result anchored the strings the events borrowed. */
    lua_pop(L, 1);
    s->nouts = 0;
    return rc;
}

static int snapshot_body(lua_State *L)
{
    lscript *s = owner(L);
    flow_buf *out = lua_touserdata(L, 1);
    lua_settop(L, 0);
    lua_rawgeti(L, LUA_REGISTRYINDEX, s->ref_snapshot);
    s->kind = 0;
    lua_call(L, 0, 1);
    int t = lua_type(L, 1);
    if (t == LUA_TNIL)
        return 0;
    if (t != LUA_TSTRING)
        fail(L, FLOW_EINVAL, "snapshot() returned a %s, not a string",
             luaL_typename(L, 1));
    size_t len;
    const char *p = lua_tolstring(L, 1, &len);
    flow_buf_append(out, p, len);
    if (out->err)
        fail(L, FLOW_ENOMEM, "out of memory saving the snapshot");
    return 0;
}

int lscript_snapshot(lscript *s, flow_buf *out, char *err, size_t errlen)
{
    if (s->ref_snapshot == LUA_NOREF)
        return 0;
    arm(s);
    lua_pushcfunction(s->L, snapshot_body);
    lua_pushlightuserdata(s->L, out);
    int st = lua_pcall(s->L, 1, 0, 0);
    if (st != LUA_OK)
        return failed(s, st, "snapshot()", err, errlen);
    return 0;
}

struct bytes {
    const void *data;
    size_t len;
};

static int restore_body(lua_State *L)
{
    lscript *s = owner(L);
    struct bytes *b = lua_touserdata(L, 1);
    lua_settop(L, 0);
    lua_rawgeti(L, LUA_REGISTRYINDEX, s->ref_restore);
    lua_pushlstring(L, b->data, b->len);
    s->kind = 0;
    lua_call(L, 1, 0);
    return 0;
}

int lscript_restore(lscript *s, const void *data, size_t len, char *err,
                    size_t errlen)
{
    if (s->ref_restore == LUA_NOREF)
        return 0;
    struct bytes b = { data, len };
    arm(s);
    lua_pushcfunction(s->L, restore_body);
    lua_pushlightuserdata(s->L, &b);
    int st = lua_pcall(s->L, 1, 0, 0);
    if (st != LUA_OK)
        return failed(s, st, "restore(state)", err, errlen);
    return 0;
}

/* ---- Conversion entry points (tests, fuzzing) ------------------------ */

static int push_body(lua_State *L)
{
    struct bytes *b = lua_touserdata(L, 1);
    lua_settop(L, 0);
    push_payload(L, b->data, b->len);
    return 1;
}

int lscript_push_msgpack(lscript *s, const void *data, size_t len, char *err,
                         size_t errlen)
{
    struct bytes b = { data, len };
    arm(s);
    lua_pushcfunction(s->L, push_body);
    lua_pushlightuserdata(s->L, &b);
    int st = lua_pcall(s->L, 1, 1, 0);
    if (st != LUA_OK)
        return failed(s, st, "decode", err, errlen);
    return 0;
}

static int encode_body(lua_State *L)
{
    lscript *s = owner(L);
    flow_buf *out = lua_touserdata(L, 2);
    s->enc_start = out->len;
    s->enc_limit = out->len + LSCRIPT_MAX_ENCODED;
    enc_value(L, 1, out, 0, "the value");
    return 0;
}

int lscript_to_msgpack(lscript *s, int idx, flow_buf *out, char *err,
                       size_t errlen)
{
    lua_State *L = s->L;
    idx = lua_absindex(L, idx);
    arm(s);
    lua_pushcfunction(L, encode_body);
    lua_pushvalue(L, idx);
    lua_pushlightuserdata(L, out);
    int st = lua_pcall(L, 2, 0, 0);
    if (st != LUA_OK)
        return failed(s, st, "encode", err, errlen);
    return 0;
}
