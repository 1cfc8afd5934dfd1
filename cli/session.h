/* session.h - what every command that works on a checkpoint folder opens: the folder's headers
 * and config.json, the rules that map its keys, and the plan of a layout; and the choice of
 * those rules. A command is: parse options (options.h) -> session_open -> run -> report ->
 * session_free, with one exit path. */
#ifndef CK_CLI_SESSION_H
#define CK_CLI_SESSION_H

#include "base/finding.h"
#include "cli/options.h"
#include "inspect/ckpt.h"
#include "loader/plan.h"
#include "rules/rules.h"

/* How far session_open came. */
enum { SESSION_NONE, SESSION_OPENED, SESSION_RULES, SESSION_PLANNED };

typedef struct {
    ck_checkpoint ck;   /* the folder, headers read (SESSION_OPENED) */
    rules_file r;       /* its rules (SESSION_RULES) */
    plan p;             /* the plan of the layout (SESSION_PLANNED), borrowing ck.cfg and r */
    ck_findings f;      /* plan_build's findings: what the model cannot be built with */
    char *unconverted;  /* modules the checkpoint stores unquantized where vLLM derives them
                         * (plan_unconverted), which the plan's layout borrows; NULL: none */
    int stage;          /* SESSION_*: the steps that succeeded */
} session;

/* Opens dir (headers only), chooses the rules (o->rules, else the built-in rules config.json
 * matches) and, when `planned`, builds the plan of o->layout; the rules and the plan are made on
 * a thread of their own as soon as config.json is read, while the headers are. Returns CK_OK,
 * or the code of the first step that failed with err filled (a folder without a readable
 * config.json: CK_EFORMAT naming the file and why, or the folder when there is none); s->stage says which steps succeeded. Either way
 * session_free(s) frees what the steps took. */
int session_open(session *s, const char *dir, const layout_opts *o, int planned, ck_err *err);

/* Work to begin once every header is read, while the reader cross-checks them (lint's map of
 * the keys): headers(ctx, ck, p) is called with the plan when there is one; stop(ctx) must end
 * that work when the reader then fails. See ckpt_side. */
typedef struct {
    void (*headers)(void *ctx, const ck_checkpoint *ck, const plan *p);
    void (*stop)(void *ctx);
    void *ctx;
} session_hooks;
/* session_open with hooks (NULL: none). */
int session_open_with(session *s, const char *dir, const layout_opts *o, int planned, const session_hooks *h,
                      ck_err *err);
/* Frees a session at any stage, or a zeroed one; leaves it zeroed. */
void session_free(session *s);

/* Whether r's match list fits config.json. */
int rules_match(const rules_file *r, const ck_config *c);
/* rules as a file or a built-in name; NULL: the built-in that matches cfg. path names the
 * checkpoint in errors. Returns CK_OK or an error code with err filled. */
int choose_rules(const char *path, const char *rules, const ck_config *cfg, rules_file *r, ck_err *err);
/* The family a checkpoint's key names suggest ("Qwen2 (q/k/v projections with bias, ...)"). */
const char *keys_look_like(const ck_checkpoint *ck, char *buf, size_t size);

#endif
