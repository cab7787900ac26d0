/*
 * loadgen.h - the deterministic account event generator behind load-sim.
 *
 * For a given seed, number of accounts and illegal ratio, the sequence of
 * events is always the same. The generator keeps its own model of every
 * account (state, balance, next sequence number) and mostly produces legal
 * events; a fraction --illegal-ratio of them is deliberately illegal
 * (a transition the state machine forbids, or a withdrawal above the
 * balance). Illegal events do not change the generator's model, so a
 * consumer applying the same events through acct_apply() ends in the same
 * states.
 */
#ifndef FLOW_MODULES_LOADGEN_H
#define FLOW_MODULES_LOADGEN_H

#include "account.h"

#include <stdbool.h>
#include <stdint.h>

struct loadgen_event {
    enum acct_event type;
    uint64_t account; /* 1 .. accounts */
    uint64_t seq;     /* per account, from 1 */
    int64_t amount;   /* > 0 for deposits and withdrawals, else 0 */
    bool illegal;     /* the generator meant it to be rejected */
};

struct loadgen {
    uint64_t s[4];        /* xoshiro256** state */
    uint64_t accounts;    /* how many */
    uint64_t illegal_ppm; /* illegal events per million */
    struct acct *model;   /* accounts[0 .. accounts-1] */
    uint64_t *next_seq;   /* per account, the last seq handed out */
    uint64_t generated;   /* events produced so far */
};

/* Set up a generator. illegal_ratio is in [0, 1]. Returns 0, or -1 when
 * memory for the account model cannot be had. fini is safe on zeroed
 * memory. */
int loadgen_init(struct loadgen *g, uint64_t seed, uint64_t accounts,
                 double illegal_ratio);
void loadgen_fini(struct loadgen *g);

/* Produce the next event into *ev. */
void loadgen_next(struct loadgen *g, struct loadgen_event *ev);

/*
 * The generator's whole state as bytes (little-endian: a magic, the
 * accounts, illegal ratio, RNG state, events generated, then every
 * account's model and last sequence number), and back: a generator
 * restored from them produces exactly the events the saved one would
 * have produced next. load returns 0, or -1 with a reason in *why when
 * the bytes are not a saved generator of the same accounts and illegal
 * ratio as g (g is then unchanged).
 */
size_t loadgen_save_size(const struct loadgen *g);
void loadgen_save(const struct loadgen *g, uint8_t *out);
int loadgen_load(struct loadgen *g, const uint8_t *data, size_t len,
                 const char **why);

/* The next pseudo-random number (exposed for tests). */
uint64_t loadgen_rand(struct loadgen *g);

#endif
