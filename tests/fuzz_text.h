/* fuzz_text.h - a fuzz input as the NUL-terminated text the readers take (malloc'ed; NULL when
 * out of memory), shared by the fuzz targets that read text. */
#ifndef CK_FUZZ_TEXT_H
#define CK_FUZZ_TEXT_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static inline char *fuzz_text(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (text) {
        memcpy(text, data, size);
        text[size] = 0;
    }
    return text;
}

#endif
