/* config.c - config.json through cJSON; the tree is copied into ck_config and deleted here. */
#include "inspect/config.h"
#include "base/fileio.h"
#include "base/text.h"
#include "base/jscan.h"
#include "base/strmap.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <regex.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CONFIG_MAX_BYTES (64u << 20)

static char *dup_or_empty(const char *s)
{
    return strdup(s ? s : "");
}

static const char *jstr(const cJSON *o, const char *name)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(x) ? x->valuestring : NULL;
}

static int jint(const cJSON *o, const char *name, int dflt)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsNumber(x) ? (int)x->valuedouble : dflt;
}

static int jbool(const cJSON *o, const char *name)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsBool(x) ? cJSON_IsTrue(x) : -1;
}

/* The strings of list `name` of q, one per line (malloc), or NULL when there are none. */
static char *string_lines(const cJSON *q, const char *name)
{
    const cJSON *l = cJSON_GetObjectItemCaseSensitive(q, name), *e;
    size_t n = 0;
    cJSON_ArrayForEach(e, l) if (cJSON_IsString(e)) n += strlen(e->valuestring) + 1;
    char *out = n ? malloc(n + 1) : NULL;
    if (!out)
        return NULL;
    out[0] = 0;
    cJSON_ArrayForEach(e, l) if (cJSON_IsString(e))
    {
        strcat(out, e->valuestring);
        strcat(out, "\n");
    }
    return out;
}

/* One compressed-tensors config group g (NULL: none) into out, whose method and format (the
 * checkpoint's) are set: a group's own "format" replaces the format; n_groups is said in the
 * summary when more than one. */
static void ct_group(const cJSON *g, cfg_quant *out, int n_groups)
{
    const cJSON *w = g ? cJSON_GetObjectItemCaseSensitive(g, "weights") : NULL;
    const cJSON *ia = g ? cJSON_GetObjectItemCaseSensitive(g, "input_activations") : NULL;
    if (g && jstr(g, "format"))
        snprintf(out->fmt, sizeof out->fmt, "%s", jstr(g, "format"));
    if (cJSON_IsObject(w)) {
        out->bits = jint(w, "num_bits", 0);
        snprintf(out->type, sizeof out->type, "%s", jstr(w, "type") ? jstr(w, "type") : "int");
        out->symmetric = jbool(w, "symmetric");
        snprintf(out->strategy, sizeof out->strategy, "%s", jstr(w, "strategy") ? jstr(w, "strategy") : "");
        out->group_size = jint(w, "group_size", 0);
        const cJSON *ao = cJSON_GetObjectItemCaseSensitive(w, "actorder");
        out->desc_act = cJSON_IsString(ao) ? 1 : cJSON_IsNull(ao) || !ao ? 0 : -1;
    }
    if (cJSON_IsObject(ia)) {
        out->input_bits = jint(ia, "num_bits", 16);
        snprintf(out->activation, sizeof out->activation, "A%d", out->input_bits);
        out->static_input = jbool(ia, "dynamic") == 0;
    } else
        snprintf(out->activation, sizeof out->activation, "A16");
    char gs[32] = "";
    if (out->group_size > 0) /* "group", or NVFP4's "tensor_group" */
        snprintf(gs, sizeof gs, " %d", out->group_size);
    snprintf(out->summary, sizeof out->summary, "compressed-tensors %s, %s%d %s%s%s (W%d%s)%s",
             out->fmt, out->type, out->bits, out->strategy, gs,
             out->symmetric == 1 ? " symmetric" : out->symmetric == 0 ? " asymmetric" : "",
             out->bits, out->activation, n_groups > 1 ? ", several config groups" : "");
}

static void quant_summarize(const cJSON *q, cfg_quant *out)
{
    memset(out, 0, sizeof *out);
    out->symmetric = -1;
    out->desc_act = -1;
    out->input_bits = 16;
    snprintf(out->method, sizeof out->method, "%s", jstr(q, "quant_method") ? jstr(q, "quant_method") : "unknown");
    const cJSON *ign = cJSON_GetObjectItemCaseSensitive(q, "ignore");
    if (!cJSON_IsArray(ign) || !cJSON_GetArraySize(ign))
        ign = cJSON_GetObjectItemCaseSensitive(q, "ignored_layers");
    if (!cJSON_IsArray(ign) || !cJSON_GetArraySize(ign))
        ign = cJSON_GetObjectItemCaseSensitive(q, "exclude_modules");
    if (!cJSON_IsArray(ign) || !cJSON_GetArraySize(ign))
        ign = cJSON_GetObjectItemCaseSensitive(q, "modules_to_not_convert");
    out->n_ignore = cJSON_IsArray(ign) ? cJSON_GetArraySize(ign) : 0;
    if (strcmp(out->method, "fp8") == 0) {
        snprintf(out->fmt, sizeof out->fmt, "%s", jstr(q, "fmt") ? jstr(q, "fmt") : "e4m3");
        const cJSON *bs = cJSON_GetObjectItemCaseSensitive(q, "weight_block_size");
        if (cJSON_IsArray(bs) && cJSON_GetArraySize(bs) == 2) {
            out->block[0] = (int)cJSON_GetArrayItem(bs, 0)->valuedouble;
            out->block[1] = (int)cJSON_GetArrayItem(bs, 1)->valuedouble;
        }
        snprintf(out->activation, sizeof out->activation, "%s",
                 jstr(q, "activation_scheme") ? jstr(q, "activation_scheme") : "");
        out->bits = 8;
        out->static_input = strcmp(out->activation, "static") == 0;
        out->input_bits = 8;
        snprintf(out->strategy, sizeof out->strategy, "%s", out->block[0] ? "block" : "tensor");
        snprintf(out->type, sizeof out->type, "float");
        if (out->block[0])
            snprintf(out->summary, sizeof out->summary, "fp8 %s, %dx%d blocks (weight_scale_inv), "
                     "%s activations", out->fmt, out->block[0], out->block[1],
                     out->activation[0] ? out->activation : "dynamic");
        else
            snprintf(out->summary, sizeof out->summary, "fp8 %s, per-tensor scales, %s activations",
                     out->fmt, out->activation[0] ? out->activation : "dynamic");
    } else if (strcmp(out->method, "modelopt") == 0) {
        /* NVIDIA ModelOpt: quant_algo at the top (config.json) or under "quantization" (the
         * legacy hf_quant_config.json layout) */
        const cJSON *qq = cJSON_GetObjectItemCaseSensitive(q, "quantization");
        const char *algo = jstr(q, "quant_algo") ? jstr(q, "quant_algo") : jstr(qq, "quant_algo");
        snprintf(out->fmt, sizeof out->fmt, "%s", algo ? algo : "");
        for (char *c = out->fmt; *c; c++)
            *c = (char)toupper((unsigned char)*c);
        if (strcmp(out->fmt, "FP8") == 0) { /* per-tensor weight and input scales */
            out->bits = 8;
            out->static_input = 1;
            out->input_bits = 8;
            snprintf(out->type, sizeof out->type, "float");
            snprintf(out->strategy, sizeof out->strategy, "tensor");
            snprintf(out->activation, sizeof out->activation, "static");
        }
        snprintf(out->summary, sizeof out->summary, "modelopt %s%s", out->fmt[0] ? out->fmt : "(no quant_algo)",
                 strcmp(out->fmt, "FP8") == 0 ? ", per-tensor weight and input scales" : "");
    } else if (strcmp(out->method, "compressed-tensors") == 0) {
        snprintf(out->fmt, sizeof out->fmt, "%s", jstr(q, "format") ? jstr(q, "format") : "?");
        const cJSON *groups = cJSON_GetObjectItemCaseSensitive(q, "config_groups");
        ct_group(cJSON_IsObject(groups) ? groups->child : NULL, out,
                 cJSON_IsObject(groups) ? cJSON_GetArraySize(groups) : 0);
    } else if (strcmp(out->method, "gptq") == 0 || strcmp(out->method, "awq") == 0) {
        out->bits = jint(q, "bits", jint(q, "w_bit", 0));
        out->group_size = jint(q, "group_size", jint(q, "q_group_size", 0));
        out->desc_act = jbool(q, "desc_act");
        out->symmetric = jbool(q, "sym");
        int awq = strcmp(out->method, "awq") == 0, zp = jbool(q, "zero_point");
        if (awq && zp != -1)
            out->symmetric = !zp; /* AWQ stores zero points unless zero_point is false */
        const char *layout = awq ? jstr(q, "version") : jstr(q, "checkpoint_format");
        if (layout && strcmp(layout, out->method) == 0)
            layout = NULL; /* GPTQ's own format: said once */
        snprintf(out->fmt, sizeof out->fmt, "%s", layout ? layout : "");
        snprintf(out->type, sizeof out->type, "int");
        char grp[32];
        if (out->group_size > 0)
            snprintf(grp, sizeof grp, "group %d", out->group_size);
        else
            snprintf(grp, sizeof grp, "one group per row");
        snprintf(out->summary, sizeof out->summary, "%s%s%s %d-bit, %s%s%s", out->method, layout ? " " : "",
                 layout ? layout : "", out->bits, grp, out->desc_act == 1 ? ", desc_act" : "",
                 out->symmetric == 0 ? (awq ? ", zero points" : ", asymmetric") : out->symmetric == 1 ? ", symmetric" : "");
    } else if (strcmp(out->method, "mxfp4") == 0) {
        /* gpt-oss's own: the MoE experts alone, vLLM's Mxfp4Config builds the rest unquantized
         * whatever modules_to_not_convert lists */
        out->bits = 4;
        out->group_size = 32;
        out->input_bits = 16;
        snprintf(out->type, sizeof out->type, "float");
        snprintf(out->strategy, sizeof out->strategy, "group");
        snprintf(out->summary, sizeof out->summary, "mxfp4, the MoE experts in FP4 (E2M1) with an E8M0 scale per "
                 "32 (_blocks, _scales), every other linear unquantized");
        return;
    } else {
        snprintf(out->summary, sizeof out->summary, "%s", out->method);
    }
    if (out->n_ignore) {
        size_t l = strlen(out->summary);
        snprintf(out->summary + l, sizeof out->summary - l, ", %d module%s left unquantized",
                 out->n_ignore, out->n_ignore == 1 ? "" : "s");
    }
}

int config_target_matches(const char *target, size_t len, const char *name)
{
    if (len < 3 || strncmp(target, "re:", 3) != 0)
        return strlen(name) == len && strncmp(name, target, len) == 0;
    /* Python's re.match: anchored at the start; its (?:...) and class escapes in POSIX terms */
    char pat[1024];
    size_t n = 0;
    pat[n++] = '^', pat[n++] = '(';
    for (size_t i = 3; i < len && n < sizeof pat - 16; i++) {
        static const struct { const char *py, *posix; } tr[] = {
            {"(?:", "("}, {"\\d", "[0-9]"}, {"\\w", "[A-Za-z0-9_]"}, {"\\s", "[[:space:]]"}};
        size_t k;
        for (k = 0; k < sizeof tr / sizeof *tr; k++) {
            size_t pl = strlen(tr[k].py);
            if (i + pl <= len && strncmp(target + i, tr[k].py, pl) == 0) {
                n += (size_t)snprintf(pat + n, sizeof pat - n, "%s", tr[k].posix);
                i += pl - 1;
                break;
            }
        }
        if (k == sizeof tr / sizeof *tr)
            pat[n++] = target[i];
    }
    pat[n++] = ')', pat[n] = 0;
    regex_t re;
    if (regcomp(&re, pat, REG_EXTENDED | REG_NOSUB) != 0)
        return 0;
    int hit = regexec(&re, name, 0, NULL, 0) == 0;
    regfree(&re);
    return hit;
}

/* Whether one of the lines of `targets` names `module` (match 1) or, as a class-name target, is
 * part of a linear layer's class name, case-insensitively (match 2: "Linear"). */
static int group_targets(const char *targets, const char *module, int match)
{
    static const char *const classes[] = {"QKVParallelLinear", "MergedColumnParallelLinear", "RowParallelLinear",
                                          "ColumnParallelLinear", "ReplicatedLinear"};
    for (const char *t = targets; t && *t;) {
        const char *e = strchr(t, '\n');
        size_t l = e ? (size_t)(e - t) : strlen(t);
        if (match == 1 && config_target_matches(t, l, module))
            return 1;
        for (unsigned c = 0; match == 2 && l && strncmp(t, "re:", 3) != 0 && c < sizeof classes / sizeof *classes; c++)
            for (const char *h = classes[c]; *h; h++)
                if (strncasecmp(h, t, l) == 0)
                    return 1;
        t = e ? e + 1 : t + l;
    }
    return 0;
}

/* The first group a target of which names `module` (match 1) or its class (match 2); -1: none. */
static int group_of(const ck_config *cfg, const char *module, int match)
{
    for (int i = 0; i < cfg->n_groups; i++)
        if (group_targets(cfg->groups[i].targets, module, match))
            return i;
    return -1;
}

const cfg_quant *config_scheme(const ck_config *cfg, const char *module, const char *const *parts)
{
    if (!cfg->has_quant)
        return NULL;
    if (!cfg->n_groups)
        return &cfg->quant;
    int g = group_of(cfg, module, 1);
    if (strcmp(cfg->quant.method, "gptq") == 0)
        return g < 0 ? &cfg->quant : cfg->groups[g].skip ? NULL : &cfg->groups[g].q;
    if (g < 0 && parts && parts[0]) { /* every component named: the first one's group */
        g = group_of(cfg, parts[0], 1);
        for (int k = 1; g >= 0 && parts[k]; k++)
            if (group_of(cfg, parts[k], 1) < 0)
                g = -1;
    }
    if (g < 0)
        g = group_of(cfg, module, 2);
    return g < 0 ? NULL : &cfg->groups[g].q;
}

const cfg_quant *config_scheme_experts(const ck_config *cfg)
{
    if (!cfg->has_quant)
        return NULL;
    for (int i = 0; strcmp(cfg->quant.method, "compressed-tensors") == 0 && i < cfg->n_groups; i++)
        for (const char *t = cfg->groups[i].targets; t && *t; t = strchr(t, '\n') ? strchr(t, '\n') + 1 : "")
            if (strncmp(t, "Linear\n", 7) == 0)
                return &cfg->groups[i].q;
    return &cfg->quant;
}

/* cfg->groups from compressed-tensors' config_groups or GPTQ's dynamic rules; 0, -1 out of memory. */
static int quant_groups(const cJSON *q, ck_config *cfg)
{
    int ct = strcmp(cfg->quant.method, "compressed-tensors") == 0;
    const cJSON *src = cJSON_GetObjectItemCaseSensitive(q, ct ? "config_groups" : "dynamic"), *g;
    if (!cJSON_IsObject(src) || (!ct && strcmp(cfg->quant.method, "gptq") != 0) || !cJSON_GetArraySize(src))
        return 0;
    cfg->groups = calloc((size_t)cJSON_GetArraySize(src), sizeof *cfg->groups);
    if (!cfg->groups)
        return -1;
    int ngroups = cJSON_GetArraySize(src);
    cJSON_ArrayForEach(g, src)
    {
        cfg_qgroup *x = &cfg->groups[cfg->n_groups++];
        x->q = cfg->quant;
        if (ct) {
            snprintf(x->q.fmt, sizeof x->q.fmt, "%s", jstr(q, "format") ? jstr(q, "format") : "?");
            ct_group(g, &x->q, ngroups);
            x->targets = string_lines(g, "targets");
            continue;
        }
        const char *key = g->string;
        x->skip = strncmp(key, "-:", 2) == 0;
        key += strncmp(key, "-:", 2) == 0 || strncmp(key, "+:", 2) == 0 ? 2 : 0;
        size_t kl = strlen(key);
        if (!(x->targets = malloc(kl + 5)))
            return -1;
        snprintf(x->targets, kl + 5, "re:%s\n", key);
        x->q.bits = jint(g, "bits", x->q.bits);
        x->q.group_size = jint(g, "group_size", x->q.group_size);
        if (jbool(g, "desc_act") != -1)
            x->q.desc_act = jbool(g, "desc_act");
        if (jbool(g, "sym") != -1)
            x->q.symmetric = jbool(g, "sym");
    }
    return 0;
}

/* Python's json keeps the last of a key given twice in an object, cJSON answers the first: every
 * earlier duplicate is dropped (a warning each, the first 20 of an object, naming the value
 * kept), in every object. Linear in the object's size. 0, or -1 out of memory. */
#define DUP_WARNINGS 20
static int keep_last(cJSON *o, const char *path, ck_findings *f, int depth)
{
    if (depth > 64) /* config.json nests a few levels; deeper objects are left as they are */
        return 0;
    size_t n = 0, dropped = 0;
    for (const cJSON *c = o->child; c; c = c->next)
        n++;
    if (cJSON_IsObject(o) && n > 1) {
        cJSON **kids = n < UINT32_MAX ? malloc(n * sizeof *kids) : NULL;
        if (!kids)
            return -1;
        strmap seen; /* a key -> the index of its last child, the one kept */
        strmap_init(&seen);
        size_t i = 0;
        for (cJSON *c = o->child; c; c = c->next)
            kids[i++] = c;
        int rc = 0;
        for (i = n; i-- > 0 && rc == 0;) {
            size_t keep;
            if (!kids[i]->string)
                continue;
            if (!strmap_get(&seen, kids[i]->string, &keep)) {
                rc = strmap_put(&seen, kids[i]->string, i, NULL) < 0 ? -1 : 0;
                continue;
            }
            if (dropped++ < DUP_WARNINGS) {
                char *lv = cJSON_PrintUnformatted(kids[keep]);
                findings_add(f, "config.duplicate_key", SEV_WARNING, path, kids[i]->string, UINT64_MAX, "given more "
                             "than once in one object; Python's json (transformers, vLLM) keeps the last, %.200s, so "
                             "ckptdoc does too", lv ? lv : "the last value");
                free(lv);
            }
            cJSON_Delete(cJSON_DetachItemViaPointer(o, kids[i]));
        }
        if (dropped > DUP_WARNINGS)
            findings_add(f, "config.duplicate_key", SEV_WARNING, path, NULL, UINT64_MAX, "and %zu more keys given "
                         "more than once in one object, each kept at its last value", dropped - DUP_WARNINGS);
        strmap_free(&seen);
        free(kids);
        if (rc)
            return -1;
    }
    for (cJSON *c = o->child; c; c = c->next) /* what is kept, one level down */
        if ((cJSON_IsObject(c) || cJSON_IsArray(c)) && keep_last(c, path, f, depth + 1) != 0)
            return -1;
    return 0;
}

/* Why a string of the document is one Python's json reads otherwise, or NULL: a \u0000 escape
 * (a C string ends there; Python keeps the rest), or a raw control character, which Python's
 * strict json refuses ("Invalid control character") and cJSON takes. */
static const char *string_problem(const char *text, size_t len, size_t *at)
{
    int in = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if (!in) {
            in = c == '"';
            continue;
        }
        if (c == '\\') {
            if (i + 5 < len && memcmp(text + i + 1, "u0000", 5) == 0)
                return *at = i, "holds a \\u0000 (a NUL character) in a string: no model type, architecture or "
                                  "field has one, and a C reader would stop the string there while Python keeps "
                                  "the rest: remove it from config.json";
            i++; /* the escaped character */
        } else if (c == '"')
            in = 0;
        else if (c < 0x20)
            return *at = i, "holds a raw control character in a string, which Python's json refuses (Invalid "
                            "control character): transformers cannot read it; write it escaped (\\n, \\t or \\u00XX) "
                            "or remove it from config.json";
    }
    return NULL;
}

/* Out of memory while config.json is read: the finding, and everything freed. Returns -1. */
static int config_oom(ck_findings *f, const char *path, cJSON *root, char *text, ck_config *cfg)
{
    findings_add(f, "config.invalid", SEV_ERROR, path, NULL, UINT64_MAX, "out of memory");
    cJSON_Delete(root);
    free(text);
    config_free(cfg);
    return -1;
}

/* A field of the text model's settings (tc: text_config, or the config itself), else the
 * wrapper's own (root). */
static const cJSON *text_item(const cJSON *tc, const cJSON *root, const char *name)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(tc, name);
    return x || tc == root ? x : cJSON_GetObjectItemCaseSensitive(root, name);
}

/* The legacy layer kinds of layers_block_type and layer_types ("mamba", "attention") under their
 * current names; then Nemotron-H's hybrid_override_pattern ("M-M*-E", a letter a layer), where
 * config.json gives no layers_block_type list, as that list (transformers' own reading: M linear_attention, E moe,
 * * full_attention, - mlp), so that rules read a layer's kind with at(). 0, or -1 out of memory; a
 * letter of none of those leaves the list out. */
static int pattern_list(ck_config *cfg);

/* A field named name of kind k appended to cfg's fields, zeroed but for those two, or NULL out of
 * memory (nothing added). Pointers into the fields do not survive it. */
static cfg_field *field_add(ck_config *cfg, const char *name, cfg_kind k)
{
    char *nm = strdup(name);
    cfg_field *v = nm ? realloc(cfg->fields, (size_t)(cfg->n_fields + 1) * sizeof *v) : NULL;
    if (!v) {
        free(nm);
        return NULL;
    }
    cfg->fields = v;
    cfg_field *fl = &v[cfg->n_fields++];
    memset(fl, 0, sizeof *fl);
    fl->name = nm;
    fl->kind = k;
    return fl;
}

/* A config without num_hidden_layers whose layers_block_type lists the layers (transformers'
 * NemotronHConfig writes no count: it derives it from the list) counts them. 0, or -1 out of memory. */
static int count_from_list(ck_config *cfg)
{
    const cfg_field *lf = config_field(cfg, "layers_block_type");
    if (config_field(cfg, "num_hidden_layers") || !lf || lf->kind != CFG_LIST || lf->n_list < 1)
        return 0;
    int n = lf->n_list;
    cfg_field *fl = field_add(cfg, "num_hidden_layers", CFG_NUMBER);
    if (!fl)
        return -1;
    fl->num = n;
    return 0;
}

static int pattern_list(ck_config *cfg)
{
    /* the Hub's legacy layer kinds, as transformers' hybrid config classes remap them
     * (remap_legacy_layer_types: Nemotron-H's layers_block_type, GraniteMoeHybrid's layer_types) */
    for (int li = 0; li < 2; li++) {
        cfg_field *lf = (cfg_field *)config_field(cfg, li ? "layer_types" : "layers_block_type");
        for (int i = 0; lf && lf->kind == CFG_LIST && lf->strs && i < lf->n_list; i++) {
            const char *now = !lf->strs[i] ? NULL : strcmp(lf->strs[i], "mamba") == 0 ? "linear_attention" :
                              strcmp(lf->strs[i], "attention") == 0 ? "full_attention" : NULL;
            char *c = now ? strdup(now) : NULL;
            if (now && !c)
                return -1;
            if (c) {
                free(lf->strs[i]);
                lf->strs[i] = c;
            }
        }
    }
    const cfg_field *pf = config_field(cfg, "hybrid_override_pattern");
    if (!pf || pf->kind != CFG_STRING || !pf->str || !pf->str[0] || config_field(cfg, "layers_block_type"))
        return 0;
    static const char letters[] = "ME*-";
    static const char *const kinds[] = {"linear_attention", "moe", "full_attention", "mlp"};
    size_t n = strlen(pf->str);
    for (size_t i = 0; i < n; i++)
        if (!strchr(letters, pf->str[i]))
            return 0;
    char *pat = strdup(pf->str); /* pf moves with the realloc */
    cfg_field *fl = pat ? field_add(cfg, "layers_block_type", CFG_LIST) : NULL;
    if (!fl || !(fl->strs = calloc(n, sizeof *fl->strs))) {
        free(pat);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (!(fl->strs[i] = strdup(kinds[strchr(letters, pat[i]) - letters]))) {
            free(pat);
            return -1;
        }
        fl->n_list++;
    }
    free(pat);
    return 0;
}

/* The members of the text config's rotary objects (rope_parameters, rope_scaling) that are numbers,
 * strings or booleans, as fields rope_parameters.NAME (one level deeper where they are keyed by
 * layer type: rope_parameters.full_attention.rope_theta), so that rules can tell a rotary base given
 * from none. 0, or -1 out of memory. */
static int rope_fields(ck_config *cfg, const cJSON *obj, const char *prefix, int depth)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, obj)
    {
        char name[200];
        if (!it->string || snprintf(name, sizeof name, "%s.%s", prefix, it->string) >= (int)sizeof name ||
            config_field(cfg, name))
            continue;
        if (cJSON_IsObject(it)) {
            if (depth == 0 && rope_fields(cfg, it, name, 1) != 0)
                return -1;
            continue;
        }
        if (!cJSON_IsNumber(it) && !cJSON_IsString(it) && !cJSON_IsBool(it))
            continue;
        cfg_field *fl = field_add(cfg, name, cJSON_IsNumber(it) ? CFG_NUMBER : cJSON_IsBool(it) ? CFG_BOOL : CFG_STRING);
        if (!fl || (fl->kind == CFG_STRING && !(fl->str = strdup(it->valuestring))))
            return -1;
        fl->num = cJSON_IsNumber(it) ? it->valuedouble : cJSON_IsTrue(it);
    }
    return 0;
}

/* transformers' per-layer settings (Gemma 4's per_layer_config: {"2": {"head_dim": 512}, ...},
 * each layer's overrides of the model's own values): the field per_layer_config, the number of
 * layers that override something (so that defined() tells the form apart from the older
 * global_head_dim), and for each setting a layer overrides, the list per_layer_config.NAME of every
 * layer's value (the model's own where a layer does not override it), as at() reads a layer list.
 * A setting the model itself does not give has no list. 0, or -1 out of memory. */
static int per_layer_lists(ck_config *cfg, const cJSON *tc, const cJSON *root)
{
    const cJSON *plc = text_item(tc, root, "per_layer_config"), *layers = text_item(tc, root, "num_hidden_layers");
    if (!cJSON_IsObject(plc) || !cJSON_IsNumber(layers) || layers->valuedouble < 1 || layers->valuedouble > 4096)
        return 0;
    int n_layers = (int)layers->valuedouble;
    const cJSON *lay, *set;
    cfg_field *pc = field_add(cfg, "per_layer_config", CFG_NUMBER);
    if (!pc)
        return -1;
    pc->num = cJSON_GetArraySize(plc);
    cJSON_ArrayForEach(lay, plc)
    {
        cJSON_ArrayForEach(set, lay)
        {
            char name[200];
            const cJSON *own = set->string ? text_item(tc, root, set->string) : NULL;
            if (!cJSON_IsNumber(set) || !cJSON_IsNumber(own) || !(fabs(own->valuedouble) < 9e15) ||
                own->valuedouble != floor(own->valuedouble) ||
                snprintf(name, sizeof name, "per_layer_config.%s", set->string) >= (int)sizeof name ||
                config_field(cfg, name))
                continue; /* a list made already, or one that cannot be */
            cfg_field *fl = field_add(cfg, name, CFG_LIST);
            if (!fl || !(fl->list = malloc((size_t)n_layers * sizeof *fl->list)))
                return -1;
            fl->n_list = n_layers;
            for (int i = 0; i < n_layers; i++)
                fl->list[i] = (int64_t)own->valuedouble;
            const cJSON *l2, *x;
            cJSON_ArrayForEach(l2, plc) /* the layers that override it */
            {
                char *end;
                long i = l2->string ? strtol(l2->string, &end, 10) : -1;
                x = cJSON_GetObjectItemCaseSensitive(l2, set->string);
                if (l2->string && *end == 0 && end != l2->string && i >= 0 && i < n_layers && cJSON_IsNumber(x) &&
                    fabs(x->valuedouble) < 9e15 && x->valuedouble == floor(x->valuedouble))
                    fl->list[i] = (int64_t)x->valuedouble; /* (a value no layer count takes is left out) */
            }
        }
    }
    return 0;
}

int config_load(const char *path, ck_config *cfg, ck_findings *f)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->n_layer_types = -1;
    size_t len = 0;
    const char *why = NULL;
    char *text = ck_read_small(path, CONFIG_MAX_BYTES, &len, &why);
    if (!text) {
        if (errno == ENOENT)
            return 0;
        findings_add(f, "config.invalid", SEV_ERROR, path, NULL, UINT64_MAX,
                     "cannot read config.json: %s", why);
        return -1;
    }
    size_t bad = jscan_utf8_invalid_at((const uint8_t *)text, len);
    if (bad != SIZE_MAX) { /* transformers reads it as UTF-8: UnicodeDecodeError */
        int line, col;
        text_line_col(text, bad, &line, &col);
        findings_add(f, "config.invalid", SEV_ERROR, path, NULL, (uint64_t)bad, "config.json is not UTF-8 (byte "
                     "0x%02x at line %d, column %d): transformers cannot read it (UnicodeDecodeError); save the "
                     "file as UTF-8, or write that character as \\uXXXX",
                     (unsigned char)text[bad], line, col);
        free(text);
        return -1;
    }
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len + 1, &end, 1);
    if (!root || !cJSON_IsObject(root)) {
        int line, col;
        const char *at = root ? text : (cJSON_GetErrorPtr() ? cJSON_GetErrorPtr() : text);
        text_line_col(text, (size_t)(at - text), &line, &col);
        findings_add(f, "config.invalid", SEV_ERROR, path, NULL, (uint64_t)(at - text),
                     root ? "config.json is not a JSON object" :
                     "config.json is not valid JSON at line %d, column %d", line, col);
        cJSON_Delete(root);
        free(text);
        return -1;
    }
    size_t sat;
    const char *sp = string_problem(text, len, &sat);
    if (sp) {
        int line, col;
        text_line_col(text, sat, &line, &col);
        findings_add(f, "config.invalid", SEV_ERROR, path, NULL, (uint64_t)sat, "config.json %s (line %d, column %d)", sp,
                     line, col);
        cJSON_Delete(root);
        free(text);
        return -1;
    }
    if (keep_last(root, path, f, 0) != 0)
        return config_oom(f, path, root, text, cfg);
    cfg->present = 1;
    cfg->path = strdup(path);
    const cJSON *arch = cJSON_GetObjectItemCaseSensitive(root, "architectures");
    char buf[512] = "";
    if (cJSON_IsArray(arch)) {
        const cJSON *a;
        cJSON_ArrayForEach(a, arch) if (cJSON_IsString(a))
        {
            size_t l = strlen(buf);
            snprintf(buf + l, sizeof buf - l, "%s%s", l ? "," : "", a->valuestring);
        }
    }
    cfg->architectures = strdup(buf);
    cfg->model_type = dup_or_empty(jstr(root, "model_type"));
    const char *td = jstr(root, "torch_dtype") ? jstr(root, "torch_dtype") : jstr(root, "dtype");
    cfg->torch_dtype = dup_or_empty(td);
    /* a vision-language wrapper keeps its text model's settings under text_config (vLLM's
     * get_text_config()): they are the model's, the wrapper's own fields the fallback */
    const cJSON *tc = cJSON_GetObjectItemCaseSensitive(root, "text_config");
    if (!cJSON_IsObject(tc))
        tc = root;
    /* rotary settings: top level (transformers v4) or rope_parameters / rope_scaling (v5) */
    cfg->rope_theta = 10000.0;
    cfg->rope_truncate = 1;
    snprintf(cfg->rope_type, sizeof cfg->rope_type, "default");
    static const char *const rope_objs[] = {"rope_parameters", "rope_scaling"};
    const cJSON *th = text_item(tc, root, "rope_theta");
    if (cJSON_IsNumber(th))
        cfg->rope_theta = th->valuedouble;
    const cJSON *prf = text_item(tc, root, "partial_rotary_factor");
    if (cJSON_IsNumber(prf))
        cfg->rope_partial = prf->valuedouble;
    const cJSON *lb = text_item(tc, root, "rope_local_base_freq");
    if (cJSON_IsNumber(lb)) { /* Gemma 3 as transformers 4 wrote it */
        cfg->has_rope_local = 1;
        cfg->rope_theta_local = lb->valuedouble;
        snprintf(cfg->rope_type_local, sizeof cfg->rope_type_local, "default");
    }
    for (int k = 1; k >= 0; k--) {
        const cJSON *o = text_item(tc, root, rope_objs[k]);
        if (!cJSON_IsObject(o))
            continue;
        /* transformers 5 keys them by layer type (Gemma 3): the full layers' are the model's */
        const cJSON *sl = cJSON_GetObjectItemCaseSensitive(o, "sliding_attention");
        if (cJSON_IsObject(sl)) {
            const cJSON *x = cJSON_GetObjectItemCaseSensitive(sl, "rope_theta"), *fac = cJSON_GetObjectItemCaseSensitive(sl, "factor");
            const cJSON *y = cJSON_GetObjectItemCaseSensitive(sl, "rope_type");
            cfg->has_rope_local = 1;
            cfg->rope_theta_local = cJSON_IsNumber(x) ? x->valuedouble : 10000.0;
            cfg->rope_factor_local = cJSON_IsNumber(fac) ? fac->valuedouble : 0;
            snprintf(cfg->rope_type_local, sizeof cfg->rope_type_local, "%s",
                     cJSON_IsString(y) ? y->valuestring : "default");
        }
        const cJSON *fa = cJSON_GetObjectItemCaseSensitive(o, "full_attention");
        if (cJSON_IsObject(fa))
            o = fa;
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "rope_theta");
        if (cJSON_IsNumber(t))
            cfg->rope_theta = t->valuedouble;
        static const struct { const char *name; size_t off; } num[] = {
            {"factor", offsetof(ck_config, rope_factor)},
            {"original_max_position_embeddings", offsetof(ck_config, rope_orig_max)},
            {"beta_fast", offsetof(ck_config, rope_beta_fast)},
            {"beta_slow", offsetof(ck_config, rope_beta_slow)},
            {"mscale", offsetof(ck_config, rope_mscale)},
            {"mscale_all_dim", offsetof(ck_config, rope_mscale_all_dim)},
            {"attention_factor", offsetof(ck_config, rope_attention_factor)},
            {"low_freq_factor", offsetof(ck_config, rope_low_freq_factor)},
            {"high_freq_factor", offsetof(ck_config, rope_high_freq_factor)},
            {"partial_rotary_factor", offsetof(ck_config, rope_partial)},
            {"max_trained_positions", offsetof(ck_config, rope_max_trained)},
            {"short_mscale", offsetof(ck_config, rope_short_mscale)},
            {"long_mscale", offsetof(ck_config, rope_long_mscale)}};
        for (unsigned n = 0; n < sizeof num / sizeof *num; n++) {
            const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, num[n].name);
            if (cJSON_IsNumber(x))
                *(double *)(void *)((char *)cfg + num[n].off) = x->valuedouble;
        }
        static const struct { const char *name; size_t off, noff; } arr[] = {
            {"short_factor", offsetof(ck_config, rope_short), offsetof(ck_config, n_rope_short)},
            {"long_factor", offsetof(ck_config, rope_long), offsetof(ck_config, n_rope_long)}};
        for (unsigned n = 0; n < 2; n++) { /* longrope's factors, one per rotary pair */
            const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, arr[n].name), *x;
            double **dst = (double **)(void *)((char *)cfg + arr[n].off);
            int *cnt = (int *)(void *)((char *)cfg + arr[n].noff), m = 0;
            if (!cJSON_IsArray(a))
                continue;
            free(*dst);
            *dst = malloc(((size_t)cJSON_GetArraySize(a) + 1) * sizeof **dst);
            *cnt = 0;
            if (!*dst) {
                return config_oom(f, path, root, text, cfg);
            }
            cJSON_ArrayForEach(x, a)
                (*dst)[m++] = cJSON_IsNumber(x) ? x->valuedouble : -1; /* refused where used */
            *cnt = m;
        }
        const cJSON *tr = cJSON_GetObjectItemCaseSensitive(o, "truncate");
        if (cJSON_IsBool(tr))
            cfg->rope_truncate = cJSON_IsTrue(tr);
        const cJSON *ty = cJSON_GetObjectItemCaseSensitive(o, "rope_type");
        if (!cJSON_IsString(ty))
            ty = cJSON_GetObjectItemCaseSensitive(o, "type");
        if (cJSON_IsString(ty))
            snprintf(cfg->rope_type, sizeof cfg->rope_type, "%s", ty->valuestring);
    }
    const cJSON *omp = text_item(tc, root, "original_max_position_embeddings");
    if (!(cfg->rope_orig_max > 0) && cJSON_IsNumber(omp) && strcmp(cfg->rope_type, "longrope") == 0)
        /* Phi-3 keeps longrope's at the top */
        cfg->rope_orig_max = omp->valuedouble;
    const cJSON *q = cJSON_GetObjectItemCaseSensitive(root, "quantization_config");
    if (!cJSON_IsObject(q))
        q = cJSON_GetObjectItemCaseSensitive(root, "compression_config");
    if (cJSON_IsObject(q)) {
        cfg->has_quant = 1;
        quant_summarize(q, &cfg->quant);
        if (quant_groups(q, cfg) != 0) {
            return config_oom(f, path, root, text, cfg);
        }
        /* each method's list of modules left unquantized: the first of its keys that is not empty
         * (vLLM's Fp8Config and ModelOptFp8Config take a second name) */
        static const struct { const char *method, *keys[2]; } lists[] = {
            {"awq", {"modules_to_not_convert"}}, {"gptq", {"modules_to_not_convert"}},
            {"compressed-tensors", {"ignore"}}, {"modelopt", {"ignore", "exclude_modules"}},
            {"fp8", {"ignored_layers", "modules_to_not_convert"}}};
        for (size_t k = 0; k < sizeof lists / sizeof *lists; k++)
            if (strcmp(cfg->quant.method, lists[k].method) == 0) {
                cfg->not_convert_key = lists[k].keys[0];
                for (int j = 0; j < 2 && lists[k].keys[j] && !cfg->not_convert; j++)
                    if ((cfg->not_convert = string_lines(q, lists[k].keys[j])))
                        cfg->not_convert_key = lists[k].keys[j];
            }
    }
    int n = 0;
    const cJSON *it, *vc = cJSON_GetObjectItemCaseSensitive(root, "vision_config");
    cJSON_ArrayForEach(it, root) n++;
    if (tc != root)
        cJSON_ArrayForEach(it, tc) n++;
    if (cJSON_IsObject(vc))
        cJSON_ArrayForEach(it, vc) n++;
    cfg->fields = calloc(n ? (size_t)n : 1, sizeof *cfg->fields);
    if (!cfg->fields || !cfg->architectures || !cfg->model_type || !cfg->torch_dtype || !cfg->path) {
        return config_oom(f, path, root, text, cfg);
    }
    /* the text model's fields first (they win a name both have), then the wrapper's, then the
     * vision tower's as vision_config.NAME */
    const cJSON *objs[3] = {tc, tc != root ? root : NULL, cJSON_IsObject(vc) ? vc : NULL};
    for (int o = 0; o < 3; o++) {
        cJSON_ArrayForEach(it, objs[o])
        {
            /* architectures are the wrapper's (vLLM builds the class it names; a text_config's own,
             * often null, says nothing of it) */
            int archs = it->string && tc != root && strcmp(it->string, "architectures") == 0;
            if (!it->string || (o == 0 && archs) || (o == 1 && !archs && cJSON_GetObjectItemCaseSensitive(tc, it->string)))
                continue;
            cfg_field *fl = &cfg->fields[cfg->n_fields];
            if (cJSON_IsNull(it))
                fl->kind = CFG_NULL;
            else if (cJSON_IsBool(it)) {
                fl->kind = CFG_BOOL;
                fl->num = cJSON_IsTrue(it);
            } else if (cJSON_IsNumber(it)) {
                fl->kind = CFG_NUMBER;
                fl->num = it->valuedouble;
            } else if (cJSON_IsString(it)) {
                fl->kind = CFG_STRING;
                fl->str = strdup(it->valuestring);
            } else if (cJSON_IsArray(it)) {
                int m = cJSON_GetArraySize(it), ok = 1;
                if (o != 2 && it->string && strcmp(it->string, "layer_types") == 0) /* the decoder's */
                    cfg->n_layer_types = m;
                const cJSON *x;
                int strs = 1;
                cJSON_ArrayForEach(x, it)
                {
                    ok &= cJSON_IsNumber(x) && fabs(x->valuedouble) < 9e15 &&
                          x->valuedouble == (double)(int64_t)x->valuedouble;
                    strs &= cJSON_IsString(x);
                }
                if (!ok && !(strs && m))
                    continue; /* only lists of integers (layer lists) or strings (layer_types) are kept */
                fl->kind = CFG_LIST;
                if (ok) {
                    fl->list = malloc((m ? (size_t)m : 1) * sizeof *fl->list);
                    if (fl->list)
                        cJSON_ArrayForEach(x, it) fl->list[fl->n_list++] = (int64_t)x->valuedouble;
                } else if ((fl->strs = calloc((size_t)m, sizeof *fl->strs)) != NULL) {
                    cJSON_ArrayForEach(x, it)
                    {
                        if (!(fl->strs[fl->n_list] = strdup(x->valuestring)))
                            break;
                        fl->n_list++;
                    }
                }
            } else
                continue;
            char vname[160];
            snprintf(vname, sizeof vname, "vision_config.%s", it->string);
            fl->name = strdup(o == 2 ? vname : it->string);
            cfg->n_fields++;
        }
    }
    if (per_layer_lists(cfg, tc, root) != 0)
        return config_oom(f, path, root, text, cfg);
    if (pattern_list(cfg) != 0 || count_from_list(cfg) != 0)
        return config_oom(f, path, root, text, cfg);
    static const char *const rope_objs_f[] = {"rope_parameters", "rope_scaling"};
    for (int i = 0; i < 2; i++) {
        const cJSON *ro = text_item(tc, root, rope_objs_f[i]);
        if (cJSON_IsObject(ro) && rope_fields(cfg, ro, rope_objs_f[i], 0) != 0)
            return config_oom(f, path, root, text, cfg);
    }
    /* sizes and counts the model is built from: Python's range() and torch's shapes take
     * integers only, where a C cast would quietly take 7 of 7.5 */
    static const char *const sizes[] = {"num_hidden_layers", "hidden_size", "intermediate_size", "vocab_size",
                                        "num_attention_heads", "num_key_value_heads", "head_dim",
                                        "moe_intermediate_size", "num_local_experts", "n_routed_experts", "num_experts",
                                        "num_experts_per_tok", "n_shared_experts", "first_k_dense_replace",
                                        "kv_lora_rank", "q_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim",
                                        "v_head_dim", "max_position_embeddings", "sliding_window"};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        const cfg_field *sf = config_field(cfg, sizes[i]);
        if (sf && sf->kind == CFG_NUMBER && (!(fabs(sf->num) < 9e15) || sf->num != floor(sf->num)))
            findings_add(f, "config.invalid", SEV_ERROR, path, sizes[i], UINT64_MAX, "%s is %.17g, not an integer: "
                         "the model's sizes and layer counts must be whole numbers (Python's range() refuses it)",
                         sizes[i], sf->num);
    }
    cJSON_Delete(root);
    free(text);
    return 0;
}

void config_free(ck_config *cfg)
{
    if (!cfg)
        return;
    for (int i = 0; i < cfg->n_fields; i++) {
        free(cfg->fields[i].name);
        free(cfg->fields[i].str);
        free(cfg->fields[i].list);
        for (int k = 0; cfg->fields[i].strs && k < cfg->fields[i].n_list; k++)
            free(cfg->fields[i].strs[k]);
        free(cfg->fields[i].strs);
    }
    free(cfg->fields);
    free(cfg->path);
    free(cfg->architectures);
    free(cfg->model_type);
    free(cfg->torch_dtype);
    free(cfg->not_convert);
    free(cfg->rope_short);
    free(cfg->rope_long);
    for (int i = 0; i < cfg->n_groups; i++)
        free(cfg->groups[i].targets);
    free(cfg->groups);
    memset(cfg, 0, sizeof *cfg);
}

const cfg_field *config_field(const ck_config *cfg, const char *name)
{
    for (int i = 0; i < cfg->n_fields; i++)
        if (cfg->fields[i].name && strcmp(cfg->fields[i].name, name) == 0)
            return &cfg->fields[i];
    return NULL;
}

int config_int(const ck_config *cfg, const char *name, int64_t *v)
{
    const cfg_field *fl = config_field(cfg, name);
    if (!fl || fl->kind == CFG_NULL)
        return 0;
    if (fl->kind != CFG_NUMBER && fl->kind != CFG_BOOL)
        return -1;
    *v = (int64_t)fl->num;
    return 1;
}

int64_t config_experts(const ck_config *cfg)
{
    static const char *names[] = {"n_routed_experts", "num_experts", "num_local_experts"};
    int64_t v;
    for (unsigned i = 0; i < sizeof names / sizeof *names; i++)
        if (config_int(cfg, names[i], &v) == 1)
            return v;
    return 0;
}
