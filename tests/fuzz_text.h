/* fuzz_text.h - what the fuzz targets that read text or run commands share: a fuzz input as the
 * NUL-terminated text the readers take (malloc'ed; NULL when out of memory), and a command run
 * with its output thrown away. */
#ifndef CK_FUZZ_TEXT_H
#define CK_FUZZ_TEXT_H

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static inline char *fuzz_text(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (text) {
        memcpy(text, data, size);
        text[size] = 0;
    }
    return text;
}

/* fn(argc, argv) with stdout and stderr on /dev/null (left on stderr when show); its exit status. */
static inline int fuzz_quietly(int (*fn)(int, char **), int argc, char **argv, int show)
{
    fflush(stdout);
    fflush(stderr);
    int out = dup(1), err = dup(2), null = open(show ? "/dev/stderr" : "/dev/null", O_WRONLY);
    if (out < 0 || err < 0 || null < 0)
        abort();
    dup2(null, 1);
    dup2(null, 2);
    int rc = fn(argc, argv);
    fflush(stdout);
    fflush(stderr);
    dup2(out, 1);
    dup2(err, 2);
    close(out);
    close(err);
    close(null);
    return rc;
}

#endif
