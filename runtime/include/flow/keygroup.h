/*
 * flow: key groups, how keyed events are routed and keyed state is owned.
 *
 * A stream has K key groups (--flow.key-groups, default 128: its maximum
 * parallelism). A key belongs to key group murmur2(key) & 0x7fffffff mod
 * K, with Kafka's murmur2 (seed 0x9747b28c), so a key lands where Kafka's
 * default partitioner would put it among K partitions. Of N instances,
 * instance i owns the key groups kg with kg * N / K == i: a contiguous
 * range, every key group owned by exactly one instance. The router and
 * the restore of keyed state both use these functions.
 */
#ifndef FLOW_KEYGROUP_H
#define FLOW_KEYGROUP_H

#include <stddef.h>
#include <stdint.h>

/* The default number of key groups. */
#define FLOW_KEYGROUPS_DEFAULT 128u

/* Kafka's murmur2 of len bytes (as Kafka's Utils.murmur2, an int32). */
int32_t flow_murmur2(const void *data, size_t len);

/* The key group of a key: murmur2 made positive, mod k (k >= 1). */
uint32_t flow_keygroup_of(const void *key, size_t len, uint32_t k);

/* The instance of n (n >= 1) that owns key group kg of k: kg * n / k. */
uint32_t flow_keygroup_owner(uint32_t kg, uint32_t n, uint32_t k);

/* The key groups instance i of n owns: [*first, *end), possibly empty
 * when n > k. */
void flow_keygroup_range(uint32_t i, uint32_t n, uint32_t k, uint32_t *first,
                         uint32_t *end);

#endif
