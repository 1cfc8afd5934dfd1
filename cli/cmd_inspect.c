/* cmd_inspect.c - `ckptdoc inspect DIR|FILE`: the summary, --list, --format json, --verify.
 * The JSON schema is documented in docs/inspect-json.md; change it only by bumping "schema". */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inspect/ckpt.h"
#include "inspect/verify.h"
#include "cli/cli.h"
#include "cli/out.h"

#define SCHEMA "ckptdoc.inspect/1"

typedef struct {
    const char *path;
    int json, list, verify, no_color, threads, cuda;
    int annotate;                /* --format github (1) or sarif (2): the findings only */
    const char *manifest;
} inspect_args;

static void usage_inspect(FILE *fp)
{
    fprintf(fp,
            "usage: ckptdoc inspect DIR|FILE [--format text|json|github|sarif] [--list] [--verify]\n"
            "                       [--manifest FILE|DIR] [--device cpu|cuda] [--threads N]\n"
            "                       [--no-color]\n"
            "Reads a Hugging Face model folder (config.json, model.safetensors or an index and its\n"
            "shards) or one .safetensors file from its headers alone, validates every file as the\n"
            "safetensors reference reader does, and says what is wrong in words you can act on.\n"
            "  --format json   machine-readable report (schema " SCHEMA ")\n"
            "  --format github workflow annotations of the findings; sarif: SARIF 2.1.0\n"
            "  --list          every tensor: name, dtype, shape, file, byte offsets\n"
            "  --verify        also read the data: sha256 of every file, statistics of every\n"
            "                  float tensor, NaN/Inf, all-zero tensors, bad FP8 scales\n"
            "  --manifest F    with --verify: check hashes against a sha256sum file, or a folder\n"
            "                  of git-lfs pointer files named like the shards\n"
            "  --device D      with --verify: where statistics are computed (default cpu)\n"
            "Exit status: 0 no error findings, 1 error findings, 2 usage or unreadable input.\n");
}

static const struct option inspect_opts[] = {
    {"format", required_argument, 0, 'f'}, {"list", no_argument, 0, 'l'},
    {"verify", no_argument, 0, 'v'},       {"manifest", required_argument, 0, 'm'},
    {"threads", required_argument, 0, 't'}, {"no-color", no_argument, 0, 'C'},
    {"device", required_argument, 0, 'd'}, {"help", no_argument, 0, 'h'},
    {0, 0, 0, 0}};

/* 0, 1 after --help (printed), or -1 after a usage error (said). */
static int parse_args(int argc, char **argv, inspect_args *a)
{
    memset(a, 0, sizeof *a);
    if (cli_config_args("inspect", inspect_opts, &argc, &argv) != 0)
        return -1;
    optind = 0; /* glibc: a full restart, also of a half-read "-abc" from an earlier parse */
    int c;
    while ((c = getopt_long(argc, argv, "f:lvm:t:d:h", inspect_opts, NULL)) != -1) {
        switch (c) {
        case 'f':
        {
            int k = cli_choice("inspect", "format", optarg, out_formats, OUT_FORMATS);
            if (k < 0)
                return -1;
            a->json = k == 1;
            a->annotate = k >= 2 ? k - 1 : 0;
        }
            break;
        case 'l': a->list = 1; break;
        case 'v': a->verify = 1; break;
        case 'm': a->manifest = optarg; break;
        case 'C': a->no_color = 1; break;
        case 't':
            if (cli_int(optarg, 1, 64, &a->threads)) {
                fprintf(stderr, "ckptdoc inspect: --threads must be 1..64, not '%s'\n", optarg);
                return -1;
            }
            break;
        case 'd': {
            static const char *const devs[] = {"cpu", "cuda"};
            if (strcmp(optarg, "gpu") == 0) /* what people call it */
                optarg = "cuda";
            int k = cli_choice("inspect", "device", optarg, devs, 2);
            if (k < 0)
                return -1;
            a->cuda = k == 1;
            break;
        }
        case 'h':
            usage_inspect(stdout);
            return 1;
        default:
            return -1;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "ckptdoc inspect: expected one DIR or FILE\n");
        return -1;
    }
    if (a->manifest && !a->verify) {
        fprintf(stderr, "ckptdoc inspect: --manifest needs --verify\n");
        return -1;
    }
    a->path = argv[optind];
    return 0;
}

static const char *shard_kind(const ck_shard *s)
{
    if (!s->path[0])
        return "unsafe_name";
    if (!s->exists)
        return "missing";
    if (s->kind != SNIFF_UNKNOWN)
        return sniff_code(s->kind) + 5; /* "file.lfs_pointer" -> "lfs_pointer" */
    return "safetensors";
}

/* ------------------------------------------------------------------------------------------ */
/* Text. */

static void print_config(const ck_checkpoint *ck, const out_style *st)
{
    const ck_config *c = &ck->cfg;
    char fam[512];
    printf("  %-10s %s\n", "family", ckpt_family(ck, fam, sizeof fam));
    if (!c->present)
        return;
    static const char *dims[][2] = {
        {"hidden_size", "hidden"}, {"num_hidden_layers", "layers"},
        {"num_attention_heads", "heads"}, {"num_key_value_heads", "kv heads"},
        {"intermediate_size", "ffn"}, {"moe_intermediate_size", "moe ffn"},
        {"num_experts_per_tok", "top-k"}, {"n_shared_experts", "shared"},
        {"first_k_dense_replace", "dense first"}, {"q_lora_rank", "q_lora"},
        {"kv_lora_rank", "kv_lora"}, {"num_nextn_predict_layers", "mtp layers"},
        {"vocab_size", "vocab"}};
    char line[1024] = "";
    size_t n = 0;
    int64_t v;
    for (unsigned i = 0; i < sizeof dims / sizeof *dims; i++) {
        if (config_int(c, dims[i][0], &v) != 1)
            continue;
        n += (size_t)snprintf(line + n, sizeof line - n, "%s%s %lld", n ? ", " : "", dims[i][1],
                              (long long)v);
        if (n >= sizeof line)
            break;
    }
    if (config_experts(c) && n < sizeof line)
        snprintf(line + n, sizeof line - n, "%sexperts %lld", n ? ", " : "",
                 (long long)config_experts(c));
    if (line[0])
        printf("  %-10s %s\n", "config", line);
    const cfg_field *tie = config_field(c, "tie_word_embeddings");
    if (c->torch_dtype[0] || tie)
        printf("  %-10s %s%s%s\n", "dtype", c->torch_dtype[0] ? c->torch_dtype : "?",
               tie && tie->kind == CFG_BOOL ? ", tie_word_embeddings " : "",
               tie && tie->kind == CFG_BOOL ? (tie->num ? "true" : "false") : "");
    printf("  %-10s %s%s%s\n", "quant", out_bold(st), c->has_quant ? c->quant.summary : "none",
           out_reset(st));
}

static void print_list(const ck_checkpoint *ck, const verify_result *vr)
{
    printf("\n%-60s %-8s %-22s %-40s %s\n", "tensor", "dtype", "shape", "file", "bytes [begin, end)");
    for (size_t i = 0; i < ck->n_tensors; i++) {
        const ck_shard *s = &ck->shards[ck->tensors[i].shard];
        const st_tensor *t = ckpt_tensor(ck, ck->tensors[i]);
        char shp[256];
        st_shape_str(t->shape, t->ndim, shp, sizeof shp);
        printf("%-60s %-8s %-22s %-40s [%llu, %llu)", t->name, dtype_name(t->dtype), shp, s->name,
               (unsigned long long)(s->h.data_start + t->begin),
               (unsigned long long)(s->h.data_start + t->end));
        if (vr && vr->stats && vr->stats[i].count) {
            const kern_stats *k = &vr->stats[i];
            printf("  min %.4g max %.4g mean %.4g", k->finite ? k->min : NAN,
                   k->finite ? k->max : NAN, kern_stats_mean(k));
            if (k->nan || k->inf)
                printf(" nan %llu inf %llu", (unsigned long long)k->nan, (unsigned long long)k->inf);
        }
        printf("\n");
    }
}

static void print_text(const ck_checkpoint *ck, const inspect_args *a, const verify_result *vr,
                       const out_style *st)
{
    char b1[32], b2[32], b3[32];
    printf("%s%s%s\n", out_bold(st), ck->root, out_reset(st));
    if (!ck->single_file)
        print_config(ck, st);
    size_t ok = 0, bad = 0, missing = 0, stray = 0;
    uint64_t fbytes = 0;
    for (size_t i = 0; i < ck->n_shards; i++) {
        const ck_shard *s = &ck->shards[i];
        ok += s->status == ST_OK;
        bad += s->exists && s->status != ST_OK;
        missing += !s->exists;
        stray += !s->referenced;
        fbytes += s->size;
    }
    printf("  %-10s %zu safetensors file%s (%s)", "files", ck->n_shards, ck->n_shards == 1 ? "" : "s",
           out_bytes(fbytes, b1, sizeof b1));
    if (ck->has_index)
        printf(", index maps %zu tensor%s", ck->n_index, ck->n_index == 1 ? "" : "s");
    if (bad || missing || stray)
        printf(" - %zu unreadable, %zu missing, %zu not in the index", bad, missing, stray);
    printf("\n");
    printf("  %-10s %zu tensor%s, %s parameters, %s\n", "tensors", ck->n_tensors,
           ck->n_tensors == 1 ? "" : "s",
           out_count(ck->params, b2, sizeof b2), out_bytes(ck->bytes, b3, sizeof b3));
    int first = 1;
    for (int d = 0; d < DT_COUNT; d++) {
        if (!ck->dtype_count[d])
            continue;
        printf("%s%s %llu (%s)", first ? "  dtypes     " : ", ", dtype_name((ck_dtype)d),
               (unsigned long long)ck->dtype_count[d], out_bytes(ck->dtype_bytes[d], b1, sizeof b1));
        first = 0;
    }
    if (!first)
        printf("\n");
    if (vr) {
        double gbs = vr->seconds > 0 ? vr->bytes_read / vr->seconds / 1e9 : 0;
        printf("  %-10s read %s in %.2f s (%.2f GB/s)\n", "verify",
               out_bytes(vr->bytes_read, b1, sizeof b1), vr->seconds, gbs);
        for (size_t i = 0; i < ck->n_shards; i++)
            if (vr->sha256[i][0])
                printf("  %-10s %s  %s\n", i ? "" : "sha256", vr->sha256[i], ck->shards[i].name);
    }
    const ck_findings *f = &ck->findings;
    size_t ne = findings_count(f, SEV_ERROR), nw = findings_count(f, SEV_WARNING),
           nn = findings_count(f, SEV_NOTE);
    printf("  %-10s %s%zu error%s%s, %s%zu warning%s%s, %zu note%s\n", "findings",
           ne ? out_sev_color(st, SEV_ERROR) : "", ne, ne == 1 ? "" : "s", out_reset(st),
           nw ? out_sev_color(st, SEV_WARNING) : "", nw, nw == 1 ? "" : "s", out_reset(st), nn,
           nn == 1 ? "" : "s");
    if (f->n)
        printf("\n");
    out_findings(f, st);
    if (a->list)
        print_list(ck, vr);
}

/* ------------------------------------------------------------------------------------------ */
/* JSON. */

static cJSON *stats_json(const kern_stats *k)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "count", (double)k->count);
    if (k->finite) {
        cJSON_AddNumberToObject(o, "min", k->min);
        cJSON_AddNumberToObject(o, "max", k->max);
        cJSON_AddNumberToObject(o, "mean", kern_stats_mean(k));
        cJSON_AddNumberToObject(o, "std", kern_stats_std(k));
    } else {
        cJSON_AddNullToObject(o, "min");
        cJSON_AddNullToObject(o, "max");
        cJSON_AddNullToObject(o, "mean");
        cJSON_AddNullToObject(o, "std");
    }
    cJSON_AddNumberToObject(o, "nan", (double)k->nan);
    cJSON_AddNumberToObject(o, "inf", (double)k->inf);
    cJSON_AddNumberToObject(o, "zeros", (double)k->zeros);
    return o;
}

static void print_json(const ck_checkpoint *ck, const inspect_args *a, const verify_result *vr)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "schema", SCHEMA);
    cJSON_AddStringToObject(root, "path", ck->root);
    cJSON *cfg = cJSON_AddObjectToObject(root, "config");
    const ck_config *c = &ck->cfg;
    cJSON_AddBoolToObject(cfg, "present", c->present);
    if (c->present) {
        cJSON *arch = cJSON_AddArrayToObject(cfg, "architectures");
        char tmp[512];
        snprintf(tmp, sizeof tmp, "%s", c->architectures);
        for (char *save = NULL, *t = strtok_r(tmp, ",", &save); t; t = strtok_r(NULL, ",", &save))
            cJSON_AddItemToArray(arch, cJSON_CreateString(t));
        cJSON_AddStringToObject(cfg, "model_type", c->model_type);
        cJSON_AddStringToObject(cfg, "torch_dtype", c->torch_dtype);
        cJSON *dims = cJSON_AddObjectToObject(cfg, "dims");
        for (int i = 0; i < c->n_fields; i++)
            if (c->fields[i].kind == CFG_NUMBER)
                cJSON_AddNumberToObject(dims, c->fields[i].name, c->fields[i].num);
        cJSON_AddNumberToObject(cfg, "experts", (double)config_experts(c));
        if (c->has_quant) {
            const cfg_quant *q = &c->quant;
            cJSON *qj = cJSON_AddObjectToObject(cfg, "quantization");
            cJSON_AddStringToObject(qj, "method", q->method);
            cJSON_AddStringToObject(qj, "format", q->fmt);
            cJSON_AddNumberToObject(qj, "bits", q->bits);
            if (q->block[0]) {
                int bs[2] = {q->block[0], q->block[1]};
                cJSON_AddItemToObject(qj, "block_size", cJSON_CreateIntArray(bs, 2));
            }
            if (q->strategy[0])
                cJSON_AddStringToObject(qj, "strategy", q->strategy);
            if (q->group_size)
                cJSON_AddNumberToObject(qj, "group_size", q->group_size);
            if (q->symmetric >= 0)
                cJSON_AddBoolToObject(qj, "symmetric", q->symmetric);
            cJSON_AddStringToObject(qj, "summary", q->summary);
        } else
            cJSON_AddNullToObject(cfg, "quantization");
    }
    cJSON *idx = cJSON_AddObjectToObject(root, "index");
    cJSON_AddBoolToObject(idx, "present", ck->has_index);
    if (ck->has_index) {
        cJSON_AddNumberToObject(idx, "keys", (double)ck->n_index);
        if (ck->has_total_size)
            cJSON_AddNumberToObject(idx, "total_size", (double)ck->total_size);
        else
            cJSON_AddNullToObject(idx, "total_size");
    }
    cJSON *files = cJSON_AddArrayToObject(root, "files");
    for (size_t i = 0; i < ck->n_shards; i++) {
        const ck_shard *s = &ck->shards[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", s->name);
        cJSON_AddStringToObject(o, "kind", shard_kind(s));
        cJSON_AddNumberToObject(o, "size", (double)s->size);
        cJSON_AddBoolToObject(o, "referenced", s->referenced);
        cJSON_AddStringToObject(o, "status", s->exists ? st_status_variant(s->status) : "Missing");
        if (s->status == ST_OK) {
            cJSON_AddNumberToObject(o, "header_bytes", (double)s->h.header_len);
            cJSON_AddNumberToObject(o, "tensors", (double)s->h.n_tensors);
            cJSON *md = cJSON_AddObjectToObject(o, "metadata");
            for (size_t k = 0; k < s->h.n_meta; k++)
                cJSON_AddStringToObject(md, s->h.meta_keys[k], s->h.meta_vals[k]);
        }
        if (s->kind == SNIFF_LFS_POINTER) {
            cJSON *l = cJSON_AddObjectToObject(o, "lfs");
            cJSON_AddStringToObject(l, "oid", s->lfs.oid);
            cJSON_AddNumberToObject(l, "size", (double)s->lfs.size);
        }
        if (vr && vr->sha256[i][0])
            cJSON_AddStringToObject(o, "sha256", vr->sha256[i]);
        cJSON_AddItemToArray(files, o);
    }
    cJSON *tot = cJSON_AddObjectToObject(root, "totals");
    cJSON_AddNumberToObject(tot, "files", (double)ck->n_shards);
    cJSON_AddNumberToObject(tot, "tensors", (double)ck->n_tensors);
    cJSON_AddNumberToObject(tot, "params", (double)ck->params);
    cJSON_AddNumberToObject(tot, "bytes", (double)ck->bytes);
    cJSON *bd = cJSON_AddObjectToObject(tot, "by_dtype");
    for (int d = 0; d < DT_COUNT; d++) {
        if (!ck->dtype_count[d])
            continue;
        cJSON *o = cJSON_AddObjectToObject(bd, dtype_name((ck_dtype)d));
        cJSON_AddNumberToObject(o, "tensors", (double)ck->dtype_count[d]);
        cJSON_AddNumberToObject(o, "bytes", (double)ck->dtype_bytes[d]);
    }
    out_findings_json(root, &ck->findings);
    if (a->list) {
        cJSON *ta = cJSON_AddArrayToObject(root, "tensors");
        for (size_t i = 0; i < ck->n_tensors; i++) {
            const ck_shard *s = &ck->shards[ck->tensors[i].shard];
            const st_tensor *t = ckpt_tensor(ck, ck->tensors[i]);
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "name", t->name);
            cJSON_AddStringToObject(o, "dtype", dtype_name(t->dtype));
            cJSON *shape = cJSON_AddArrayToObject(o, "shape");
            for (uint32_t k = 0; k < t->ndim; k++)
                cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)t->shape[k]));
            cJSON_AddStringToObject(o, "file", s->name);
            cJSON *off = cJSON_AddArrayToObject(o, "data_offsets");
            cJSON_AddItemToArray(off, cJSON_CreateNumber((double)t->begin));
            cJSON_AddItemToArray(off, cJSON_CreateNumber((double)t->end));
            cJSON_AddNumberToObject(o, "file_offset", (double)(s->h.data_start + t->begin));
            if (vr && vr->stats[i].count)
                cJSON_AddItemToObject(o, "stats", stats_json(&vr->stats[i]));
            cJSON_AddItemToArray(ta, o);
        }
    }
    if (vr) {
        cJSON *v = cJSON_AddObjectToObject(root, "verify");
        cJSON_AddNumberToObject(v, "bytes_read", (double)vr->bytes_read);
        cJSON_AddNumberToObject(v, "seconds", vr->seconds);
    }
    char *text = cJSON_PrintUnformatted(root);
    if (text) {
        fputs(text, stdout);
        fputc('\n', stdout);
    } else
        fprintf(stderr, "ckptdoc inspect: out of memory printing JSON\n");
    free(text);
    cJSON_Delete(root);
}

int cmd_inspect(int argc, char **argv)
{
    inspect_args a;
    int parsed = parse_args(argc, argv, &a);
    if (parsed > 0) /* --help, printed */
        return EXIT_CLEAN;
    if (parsed != 0) {
        cli_misuse("inspect", argc, argv, inspect_opts);
        return EXIT_USAGE;
    }
    out_style st;
    out_style_detect(&st, stdout, a.no_color || a.json || a.annotate);
    ck_checkpoint ck;
    ck_err err;
    ck_err_clear(&err);
    if (ckpt_open(a.path, a.threads, &ck, &err) != CK_OK) {
        char buf[1400];
        fprintf(stderr, "ckptdoc inspect: %s\n", ck_err_str(&err, buf, sizeof buf));
        return EXIT_USAGE;
    }
    verify_result vr, *vrp = NULL;
    if (a.verify && ckpt_require_data(&ck, "--verify", &err) != CK_OK) {
        char buf[1400];
        fprintf(stderr, "ckptdoc inspect: %s\n", ck_err_str(&err, buf, sizeof buf));
        ckpt_free(&ck);
        return EXIT_USAGE;
    }
    if (a.verify) {
        verify_opts vo = {a.threads, a.cuda, a.manifest, st.progress ? out_progress : NULL, &st};
        if (verify_run(&ck, &vo, &vr, &err) != CK_OK) {
            char buf[1400];
            fprintf(stderr, "ckptdoc inspect: %s\n", ck_err_str(&err, buf, sizeof buf));
            ckpt_free(&ck);
            return EXIT_USAGE;
        }
        vrp = &vr;
    }
    if (a.json)
        print_json(&ck, &a, vrp);
    else if (a.annotate == 1)
        out_findings_github(&ck.findings, &ck);
    else if (a.annotate == 2)
        out_findings_sarif(&ck.findings, &ck, "inspect");
    else
        print_text(&ck, &a, vrp, &st);
    int rc = findings_count(&ck.findings, SEV_ERROR) ? EXIT_FINDINGS : EXIT_CLEAN;
    if (vrp)
        verify_result_free(vrp);
    ckpt_free(&ck);
    return rc;
}
