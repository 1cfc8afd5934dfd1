/* strmap.h - an open-addressing hash map from borrowed NUL-terminated strings to size_t.
 * Keys are not copied: they must outlive the map. Used for tensor-name lookups over ~100k keys. */
#ifndef CK_STRMAP_H
#define CK_STRMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char **keys;  /* (cap) borrowed; NULL marks an empty slot */
    size_t *vals;       /* (cap) */
    uint32_t *hashes;   /* (cap) */
    size_t n, cap;      /* cap is 0 or a power of two */
} strmap;

void strmap_init(strmap *m);
void strmap_free(strmap *m);
/* Inserts or replaces key -> val. Returns 1 if the key was new, 0 if replaced (*old set when
 * old is non-NULL), -1 on allocation failure (the map is unchanged). */
int strmap_put(strmap *m, const char *key, size_t val, size_t *old);
/* Looks key up; returns 1 and sets *val when found, else 0. */
int strmap_get(const strmap *m, const char *key, size_t *val);
uint32_t strmap_hash(const char *s);

#endif
