/* strmap.h - an open-addressing hash map from borrowed NUL-terminated strings to indices.
 * Keys are not copied: they must outlive the map. Used for a shard's names, the TUI's key tree,
 * plan parameters and key shapes; a slot is 16 bytes (key, hash, value). Values fit 32 bits.
 * strmap_hash is also the hash of a tensor's name (st_tensor.hash, ck_checkpoint.names).
 * The map owns only its slot table: a zeroed strmap is an empty map, strmap_free releases it.
 * Failures are -1 (out of memory) with the map unchanged; lookups on an empty map return 0. */
#ifndef CK_STRMAP_H
#define CK_STRMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *key;    /* borrowed; NULL marks an empty slot */
    uint32_t hash;
    uint32_t val;
} strmap_slot;

typedef struct {
    strmap_slot *slots; /* (cap) */
    size_t n, cap;      /* cap is 0 or a power of two; n <= 3/4 cap */
} strmap;

void strmap_init(strmap *m);
/* size zeroed bytes, every page already written: for tables read before they are written.
 * NULL when out of memory; the caller frees the block with free(). */
void *strmap_zalloc(size_t size);
/* Frees the slot table (never the keys) and leaves m zeroed; accepts NULL and a zeroed map. */
void strmap_free(strmap *m);
/* Sizes the table for n keys at once (no rehashing while they are added). 0, or -1 (no memory). */
int strmap_reserve(strmap *m, size_t n);
/* Inserts or replaces key -> val (val < 2^32). Returns 1 if the key was new, 0 if replaced (*old
 * set when old is non-NULL), -1 on allocation failure (the map is unchanged). */
int strmap_put(strmap *m, const char *key, size_t val, size_t *old);
/* Looks key up; returns 1 and sets *val when found, else 0. */
int strmap_get(const strmap *m, const char *key, size_t *val);
/* The same with the key's strmap_hash already computed. */
int strmap_put_h(strmap *m, const char *key, uint32_t h, size_t val, size_t *old);
int strmap_get_h(const strmap *m, const char *key, uint32_t h, size_t *val);
uint32_t strmap_hash(const char *s);
/* Hash and lookup of a key given by pointer and length (not NUL-terminated). */
uint32_t strmap_hash_n(const char *s, size_t n);
int strmap_get_n(const strmap *m, const char *key, size_t n, size_t *val);

#endif
