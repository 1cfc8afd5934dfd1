/* fuzz_replay.c - replays every file of the given folders through the fuzz target, without
 * libFuzzer, so that `make check` (and its sanitizer build) covers the corpus. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "tests/testutil.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int main(int argc, char **argv)
{
    int n = 0;
    for (int a = 1; a < argc; a++) {
        DIR *d = opendir(argv[a]);
        if (!d) {
            fprintf(stderr, "fuzz_replay: cannot open %s\n", argv[a]);
            return 1;
        }
        struct dirent *de;
        while ((de = readdir(d))) {
            if (de->d_name[0] == '.')
                continue;
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", argv[a], de->d_name);
            size_t len;
            uint8_t *b = tu_read_file(path, &len);
            if (!b)
                continue;
            LLVMFuzzerTestOneInput(b, len);
            free(b);
            n++;
        }
        closedir(d);
    }
    printf("fuzz_replay: %d passed, 0 failed\n", n);
    return n > 0 ? 0 : 1;
}
