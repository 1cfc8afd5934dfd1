/* check_st.c - the safetensors header reader on entries built here: numbers of every length near
 * and far from the header's end, every dtype in turn (the remembered dtype), and the layouts
 * writers give an entry's fields. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/finding.h"
#include "inspect/st.h"
#include "tests/suiteutil.h"
#include "tests/testutil.h"

/* One tensor "a" with the entry text given, as a whole file image (data of `data` bytes). */
static st_status parse_entry(const char *entry, size_t data, st_header *h, ck_findings *f)
{
    char head[512];
    int n = snprintf(head, sizeof head, "{\"a\":%s}", entry);
    size_t len = 8 + (size_t)n + data;
    uint8_t *b = calloc(len, 1);
    for (int k = 0; k < 8; k++)
        b[k] = (uint8_t)((uint64_t)n >> (8 * k));
    memcpy(b + 8, head, (size_t)n);
    findings_init(f);
    st_status st = st_header_parse(b, len, len, "entry", h, f);
    free(b);
    return st;
}

/* Numbers of every length in a shape, close to the end of the header and far from it (the
 * direct reader takes 8 digits at a time where 32 bytes remain, one at a time elsewhere): each
 * parses to its value, or is refused as the general reader refuses it. */
START_TEST(test_number_lengths)
{
    static const char *const nums[] = {"0", "7", "12", "123", "1234", "98765", "100000", "1234567",
                                       "12345678", "99999999", "100000000", "123456789012",
                                       "1234567890123456", "12345678901234567", "999999999999999999",
                                       "1234567890123456789", "9999999999999999999",
                                       "12345678901234567890", "18446744073709551615",
                                       "18446744073709551616", "123456789012345678901234",
                                       "01", "00", "007"};
    for (unsigned i = 0; i < sizeof nums / sizeof *nums; i++)
        for (int pad = 0; pad <= 40; pad++) {
            char entry[256];
            snprintf(entry, sizeof entry, "{\"dtype\":\"U8\",\"shape\":[%s,0],\"data_offsets\":[0,0]}%*s",
                     nums[i], pad, "");
            st_header h;
            ck_findings f;
            st_status st = parse_entry(entry, 0, &h, &f);
            errno = 0;
            char *end;
            unsigned long long want = strtoull(nums[i], &end, 10);
            int valid = errno == 0 && (nums[i][0] != '0' || !nums[i][1]);
            ck_assert_msg((st == ST_OK) == valid, "%s + %d spaces: %s", nums[i], pad, st_status_variant(st));
            if (st == ST_OK) {
                ck_assert_msg(h.tensors[0].shape[0] == want, "%s + %d spaces: read %llu", nums[i], pad,
                              (unsigned long long)h.tensors[0].shape[0]);
                st_header_free(&h);
            }
            findings_free(&f);
        }
}
END_TEST

/* The direct reader remembers the dtypes a header has named (by their bytes, up to four of them):
 * entries that cycle through more dtypes than that, some sharing a prefix or a length, each
 * get their own; a name longer than eight bytes and a prefix of a dtype are read as the general
 * reader reads them. */
START_TEST(test_dtype_cycle)
{
    static const ck_dtype cycle[] = {DT_F32, DT_BF16, DT_F8_E4M3, DT_F8_E5M2, DT_I8, DT_F16,
                                     DT_U8, DT_F8_E4M3FNUZ, DT_BOOL, DT_F64, DT_I16, DT_F8_E8M0};
    const size_t n = 60, nc = sizeof cycle / sizeof *cycle;
    char *hdr = malloc(n * 128 + 64);
    size_t len = 1, off = 0;
    hdr[0] = '{';
    for (size_t i = 0; i < n; i++) {
        ck_dtype dt = cycle[(i / 2 * 5) % nc]; /* each twice; 5 and 12 are coprime: every dtype */
        size_t bytes = 2 * dtype_bits(dt) / 8;
        len += (size_t)sprintf(hdr + len, "%s\"t%02zu\":{\"dtype\":\"%s\",\"shape\":[2],"
                               "\"data_offsets\":[%zu,%zu]}", i ? "," : "", i, dtype_name(dt), off, off + bytes);
        off += bytes;
    }
    hdr[len++] = '}';
    uint8_t *b = calloc(8 + len + off, 1);
    for (int k = 0; k < 8; k++)
        b[k] = (uint8_t)((uint64_t)len >> (8 * k));
    memcpy(b + 8, hdr, len);
    st_header h;
    ck_findings f;
    findings_init(&f);
    ck_assert_int_eq(st_header_parse(b, 8 + len + off, 8 + len + off, "cycle", &h, &f), ST_OK);
    ck_assert_uint_eq(h.n_tensors, n);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(h.tensors[i].dtype == cycle[(i / 2 * 5) % nc], "%s: %s", h.tensors[i].name,
                      dtype_name(h.tensors[i].dtype));
    st_header_free(&h);
    findings_free(&f);
    free(b);
    free(hdr);
    /* names the direct reader must not take for a dtype it has seen */
    static const struct { const char *entry; size_t data; st_status want; } odd[] = {
        {"{\"dtype\":\"F3\",\"shape\":[1],\"data_offsets\":[0,4]}", 4, ST_UNKNOWN_DTYPE},
        {"{\"dtype\":\"F32_\",\"shape\":[1],\"data_offsets\":[0,4]}", 4, ST_UNKNOWN_DTYPE},
        {"{\"dtype\":\"F8_E4M3FN\",\"shape\":[1],\"data_offsets\":[0,1]}", 1, ST_UNKNOWN_DTYPE},
        {"{\"dtype\":\"F8_E4M3FNUZ\",\"shape\":[1],\"data_offsets\":[0,1]}", 1, ST_OK},
    };
    for (unsigned i = 0; i < sizeof odd / sizeof *odd; i++) {
        st_status st = parse_entry(odd[i].entry, odd[i].data, &h, &f);
        ck_assert_msg(st == odd[i].want, "%s: %s", odd[i].entry, st_status_variant(st));
        if (st == ST_OK)
            st_header_free(&h);
        findings_free(&f);
    }
}
END_TEST

/* The common layout of an entry is read by a direct path; anything else (spaces, another field
 * order, numbers that are not plain integers, unknown fields) must get exactly the general
 * reader's verdict, so the same entries are read both ways here. */
START_TEST(test_entry_layouts)
{
    static const struct {
        const char *entry;
        size_t data;
        st_status want;
        uint32_t ndim;
        uint64_t d0;
    } c[] = {
        {"{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}", 24, ST_OK, 2, 2},
        {"{ \"dtype\" : \"F32\", \"shape\": [2, 3], \"data_offsets\": [0, 24] }", 24, ST_OK, 2, 2},
        {"{\"shape\":[2,3],\"dtype\":\"F32\",\"data_offsets\":[0,24]}", 24, ST_OK, 2, 2},
        {"{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}", 4, ST_OK, 0, 0},
        {"{\"dtype\":\"BF16\",\"shape\":[0],\"data_offsets\":[0,0]}", 0, ST_OK, 1, 0},
        {"{\"dtype\":\"F32\",\"shape\":[6],\"data_offsets\":[0,24],\"x\":1}", 24, ST_OK, 1, 6},
        {"{\"dtype\":\"F32\",\"shape\":[02,3],\"data_offsets\":[0,24]}", 24, ST_INVALID_JSON, 0, 0},
        {"{\"dtype\":\"F32\",\"shape\":[2e0,3],\"data_offsets\":[0,24]}", 24, ST_INVALID_SCHEMA, 0, 0},
        {"{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,24]}", 24, ST_INVALID_SCHEMA, 0, 0},
        {"{\"dtype\":\"F32\",\"shape\":[18446744073709551616],\"data_offsets\":[0,4]}", 4, ST_INVALID_SCHEMA, 0, 0},
        {"{\"dtype\":\"F32\",\"shape\":[2,],\"data_offsets\":[0,8]}", 8, ST_INVALID_JSON, 0, 0},
        {"{\"dtype\":\"F31\",\"shape\":[1],\"data_offsets\":[0,4]}", 4, ST_UNKNOWN_DTYPE, 0, 0},
        {"{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}", 4, ST_INVALID_INFO, 0, 0},
        {"{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}", 8, ST_INVALID_SCHEMA, 0, 0},
        {"{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]", 4, ST_INVALID_JSON, 0, 0},
    };
    for (unsigned i = 0; i < sizeof c / sizeof *c; i++) {
        st_header h;
        ck_findings f;
        st_status st = parse_entry(c[i].entry, c[i].data, &h, &f);
        ck_assert_msg(st == c[i].want, "%s: %s, want %s", c[i].entry, st_status_variant(st),
                      st_status_variant(c[i].want));
        if (st == ST_OK) {
            ck_assert_uint_eq(h.n_tensors, 1);
            ck_assert_str_eq(h.tensors[0].name, "a");
            ck_assert_uint_eq(h.tensors[0].ndim, c[i].ndim);
            if (c[i].ndim)
                ck_assert_uint_eq(h.tensors[0].shape[0], c[i].d0);
            ck_assert_uint_eq(h.tensors[0].end, c[i].data);
            ck_assert_int_eq(findings_find(&f, "st.unknown_field") != NULL, strstr(c[i].entry, "\"x\"") != NULL);
            st_header_free(&h);
        }
        findings_free(&f);
    }
}
END_TEST

static Suite *st_suite(void)
{
    Suite *s = suite_create("st");
    TCase *core = tcase_create("core");
    tcase_add_test(core, test_number_lengths);
    tcase_add_test(core, test_dtype_cycle);
    tcase_add_test(core, test_entry_layouts);
    tcase_set_timeout(core, 60);
    suite_add_tcase(s, core);
    return s;
}

int main(void)
{
    return tu_suite_run(st_suite());
}
