/* session.c - a checkpoint, its rules and their plan, opened and freed in one place (see
 * session.h); choosing the rules for a checkpoint, and naming the family its keys look like. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "base/jscan.h"
#include "cli/session.h"

/* The family a checkpoint's key names suggest: the built-in rules whose match.keys patterns all
 * occur among the keys, the one with the most patterns when several do. */
const char *keys_look_like(const ck_checkpoint *ck, char *buf, size_t size)
{
    snprintf(buf, size, "no family ckptdoc knows");
    int best = 0;
    for (size_t b = 0; b < rules_builtin_count(); b++) {
        rules_file r;
        ck_err err;
        if (rules_load_builtin(rules_builtin_name(b), &r, &err) != CK_OK)
            continue;
        int n = r.n_family_keys, left = n;
        if (n > best && r.family) {
            char seen[64] = {0};
            pattern_value v[PATTERN_MAX_CAPS];
            for (size_t i = 0; i < ck->n_tensors && left > 0; i++) {
                const char *name = ckpt_tensor(ck, ck->tensors[i])->name;
                size_t len = strlen(name);
                for (int k = 0; k < n && k < 64; k++)
                    if (!seen[k] && pattern_match(&r.family_keys[k], name, len, v)) {
                        seen[k] = 1;
                        left--;
                    }
            }
            if (left == 0) {
                best = n;
                snprintf(buf, size, "%s", r.family);
            }
        }
        rules_free(&r);
    }
    return buf;
}

int rules_match(const rules_file *r, const ck_config *c)
{
    for (int i = 0; i < r->n_model_types; i++)
        if (strcmp(r->model_types[i], c->model_type) == 0)
            return 1;
    for (int i = 0; i < r->n_architectures; i++)
        if (strstr(c->architectures, r->architectures[i]))
            return 1;
    return 0;
}

/* Where the top-level "match" value of rules text sits ([*at, *end)), found by skipping the
 * values before it: 1, or 0 when the text has none or is not a JSON object up to it. */
static int match_section(const char *text, size_t len, size_t *at, size_t *end)
{
    jscan j;
    jscan_init(&j, text, len, NULL, 1, "rules");
    if (jscan_member(&j, "match") != 1)
        return 0;
    *at = j.i;
    if (jscan_skip(&j) != 0)
        return 0;
    *end = j.i;
    return 1;
}

/* Whether built-in rules i can be the ones config.json chooses, from their "match" section alone
 * (auto, model_type, architectures, as rules_match reads them): only the one that can is then
 * parsed in full. 1 when the section cannot be read that way (the full parse says why). */
static int builtin_may_match(size_t i, const ck_config *cfg)
{
    size_t len = 0, at = 0, end = 0;
    const char *text = rules_builtin_text(i, &len);
    if (!text || !match_section(text, len, &at, &end))
        return 1;
    cJSON *m = cJSON_ParseWithLength(text + at, end - at); /* the section alone, not the whole file */
    const cJSON *e;
    int may = 1;
    if (cJSON_IsObject(m)) {
        const cJSON *au = cJSON_GetObjectItemCaseSensitive(m, "auto");
        const cJSON *mt = cJSON_GetObjectItemCaseSensitive(m, "model_type");
        const cJSON *ar = cJSON_GetObjectItemCaseSensitive(m, "architectures");
        if (cJSON_IsFalse(au))
            may = 0;
        else if ((!mt || cJSON_IsArray(mt)) && (!ar || cJSON_IsArray(ar))) {
            may = 0;
            cJSON_ArrayForEach(e, mt) may |= cJSON_IsString(e) ? strcmp(e->valuestring, cfg->model_type) == 0 : 1;
            cJSON_ArrayForEach(e, ar) may |= cJSON_IsString(e) ? strstr(cfg->architectures, e->valuestring) != NULL : 1;
        }
    }
    cJSON_Delete(m);
    return may;
}

/* The rules: --rules as a file or a built-in name, else the built-in that matches config.json. */
int choose_rules(const char *path, const char *rules, const ck_config *cfg, rules_file *r, ck_err *err)
{
    struct stat st;
    if (rules && stat(rules, &st) == 0)
        return rules_load_file(rules, r, err);
    if (rules)
        return rules_load_builtin(rules, r, err);
    for (size_t i = 0; i < rules_builtin_count(); i++) {
        if (!builtin_may_match(i, cfg))
            continue;
        if (rules_load_builtin(rules_builtin_name(i), r, err) != CK_OK)
            return err->code;
        if (r->auto_choose && rules_match(r, cfg))
            return CK_OK;
        rules_free(r);
    }
    return ck_err_set(err, CK_EUSAGE, path, NULL, CK_NO_OFFSET, "no built-in rules for "
                      "model_type \"%s\" (%s); name some with --rules (see 'ckptdoc rules list')",
                      cfg->model_type, cfg->architectures[0] ? cfg->architectures : "no architectures");
}


/* The rules and the plan, made on the reader's side thread as soon as config.json is read. */
typedef struct {
    session *s;
    const char *dir;
    const layout_opts *o;
    int planned;
    const session_hooks *h;
    int rules_rc, plan_rc;
    ck_err rules_err, plan_err;
} side_ctx;

static void side_prepare(void *ctx, const ck_checkpoint *ck)
{
    side_ctx *x = ctx;
    if (!ck->cfg.present)
        return;
    x->rules_rc = choose_rules(x->dir, x->o->rules, &ck->cfg, &x->s->r, &x->rules_err);
    if (x->rules_rc == CK_OK && x->planned)
        x->plan_rc = plan_build(&x->s->r, &ck->cfg, &x->o->layout, &x->s->p, &x->s->f, &x->plan_err);
}

/* vLLM (ModelConfig.maybe_untie_word_embeddings) stops trusting tie_word_embeddings when the
 * checkpoint ships an lm_head of its own: the plan is made again untied, with a note. */
static void maybe_untie(side_ctx *x, const ck_checkpoint *ck)
{
    plan *p = &x->s->p;
    int untie = plan_unties_embeddings(ck);
    x->s->unconverted = plan_unconverted(ck);
    if (x->s->unconverted && !plan_unconverts_any(p, x->s->unconverted)) {
        free(x->s->unconverted); /* only norms and embeddings, which are float anyway */
        x->s->unconverted = NULL;
    }
    if (!untie && !x->s->unconverted)
        return;
    plan_layout lay = p->layout;
    lay.untie_embeddings = untie;
    lay.unconverted = x->s->unconverted;
    plan_free(p);
    findings_free(&x->s->f);
    findings_init(&x->s->f);
    x->plan_rc = plan_build(&x->s->r, &ck->cfg, &lay, p, &x->s->f, &x->plan_err);
    if (!untie)
        return;
    findings_add(&x->s->f, "lint.untied", SEV_NOTE, ck->cfg.path ? ck->cfg.path : "config.json",
                 "tie_word_embeddings", UINT64_MAX, "config.json ties the word embeddings, but the "
                 "checkpoint ships its own lm_head.weight: vLLM builds lm_head untied and loads it "
                 "(and ties the two again only when they are equal); set tie_word_embeddings to false "
                 "if they differ on purpose, or drop lm_head.weight if they are the same");
}

static void side_headers(void *ctx, const ck_checkpoint *ck)
{
    side_ctx *x = ctx;
    if (x->plan_rc == CK_OK)
        maybe_untie(x, ck);
    if (x->plan_rc == CK_OK && x->h && x->h->headers)
        x->h->headers(x->h->ctx, ck, &x->s->p);
}

static void side_stop(void *ctx)
{
    side_ctx *x = ctx;
    if (x->h && x->h->stop)
        x->h->stop(x->h->ctx);
}

int session_open_with(session *s, const char *dir, const layout_opts *o, int planned, const session_hooks *h,
                      ck_err *err)
{
    memset(s, 0, sizeof *s);
    findings_init(&s->f);
    side_ctx x = {s, dir, o, planned, h, CK_EUSAGE, CK_EUSAGE, {0}, {0}};
    ck_err_clear(&x.rules_err);
    ck_err_clear(&x.plan_err);
    ckpt_side side = {side_prepare, &x, side_headers, side_stop};
    int rc = ckpt_open_with(dir, 0, &side, &s->ck, err);
    if (rc != CK_OK) { /* s->ck is freed; what the side thread made goes with it */
        if (x.plan_rc == CK_OK)
            plan_free(&s->p);
        if (x.rules_rc == CK_OK)
            rules_free(&s->r);
        findings_free(&s->f);
        free(s->unconverted);
        memset(s, 0, sizeof *s);
        return rc;
    }
    s->stage = x.plan_rc == CK_OK ? SESSION_PLANNED : x.rules_rc == CK_OK ? SESSION_RULES : SESSION_OPENED;
    if (!s->ck.cfg.present) {
        /* the reader said why: not valid JSON (where), or no file at all */
        const ck_finding *why = findings_find(&s->ck.findings, "config.invalid");
        if (why)
            return ck_err_set(err, CK_EFORMAT, why->file, NULL, CK_NO_OFFSET, "%s; a loader cannot build the "
                              "model without it: mend the file or download it again", why->msg);
        struct stat st;
        if (stat(dir, &st) == 0 && !S_ISDIR(st.st_mode))
            return ck_err_set(err, CK_EUSAGE, dir, NULL, CK_NO_OFFSET, "is a file, not a model folder: pass the "
                              "folder that holds config.json and the shards");
        return ck_err_set(err, CK_EFORMAT, dir, NULL, CK_NO_OFFSET, "no config.json in the folder; a loader "
                          "cannot build the model without it: download the model's config.json beside the shards");
    }
    if (x.rules_rc != CK_OK) {
        *err = x.rules_err;
        return err->code;
    }
    if (planned && x.plan_rc != CK_OK) {
        *err = x.plan_err;
        return err->code;
    }
    return CK_OK;
}

int session_open(session *s, const char *dir, const layout_opts *o, int planned, ck_err *err)
{
    return session_open_with(s, dir, o, planned, NULL, err);
}

void session_free(session *s)
{
    if (s->stage >= SESSION_PLANNED)
        plan_free(&s->p);
    if (s->stage >= SESSION_RULES)
        rules_free(&s->r);
    if (s->stage >= SESSION_OPENED)
        ckpt_free(&s->ck);
    findings_free(&s->f);
    free(s->unconverted);
    memset(s, 0, sizeof *s);
}
