/* check_inspect.c - the reader: every class of bad input has a fixture and an expected finding
 * code and message prefix (one table); the verdict on every fixture agrees with the reference
 * reader's recorded verdict; folders, the index, config.json, --verify and the command line. */
#include <check.h>
#include <sched.h>
#include <errno.h>
#include <cjson/cJSON.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "inspect/ckpt.h"
#include "base/fileio.h"
#include "base/jscan.h"
#include "base/thread.h"
#include "inspect/verify.h"
#include "tests/suiteutil.h"
#include "tests/testutil.h"

#define MAL "fixtures/malformed/"
#define FOLD "fixtures/folders/"

static int starts_with(const char *s, const char *p)
{
    return strncmp(s, p, strlen(p)) == 0;
}

/* Parses a fixture file image the way the fuzz target does (whole file in memory). */
static st_status parse_fixture(const char *name, st_header *h, ck_findings *f)
{
    char path[512];
    snprintf(path, sizeof path, MAL "%s.safetensors", name);
    size_t len;
    uint8_t *b = tu_read_file(path, &len);
    ck_assert_msg(b != NULL, "cannot read fixture %s", path);
    st_status s = st_header_parse(b, len, len, name, h, f);
    free(b);
    return s;
}

/* ------------------------------------------------------------------------------------------ */
/* errors: one table, code and message prefix of each bad-input class */

static const struct {
    const char *fixture, *code, *prefix;
} bad[] = {
    {"empty", "st.header_too_small", "file is 0 bytes, shorter than the 8-byte header length field"},
    {"too_small", "st.header_too_small", "file is 5 bytes, shorter than the 8-byte"},
    {"header_too_large", "st.header_too_large", "header length field is 18446742974197923900, above the format's limit of 100000000 bytes"},
    {"header_limit_plus_one", "st.header_too_large", "header length field is 100000001, above the format's limit"},
    {"invalid_header_length", "st.invalid_header_length", "header length field is 1000 but only 2 bytes follow it"},
    {"zero_header", "st.invalid_json", "header is not valid JSON: expected '{', found the end of the header"},
    {"invalid_utf8", "st.invalid_utf8", "header is not valid UTF-8: byte 0xff at header position 3"},
    {"overlong_utf8", "st.invalid_utf8", "header is not valid UTF-8: byte 0xc0 at header position 3"},
    {"surrogate_utf8", "st.invalid_utf8", "header is not valid UTF-8: byte 0xed at header position 3"},
    {"json_truncated", "st.invalid_json", "header is not valid JSON: "},
    {"json_trailing", "st.invalid_json", "header is not valid JSON: trailing characters after the object"},
    {"json_leading_zero", "st.invalid_json", "header is not valid JSON: number with a leading zero"},
    {"json_control_char", "st.invalid_json", "header is not valid JSON: control character 0x01 inside a string"},
    {"json_lone_surrogate", "st.invalid_json", "header is not valid JSON: lone leading surrogate \\uD800"},
    {"json_bad_escape", "st.invalid_json", "header is not valid JSON: invalid escape '\\q'"},
    {"json_deep_nesting", "st.invalid_json", "header is not valid JSON: nested deeper than 128 levels"},
    {"json_single_quotes", "st.invalid_json", "header is not valid JSON: expected a string, found '''"},
    {"schema_not_object", "st.invalid_schema", "header is an array but must be a JSON object"},
    {"schema_entry_string", "st.invalid_schema", "tensor entry is a string but must be an object"},
    {"unknown_dtype", "st.unknown_dtype", "dtype \"F8\" is not a safetensors dtype (BOOL, F4"},
    {"negative_dim", "st.invalid_schema", "shape[0] is -1 but must be a non-negative integer"},
    {"negative_zero", "st.invalid_schema", "shape[0] is -0 but must be a non-negative integer"},
    {"float_dim", "st.invalid_schema", "shape[0] is 1.0 but must be an integer (no fraction or exponent)"},
    {"exponent_dim", "st.invalid_schema", "shape[0] is 1e0 but must be an integer"},
    {"huge_dim", "st.invalid_schema", "shape[0] is 18446744073709551616, which does not fit 64 bits"},
    {"string_dim", "st.invalid_schema", "shape[0] is a string but must be a non-negative integer"},
    {"metadata_not_string", "st.invalid_schema", "__metadata__ value of \"format\" is a number but must be a string"},
    {"metadata_not_object", "st.invalid_schema", "__metadata__ is a string but must be an object"},
    {"offsets_three", "st.invalid_schema", "data_offsets has more than 2 elements"},
    {"offsets_one", "st.invalid_schema", "data_offsets has 1 element but must have 2"},
    {"offsets_negative", "st.invalid_schema", "data_offsets[0] is -1 but must be a non-negative integer"},
    {"missing_dtype", "st.invalid_schema", "missing field `dtype` in the tensor entry"},
    {"missing_offsets", "st.invalid_schema", "missing field `data_offsets` in the tensor entry"},
    {"duplicate_field", "st.invalid_schema", "duplicate field `dtype` in the tensor entry"},
    {"offset_gap", "st.invalid_offset", "data_offsets [8, 12] leave a gap: the previous tensor 'a' ends at 4, so 4 bytes"},
    {"offset_overlap", "st.invalid_offset", "data_offsets [4, 12] overlap the previous tensor 'a', which ends at 8"},
    {"offset_same_range", "st.invalid_offset", "data_offsets [0, 16] overlap the previous tensor"},
    {"offset_backwards", "st.invalid_offset", "data_offsets [8, 4] run backwards"},
    {"offset_not_from_zero", "st.invalid_offset", "data_offsets [4, 8] leave a gap: the previous tensor ends at 0"},
    {"duplicate_key_lost", "st.invalid_offset", "data_offsets [4, 8] leave a gap"},
    {"overflow_shape", "st.overflow", "shape [2, 18446744073709551614] x U8 overflows 64 bits"},
    {"overflow_bits", "st.overflow", "shape [2, 9223372036854775807] x F32 overflows 64 bits"},
    {"misaligned_f4", "st.misaligned", "shape [3] has 3 elements x 4 bits = 12 bits, which is not a whole number of bytes"},
    {"invalid_info", "st.invalid_info", "data_offsets [0, 4] cover 4 bytes but shape [2, 2] x I32 needs 16"},
    {"truncated", "st.incomplete_buffer", "file is truncated: it is"},
    {"trailing_bytes", "st.incomplete_buffer", "file has 34 trailing bytes after the last tensor"},
};

START_TEST(test_bad_input_table)
{
    ck_findings f;
    findings_init(&f);
    st_header h;
    st_status s = parse_fixture(bad[_i].fixture, &h, &f);
    ck_assert_msg(s != ST_OK, "%s: accepted", bad[_i].fixture);
    ck_assert_str_eq(st_status_code(s), bad[_i].code);
    const ck_finding *x = findings_find(&f, bad[_i].code);
    ck_assert_msg(x != NULL, "%s: no %s finding", bad[_i].fixture, bad[_i].code);
    ck_assert_int_eq(x->sev, SEV_ERROR);
    ck_assert_msg(starts_with(x->msg, bad[_i].prefix), "%s: message\n  '%s'\ndoes not start with\n  '%s'",
                  bad[_i].fixture, x->msg, bad[_i].prefix);
    ck_assert_msg(strstr(x->msg, "(safetensors: ") != NULL, "%s: message names no reference variant",
                  bad[_i].fixture);
    ck_assert_ptr_null(h.tensors);
    findings_free(&f);
}
END_TEST

/* Not safetensors at all: opened as a file, the finding says what it is. */
static const struct {
    const char *fixture, *code, *prefix;
} sniffed[] = {
    {"lfs_pointer", "file.lfs_pointer", "is a git-lfs pointer (135 bytes), not tensors: the real file is 4932875396 bytes"},
    {"html_page", "file.html", "is an HTML page of 87 bytes, not tensors"},
    {"json_error_page", "file.json", "is a JSON document of 78 bytes, not tensors"},
    {"entry_not_found", "file.text", "is a text file of 15 bytes, not tensors"},
    {"pytorch_zip", "file.pytorch_zip", "is a PyTorch zip checkpoint (a pytorch_model.bin renamed?)"},
    {"pytorch_pickle", "file.pytorch_pickle", "is a legacy PyTorch pickle"},
    {"gguf", "file.gguf", "is a GGUF file (llama.cpp), not safetensors"},
    {"empty", "file.empty", "is empty (0 bytes)"},
};

START_TEST(test_sniffed_table)
{
    char path[512];
    snprintf(path, sizeof path, MAL "%s.safetensors", sniffed[_i].fixture);
    ck_checkpoint ck;
    ck_err err;
    ck_err_clear(&err);
    ck_assert_int_eq(ckpt_open(path, 1, &ck, &err), CK_OK);
    const ck_finding *x = findings_find(&ck.findings, sniffed[_i].code);
    ck_assert_msg(x != NULL, "%s: no %s finding", sniffed[_i].fixture, sniffed[_i].code);
    ck_assert_msg(starts_with(x->msg, sniffed[_i].prefix), "%s: '%s'", sniffed[_i].fixture, x->msg);
    ck_assert_int_eq(x->sev, SEV_ERROR);
    /* the reference's own variant is named, and the raw reader error is not reported twice */
    ck_assert_ptr_nonnull(strstr(x->msg, "safetensors"));
    ck_assert_int_eq(findings_count(&ck.findings, SEV_ERROR), 1);
    ck_assert_uint_eq(ck.n_tensors, 0);
    ckpt_free(&ck);
}
END_TEST

/* Every fixture: our verdict is the reference reader's (recorded by fixtures/make_malformed.py
 * with the real safetensors package into REFERENCE.tsv). */
START_TEST(test_reference_agreement)
{
    size_t len;
    char *tsv = (char *)tu_read_file(MAL "REFERENCE.tsv", &len);
    ck_assert_ptr_nonnull(tsv);
    tsv = realloc(tsv, len + 1);
    tsv[len] = 0;
    int rows = 0, accepted = 0;
    char *save = NULL;
    for (char *line = strtok_r(tsv, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (line[0] == '#')
            continue;
        char *tab = strchr(line, '\t');
        ck_assert_ptr_nonnull(tab);
        *tab = 0;
        char *variant = tab + 1, *tab2 = strchr(variant, '\t');
        if (tab2)
            *tab2 = 0;
        ck_findings f;
        findings_init(&f);
        st_header h;
        st_status s = parse_fixture(line, &h, &f);
        ck_assert_msg(strcmp(st_status_variant(s), variant) == 0,
                      "%s: ckptdoc says %s, the reference says %s", line, st_status_variant(s), variant);
        accepted += s == ST_OK;
        st_header_free(&h);
        findings_free(&f);
        rows++;
    }
    free(tsv);
    ck_assert_int_ge(rows, 60);
    ck_assert_int_ge(accepted, 10);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* core: files the reference accepts */

START_TEST(test_valid_files)
{
    static const struct {
        const char *fixture;
        size_t tensors;
        const char *warning; /* expected warning code, or NULL for none at all */
    } ok[] = {
        {"valid_basic", 2, NULL},         {"valid_empty", 0, NULL},
        {"valid_zero_sized", 2, NULL},    {"valid_scalar", 1, NULL},
        {"valid_all_dtypes", 22, NULL},   {"valid_metadata_null", 1, NULL},
        {"valid_unicode_name", 1, NULL},  {"warn_unpadded", 1, "st.unpadded_header"},
        {"warn_leading_ws", 1, "st.leading_whitespace"},
        {"warn_newline_padding", 1, "st.header_padding"},
        {"warn_duplicate_same", 1, "st.duplicate_key"},
        {"warn_unknown_field", 1, "st.unknown_field"},
        {"warn_array_entry", 1, "st.array_entry"},
    };
    for (unsigned i = 0; i < sizeof ok / sizeof *ok; i++) {
        ck_findings f;
        findings_init(&f);
        st_header h;
        st_status s = parse_fixture(ok[i].fixture, &h, &f);
        ck_assert_msg(s == ST_OK, "%s rejected: %s", ok[i].fixture, f.n ? f.v[0].msg : "");
        ck_assert_uint_eq(h.n_tensors, ok[i].tensors);
        ck_assert_uint_eq(findings_count(&f, SEV_ERROR), 0);
        if (ok[i].warning) {
            const ck_finding *w = findings_find(&f, ok[i].warning);
            ck_assert_msg(w && w->sev == SEV_WARNING, "%s: no %s warning", ok[i].fixture, ok[i].warning);
            ck_assert_ptr_nonnull(strstr(w->msg, "reference"));
        } else
            ck_assert_msg(f.n == 0, "%s: unexpected %s", ok[i].fixture, f.n ? f.v[0].code : "");
        st_header_free(&h);
        findings_free(&f);
    }
}
END_TEST

START_TEST(test_valid_details)
{
    ck_findings f;
    findings_init(&f);
    st_header h;
    ck_assert_int_eq(parse_fixture("valid_basic", &h, &f), ST_OK);
    ck_assert_uint_eq(h.n_meta, 1);
    ck_assert_str_eq(h.meta_keys[0], "format");
    ck_assert_str_eq(h.meta_vals[0], "pt");
    ck_assert_str_eq(h.tensors[0].name, "a");
    ck_assert_int_eq(h.tensors[0].dtype, DT_F32);
    ck_assert_uint_eq(h.tensors[0].ndim, 2);
    ck_assert_uint_eq(h.tensors[0].shape[1], 2);
    ck_assert_uint_eq(h.tensors[1].begin, 16);
    ck_assert_uint_eq(st_tensor_nbytes(&h.tensors[1]), 6);
    ck_assert_uint_eq(h.header_len % 8, 0);
    st_header_free(&h);
    /* escapes and non-ASCII names decode to UTF-8 */
    ck_assert_int_eq(parse_fixture("valid_unicode_name", &h, &f), ST_OK);
    ck_assert_str_eq(h.tensors[0].name, "\xc3\xa9\xc3\xa8\xf0\x9f\x98\x80");
    st_header_free(&h);
    /* all 22 dtypes by name, sub-byte ones included */
    ck_assert_int_eq(parse_fixture("valid_all_dtypes", &h, &f), ST_OK);
    for (size_t i = 0; i < h.n_tensors; i++)
        ck_assert_str_eq(h.tensors[i].name + 2, dtype_name(h.tensors[i].dtype));
    st_header_free(&h);
    /* the duplicate keeps the last entry, like the reference's map */
    ck_assert_int_eq(parse_fixture("warn_duplicate_same", &h, &f), ST_OK);
    ck_assert_uint_eq(h.n_tensors, 1);
    st_header_free(&h);
    findings_free(&f);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* folders */

static void open_folder(const char *name, ck_checkpoint *ck)
{
    char path[512];
    snprintf(path, sizeof path, FOLD "%s", name);
    ck_err err;
    ck_err_clear(&err);
    ck_assert_msg(ckpt_open(path, 2, ck, &err) == CK_OK, "%s: %s", path, err.msg);
}

static const ck_finding *find_key(const ck_findings *f, const char *code, const char *key)
{
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(f->v[i].code, code) == 0 && (!key || strcmp(f->v[i].key, key) == 0 ||
                                                strcmp(f->v[i].file, key) == 0))
            return &f->v[i];
    return NULL;
}

START_TEST(test_folder_lfs_pointers)
{
    ck_checkpoint ck;
    open_folder("lfs-pointers", &ck);
    ck_assert_uint_eq(ck.n_shards, 2);
    size_t ptrs = 0;
    for (size_t i = 0; i < ck.findings.n; i++)
        if (strcmp(ck.findings.v[i].code, "file.lfs_pointer") == 0) {
            ptrs++;
            ck_assert_ptr_nonnull(strstr(ck.findings.v[i].msg, "git lfs install && git lfs pull"));
            ck_assert_ptr_nonnull(strstr(ck.findings.v[i].msg, "HeaderTooLarge"));
        }
    ck_assert_uint_eq(ptrs, 2);
    ck_assert_int_eq(ck.shards[0].kind, SNIFF_LFS_POINTER);
    ck_assert_uint_eq(ck.shards[0].lfs.size, 4900000000ull);
    ck_assert_uint_eq(strlen(ck.shards[0].lfs.oid), 64);
    /* the index itself is fine; no key check is possible without the shards */
    ck_assert_ptr_null(findings_find(&ck.findings, "index.key_not_in_shard"));
    ckpt_free(&ck);
}
END_TEST

START_TEST(test_real_granite_pointer)
{
    /* a real published folder cloned without git-lfs (shared/realdata, used in place) */
    const char *dir = "../shared/realdata/granite-3.1-1b-a400m-instruct";
    if (access(dir, R_OK) != 0) {
        fprintf(stderr, "SKIP test_real_granite_pointer: %s not present\n", dir);
        return;
    }
    ck_checkpoint ck;
    ck_err err;
    ck_err_clear(&err);
    ck_assert_int_eq(ckpt_open(dir, 1, &ck, &err), CK_OK);
    const ck_finding *x = findings_find(&ck.findings, "file.lfs_pointer");
    ck_assert_ptr_nonnull(x);
    ck_assert_str_eq(x->file, "model.safetensors");
    ck_assert_ptr_nonnull(strstr(x->msg, "the real file is 2669283096 bytes"));
    ck_assert_ptr_nonnull(strstr(x->msg, "2669282961 bytes are missing"));
    ck_assert_str_eq(ck.cfg.model_type, "granitemoe");
    ck_assert_int_eq(config_experts(&ck.cfg), 32);
    ckpt_free(&ck);
}
END_TEST

START_TEST(test_folder_index_problems)
{
    ck_checkpoint ck;
    open_folder("index-problems", &ck);
    const ck_findings *f = &ck.findings;
    const ck_finding *x;
    x = find_key(f, "index.missing_shard", "model-00003-of-00003.safetensors");
    ck_assert_ptr_nonnull(x);
    ck_assert_ptr_nonnull(strstr(x->msg, "does not exist"));
    x = find_key(f, "index.unsafe_shard_name", "model.evil.weight");
    ck_assert_ptr_nonnull(x);
    ck_assert_ptr_nonnull(strstr(x->msg, "\"../outside.safetensors\" points outside the model folder"));
    x = find_key(f, "index.key_not_in_shard", "lm_head.weight");
    ck_assert_ptr_nonnull(x);
    ck_assert_msg(starts_with(x->msg, "index maps the tensor to model-00001-of-00003.safetensors, but it is in model-00002-of-00003.safetensors"), "%s", x->msg);
    x = find_key(f, "index.key_not_in_shard", "model.layers.0.ghost.weight");
    ck_assert_ptr_nonnull(x);
    ck_assert_ptr_nonnull(strstr(x->msg, "but no shard has it"));
    ck_assert_ptr_nonnull(find_key(f, "index.unlisted_tensor", "model.unlisted.weight"));
    ck_assert_ptr_nonnull(find_key(f, "index.duplicate_key", "model.norm.weight"));
    x = find_key(f, "ckpt.duplicate_tensor", "model.norm.weight");
    ck_assert_ptr_nonnull(x);
    ck_assert_ptr_nonnull(strstr(x->msg, "stored in two files"));
    ck_assert_ptr_nonnull(find_key(f, "index.stray_shard", "model-stray.safetensors"));
    ck_assert_ptr_null(findings_find(f, "index.total_size_mismatch")); /* a shard is missing: no verdict */
    ck_assert_uint_eq(ck.n_index, 7); /* entries as written; the duplicate is flagged */
    ckpt_free(&ck);
}
END_TEST


/* The index scanner: escapes in keys, a value that is not a string, broken JSON with its line. */
START_TEST(test_index_edge_cases)
{
    char *tmp = tu_tmpdir();
    ck_assert_ptr_nonnull(tmp);
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "cp " FOLD "no-total-size/model-00001-of-00001.safetensors %s/ && "
             "printf '%%s' '{\"weight_map\":{\"lm_head.\\u0077eight\":\"model-00001-of-00001.safetensors\","
             "\"x\":7},\"metadata\":{\"total_size\":8,\"other\":[1,{\"a\":null}]}}' "
             "> %s/model.safetensors.index.json", tmp, tmp);
    ck_assert_int_eq(system(cmd), 0);
    ck_checkpoint ck;
    ck_err err;
    ck_err_clear(&err);
    ck_assert_int_eq(ckpt_open(tmp, 2, &ck, &err), CK_OK);
    /* the escaped key names the real tensor: no key or unlisted-tensor finding */
    ck_assert_ptr_null(findings_find(&ck.findings, "index.key_not_in_shard"));
    ck_assert_ptr_null(findings_find(&ck.findings, "index.unlisted_tensor"));
    const ck_finding *x = find_key(&ck.findings, "index.invalid", "x");
    ck_assert_ptr_nonnull(x);
    ck_assert_msg(starts_with(x->msg, "weight_map value is a number, not a string"), "%s", x->msg);
    ck_assert(ck.has_total_size && ck.total_size == 8);
    ck_assert_ptr_null(findings_find(&ck.findings, "index.total_size_mismatch"));
    ckpt_free(&ck);
    snprintf(cmd, sizeof cmd, "printf '{\n  \"weight_map\": {\n    \"a\": \"b\",\n  }\n}\n' "
             "> %s/model.safetensors.index.json", tmp);
    ck_assert_int_eq(system(cmd), 0);
    ck_assert_int_eq(ckpt_open(tmp, 1, &ck, &err), CK_OK);
    x = findings_find(&ck.findings, "index.invalid");
    ck_assert_ptr_nonnull(x);
    ck_assert_msg(starts_with(x->msg, "not valid JSON at line 4, column 3: expected a string"), "%s", x->msg);
    ckpt_free(&ck);
    tu_rmtree(tmp);
    free(tmp);
}
END_TEST

/* Writes DIR/NAME: a safetensors file of n one-element F32 tensors named by fmt % i, listed in
 * the header in the order given by perm (NULL: 0..n-1). */
static void write_shard(const char *dir, const char *name, const char *fmt, int n, const int *perm)
{
    char path[1024], key[128];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    size_t cap = (size_t)n * 128 + 64, len = 0;
    char *hdr = malloc(cap);
    ck_assert_ptr_nonnull(hdr);
    len += (size_t)snprintf(hdr + len, cap - len, "{");
    for (int i = 0; i < n; i++) {
        int k = perm ? perm[i] : i;
        snprintf(key, sizeof key, fmt, k);
        len += (size_t)snprintf(hdr + len, cap - len, "%s\"%s\":{\"dtype\":\"F32\",\"shape\":[1],"
                                "\"data_offsets\":[%d,%d]}", i ? "," : "", key, 4 * i, 4 * i + 4);
    }
    len += (size_t)snprintf(hdr + len, cap - len, "}");
    while (len % 8)
        hdr[len++] = ' '; /* as the reference writer pads it */
    FILE *fp = fopen(path, "wb");
    ck_assert_ptr_nonnull(fp);
    uint64_t le = len;
    float zero[64] = {0};
    ck_assert_uint_eq(fwrite(&le, 8, 1, fp), 1);
    ck_assert_uint_eq(fwrite(hdr, 1, len, fp), len);
    for (int i = 0; i < n; i += 64)
        ck_assert_uint_eq(fwrite(zero, 4, (size_t)(n - i < 64 ? n - i : 64), fp), (size_t)(n - i < 64 ? n - i : 64));
    fclose(fp);
    free(hdr);
}


/* The caller's side work runs once, beside the reader, and has returned when ckpt_open_with
 * returns: with a config (it sees the model type), without one, and when the folder turns out
 * to hold no checkpoint at all; its headers hook runs once every header is read, after it. */
typedef struct {
    int calls, headers, calls_at_headers, stops;
    size_t tensors_at_headers;
    char model_type[64];
} side_seen;

static void side_note(void *ctx, const ck_checkpoint *ck)
{
    side_seen *x = ctx;
    usleep(20000); /* slower than the reader: ckpt_open_with must wait for it */
    snprintf(x->model_type, sizeof x->model_type, "%s", ck->cfg.present ? ck->cfg.model_type : "-");
    x->calls++;
}

static void side_headers(void *ctx, const ck_checkpoint *ck)
{
    side_seen *x = ctx;
    x->headers++;
    x->calls_at_headers = x->calls;
    for (size_t i = 0; i < ck->n_shards; i++)
        x->tensors_at_headers += ck->shards[i].status == ST_OK ? ck->shards[i].h.n_tensors : 0;
}

static void side_stop(void *ctx)
{
    ((side_seen *)ctx)->stops++;
}

START_TEST(test_side_work)
{
    char *tmp = tu_tmpdir();
    ck_assert_ptr_nonnull(tmp);
    char path[1024];
    for (int variant = 0; variant < 3; variant++) {
        if (variant == 0) {
            snprintf(path, sizeof path, "%s/config.json", tmp);
            FILE *fp = fopen(path, "w");
            ck_assert_ptr_nonnull(fp);
            fprintf(fp, "{\"model_type\": \"llama\"}");
            fclose(fp);
            write_shard(tmp, "a.safetensors", "a.%d.w", 3, NULL);
        }
        if (variant == 1)
            unlink(path);
        if (variant == 2) {
            snprintf(path, sizeof path, "%s/a.safetensors", tmp);
            unlink(path);
        }
        side_seen seen = {0, 0, 0, 0, 0, ""};
        ckpt_side side = {side_note, &seen, side_headers, side_stop};
        ck_checkpoint ck;
        ck_err err;
        ck_err_clear(&err);
        int rc = ckpt_open_with(tmp, 2, &side, &ck, &err);
        ck_assert_int_eq(rc, variant == 2 ? CK_EFORMAT : CK_OK);
        ck_assert_int_eq(seen.calls, 1);
        ck_assert_str_eq(seen.model_type, variant == 0 ? "llama" : "-");
        /* the headers hook: after fn returned, every header read; not when nothing was read */
        ck_assert_int_eq(seen.headers, variant == 2 ? 0 : 1);
        ck_assert_int_eq(seen.calls_at_headers, variant == 2 ? 0 : 1);
        ck_assert_uint_eq(seen.tensors_at_headers, variant == 2 ? 0 : 3);
        ck_assert_int_eq(seen.stops, 0);
        if (rc == CK_OK)
            ckpt_free(&ck);
    }
    tu_rmtree(tmp);
    free(tmp);
}
END_TEST

/* The index names each tensor whatever the order of its entries against the headers (the same,
 * reversed, shards interleaved, a shard name written with an escape); a wrong shard, a key named
 * twice and a key stored in two shards are still found. */
START_TEST(test_index_orders)
{
    enum { N = 40 };
    char *tmp = tu_tmpdir();
    ck_assert_ptr_nonnull(tmp);
    write_shard(tmp, "a.safetensors", "a.%d.w", N, NULL);
    int perm[N];
    for (int i = 0; i < N; i++)
        perm[i] = (i * 7) % N; /* header order other than key order */
    write_shard(tmp, "b.safetensors", "b.%d.w", N, perm);
    for (int variant = 0; variant < 5; variant++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/model.safetensors.index.json", tmp);
        FILE *fp = fopen(path, "w");
        ck_assert_ptr_nonnull(fp);
        fprintf(fp, "{\"metadata\":{},\"weight_map\":{");
        for (int j = 0; j < 2 * N; j++) {
            int i = variant == 1 ? 2 * N - 1 - j : variant >= 2 ? (j % 2) * N + j / 2 : j;
            int in_b = i >= N, k = in_b ? (variant == 0 ? perm[i - N] : i - N) : i;
            const char *shard = in_b ? (variant == 3 && k % 3 == 0 ? "b\\u002esafetensors" : "b.safetensors")
                                     : "a.safetensors";
            if (variant == 4 && !in_b && k == 5)
                shard = "b.safetensors"; /* a.5.w is in a */
            fprintf(fp, "%s\"%c.%d.w\":\"%s\"", j ? "," : "", in_b ? 'b' : 'a', k, shard);
        }
        if (variant == 4)
            fprintf(fp, ",\"a.7.w\":\"a.safetensors\"");
        fprintf(fp, "}}");
        fclose(fp);
        if (variant == 4)
            write_shard(tmp, "c.safetensors", "b.%d.w", 1, (int[]){3}); /* b.3.w stored twice */
        ck_checkpoint ck;
        ck_err err;
        ck_err_clear(&err);
        ck_assert_int_eq(ckpt_open(tmp, 2, &ck, &err), CK_OK);
        if (variant < 4) {
            for (size_t i = 0; i < ck.findings.n; i++) {
                const char *c = ck.findings.v[i].code;
                ck_assert_msg(strcmp(c, "config.missing") == 0 || strcmp(c, "index.no_total_size") == 0,
                              "variant %d: %s %s", variant, c, ck.findings.v[i].msg);
            }
            ck_assert_uint_eq(ck.n_index, 2 * N);
            for (size_t i = 0; i < ck.n_index; i++) {
                const ck_index_entry *e = &ck.index[i];
                ck_assert_uint_ne(e->tensor, CK_NO_TENSOR);
                ck_assert_uint_eq(ck.tensors[e->tensor].shard, e->shard);
                const char *name = ckpt_tensor(&ck, ck.tensors[e->tensor])->name;
                ck_assert_uint_eq(strlen(name), e->key_len);
                ck_assert_int_eq(memcmp(name, e->key, e->key_len), 0);
            }
        } else {
            const ck_finding *x = find_key(&ck.findings, "index.key_not_in_shard", "a.5.w");
            ck_assert_ptr_nonnull(x);
            ck_assert_msg(starts_with(x->msg, "index maps the tensor to b.safetensors, but it is in a.safetensors"), "%s", x->msg);
            ck_assert_ptr_nonnull(find_key(&ck.findings, "index.duplicate_key", "a.7.w"));
            /* b.3.w's copy in c, a file the index does not name, is read by no loader: the
             * stray file is the finding, not a duplicate */
            ck_assert_ptr_null(find_key(&ck.findings, "ckpt.duplicate_tensor", "b.3.w"));
            ck_assert_ptr_nonnull(find_key(&ck.findings, "index.stray_shard", "c.safetensors"));
        }
        ckpt_free(&ck);
    }
    /* the index in header order, and a copy of b.3.w in a shard it does not name: the two-thread
     * cross-check is undone by the copy and done again on one thread, the named file's copy kept
     * and the other file reported as stray (no loader reads it), not as a duplicate */
    {
        char path[1024];
        snprintf(path, sizeof path, "%s/model.safetensors.index.json", tmp);
        FILE *fp = fopen(path, "w");
        ck_assert_ptr_nonnull(fp);
        fprintf(fp, "{\"metadata\":{},\"weight_map\":{");
        for (int j = 0; j < 2 * N; j++)
            fprintf(fp, "%s\"%c.%d.w\":\"%c.safetensors\"", j ? "," : "", j < N ? 'a' : 'b',
                    j < N ? j : perm[j - N], j < N ? 'a' : 'b');
        fprintf(fp, "}}");
        fclose(fp);
        ck_checkpoint ck;
        ck_err err;
        ck_err_clear(&err);
        ck_assert_int_eq(ckpt_open(tmp, 2, &ck, &err), CK_OK);
        ck_assert_uint_eq(ck.n_tensors, 2 * N);
        ck_tensor_ref r;
        ck_assert_int_eq(ckpt_find(&ck, "b.3.w", &r), 1);
        ck_assert_str_eq(ck.shards[r.shard].name, "b.safetensors");
        size_t dup = 0, stray = 0;
        for (size_t i = 0; i < ck.findings.n; i++) {
            const char *c = ck.findings.v[i].code;
            dup += strcmp(c, "ckpt.duplicate_tensor") == 0;
            stray += strcmp(c, "index.stray_shard") == 0;
            ck_assert_msg(strcmp(c, "ckpt.duplicate_tensor") == 0 || strcmp(c, "index.stray_shard") == 0 ||
                          strcmp(c, "config.missing") == 0 || strcmp(c, "index.no_total_size") == 0,
                          "%s %s", c, ck.findings.v[i].msg);
        }
        ck_assert_uint_eq(dup, 0);
        ck_assert_uint_eq(stray, 1);
        uint64_t bytes = 0;
        for (size_t i = 0; i < ck.n_tensors; i++)
            bytes += st_tensor_nbytes(ckpt_tensor(&ck, ck.tensors[i]));
        ck_assert_uint_eq(ck.bytes, bytes); /* the copy is not counted */
        for (size_t i = 0; i < ck.n_index; i++) {
            const ck_index_entry *e = &ck.index[i];
            ck_assert_uint_ne(e->tensor, CK_NO_TENSOR);
            ck_assert_uint_eq(ck.tensors[e->tensor].shard, e->shard);
            ck_assert_int_eq(e->superseded, 0);
            const char *name = ckpt_tensor(&ck, ck.tensors[e->tensor])->name;
            ck_assert_uint_eq(strlen(name), e->key_len);
            ck_assert_int_eq(memcmp(name, e->key, e->key_len), 0);
        }
        ckpt_free(&ck);
    }
    tu_rmtree(tmp);
    free(tmp);
}
END_TEST

START_TEST(test_folder_total_size)
{
    ck_checkpoint ck;
    open_folder("no-total-size", &ck);
    const ck_finding *x = findings_find(&ck.findings, "index.no_total_size");
    ck_assert_ptr_nonnull(x);
    ck_assert_int_eq(x->sev, SEV_NOTE);
    ck_assert_uint_eq(findings_count(&ck.findings, SEV_ERROR), 0);
    ck_assert_uint_eq(findings_count(&ck.findings, SEV_WARNING), 0);
    ckpt_free(&ck);
    /* a wrong total_size where every shard is readable: lfs-pointers has 1000 but nothing
     * readable, so only a folder with complete shards gets a verdict */
    char *tmp = tu_tmpdir();
    ck_assert_ptr_nonnull(tmp);
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "cp " FOLD "no-total-size/* %s/ && printf '%%s' "
             "'{\"metadata\":{\"total_size\":9},\"weight_map\":{\"lm_head.weight\":"
             "\"model-00001-of-00001.safetensors\"}}' > %s/model.safetensors.index.json", tmp, tmp);
    ck_assert_int_eq(system(cmd), 0);
    ck_err err;
    ck_err_clear(&err);
    ck_assert_int_eq(ckpt_open(tmp, 1, &ck, &err), CK_OK);
    x = findings_find(&ck.findings, "index.total_size_mismatch");
    ck_assert_ptr_nonnull(x);
    ck_assert_msg(starts_with(x->msg, "metadata.total_size is 9 but the shards' tensors add up to 8 bytes"), "%s", x->msg);
    ckpt_free(&ck);
    tu_rmtree(tmp);
    free(tmp);
}
END_TEST

START_TEST(test_folder_download_error_and_config)
{
    ck_checkpoint ck;
    open_folder("download-error", &ck);
    const ck_finding *x = findings_find(&ck.findings, "file.html");
    ck_assert_ptr_nonnull(x);
    ck_assert_str_eq(x->file, "model.safetensors");
    ck_assert_ptr_nonnull(strstr(x->msg, "failed download"));
    ck_assert_str_eq(ck.cfg.architectures, "Qwen2ForCausalLM");
    ckpt_free(&ck);
    open_folder("bad-config", &ck);
    x = findings_find(&ck.findings, "config.invalid");
    ck_assert_ptr_nonnull(x);
    ck_assert_msg(starts_with(x->msg, "config.json is not valid JSON at line 3, column"), "%s", x->msg);
    ck_assert_uint_eq(ck.n_tensors, 1);
    ckpt_free(&ck);
}
END_TEST

START_TEST(test_config_quant_summary)
{
    ck_checkpoint ck;
    open_folder("verify-data", &ck);
    ck_assert(ck.cfg.has_quant);
    ck_assert_str_eq(ck.cfg.quant.method, "fp8");
    ck_assert_int_eq(ck.cfg.quant.block[0], 128);
    ck_assert_int_eq(ck.cfg.quant.block[1], 128);
    ck_assert_msg(starts_with(ck.cfg.quant.summary, "fp8 e4m3, 128x128 blocks"), "%s", ck.cfg.quant.summary);
    int64_t v;
    ck_assert_int_eq(config_int(&ck.cfg, "hidden_size", &v), 1);
    ck_assert_int_eq(v, 8);
    ck_assert_int_eq(config_int(&ck.cfg, "model_type", &v), -1);
    ck_assert_int_eq(config_int(&ck.cfg, "no_such_field", &v), 0);
    ckpt_free(&ck);
}
END_TEST

/* Which config group a module takes, as vLLM's compressed-tensors and GPTQ pick it: a target
 * naming the module or a regular expression (Python's syntax) matching it from the start, a fused
 * module by its components, a class-name target last; GPTQ's dynamic rules in order. */
START_TEST(test_config_schemes)
{
    ck_config c;
    ck_findings f;
    findings_init(&f);
    ck_assert_int_eq(config_load("fixtures/quant/tiny-llama-mixed-fp8/config.json", &c, &f), 0);
    ck_assert_int_eq(c.n_groups, 3);
    const cfg_quant *a = config_scheme(&c, "model.layers.0.self_attn.o_proj", NULL);
    ck_assert_ptr_eq(a, &c.groups[0].q);
    ck_assert_str_eq(a->fmt, "float-quantized"); /* the group's own format over "mixed-precision" */
    ck_assert_int_eq(a->input_bits, 8);
    ck_assert_ptr_eq(config_scheme(&c, "model.layers.1.mlp.gate_proj", NULL), &c.groups[2].q);
    ck_assert_str_eq(c.groups[2].q.fmt, "pack-quantized");
    ck_assert_int_eq(c.groups[2].q.bits, 4);
    ck_assert_ptr_null(config_scheme(&c, "model.layers.1.mlp.down_proj", NULL)); /* no target: unquantized */
    const char *const gu[] = {"model.layers.1.mlp.gate_proj", "model.layers.1.mlp.up_proj", NULL};
    ck_assert_ptr_eq(config_scheme(&c, "model.layers.1.mlp.gate_up_proj", gu), &c.groups[2].q);
    const char *const half[] = {"model.layers.1.mlp.gate_proj", "model.layers.1.mlp.down_proj", NULL};
    ck_assert_ptr_null(config_scheme(&c, "model.layers.1.mlp.fused", half)); /* not every component */
    config_free(&c);
    ck_assert_int_eq(config_load("fixtures/quant/tiny-llama-w4a16/config.json", &c, &f), 0);
    ck_assert_int_eq(c.n_groups, 1); /* targets ["Linear"]: any linear layer's class */
    ck_assert_ptr_eq(config_scheme(&c, "model.layers.0.mlp.down_proj", NULL), &c.groups[0].q);
    ck_assert_ptr_eq(config_scheme_experts(&c), &c.groups[0].q);
    config_free(&c);
    ck_assert_int_eq(config_load("fixtures/oracle/models/tiny-llama-hd64-gptq-dynamic/config.json", &c, &f), 0);
    ck_assert_int_eq(c.n_groups, 2);
    const cfg_quant *g1 = config_scheme(&c, "model.layers.1.self_attn.qkv_proj", NULL);
    ck_assert_ptr_nonnull(g1);
    ck_assert_int_eq(g1->group_size, 32);
    ck_assert_int_eq(g1->bits, 4);
    ck_assert_ptr_null(config_scheme(&c, "model.layers.0.mlp.down_proj", NULL)); /* "-:" */
    ck_assert_ptr_eq(config_scheme(&c, "model.layers.0.mlp.gate_up_proj", NULL), &c.quant);
    ck_assert_int_eq(c.quant.group_size, 64);
    config_free(&c);
    /* the Python regular expressions of real configs, in POSIX terms */
    static const struct { const char *target, *name; int hit; } re[] = {
        {"re:.*\\.(?:1[0-5])\\..*", "model.layers.12.mlp", 1}, {"re:.*\\.(?:1[0-5])\\..*", "model.layers.16.mlp", 0},
        {"re:model\\.layers\\.\\d+\\.mlp", "model.layers.7.mlp.down_proj", 1},
        {"re:layers", "model.layers.0", 0}, /* re.match: from the start */
        {"model.layers.0.mlp", "model.layers.0.mlp", 1}, {"model.layers.0.mlp", "model.layers.0.mlp.x", 0}};
    for (unsigned i = 0; i < sizeof re / sizeof *re; i++)
        ck_assert_msg(config_target_matches(re[i].target, strlen(re[i].target), re[i].name) == re[i].hit, "%s ~ %s",
                      re[i].target, re[i].name);
    ck_assert_int_eq(f.n, 0);
    findings_free(&f);
}
END_TEST

/* A vision-language config.json: the text model's settings under text_config are the names, the
 * wrapper's own fill what it lacks (its rotary too), the vision tower's are vision_config.NAME
 * and do not count as the decoder's layer_types. */
/* config.json of the given text in a scratch folder (*tmp, which the caller removes), read. */
static void load_config_text(const char *text, char **tmp, ck_config *c, ck_findings *f)
{
    *tmp = tu_tmpdir();
    char path[600];
    snprintf(path, sizeof path, "%s/config.json", *tmp);
    FILE *fp = fopen(path, "w");
    ck_assert_ptr_nonnull(fp);
    fputs(text, fp);
    fclose(fp);
    findings_init(f);
    ck_assert_int_eq(config_load(path, c, f), 0);
}

/* What load_config_text made, freed, the config having had no finding. */
static void unload_config(char *tmp, ck_config *c, ck_findings *f)
{
    ck_assert_int_eq(f->n, 0);
    config_free(c);
    findings_free(f);
    tu_rmtree(tmp);
    free(tmp);
}

START_TEST(test_config_text_config)
{
    char *tmp;
    ck_config c;
    ck_findings f;
    load_config_text("{\"model_type\": \"qwen2_5_vl\", \"rope_theta\": 1000000.0, \"tie_word_embeddings\": false,\n"
          " \"architectures\": [\"Qwen2_5_VLForConditionalGeneration\"],\n"
          " \"text_config\": {\"model_type\": \"qwen2_5_vl_text\", \"hidden_size\": 64, \"num_hidden_layers\": 2,\n"
          "                 \"architectures\": null,\n"
          "                 \"tie_word_embeddings\": true, \"layer_types\": [\"full_attention\", \"full_attention\"]},\n"
          " \"vision_config\": {\"depth\": 3, \"num_heads\": 16, \"layer_types\": [\"a\", \"b\", \"c\"]}}\n",
                     &tmp, &c, &f);
    ck_assert_str_eq(c.model_type, "qwen2_5_vl"); /* the wrapper's, which picks the rules */
    int64_t v;
    ck_assert(config_int(&c, "hidden_size", &v) && v == 64);
    ck_assert(config_int(&c, "tie_word_embeddings", &v) && v == 1); /* the text model's first */
    ck_assert(config_int(&c, "vision_config.num_heads", &v) && v == 16);
    ck_assert_double_eq(c.rope_theta, 1000000.0); /* the wrapper's, text_config having none */
    ck_assert_int_eq(c.n_layer_types, 2);
    /* the wrapper's architectures, whatever text_config says of its own (null here) */
    const cfg_field *ar = config_field(&c, "architectures");
    ck_assert(ar && ar->kind == CFG_LIST && ar->n_list == 1 && ar->strs &&
              strcmp(ar->strs[0], "Qwen2_5_VLForConditionalGeneration") == 0);
    unload_config(tmp, &c, &f);
}
END_TEST

/* transformers 5's per_layer_config (Gemma 4, under text_config here): each setting a layer
 * overrides becomes the list per_layer_config.NAME over every layer, the model's own value where a
 * layer keeps it; per_layer_config itself counts the layers that override something. */
START_TEST(test_config_per_layer)
{
    char *tmp;
    ck_config c;
    ck_findings f;
    load_config_text("{\"model_type\": \"gemma4\", \"text_config\": {\"num_hidden_layers\": 4, \"head_dim\": 16,\n"
          " \"num_key_value_heads\": 2, \"per_layer_config\": {\"1\": {\"head_dim\": 32, \"num_key_value_heads\": 1},\n"
          " \"03\": {\"head_dim\": 64, \"window\": 7}, \"9\": {\"head_dim\": 5}, \"x\": {\"head_dim\": 5}}}}\n",
                     &tmp, &c, &f);
    const cfg_field *hd = config_field(&c, "per_layer_config.head_dim");
    const cfg_field *kv = config_field(&c, "per_layer_config.num_key_value_heads");
    ck_assert_ptr_nonnull(hd);
    ck_assert_ptr_nonnull(kv);
    ck_assert_int_eq(hd->kind, CFG_LIST);
    ck_assert_int_eq(hd->n_list, 4);
    ck_assert(hd->list[0] == 16 && hd->list[1] == 32 && hd->list[2] == 16 && hd->list[3] == 64);
    ck_assert(kv->list[0] == 2 && kv->list[1] == 1 && kv->list[2] == 2 && kv->list[3] == 2);
    ck_assert_ptr_null(config_field(&c, "per_layer_config.window")); /* the model gives no window of its own */
    int64_t v;
    ck_assert(config_int(&c, "per_layer_config", &v) && v == 4);
    unload_config(tmp, &c, &f);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* --verify */

static const kern_stats *stats_of(const ck_checkpoint *ck, const verify_result *r, const char *name)
{
    for (size_t i = 0; i < ck->n_tensors; i++)
        if (strcmp(ckpt_tensor(ck, ck->tensors[i])->name, name) == 0)
            return &r->stats[i];
    return NULL;
}

START_TEST(test_verify_data)
{
    ck_checkpoint ck;
    open_folder("verify-data", &ck);
    ck_assert_uint_eq(findings_count(&ck.findings, SEV_ERROR), 0); /* headers are fine */
    verify_opts o = {1, 0, FOLD "verify-data.sha256", NULL, NULL};
    verify_result r;
    ck_err err;
    ck_err_clear(&err);
    ck_assert_int_eq(verify_run(&ck, &o, &r, &err), CK_OK);
    const ck_findings *f = &ck.findings;
    const ck_finding *x = find_key(f, "data.nan", "model.embed_tokens.weight");
    ck_assert_ptr_nonnull(x);
    ck_assert_str_eq(x->msg, "1 of 8 values are NaN");
    x = find_key(f, "data.bad_scale", "model.layers.0.mlp.down_proj.weight_scale_inv");
    ck_assert_ptr_nonnull(x);
    ck_assert_msg(starts_with(x->msg, "quantization scale has 1 zero"), "%s", x->msg);
    ck_assert_ptr_null(find_key(f, "data.bad_scale", "model.layers.0.mlp.up_proj.weight_scale_inv"));
    ck_assert_ptr_nonnull(find_key(f, "data.all_zero", "model.norm.weight"));
    ck_assert_ptr_null(findings_find(f, "verify.sha256_mismatch"));
    /* statistics through the kernels' conversion */
    const kern_stats *s = stats_of(&ck, &r, "lm_head.weight");
    ck_assert_ptr_nonnull(s);
    ck_assert_uint_eq(s->count, 8);
    ck_assert(s->min == -2.0 && s->max == 65504.0);
    s = stats_of(&ck, &r, "model.layers.0.mlp.up_proj.weight");
    ck_assert(s->min == -1.0 && s->max == 2.0);
    ck_assert_uint_eq(s->zeros, 4);
    ck_assert_uint_eq(r.bytes_read, ck.shards[0].size);
    ck_assert_uint_eq(strlen(r.sha256[0]), 64);
    verify_result_free(&r);
    ckpt_free(&ck);
}
END_TEST

START_TEST(test_verify_manifests)
{
    ck_checkpoint ck;
    open_folder("verify-data", &ck);
    verify_opts o = {2, 0, FOLD "verify-data-bad.sha256", NULL, NULL};
    verify_result r;
    ck_err err;
    ck_err_clear(&err);
    ck_assert_int_eq(verify_run(&ck, &o, &r, &err), CK_OK);
    const ck_finding *x = find_key(&ck.findings, "verify.sha256_mismatch", "model.safetensors");
    ck_assert_ptr_nonnull(x);
    ck_assert_msg(starts_with(x->msg, "sha256 is "), "%s", x->msg);
    ck_assert_ptr_nonnull(strstr(x->msg, "says 0000000000"));
    ck_assert_ptr_nonnull(find_key(&ck.findings, "verify.missing_file", "tokenizer.json"));
    verify_result_free(&r);
    ckpt_free(&ck);
    /* a folder of git-lfs pointers as the manifest: oid and size both match */
    open_folder("verify-data", &ck);
    verify_opts o2 = {1, 0, FOLD "verify-pointers", NULL, NULL};
    ck_assert_int_eq(verify_run(&ck, &o2, &r, &err), CK_OK);
    ck_assert_ptr_null(findings_find(&ck.findings, "verify.sha256_mismatch"));
    ck_assert_ptr_null(findings_find(&ck.findings, "verify.size_mismatch"));
    ck_assert_ptr_null(findings_find(&ck.findings, "verify.not_in_manifest"));
    verify_result_free(&r);
    ckpt_free(&ck);
    /* a manifest that is not one */
    open_folder("verify-data", &ck);
    verify_opts o3 = {1, 0, FOLD "verify-data/config.json", NULL, NULL};
    ck_err_clear(&err);
    ck_assert_int_eq(verify_run(&ck, &o3, &r, &err), CK_EFORMAT);
    ck_assert_int_eq(err.line, 1);
    ckpt_free(&ck);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* limits */

/* Without --verify no tensor byte is read: a 64 GB sparse shard costs a header read. */
START_TEST(test_headers_only_reads)
{
    char *tmp = tu_tmpdir();
    ck_assert_ptr_nonnull(tmp);
    char path[4200];
    snprintf(path, sizeof path, "%s/model.safetensors", tmp);
    const uint64_t n = 64ull << 30;
    char hdr[256];
    int hl = snprintf(hdr, sizeof hdr, "{\"w\":{\"dtype\":\"U8\",\"shape\":[%llu],\"data_offsets\":[0,%llu]}}",
                      (unsigned long long)n, (unsigned long long)n);
    while (hl % 8)
        hdr[hl++] = ' ';
    int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
    ck_assert_int_ge(fd, 0);
    uint64_t le = (uint64_t)hl;
    ck_assert_int_eq(write(fd, &le, 8), 8);
    ck_assert_int_eq(write(fd, hdr, (size_t)hl), hl);
    ck_assert_int_eq(ftruncate(fd, (off_t)(8 + hl + n)), 0);
    close(fd);
    uint64_t before = ck_rchar();
    ck_checkpoint ck;
    ck_err err;
    ck_err_clear(&err);
    ck_assert_int_eq(ckpt_open(tmp, 1, &ck, &err), CK_OK);
    uint64_t read = ck_rchar() - before;
    ck_assert_uint_eq(ck.n_tensors, 1);
    ck_assert_uint_eq(ck.bytes, n);
    ck_assert_msg(read < 8 + (uint64_t)hl + 4096, "read %llu bytes for a %d-byte header",
                  (unsigned long long)read, hl);
    ckpt_free(&ck);
    /* the checkpoint was opened read-only: its bytes are unchanged */
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_uint_eq((uint64_t)st.st_size, 8 + hl + n);
    tu_rmtree(tmp);
    free(tmp);
}
END_TEST

/* A header length field that claims 100 MB on a 10-byte file allocates nothing. */
START_TEST(test_length_claims_are_checked_first)
{
    uint8_t b[16] = {0};
    uint64_t n = 99999999;
    memcpy(b, &n, 8);
    b[8] = '{';
    b[9] = '}';
    ck_findings f;
    findings_init(&f);
    st_header h;
    ck_assert_int_eq(st_header_parse(b, 10, 10, "x", &h, &f), ST_INVALID_HEADER_LENGTH);
    findings_free(&f);
}
END_TEST

/* Many tensors: every one comes back, in header order, with its shape. */
START_TEST(test_many_tensors)
{
    const int n = 20000;
    size_t cap = (size_t)n * 112 + 64, len = 0;
    char *hdr = malloc(cap);
    len += (size_t)snprintf(hdr + len, cap - len, "{");
    for (int i = 0; i < n; i++)
        len += (size_t)snprintf(hdr + len, cap - len, "%s\"model.layers.%d.w\":{\"dtype\":\"BF16\","
                                "\"shape\":[%d,1,1,1,1],\"data_offsets\":[%d,%d]}", i ? "," : "", i, 1,
                                2 * i, 2 * i + 2); /* more entries and dimensions than first reserved */
    len += (size_t)snprintf(hdr + len, cap - len, "}");
    size_t total = 8 + len + 2 * (size_t)n;
    uint8_t *b = calloc(total, 1);
    uint64_t le = len;
    memcpy(b, &le, 8);
    memcpy(b + 8, hdr, len);
    ck_findings f;
    findings_init(&f);
    st_header h;
    ck_assert_int_eq(st_header_parse(b, total, total, "many", &h, &f), ST_OK);
    ck_assert_uint_eq(h.n_tensors, (size_t)n);
    ck_assert_str_eq(h.tensors[12345].name, "model.layers.12345.w");
    ck_assert_uint_eq(h.tensors[n - 1].end, 2 * (uint64_t)n);
    for (int i = 0; i < n; i += 997) {
        ck_assert_uint_eq(h.tensors[i].ndim, 5);
        for (int d = 0; d < 5; d++)
            ck_assert_uint_eq(h.tensors[i].shape[d], 1);
    }
    st_header_free(&h);
    findings_free(&f);
    free(b);
    free(hdr);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* the command line: exit codes, JSON schema, no colors when not on a terminal */

START_TEST(test_cli_exit_codes_and_json)
{
    char cmd[1024], *out = NULL;
    snprintf(cmd, sizeof cmd, "%s inspect " FOLD "no-total-size", tu_bin());
    ck_assert_int_eq(tu_run(cmd, 0, &out), 0);
    ck_assert_ptr_null(strchr(out, '\033'));
    ck_assert_ptr_nonnull(strstr(out, "Qwen2ForCausalLM (qwen2)"));
    free(out);
    snprintf(cmd, sizeof cmd, "%s inspect " FOLD "lfs-pointers", tu_bin());
    ck_assert_int_eq(tu_run(cmd, 0, &out), 1);
    ck_assert_ptr_nonnull(strstr(out, "file.lfs_pointer"));
    free(out);
    snprintf(cmd, sizeof cmd, "%s inspect /nonexistent/model", tu_bin());
    ck_assert_int_eq(tu_run(cmd, 1, &out), 2);
    ck_assert_ptr_nonnull(strstr(out, "/nonexistent/model: cannot open"));
    free(out);
    snprintf(cmd, sizeof cmd, "%s inspect --format yaml " FOLD "lfs-pointers", tu_bin());
    ck_assert_int_eq(tu_run(cmd, 1, &out), 2);
    free(out);
    snprintf(cmd, sizeof cmd, "%s inspect --format json --list " FOLD "index-problems", tu_bin());
    ck_assert_int_eq(tu_run(cmd, 0, &out), 1);
    cJSON *j = cJSON_Parse(out);
    ck_assert_ptr_nonnull(j);
    ck_assert_str_eq(cJSON_GetObjectItem(j, "schema")->valuestring, "ckptdoc.inspect/1");
    cJSON *fa = cJSON_GetObjectItem(j, "findings");
    ck_assert_int_gt(cJSON_GetArraySize(fa), 5);
    cJSON *f0 = cJSON_GetArrayItem(fa, 0);
    static const char *fields[] = {"code", "severity", "file", "key", "offset", "message"};
    for (unsigned i = 0; i < 6; i++)
        ck_assert_msg(cJSON_GetObjectItem(f0, fields[i]) != NULL, "finding has no %s", fields[i]);
    cJSON *t = cJSON_GetObjectItem(j, "tensors");
    ck_assert_int_eq(cJSON_GetArraySize(t), 5);
    ck_checkpoint ck;
    open_folder("index-problems", &ck);
    ck_assert_int_eq((int)cJSON_GetObjectItem(cJSON_GetObjectItem(j, "counts"), "error")->valuedouble,
                     (int)findings_count(&ck.findings, SEV_ERROR));
    ck_assert_int_eq(cJSON_GetArraySize(fa), (int)ck.findings.n);
    ckpt_free(&ck);
    cJSON_Delete(j);
    free(out);
    /* lint from the index of a folder of git-lfs pointers: the pointers are the errors */
    snprintf(cmd, sizeof cmd, "%s lint " FOLD "lfs-pointers", tu_bin());
    ck_assert_int_eq(tu_run(cmd, 1, &out), 1);
    ck_assert_ptr_nonnull(strstr(out, "from the index"));
    ck_assert_ptr_nonnull(strstr(out, "file.lfs_pointer"));
    free(out);
    snprintf(cmd, sizeof cmd, "%s check " FOLD "lfs-pointers", tu_bin());
    ck_assert_int_eq(tu_run(cmd, 1, &out), 2); /* pointers, not data: nothing to load, and why */
    ck_assert_ptr_nonnull(strstr(out, "file.lfs_pointer"));
    ck_assert_ptr_nonnull(strstr(out, "nothing is loaded"));
    free(out);
}
END_TEST

START_TEST(test_cli_verify)
{
    char cmd[1024], *out = NULL;
    snprintf(cmd, sizeof cmd, "%s inspect --verify --manifest " FOLD "verify-data.sha256 --format json "
             FOLD "verify-data", tu_bin());
    ck_assert_int_eq(tu_run(cmd, 0, &out), 1);
    cJSON *j = cJSON_Parse(out);
    ck_assert_ptr_nonnull(j);
    cJSON *file = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "files"), 0);
    ck_assert_int_eq((int)strlen(cJSON_GetObjectItem(file, "sha256")->valuestring), 64);
    ck_assert_ptr_nonnull(cJSON_GetObjectItem(j, "verify"));
    cJSON_Delete(j);
    free(out);
    snprintf(cmd, sizeof cmd, "%s inspect --manifest x " FOLD "verify-data", tu_bin());
    ck_assert_int_eq(tu_run(cmd, 1, &out), 2);
    free(out);
}
END_TEST


/* ------------------------------------------------------------------------------------------ */
/* files written by the real libraries (fixtures/make_real.py: transformers, safetensors) */

START_TEST(test_real_transformers_folders)
{
    ck_checkpoint ck;
    ck_err err;
    ck_err_clear(&err);
    ck_assert_int_eq(ckpt_open("fixtures/real/tiny-qwen2", 2, &ck, &err), CK_OK);
    ck_assert_uint_eq(ck.findings.n, 0);
    ck_assert_uint_eq(ck.n_shards, 3);
    ck_assert_uint_eq(ck.n_tensors, 27);
    ck_assert_uint_eq(ck.n_index, 27);
    ck_assert(ck.has_total_size && ck.total_size == ck.bytes);
    ck_assert_str_eq(ck.cfg.model_type, "qwen2");
    ck_tensor_ref r;
    ck_assert(ckpt_find(&ck, "model.layers.1.self_attn.k_proj.bias", &r));
    const st_tensor *t = ckpt_tensor(&ck, r);
    ck_assert_int_eq(t->dtype, DT_F32);
    ck_assert_uint_eq(t->ndim, 1);
    ck_assert_uint_eq(t->shape[0], 32); /* 2 kv heads x 16 */
    ck_assert_str_eq(ck.shards[0].h.meta_vals[0], "pt");
    ckpt_free(&ck);
    ck_assert_int_eq(ckpt_open("fixtures/real/tiny-llama-bf16", 1, &ck, &err), CK_OK);
    ck_assert_uint_eq(ck.findings.n, 0);
    ck_assert_uint_eq(ck.dtype_count[DT_BF16], ck.n_tensors);
    ck_assert_uint_eq(ck.n_tensors, 21);
    ckpt_free(&ck);
}
END_TEST

/* --verify statistics against torch's own (st-dtypes.stats, written with the file) */
START_TEST(test_real_stats_match_torch)
{
    ck_checkpoint ck;
    ck_err err;
    ck_err_clear(&err);
    ck_assert_int_eq(ckpt_open("fixtures/real/st-dtypes.safetensors", 1, &ck, &err), CK_OK);
    ck_assert_uint_eq(ck.findings.n, 0);
    ck_assert_uint_eq(ck.n_tensors, 15);
    verify_opts o = {1, 0, NULL, NULL, NULL};
    verify_result r;
    ck_assert_int_eq(verify_run(&ck, &o, &r, &err), CK_OK);
    FILE *fp = fopen("fixtures/real/st-dtypes.stats", "r");
    ck_assert_ptr_nonnull(fp);
    char magic[64];
    int version = 0;
    ck_assert_int_eq(fscanf(fp, "%63s %d", magic, &version), 2);
    ck_assert_str_eq(magic, "ckptdoc-refstats");
    ck_assert_int_eq(version, 1);
    char name[128], smin[64], smax[64];
    unsigned long long count, finite, nan_, inf, zeros;
    double sum;
    int rows = 0;
    while (fscanf(fp, "%127s %llu %llu %llu %llu %llu %63s %63s %lf", name, &count, &finite, &nan_,
                  &inf, &zeros, smin, smax, &sum) == 9) {
        const kern_stats *s = stats_of(&ck, &r, name);
        ck_assert_msg(s != NULL, "%s: no statistics", name);
        ck_assert_uint_eq(s->count, count);
        ck_assert_uint_eq(s->finite, finite);
        ck_assert_uint_eq(s->nan, nan_);
        ck_assert_uint_eq(s->inf, inf);
        ck_assert_uint_eq(s->zeros, zeros);
        if (finite) {
            /* min and max are float32 values both sides: exact */
            ck_assert_msg(s->min == strtod(smin, NULL) && s->max == strtod(smax, NULL),
                          "%s: min/max %g/%g vs torch %s/%s", name, s->min, s->max, smin, smax);
            /* both sum float32 values in float64, in other orders: 1e-12 relative is ample */
            ck_assert_msg(fabs(s->sum - sum) <= 1e-12 * fabs(sum) + 1e-12, "%s: sum %.17g vs %.17g",
                          name, s->sum, sum);
        }
        rows++;
    }
    fclose(fp);
    ck_assert_int_ge(rows, 9);
    verify_result_free(&r);
    ckpt_free(&ck);
}
END_TEST

/* ck's totals (elements, bytes, bytes and tensors per dtype) against its tensors, one by one. */
static void assert_totals(const ck_checkpoint *ck)
{
    uint64_t params = 0, bytes = 0, db[DT_COUNT] = {0}, dc[DT_COUNT] = {0};
    for (size_t i = 0; i < ck->n_tensors; i++) {
        const st_tensor *t = ckpt_tensor(ck, ck->tensors[i]);
        params += st_tensor_numel(t);
        bytes += st_tensor_nbytes(t);
        db[t->dtype] += st_tensor_nbytes(t);
        dc[t->dtype]++;
    }
    ck_assert_uint_eq(ck->params, params);
    ck_assert_uint_eq(ck->bytes, bytes);
    for (int d = 0; d < DT_COUNT; d++) {
        ck_assert_uint_eq(ck->dtype_bytes[d], db[d]);
        ck_assert_uint_eq(ck->dtype_count[d], dc[d]);
    }
}

/* The name index: every tensor of a 2,783-tensor checkpoint is found at its own position, a name
 * one byte off is not; a tensor stored in three files is kept from the first (in the order the
 * files are read) and each later copy is reported against that first file, in file order. The
 * totals (elements, bytes, per dtype) are those of the tensors kept. */
START_TEST(test_find_names)
{
    ck_checkpoint ck;
    ck_err err;
    ck_err_clear(&err);
    ck_assert_int_eq(ckpt_open("fixtures/lint/r1-tiny", 2, &ck, &err), CK_OK);
    ck_assert_uint_gt(ck.n_tensors, 2000);
    for (size_t i = 0; i < ck.n_tensors; i++) {
        const char *name = ckpt_tensor(&ck, ck.tensors[i])->name;
        size_t at = SIZE_MAX;
        ck_assert_msg(ckpt_find_index(&ck, name, &at) && at == i, "%s: %zu, not %zu", name, at, i);
        char off[512];
        snprintf(off, sizeof off, "%s", name);
        off[strlen(off) / 2] ^= 1;
        ck_assert_msg(!ckpt_find_index(&ck, off, &at) || strcmp(ckpt_tensor(&ck, ck.tensors[at])->name, off) == 0,
                      "%s found as %s", off, name);
    }
    ck_assert_int_eq(ckpt_find(&ck, "model.layers.0.no_such.weight", NULL), 0);
    assert_totals(&ck);
    ckpt_free(&ck);
    char *tmp = tu_tmpdir();
    ck_assert_ptr_nonnull(tmp);
    write_shard(tmp, "model-1.safetensors", "a.%d.w", 4, (int[]){0, 1, 2, 3});
    write_shard(tmp, "model-2.safetensors", "a.%d.w", 3, (int[]){7, 2, 8});
    write_shard(tmp, "model-3.safetensors", "a.%d.w", 3, (int[]){9, 2, 3});
    ck_assert_int_eq(ckpt_open(tmp, 2, &ck, &err), CK_OK);
    ck_assert_uint_eq(ck.n_tensors, 7);
    ck_tensor_ref r;
    ck_assert_int_eq(ckpt_find(&ck, "a.2.w", &r), 1);
    ck_assert_str_eq(ck.shards[r.shard].name, "model-1.safetensors");
    ck_assert_int_eq(ckpt_find(&ck, "a.9.w", &r), 1);
    ck_assert_str_eq(ck.shards[r.shard].name, "model-3.safetensors");
    static const char *const want[][2] = {{"a.2.w", "model-1.safetensors and model-2.safetensors"},
                                          {"a.2.w", "model-1.safetensors and model-3.safetensors"},
                                          {"a.3.w", "model-1.safetensors and model-3.safetensors"}};
    size_t n = 0;
    for (size_t i = 0; i < ck.findings.n; i++) {
        const ck_finding *x = &ck.findings.v[i];
        if (strcmp(x->code, "ckpt.duplicate_tensor") != 0)
            continue;
        ck_assert_uint_lt(n, 3);
        ck_assert_str_eq(x->key, want[n][0]);
        ck_assert_msg(strstr(x->msg, want[n][1]), "%s", x->msg);
        n++;
    }
    ck_assert_uint_eq(n, 3);
    assert_totals(&ck); /* the copies not counted */
    ckpt_free(&ck);
    tu_rmtree(tmp);
    free(tmp);
}
END_TEST

static Suite *inspect_suite(void)
{
    Suite *s = suite_create("inspect");
    TCase *core = tcase_create("core");
    tcase_add_test(core, test_valid_files);
    tcase_add_test(core, test_find_names);
    tcase_add_test(core, test_valid_details);
    tcase_add_test(core, test_folder_lfs_pointers);
    tcase_add_test(core, test_real_granite_pointer);
    tcase_add_test(core, test_real_transformers_folders);
    tcase_add_test(core, test_real_stats_match_torch);
    tcase_add_test(core, test_folder_index_problems);
    tcase_add_test(core, test_folder_total_size);
    tcase_add_test(core, test_index_edge_cases);
    tcase_add_test(core, test_index_orders);
    tcase_add_test(core, test_side_work);
    tcase_add_test(core, test_folder_download_error_and_config);
    tcase_add_test(core, test_config_quant_summary);
    tcase_add_test(core, test_config_schemes);
    tcase_add_test(core, test_config_text_config);
    tcase_add_test(core, test_config_per_layer);
    tcase_add_test(core, test_verify_data);
    tcase_add_test(core, test_verify_manifests);
    tcase_add_test(core, test_cli_exit_codes_and_json);
    tcase_add_test(core, test_cli_verify);
    tcase_set_timeout(core, 60);
    suite_add_tcase(s, core);
    TCase *errors = tcase_create("errors");
    tcase_add_loop_test(errors, test_bad_input_table, 0, sizeof bad / sizeof *bad);
    tcase_add_loop_test(errors, test_sniffed_table, 0, sizeof sniffed / sizeof *sniffed);
    tcase_add_test(errors, test_reference_agreement);
    suite_add_tcase(s, errors);
    TCase *limits = tcase_create("limits");
    tcase_add_test(limits, test_headers_only_reads);
    tcase_add_test(limits, test_length_claims_are_checked_first);
    tcase_add_test(limits, test_many_tensors);
    tcase_set_timeout(limits, 60);
    suite_add_tcase(s, limits);
    return s;
}

int main(void)
{
    return tu_suite_run(inspect_suite());
}
