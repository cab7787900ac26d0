/*
 * Key groups and Kafka's murmur2 (see flow/keygroup.h).
 */
#include "flow/keygroup.h"

int32_t flow_murmur2(const void *data, size_t len)
{
    const uint8_t *d = data;
    const uint32_t m = 0x5bd1e995u;
    const int r = 24;
    /* Kafka hashes a Java int length: keys are far below 2^31 bytes. */
    uint32_t h = 0x9747b28cu ^ (uint32_t)len;
    size_t n4 = len / 4;
    for (size_t i = 0; i < n4; i++) {
        const uint8_t *p = d + i * 4;
        uint32_t k = (uint32_t)p[0] | (uint32_t)p[1] << 8 |
                     (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
        k *= m;
        k ^= k >> r;
        k *= m;
        h *= m;
        h ^= k;
    }
    const uint8_t *t = d + (len & ~(size_t)3);
    switch (len % 4) {
    case 3:
        h ^= (uint32_t)t[2] << 16;
        /* fall through */
    case 2:
        h ^= (uint32_t)t[1] << 8;
        /* fall through */
    case 1:
        h ^= t[0];
        h *= m;
    }
    h ^= h >> 13;
    h *= m;
    h ^= h >> 15;
    return (int32_t)h;
}

uint32_t flow_keygroup_of(const void *key, size_t len, uint32_t k)
{
    uint32_t pos = (uint32_t)flow_murmur2(key, len) & 0x7fffffffu;
    return k ? pos % k : 0;
}

uint32_t flow_keygroup_owner(uint32_t kg, uint32_t n, uint32_t k)
{
    return k ? (uint32_t)((uint64_t)kg * n / k) : 0;
}

/* ceil(a * b / c) without overflow for 32-bit operands. */
static uint32_t ceil_div(uint32_t a, uint32_t b, uint32_t c)
{
    return (uint32_t)(((uint64_t)a * b + c - 1) / c);
}

void flow_keygroup_range(uint32_t i, uint32_t n, uint32_t k, uint32_t *first,
                         uint32_t *end)
{
    if (n == 0 || i >= n) {
        *first = *end = 0;
        return;
    }
    *first = ceil_div(i, k, n);
    *end = ceil_div(i + 1, k, n);
}
