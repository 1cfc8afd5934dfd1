/* strmap.c - open addressing with linear probing; the table doubles past 3/4 load. */
#include "base/strmap.h"

#include <stdlib.h>
#include <string.h>

void strmap_init(strmap *m)
{
    memset(m, 0, sizeof *m);
}

void strmap_free(strmap *m)
{
    if (!m)
        return;
    free(m->slots);
    memset(m, 0, sizeof *m);
}

uint32_t strmap_hash(const char *s)
{
    return strmap_hash_n(s, strlen(s));
}

uint32_t strmap_hash_n(const char *s, size_t n)
{
    /* Names run to ~60 bytes: 16 bytes a round in two independent lanes, the last 1-8 bytes
     * as one word that may overlap bytes already taken, then a 64-bit mix. */
    uint64_t a = 0x9E3779B97F4A7C15ull ^ n, b = 0xC2B2AE3D27D4EB4Full;
    const char *end = s + n;
    while (end - s > 16) {
        uint64_t w0, w1;
        memcpy(&w0, s, 8);
        memcpy(&w1, s + 8, 8);
        a = (a ^ w0) * 0xFF51AFD7ED558CCDull;
        b = (b ^ w1) * 0xC4CEB9FE1A85EC53ull;
        a ^= a >> 32;
        b ^= b >> 29;
        s += 16;
    }
    if (end - s > 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        a = (a ^ w) * 0xFF51AFD7ED558CCDull;
        a ^= a >> 32;
        s += 8;
    }
    uint64_t w = 0;
    if (n >= 8)
        memcpy(&w, end - 8, 8);
    else
        for (size_t k = 0; k < n; k++)
            w |= (uint64_t)(unsigned char)s[k] << (8 * k);
    b = (b ^ w) * 0xFF51AFD7ED558CCDull;
    uint64_t h = (a ^ (b >> 31 | b << 33)) * 0xC4CEB9FE1A85EC53ull;
    h ^= h >> 29;
    return (uint32_t)h;
}

void *strmap_zalloc(size_t size)
{
    /* Not calloc: fresh pages of a large calloc are never written, so a probe that reads one
     * maps the shared zero page and the first write faults a second time (and, with other
     * threads running, flushes their TLBs in between). One write per page first, through a
     * volatile pointer so that the compiler does not turn malloc + memset back into calloc. */
    char *p = malloc(size ? size : 1);
    if (!p)
        return NULL;
    for (size_t o = 0; o < size; o += 4096)
        ((volatile char *)p)[o] = 0;
    memset(p, 0, size);
    return p;
}

static int strmap_resize(strmap *m, size_t cap)
{
    strmap_slot *slots = strmap_zalloc(cap * sizeof *slots);
    if (!slots)
        return -1;
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->slots[i].key)
            continue;
        size_t j = m->slots[i].hash & (cap - 1);
        while (slots[j].key)
            j = (j + 1) & (cap - 1);
        slots[j] = m->slots[i];
    }
    free(m->slots);
    m->slots = slots;
    m->cap = cap;
    return 0;
}

int strmap_reserve(strmap *m, size_t n)
{
    size_t cap = 64;
    while (cap * 3 / 4 < n + 1)
        cap *= 2;
    return cap > m->cap ? strmap_resize(m, cap) : 0;
}

int strmap_put(strmap *m, const char *key, size_t val, size_t *old)
{
    return strmap_put_h(m, key, strmap_hash(key), val, old);
}

int strmap_put_h(strmap *m, const char *key, uint32_t h, size_t val, size_t *old)
{
    if ((m->n + 1) * 4 > m->cap * 3 && strmap_resize(m, m->cap ? m->cap * 2 : 64) != 0)
        return -1;
    size_t j = h & (m->cap - 1);
    while (m->slots[j].key) {
        if (m->slots[j].hash == h && strcmp(m->slots[j].key, key) == 0) {
            if (old)
                *old = m->slots[j].val;
            m->slots[j].val = (uint32_t)val;
            return 0;
        }
        j = (j + 1) & (m->cap - 1);
    }
    m->slots[j].key = key;
    m->slots[j].hash = h;
    m->slots[j].val = (uint32_t)val;
    m->n++;
    return 1;
}

int strmap_get(const strmap *m, const char *key, size_t *val)
{
    return m->cap ? strmap_get_h(m, key, strmap_hash(key), val) : 0;
}

int strmap_get_h(const strmap *m, const char *key, uint32_t h, size_t *val)
{
    if (!m->cap)
        return 0;
    size_t j = h & (m->cap - 1);
    while (m->slots[j].key) {
        if (m->slots[j].hash == h && strcmp(m->slots[j].key, key) == 0) {
            if (val)
                *val = m->slots[j].val;
            return 1;
        }
        j = (j + 1) & (m->cap - 1);
    }
    return 0;
}

int strmap_get_n(const strmap *m, const char *key, size_t n, size_t *val)
{
    if (!m->cap)
        return 0;
    uint32_t h = strmap_hash_n(key, n);
    size_t j = h & (m->cap - 1);
    while (m->slots[j].key) {
        /* the stored key is n bytes long (strnlen reads no further than its NUL) and equal */
        if (m->slots[j].hash == h && strnlen(m->slots[j].key, n + 1) == n &&
            memcmp(m->slots[j].key, key, n) == 0) {
            if (val)
                *val = m->slots[j].val;
            return 1;
        }
        j = (j + 1) & (m->cap - 1);
    }
    return 0;
}
