/* check_base.c - what every module uses: threads started away from their creator's CPU and
 * given its CPUs back, the JSON scanner's UTF-8 positions, the string map's lookups, parallel
 * pread, findings copied between lists. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fileio.h"
#include "base/finding.h"
#include "base/jscan.h"
#include "base/strmap.h"
#include "base/thread.h"
#include "tests/suiteutil.h"
#include "tests/testutil.h"

/* A thread from ck_thread_start runs fn(arg), hands its result to pthread_join, and may then
 * use every CPU its creator may: the start on another CPU is not left behind as a pin. With one
 * CPU allowed it still starts. */
typedef struct {
    int arg_seen;
    cpu_set_t mask;
    int mask_rc;
} thread_seen;

static void *thread_note(void *p)
{
    thread_seen *x = p;
    x->arg_seen = 1;
    x->mask_rc = sched_getaffinity(0, sizeof x->mask, &x->mask);
    return p;
}

/* ck_thread_count: the asked number or one per CPU, within the maximum and the work, >= 1. */
START_TEST(test_thread_count)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    ck_assert_int_eq(ck_thread_count(3, 16, 100), 3);
    ck_assert_int_eq(ck_thread_count(40, 16, 100), 16);
    ck_assert_int_eq(ck_thread_count(8, 16, 5), 5);
    ck_assert_int_eq(ck_thread_count(8, 16, 0), 1);
    ck_assert_int_eq(ck_thread_count(0, 64, SIZE_MAX), cpus > 64 ? 64 : cpus);
    ck_assert_int_eq(ck_thread_count(-1, 1, SIZE_MAX), 1);
}
END_TEST

START_TEST(test_thread_start)
{
    cpu_set_t all;
    ck_assert_int_eq(sched_getaffinity(0, sizeof all, &all), 0);
    for (int variant = 0; variant < 2; variant++) {
        cpu_set_t want = all;
        if (variant == 1) { /* only the CPU this thread is on */
            int me = sched_getcpu();
            ck_assert_int_ge(me, 0);
            CPU_ZERO(&want);
            CPU_SET(me, &want);
            ck_assert_int_eq(sched_setaffinity(0, sizeof want, &want), 0);
        }
        for (int k = 0; k < 8; k++) {
            thread_seen seen;
            memset(&seen, 0, sizeof seen);
            pthread_t t;
            ck_assert_int_eq(ck_thread_start(&t, thread_note, &seen), 0);
            void *ret = NULL;
            ck_assert_int_eq(pthread_join(t, &ret), 0);
            ck_assert_ptr_eq(ret, &seen);
            ck_assert_int_eq(seen.arg_seen, 1);
            ck_assert_int_eq(seen.mask_rc, 0);
            ck_assert_msg(CPU_EQUAL(&seen.mask, &want), "variant %d: the thread kept %d CPUs of %d",
                          variant, CPU_COUNT(&seen.mask), CPU_COUNT(&want));
        }
    }
    ck_assert_int_eq(sched_setaffinity(0, sizeof all, &all), 0);
}
END_TEST

/* UTF-8 validation finds the first bad byte wherever it is: in or after a long ASCII run (the
 * run is skipped 64 and 8 bytes at a time), and accepts valid sequences at every position. */
START_TEST(test_utf8_positions)
{
    uint8_t b[300];
    for (size_t n = 1; n <= sizeof b; n += (n < 140 ? 1 : 7))
        for (size_t p = 0; p < n; p++) {
            memset(b, 'a', n);
            b[p] = 0xff;
            ck_assert_uint_eq(jscan_utf8_invalid_at(b, n), p);
            b[p] = 0xc3; /* a lead byte without its continuation: bad unless one follows */
            ck_assert_uint_eq(jscan_utf8_invalid_at(b, n), p);
            if (p + 1 < n) {
                b[p + 1] = 0xa9; /* U+00E9 */
                ck_assert_uint_eq(jscan_utf8_invalid_at(b, n), SIZE_MAX);
                b[p + 1] = 0x80;
                b[p] = 0xc0; /* overlong */
                ck_assert_uint_eq(jscan_utf8_invalid_at(b, n), p);
            }
        }
}
END_TEST

/* The name map: lookups by pointer and length, keys that are prefixes of others, a length that
 * runs past a stored key's end, a NUL inside the key looked up, growth past the reserved size. */
/* jscan_member: the value of one member of an object, whatever comes before it; none in an
 * object without it, in a value that is no object, nor a longer or shorter key of the same start;
 * -1 where the text stops being JSON before it. */
START_TEST(test_jscan_member)
{
    static const struct { const char *text, *key; int want; const char *at; } t[] = {
        {"{\"a\": [1, {\"match\": 2}], \"matches\": 3, \"match\" : {\"x\": 1}}", "match", 1, "{\"x\": 1}}"},
        {" { \"match\":true}", "match", 1, "true}"},
        {"{\"matc\": 1, \"m\": 2}", "match", 0, NULL},
        {"{}", "match", 0, NULL},
        {"[{\"match\": 1}]", "match", 0, NULL},
        {"{\"a\": 1 \"match\": 2}", "match", -1, NULL},
        {"{\"a\": tru, \"match\": 2}", "match", -1, NULL},
    };
    for (unsigned i = 0; i < sizeof t / sizeof *t; i++) {
        jscan j;
        jscan_init(&j, t[i].text, strlen(t[i].text), NULL, 1, "text");
        int r = jscan_member(&j, t[i].key);
        ck_assert_msg(r == t[i].want, "case %u: %d, want %d", i, r, t[i].want);
        if (t[i].at)
            ck_assert_str_eq((const char *)j.b + j.i, t[i].at);
        if (r < 0)
            ck_assert_int_ne(j.status, 0);
    }
}
END_TEST

START_TEST(test_strmap_lookups)
{
    strmap m;
    strmap_init(&m);
    static const char *keys[] = {"a", "ab", "abc", "model.layers.0.w", "model.layers.0.w_scale"};
    for (size_t i = 0; i < 5; i++)
        ck_assert_int_eq(strmap_put(&m, keys[i], i, NULL), 1);
    size_t v;
    ck_assert(strmap_get_n(&m, "abcd", 2, &v) && v == 1);
    ck_assert(strmap_get_n(&m, "model.layers.0.w_scale", 16, &v) && v == 3);
    ck_assert(!strmap_get_n(&m, "model.layers.0.w_", 17, &v));
    ck_assert(!strmap_get_n(&m, "a\0b", 3, &v)); /* not "a": the key looked up is 3 bytes */
    ck_assert(!strmap_get_n(&m, "", 0, &v));
    ck_assert_int_eq(strmap_put(&m, "ab", 9, &v), 0);
    ck_assert_uint_eq(v, 1);
    ck_assert(strmap_get(&m, "ab", &v) && v == 9);
    char names[2000][16];
    for (int i = 0; i < 2000; i++) {
        snprintf(names[i], sizeof names[i], "k%d", i);
        ck_assert_int_eq(strmap_put(&m, names[i], (size_t)i + 100, NULL), 1);
    }
    for (int i = 0; i < 2000; i++)
        ck_assert(strmap_get_n(&m, names[i], strlen(names[i]), &v) && v == (size_t)i + 100);
    ck_assert_uint_eq(m.n, 2005);
    strmap_free(&m);
}
END_TEST

/* The parallel read returns the same bytes as one pread, whatever the number of threads and
 * slices (the length is not a multiple of the slices), and reports a file that ends early. */
START_TEST(test_pread_par)
{
    char *tmp = tu_tmpdir();
    ck_assert_ptr_nonnull(tmp);
    char path[1024];
    snprintf(path, sizeof path, "%s/data.bin", tmp);
    size_t len = ((size_t)21 << 20) + 12345;
    uint8_t *want = malloc(len), *got = malloc(len);
    uint32_t st = 99;
    for (size_t i = 0; i < len; i++)
        want[i] = (uint8_t)(tu_rand(&st) >> 13);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(want, 1, len, f), len);
    fclose(f);
    int fd = open(path, O_RDONLY);
    ck_assert_int_ge(fd, 0);
    static const int threads[] = {1, 2, 3, 5, 16, 0};
    for (unsigned k = 0; k < sizeof threads / sizeof *threads; k++) {
        memset(got, 0, len);
        ck_assert_int_eq(ck_pread_par(fd, got, len - 777, 777, threads[k]), 0);
        ck_assert_msg(memcmp(got, want + 777, len - 777) == 0, "%d threads: other bytes", threads[k]);
    }
    /* past the end: an error, whichever slice hits it */
    ck_assert_int_eq(ck_pread_par(fd, got, len, 1000, 4), -1);
    close(fd);
    free(want);
    free(got);
    tu_rmtree(tmp);
    free(tmp);
}
END_TEST

/* findings_append copies the findings of a severity and above, in order, with their fields, and
 * carries the source's oom (a list that dropped findings makes the copy incomplete too). */
START_TEST(test_findings_append)
{
    ck_findings a, b;
    findings_init(&a);
    findings_init(&b);
    findings_add(&a, "x.note", SEV_NOTE, "f1", "k1", 7, "note %d", 1);
    findings_add(&a, "x.error", SEV_ERROR, "f2", NULL, UINT64_MAX, "error %s", "two");
    findings_add(&a, "x.warning", SEV_WARNING, NULL, "k3", 9, "warning");
    findings_append(&b, &a, SEV_WARNING);
    ck_assert_uint_eq(b.n, 2);
    ck_assert_str_eq(b.v[0].code, "x.error");
    ck_assert_str_eq(b.v[0].file, "f2");
    ck_assert_str_eq(b.v[0].key, "");
    ck_assert_str_eq(b.v[0].msg, "error two");
    ck_assert_uint_eq(b.v[0].offset, UINT64_MAX);
    ck_assert_str_eq(b.v[1].code, "x.warning");
    ck_assert_uint_eq(b.v[1].offset, 9);
    ck_assert_int_eq(b.oom, 0);
    findings_append(&b, &a, SEV_NOTE);
    ck_assert_uint_eq(b.n, 5);
    ck_assert_str_eq(b.v[2].msg, "note 1");
    a.oom = 1;
    findings_append(&b, &a, SEV_ERROR);
    ck_assert_int_eq(b.oom, 1);
    findings_free(&a);
    findings_free(&b);
    findings_free(NULL);
}
END_TEST

typedef struct {
    int runs[CK_POOL_MAX + 8];
    int n_seen[CK_POOL_MAX + 8];
    int nested;
} pool_log;

static void pool_inner(void *ctx, int k, int n)
{
    (void)n;
    __atomic_fetch_add(&((pool_log *)ctx)->runs[k], 1, __ATOMIC_RELAXED);
}

static void pool_part(void *ctx, int k, int n)
{
    pool_log *g = ctx;
    __atomic_fetch_add(&g->runs[k], 1, __ATOMIC_RELAXED);
    g->n_seen[k] = n;
    if (g->nested && k == 1) { /* the pool is busy: these run on this thread, one after the other */
        pool_log inner = {{0}, {0}, 0};
        ck_pool_run(3, pool_inner, &inner);
        for (int i = 0; i < 3; i++)
            ck_assert_int_eq(inner.runs[i], 1);
    }
}

/* ck_pool_run runs every part exactly once, each told the same count, again and again with the
 * same helpers; a call from inside a part runs its own parts on that thread; more parts than the
 * pool holds all run. */
START_TEST(test_pool_run)
{
    static const int ns[] = {1, 2, 3, 2, 7, 1, CK_POOL_MAX + 5};
    for (int round = 0; round < 50; round++)
        for (unsigned i = 0; i < sizeof ns / sizeof *ns; i++) {
            pool_log g = {{0}, {0}, round % 2};
            ck_pool_run(ns[i], pool_part, &g);
            int n = ns[i] > CK_POOL_MAX ? CK_POOL_MAX : ns[i];
            for (int k = 0; k < CK_POOL_MAX + 8; k++) {
                ck_assert_msg(g.runs[k] == (k < n), "round %d, %d parts: part %d ran %d times", round, ns[i], k,
                              g.runs[k]);
                if (k < n)
                    ck_assert_int_eq(g.n_seen[k], n);
            }
        }
}
END_TEST

static Suite *base_suite(void)
{
    Suite *s = suite_create("base");
    TCase *core = tcase_create("core");
    tcase_add_test(core, test_thread_count);
    tcase_add_test(core, test_thread_start);
    tcase_add_test(core, test_utf8_positions);
    tcase_add_test(core, test_strmap_lookups);
    tcase_add_test(core, test_jscan_member);
    tcase_add_test(core, test_pread_par);
    tcase_add_test(core, test_pool_run);
    tcase_add_test(core, test_findings_append);
    tcase_set_timeout(core, 60);
    suite_add_tcase(s, core);
    return s;
}

int main(void)
{
    return tu_suite_run(base_suite());
}
