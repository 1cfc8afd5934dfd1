/* testutil.h - helpers shared by the Check suites. Tests run from the repository root. */
#ifndef CK_TESTUTIL_H
#define CK_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

/* Reads a whole file (NULL on failure); *len set; a NUL byte follows the data. Caller frees. */
uint8_t *tu_read_file(const char *path, size_t *len);
/* Runs a shell command, captures stdout (and stderr when merge) into *out (caller frees);
 * returns the exit status, or -1 when it could not run. */
int tu_run(const char *cmd, int merge, char **out);
/* The ckptdoc binary under test ($CKPTDOC_BIN, default build/ckptdoc). */
const char *tu_bin(void);
/* A fresh temporary folder (mkdtemp under $TMPDIR or /tmp); caller removes it with tu_rmtree. */
char *tu_tmpdir(void);
void tu_rmtree(const char *dir);
/* Fills n floats with deterministic pseudo-random values in [-scale, scale] (never all zero). */
void tu_random_floats(float *v, size_t n, uint32_t seed, float scale);
uint32_t tu_rand(uint32_t *state);

#endif
