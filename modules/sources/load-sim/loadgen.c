/*
 * loadgen.c - the deterministic account event generator (see loadgen.h).
 */
#include "loadgen.h"

#include <stdlib.h>
#include <string.h>

/* Largest amount of one deposit, in the smallest currency unit. */
#define MAX_DEPOSIT 100000

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t loadgen_rand(struct loadgen *g)
{
    uint64_t *s = g->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

/* A uniform number in [0, n), n > 0 (Lemire's multiply-shift; the tiny
 * bias is irrelevant for load generation and keeps it deterministic). */
static uint64_t below(struct loadgen *g, uint64_t n)
{
    return (uint64_t)(((unsigned __int128)loadgen_rand(g) * n) >> 64);
}

int loadgen_init(struct loadgen *g, uint64_t seed, uint64_t accounts,
                 double illegal_ratio)
{
    memset(g, 0, sizeof(*g));
    if (accounts == 0)
        accounts = 1;
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        g->s[i] = splitmix64(&x);
    g->accounts = accounts;
    if (illegal_ratio < 0)
        illegal_ratio = 0;
    if (illegal_ratio > 1)
        illegal_ratio = 1;
    g->illegal_ppm = (uint64_t)(illegal_ratio * 1000000.0 + 0.5);
    g->model = calloc(accounts, sizeof(*g->model));
    g->next_seq = calloc(accounts, sizeof(*g->next_seq));
    if (!g->model || !g->next_seq) {
        loadgen_fini(g);
        return -1;
    }
    return 0;
}

#define SAVE_MAGIC "LOADGEN1"
/* magic, accounts, illegal_ppm, s[4], generated */
#define SAVE_HEAD (8 + 8 * 8)
/* per account: last_seq, balance, state, next_seq */
#define SAVE_ACCT (8 + 8 + 1 + 8)

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

size_t loadgen_save_size(const struct loadgen *g)
{
    return SAVE_HEAD + (size_t)g->accounts * SAVE_ACCT;
}

void loadgen_save(const struct loadgen *g, uint8_t *out)
{
    memcpy(out, SAVE_MAGIC, 8);
    put64(out + 8, g->accounts);
    put64(out + 16, g->illegal_ppm);
    for (int i = 0; i < 4; i++)
        put64(out + 24 + 8 * i, g->s[i]);
    put64(out + 56, g->generated);
    uint8_t *p = out + SAVE_HEAD;
    for (uint64_t i = 0; i < g->accounts; i++, p += SAVE_ACCT) {
        put64(p, g->model[i].last_seq);
        put64(p + 8, (uint64_t)g->model[i].balance);
        p[16] = g->model[i].state;
        put64(p + 17, g->next_seq[i]);
    }
}

int loadgen_load(struct loadgen *g, const uint8_t *data, size_t len,
                 const char **why)
{
    if (len < SAVE_HEAD || memcmp(data, SAVE_MAGIC, 8)) {
        *why = "not a saved generator";
        return -1;
    }
    if (get64(data + 8) != g->accounts || get64(data + 16) != g->illegal_ppm) {
        *why = "saved with other --accounts or --illegal-ratio";
        return -1;
    }
    if (len != loadgen_save_size(g)) {
        *why = "its length does not match its number of accounts";
        return -1;
    }
    for (int i = 0; i < 4; i++)
        g->s[i] = get64(data + 24 + 8 * i);
    g->generated = get64(data + 56);
    const uint8_t *p = data + SAVE_HEAD;
    for (uint64_t i = 0; i < g->accounts; i++, p += SAVE_ACCT) {
        g->model[i].last_seq = get64(p);
        g->model[i].balance = (int64_t)get64(p + 8);
        g->model[i].state = p[16];
        g->next_seq[i] = get64(p + 17);
    }
    return 0;
}

void loadgen_fini(struct loadgen *g)
{
    free(g->model);
    free(g->next_seq);
    g->model = NULL;
    g->next_seq = NULL;
}

/* A legal event for an account in its current state. */
static void pick_legal(struct loadgen *g, const struct acct *a,
                       struct loadgen_event *ev)
{
    switch ((enum acct_state)a->state) {
    case ACCT_ST_CREATED:
        ev->type = ACCT_EV_CREATED;
        return;
    case ACCT_ST_PENDING:
        ev->type = ACCT_EV_CONFIRMED;
        return;
    case ACCT_ST_CONFIRMED:
    case ACCT_ST_SUSPENDED:
    case ACCT_ST_ARCHIVED:
        ev->type = ACCT_EV_ACTIVATED;
        return;
    case ACCT_ST_ACTIVE:
    case ACCT_ST_COUNT:
        break;
    }
    /* Active: mostly money, now and then a suspension or archiving. */
    uint64_t r = below(g, 100);
    if (r < 4) {
        ev->type = ACCT_EV_SUSPENDED;
    } else if (r < 6) {
        ev->type = ACCT_EV_ARCHIVED;
    } else if (r < 50 && a->balance > 0) {
        ev->type = ACCT_EV_WITHDRAWN;
        ev->amount = 1 + (int64_t)below(g, (uint64_t)a->balance);
    } else {
        ev->type = ACCT_EV_DEPOSITED;
        ev->amount = 1 + (int64_t)below(g, MAX_DEPOSIT);
    }
}

/* An event the state machine will reject for this account. */
static void pick_illegal(struct loadgen *g, const struct acct *a,
                         struct loadgen_event *ev)
{
    enum acct_event bad[ACCT_EV_COUNT + 1];
    int n = 0;
    for (int e = 0; e < ACCT_EV_COUNT; e++) {
        if (!acct_allows((enum acct_state)a->state, (enum acct_event)e))
            bad[n++] = (enum acct_event)e;
    }
    /* An active account allows every money event: overdraw instead. */
    bool overdraw = a->state == ACCT_ST_ACTIVE;
    uint64_t k = below(g, (uint64_t)n + (overdraw ? 1 : 0));
    if (k == (uint64_t)n) {
        ev->type = ACCT_EV_WITHDRAWN;
        ev->amount = a->balance + 1 + (int64_t)below(g, MAX_DEPOSIT);
        return;
    }
    ev->type = bad[k];
    if (ev->type == ACCT_EV_DEPOSITED || ev->type == ACCT_EV_WITHDRAWN)
        ev->amount = 1 + (int64_t)below(g, MAX_DEPOSIT);
}

void loadgen_next(struct loadgen *g, struct loadgen_event *ev)
{
    memset(ev, 0, sizeof(*ev));
    uint64_t i = below(g, g->accounts);
    struct acct *a = &g->model[i];
    ev->account = i + 1;
    ev->seq = ++g->next_seq[i];
    ev->illegal = below(g, 1000000) < g->illegal_ppm;
    if (ev->illegal) {
        pick_illegal(g, a, ev);
    } else {
        pick_legal(g, a, ev);
        /* Legal by construction; the model follows the consumer's fold. */
        acct_apply(a, ev->type, ev->amount);
        a->last_seq = ev->seq;
    }
    g->generated++;
}
